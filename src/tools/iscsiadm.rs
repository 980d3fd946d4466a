//! open-iscsi's `iscsiadm`: command builders and parsers for discovery,
//! node records, sessions (`-m session -P 3`).
//!
//! CHAP secrets never go on an argv: [`node_update`] is for non-secret
//! fields only; passwords are written into the node record file by
//! [`crate::transport::iscsi`].

use super::Cmd;
use serde::Serialize;

/// Exit status: the operation succeeded.
pub const OK: i32 = 0;
/// Exit status: iSCSI transport module not loaded (no `iscsi_tcp`).
pub const ERR_TRANS_NOT_FOUND: i32 = 12;
/// Exit status: the session is already logged in.
pub const ERR_SESS_EXISTS: i32 = 15;
/// Exit status: iscsid could not be reached.
pub const ERR_ISCSID_NOTCONN: i32 = 20;
/// Exit status: no records / no sessions found.
pub const ERR_NO_OBJS_FOUND: i32 = 21;
/// Exit status: CHAP authentication failed.
pub const ERR_LOGIN_AUTH_FAILED: i32 = 24;

/// What an iscsiadm exit status means, for error messages.
pub fn explain_status(code: i32) -> Option<&'static str> {
    Some(match code {
        ERR_TRANS_NOT_FOUND => {
            "the iscsi_tcp kernel module is missing: this kernel has no iSCSI initiator"
        }
        ERR_SESS_EXISTS => "a session to this target is already logged in",
        ERR_ISCSID_NOTCONN => "iscsid is not running (start it: `systemctl start iscsid`)",
        ERR_NO_OBJS_FOUND => "no matching records or sessions",
        ERR_LOGIN_AUTH_FAILED => {
            "CHAP authentication failed: check target.chap.username and the secret file"
        }
        8 => "the connection timed out: is the portal reachable?",
        4 => "transport error: is the portal address and port right, and is the target up?",
        _ => return None,
    })
}

/// `CMD -I IFACE` when an iface is given: a node or discovery command
/// bound to that iface (and so to its initiator name).
pub fn via(cmd: Cmd, iface: Option<&str>) -> Cmd {
    match iface {
        Some(i) => cmd.args(["-I", i]),
        None => cmd,
    }
}

/// `iscsiadm -m iface -I NAME -o new`: an iface record (transport tcp).
pub fn iface_new(name: &str) -> Cmd {
    Cmd::new("iscsiadm").args(["-m", "iface", "-I", name, "-o", "new"])
}

/// `iscsiadm -m iface -I NAME -o update -n KEY -v VALUE`.
pub fn iface_update(name: &str, key: &str, value: &str) -> Cmd {
    Cmd::new("iscsiadm").args([
        "-m", "iface", "-I", name, "-o", "update", "-n", key, "-v", value,
    ])
}

/// `iscsiadm -m iface -I NAME -o delete`, at the end of a run: an iface
/// that is gone already (a resumed run's, deleted by hand) or still bound
/// to another session is no reason to fail the run, so every status counts
/// as done.
pub fn iface_delete(name: &str) -> Cmd {
    let all: Vec<i32> = (0..=255).collect();
    Cmd::new("iscsiadm")
        .args(["-m", "iface", "-I", name, "-o", "delete"])
        .ok_codes(&all)
}

/// `iscsiadm -m discovery -t st -p PORTAL`: SendTargets discovery; stores
/// node records for what it finds (needed before login).
pub fn discovery(portal: &str) -> Cmd {
    Cmd::new("iscsiadm").args(["-m", "discovery", "-t", "st", "-p", portal])
}

/// Discovery that leaves the node database alone (`-o nonpersistent`):
/// a read-only listing.
pub fn discovery_nonpersistent(portal: &str) -> Cmd {
    discovery(portal).args(["-o", "nonpersistent"])
}

