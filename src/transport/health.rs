//! Is the network disk still there? When the server stops answering in
//! the middle of a run (tgtd or vblade stopped, the server rebooting, the
//! network cut) the step fails with whatever the failed I/O made of it —
//! rsync's "Input/output error", mkfs's or mount's — which names neither
//! the target nor what to check. After a step fails the engine asks here;
//! a target that is gone gets an error naming it and what to check.

use super::aoe::{read_device, AoeDevice};
use super::common::HostPaths;
use crate::plan::Target;
use crate::tools::{iscsiadm as tool, Runner};

/// What to tell the user when `target` is gone, or `None` when it looks
/// fine (or cannot be asked): the step's own error stands then.
pub fn lost_target(runner: &Runner, paths: &HostPaths, target: &Target) -> Option<String> {
    match target {
        Target::Iscsi { portal, iqn, .. } => {
            let out = runner.query(&tool::session_detail()).ok()?;
            let sessions = tool::parse_session_detail(&out.stdout);
            iscsi_lost(&sessions, iqn, portal.as_str())
        }
        Target::Aoe { shelf, slot, .. } => {
            aoe_lost(read_device(paths, *shelf, *slot).as_ref(), *shelf, *slot)
        }
    }
}

/// The session to `iqn` (at `portal` if one matches) is not logged in:
/// its connection is down and the kernel failed or holds its I/O.
pub fn iscsi_lost(sessions: &[tool::SessionDetail], iqn: &str, portal: &str) -> Option<String> {
    let mine: Vec<_> = sessions.iter().filter(|s| s.iqn == iqn).collect();
    let s = mine
        .iter()
        .find(|s| s.current_portal == portal || s.persistent_portal == portal)
        .or(mine.first())?;
    let state = s.state.as_deref().unwrap_or("unknown");
    let conn = s.conn_state.as_deref().unwrap_or("unknown");
    if state == "LOGGED_IN" && conn == "LOGGED IN" {
        return None;
    }
    let host = portal.rsplit_once(':').map(|(h, _)| h).unwrap_or(portal);
    Some(format!(
        "the iSCSI target {iqn} at {portal} stopped answering (session {state}, connection \
         {conn}; `iscsiadm -m session -P 3`): check that the server {host} is up and its \
         iSCSI target (tgtd or LIO) exports {iqn}, and the network between this machine and \
         {portal}. Nothing on the source was changed; run the same command again once the \
         target answers and it resumes"
    ))
}

/// The AoE device is gone or not up (the driver marked it down after
/// `aoe_deadsecs` without an answer from the target).
pub fn aoe_lost(dev: Option<&AoeDevice>, shelf: u16, slot: u8) -> Option<String> {
    let state = match dev {
        Some(d) if d.is_up() => return None,
        Some(d) => format!(
            "device state {} in /sys/block/etherd!e{shelf}.{slot}/state",
            d.state.as_deref().unwrap_or("unknown")
        ),
        None => format!("no /sys/block/etherd!e{shelf}.{slot} any more"),
    };
    let via = dev
        .and_then(|d| d.netif.as_deref())
        .map(|i| format!(" on {i}"))
        .unwrap_or_default();
    Some(format!(
        "the AoE target e{shelf}.{slot} stopped answering ({state}; `aoe-stat`): check that \
         the server is up and its vblade exports e{shelf}.{slot}, and the network{via}. \
         Nothing on the source was changed; run the same command again once the target \
         answers (`aoe-discover`; the aoe driver keeps a device it marked down until it is \
         closed) and it resumes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::aoe::tests::{fake_host, fixture};

    fn sessions(conn: &str, state: &str) -> Vec<tool::SessionDetail> {
        let text = fixture("iscsi/iscsiadm-session-P3.txt")
            .replace(
                "iSCSI Connection State: LOGGED IN",
                &format!("iSCSI Connection State: {conn}"),
            )
            .replace(
                "iSCSI Session State: LOGGED_IN",
                &format!("iSCSI Session State: {state}"),
            );
        tool::parse_session_detail(&text)
    }

    #[test]
    fn a_logged_in_session_is_fine() {
        let s = sessions("LOGGED IN", "LOGGED_IN");
        assert_eq!(s[0].conn_state.as_deref(), Some("LOGGED IN"));
        assert_eq!(
            iscsi_lost(&s, "iqn.2024-01.test.e2e:disk", "10.0.2.2:3260"),
            None
        );
        // Not our target: nothing to say.
        let s = sessions("TRANSPORT WAIT", "FAILED");
        assert_eq!(iscsi_lost(&s, "iqn.other:x", "10.0.2.2:3260"), None);
    }

    #[test]
    fn a_failed_session_names_the_target_and_what_to_check() {
        let s = sessions("TRANSPORT WAIT", "FAILED");
        let m = iscsi_lost(&s, "iqn.2024-01.test.e2e:disk", "10.0.2.2:3260").unwrap();
        for want in [
            "iqn.2024-01.test.e2e:disk at 10.0.2.2:3260",
            "session FAILED, connection TRANSPORT WAIT",
            "server 10.0.2.2 is up",
            "tgtd",
            "run the same command again",
        ] {
            assert!(m.contains(want), "{want} in {m}");
        }
    }

    #[test]
    fn an_aoe_device_down_or_gone() {
        let (_t, paths) = fake_host();
        let mut d = read_device(&paths, 0, 0).unwrap();
        assert_eq!(aoe_lost(Some(&d), 0, 0), None);
        d.state = Some("down,closewait".into());
        let m = aoe_lost(Some(&d), 0, 0).unwrap();
        assert!(m.contains("AoE target e0.0"), "{m}");
        assert!(m.contains("device state down,closewait"), "{m}");
        assert!(m.contains("vblade exports e0.0"), "{m}");
        let m = aoe_lost(None, 7, 1).unwrap();
        assert!(m.contains("no /sys/block/etherd!e7.1"), "{m}");
    }
}