/// `iscsiadm -m node -T IQN -p PORTAL --op update -n NAME -v VALUE`.
/// Only for values that may be shown: never a secret.
pub fn node_update(iqn: &str, portal: &str, name: &str, value: &str) -> Cmd {
    Cmd::new("iscsiadm").args([
        "-m", "node", "-T", iqn, "-p", portal, "--op", "update", "-n", name, "-v", value,
    ])
}

/// `iscsiadm -m node -o new -T IQN -p PORTAL`: a node record for a portal
/// discovery did not announce (a target behind NAT announces its inside
/// address).
pub fn node_new(iqn: &str, portal: &str) -> Cmd {
    Cmd::new("iscsiadm").args(["-m", "node", "-o", "new", "-T", iqn, "-p", portal])
}

/// `iscsiadm -m node -o delete -T IQN -p PORTAL`: forget a node record.
pub fn node_delete(iqn: &str, portal: &str) -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "node", "-o", "delete", "-T", iqn, "-p", portal])
        .ok_codes(&[OK, ERR_NO_OBJS_FOUND])
}

/// `iscsiadm -m node -T IQN -p PORTAL --login`. Status 15 (already logged
/// in) counts as success.
pub fn login(iqn: &str, portal: &str) -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "node", "-T", iqn, "-p", portal, "--login"])
        .ok_codes(&[OK, ERR_SESS_EXISTS])
}

/// `iscsiadm -m node -T IQN -p PORTAL --logout`. Status 21 (no session)
/// counts as success.
pub fn logout(iqn: &str, portal: &str) -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "node", "-T", iqn, "-p", portal, "--logout"])
        .ok_codes(&[OK, ERR_NO_OBJS_FOUND])
}

/// `iscsiadm -m session`; status 21 = no sessions.
pub fn sessions() -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "session"])
        .ok_codes(&[OK, ERR_NO_OBJS_FOUND])
}

/// `iscsiadm -m session -P 3`; status 21 = no sessions.
pub fn session_detail() -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "session", "-P", "3"])
        .ok_codes(&[OK, ERR_NO_OBJS_FOUND])
}

/// `iscsiadm -m node`; status 21 = no records.
pub fn nodes() -> Cmd {
    Cmd::new("iscsiadm")
        .args(["-m", "node"])
        .ok_codes(&[OK, ERR_NO_OBJS_FOUND])
}

/// A target as discovery or `-m node` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeEntry {
    /// "10.0.2.2:3260" (IPv6 as "[fe80::1]:3260").
    pub portal: String,
    /// Target portal group tag.
    pub tpgt: u32,
    pub iqn: String,
}

/// Parse sendtargets discovery output or `iscsiadm -m node`:
/// `127.0.0.1:3260,1 iqn.2024-01.test.e2e:disk`.
pub fn parse_node_list(out: &str) -> Vec<NodeEntry> {
    out.lines()
        .filter_map(|l| {
            let (p, iqn) = l.trim().split_once(char::is_whitespace)?;
            let (portal, tpgt) = p.rsplit_once(',')?;
            Some(NodeEntry {
                portal: portal.to_string(),
                tpgt: tpgt.parse().ok()?,
                iqn: iqn.trim().to_string(),
            })
        })
        .collect()
}

/// One line of `iscsiadm -m session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionEntry {
    /// "tcp".
    pub transport: String,
    pub sid: u32,
    pub portal: String,
    pub tpgt: u32,
    pub iqn: String,
}

/// Parse `iscsiadm -m session`:
/// `tcp: [1] 10.0.2.2:3260,1 iqn.2024-01.test.e2e:disk (non-flash)`.
pub fn parse_sessions(out: &str) -> Vec<SessionEntry> {
    out.lines()
        .filter_map(|l| {
            let (transport, rest) = l.trim().split_once(": ")?;
            let rest = rest.trim().strip_prefix('[')?;
            let (sid, rest) = rest.split_once(']')?;
            let mut f = rest.split_whitespace();
            let (portal, tpgt) = f.next()?.rsplit_once(',')?;
            Some(SessionEntry {
                transport: transport.to_string(),
                sid: sid.trim().parse().ok()?,
                portal: portal.to_string(),
                tpgt: tpgt.parse().ok()?,
                iqn: f.next()?.to_string(),
            })
        })
        .collect()
}

/// One LUN of a session as `-m session -P 3` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionLun {
    pub lun: u32,
    /// "sda" when a disk is attached (tgt's LUN 0 controller has none).
    pub disk: Option<String>,
}

/// One session from `iscsiadm -m session -P 3`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SessionDetail {
    pub iqn: String,
    /// "10.0.2.2:3260" (without the ",tpgt").
    pub current_portal: String,
    pub persistent_portal: String,
    pub sid: Option<u32>,
    pub initiator_name: Option<String>,
    /// "LOGGED_IN", "FAILED", ...
    pub state: Option<String>,
    /// "LOGGED IN", "TRANSPORT WAIT", ...
    pub conn_state: Option<String>,
    pub luns: Vec<SessionLun>,
}

fn strip_tpgt(p: &str) -> String {
    p.rsplit_once(',')
        .map(|(a, _)| a)
        .unwrap_or(p)
        .trim()
        .to_string()
}

/// Parse `iscsiadm -m session -P 3`: targets, portals, and the disks
/// attached per LUN ("scsi2 Channel 00 Id 0 Lun: 1" followed by
/// "Attached scsi disk sda").
pub fn parse_session_detail(out: &str) -> Vec<SessionDetail> {
    let mut v: Vec<SessionDetail> = Vec::new();
    // A target line may be followed by several sessions (one per portal).
    let mut iqn = String::new();
    for raw in out.lines() {
        let l = raw.trim();
        if let Some(rest) = l.strip_prefix("Target: ") {
            iqn = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            continue;
        }
        if let Some(rest) = l.strip_prefix("Current Portal: ") {
            v.push(SessionDetail {
                iqn: iqn.clone(),
                current_portal: strip_tpgt(rest),
                ..Default::default()
            });
            continue;
        }
        let Some(s) = v.last_mut() else { continue };
        if let Some(rest) = l.strip_prefix("Persistent Portal: ") {
            s.persistent_portal = strip_tpgt(rest);
        } else if let Some(rest) = l.strip_prefix("SID: ") {
            s.sid = rest.trim().parse().ok();
        } else if let Some(rest) = l.strip_prefix("Iface Initiatorname: ") {
            s.initiator_name = Some(rest.trim().to_string());
        } else if let Some(rest) = l.strip_prefix("iSCSI Session State: ") {
            s.state = Some(rest.trim().to_string());
        } else if let Some(rest) = l.strip_prefix("iSCSI Connection State: ") {
            s.conn_state = Some(rest.trim().to_string());
        } else if l.starts_with("scsi") && l.contains(" Lun: ") {
            if let Some(n) = l
                .rsplit(" Lun: ")
                .next()
                .and_then(|n| n.trim().parse().ok())
            {
                s.luns.push(SessionLun { lun: n, disk: None });
            }
        } else if let Some(rest) = l.strip_prefix("Attached scsi disk ") {
            if let Some(lun) = s.luns.last_mut() {
                lun.disk = rest.split_whitespace().next().map(str::to_string);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn parses_sendtargets_and_node_list() {
        let want = vec![NodeEntry {
            portal: "127.0.0.1:3260".into(),
            tpgt: 1,
            iqn: "iqn.2024-01.test.e2e:disk".into(),
        }];
        assert_eq!(
            parse_node_list(&fixture("iscsi/discovery-sendtargets.txt")),
            want
        );
        assert_eq!(parse_node_list(&fixture("iscsi/iscsiadm-node.txt")), want);
        assert!(parse_node_list(&fixture("iscsi/iscsiadm-node-before-discovery.txt")).is_empty());
        let v6 = parse_node_list("[fd00::1]:3260,1 iqn.a:b\n10.0.0.1:3261,2 iqn.a:c\n");
        assert_eq!(v6[0].portal, "[fd00::1]:3260");
        assert_eq!((v6[1].tpgt, v6[1].iqn.as_str()), (2, "iqn.a:c"));
    }

    #[test]
    fn parses_sessions() {
        let v = parse_sessions(&fixture("iscsi/iscsiadm-session.txt"));
        assert_eq!(
            v,
            vec![SessionEntry {
                transport: "tcp".into(),
                sid: 1,
                portal: "10.0.2.2:3260".into(),
                tpgt: 1,
                iqn: "iqn.2024-01.test.e2e:disk".into(),
            }]
        );
        // The AoE guest: rc 21, empty stdout.
        assert!(parse_sessions(&fixture("aoe/iscsiadm-session.txt")).is_empty());
    }

    #[test]
    fn parses_session_detail_and_finds_the_disk() {
        let v = parse_session_detail(&fixture("iscsi/iscsiadm-session-P3.txt"));
        assert_eq!(v.len(), 1);
        let s = &v[0];
        assert_eq!(s.iqn, "iqn.2024-01.test.e2e:disk");
        assert_eq!(s.current_portal, "10.0.2.2:3260");
        assert_eq!(s.persistent_portal, "10.0.2.2:3260");
        assert_eq!(s.sid, Some(1));
        assert_eq!(s.state.as_deref(), Some("LOGGED_IN"));
        assert_eq!(
            s.initiator_name.as_deref(),
            Some("iqn.2010-04.org.ipxe:00000000-0000-0000-0000-000000000000")
        );
        assert_eq!(
            s.luns,
            vec![
                SessionLun { lun: 0, disk: None },
                SessionLun {
                    lun: 1,
                    disk: Some("sda".into())
                }
            ]
        );
    }

    #[test]
    fn two_sessions_two_targets() {
        let out = "Target: iqn.a:one (non-flash)\n\tCurrent Portal: 10.0.0.1:3260,1\n\t\tSID: 3\n\
                   \t\tscsi4 Channel 00 Id 0 Lun: 0\n\t\t\tAttached scsi disk sdb\t\tState: running\n\
                   Target: iqn.a:two (non-flash)\n\tCurrent Portal: [fd00::1]:3260,1\n\t\tSID: 4\n\
                   \t\tscsi5 Channel 00 Id 0 Lun: 1\n\t\t\tAttached scsi disk sdc\t\tState: running\n";
        let v = parse_session_detail(out);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].luns[0].disk.as_deref(), Some("sdb"));
        assert_eq!(v[1].iqn, "iqn.a:two");
        assert_eq!(v[1].current_portal, "[fd00::1]:3260");
        assert_eq!(
            v[1].luns,
            vec![SessionLun {
                lun: 1,
                disk: Some("sdc".into())
            }]
        );
    }

    #[test]
    fn argv() {
        assert_eq!(
            discovery("10.0.2.2:3260").display(),
            "iscsiadm -m discovery -t st -p 10.0.2.2:3260"
        );
        assert_eq!(
            discovery_nonpersistent("h:1").display(),
            "iscsiadm -m discovery -t st -p h:1 -o nonpersistent"
        );
        assert_eq!(
            node_update("iqn.a:b", "h:3260", "node.session.auth.authmethod", "CHAP").display(),
            "iscsiadm -m node -T iqn.a:b -p h:3260 --op update -n node.session.auth.authmethod -v CHAP"
        );
        assert_eq!(
            login("iqn.a:b", "h:3260").display(),
            "iscsiadm -m node -T iqn.a:b -p h:3260 --login"
        );
        assert!(explain_status(12).unwrap().contains("iscsi_tcp"));
    }
}
