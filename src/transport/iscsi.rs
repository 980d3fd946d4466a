//! iSCSI: sendtargets discovery, login with CHAP, finding the LUN's disk.
//!
//! The node database and CHAP live in [`super::iscsi_record`] (secrets
//! never reach an argv).
//!
//! Listing a portal's targets and reading the iBFT live in
//! [`super::iscsi_listing`] (re-exported here, where callers look).

use super::common::{attach_timeout, need_root, wait_for, AttachEnv, HostPaths};
use super::iscsi_listing::explain;
use super::iscsi_record::{record_files, set_chap};
use crate::disk::TargetDisk;
use crate::outcome::Refused;
use crate::plan::{Chap, Portal};
use crate::tools::cmd::CommandError;
use crate::tools::{iscsiadm as tool, Runner};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::iscsi_listing::{
    discover, parse_ibft_lun, read_ibft, render_table, AttachedLun, IbftTarget, OfferedTarget,
    PortalListing,
};

/// The udev by-path name of a LUN: `ip-10.0.2.2:3260-iscsi-IQN-lun-1`.
pub fn by_path_name(portal: &str, iqn: &str, lun: u32) -> String {
    format!("ip-{portal}-iscsi-{iqn}-lun-{lun}")
}

/// Find a LUN's disk name ("sda") in a `/dev/disk/by-path` directory.
pub fn disk_by_path(by_path_dir: &Path, portal: &str, iqn: &str, lun: u32) -> Option<String> {
    let link = by_path_dir.join(by_path_name(portal, iqn, lun));
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// A session of this machine to `iqn` (at `portal` if one matches, else
/// any), from `iscsiadm -m session -P 3`.
fn find_session(runner: &Runner, iqn: &str, portal: &str) -> Result<Option<tool::SessionDetail>> {
    let out = match runner.query(&tool::session_detail()) {
        Ok(o) => o,
        // Without open-iscsi there are no sessions; logging in will say
        // what to install.
        Err(e) if matches!(CommandError::find(&e), Some(CommandError::NotFound { .. })) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let all: Vec<_> = tool::parse_session_detail(&out.stdout)
        .into_iter()
        .filter(|s| s.iqn == iqn)
        .collect();
    Ok(all
        .iter()
        .find(|s| s.current_portal == portal || s.persistent_portal == portal)
        .or(all.first())
        .cloned())
}

fn disk_of(paths: &HostPaths, name: &str, iqn: &str, lun: u32, portal: &str) -> TargetDisk {
    let sys = format!("class/block/{name}");
    let size = paths
        .read_sys(format!("{sys}/size"))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        * 512;
    let model = [
        paths.read_sys(format!("{sys}/device/vendor")),
        paths.read_sys(format!("{sys}/device/model")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    TargetDisk {
        node: paths.dev.join(name),
        size,
        identity: format!("{iqn} lun {lun} at {portal}"),
        model: (!model.is_empty()).then_some(model),
        serial: None,
        image: None,
        attached: true,
    }
}

/// The LUN's disk in a session, or a refusal listing the LUNs it has.
fn lun_disk(s: &tool::SessionDetail, iqn: &str, lun: u32) -> Result<Option<String>> {
    if let Some(l) = s.luns.iter().find(|l| l.lun == lun) {
        return Ok(l.disk.clone());
    }
    if s.luns.iter().any(|l| l.disk.is_some()) {
        let have: Vec<String> = s
            .luns
            .iter()
            .map(|l| match &l.disk {
                Some(d) => format!("{} ({d})", l.lun),
                None => format!("{} (no disk)", l.lun),
            })
            .collect();
        return Err(Refused(format!(
            "target {iqn} has no LUN {lun} (target.lun); its LUNs: {}. tgt puts its first disk \
             at LUN 1, LIO at LUN 0",
            have.join(", ")
        ))
        .into());
    }
    Ok(None)
}

/// Refuse unless discovery at `portal` offered `iqn`.
pub fn check_offered(offered: &[tool::NodeEntry], portal: &str, iqn: &str) -> Result<()> {
    if offered.iter().any(|n| n.iqn == iqn) {
        return Ok(());
    }
    let mut list: Vec<&str> = offered.iter().map(|n| n.iqn.as_str()).collect();
    list.dedup();
    Err(Refused(format!(
        "the portal {portal} does not offer {iqn} (target.iqn); it offers: {}",
        if list.is_empty() {
            "nothing (check the target's ACL for this initiator)".to_string()
        } else {
            list.join(", ")
        }
    ))
    .into())
}

/// What the portal offers, by sendtargets discovery through the runner
/// (which also makes open-iscsi's node records). When the discovery was
/// only recorded (a dry run), the portal is asked read-only with a
/// SendTargets session of netroot's own, and `None` means it could not be
/// asked (the note says why).
fn offered_targets(
    env: &mut AttachEnv,
    portal_v: &Portal,
    iqn: &str,
    iface: Option<&str>,
) -> Result<Option<Vec<tool::NodeEntry>>> {
    let portal = portal_v.to_string();
    let out = env
        .runner
        .run(&tool::via(tool::discovery(&portal), iface))
        .map_err(|e| explain(e, &format!("sendtargets discovery at {portal}")))?;
    if let Some(offered) = env
        .runner
        .observe(|| Ok(tool::parse_node_list(&out.stdout)))?
    {
        return Ok(Some(offered));
    }
    match super::sendtargets::send_targets(portal_v, Duration::from_secs(10), env.initiator) {
        Ok(offered) => {
            if offered.iter().any(|n| n.iqn == iqn) {
                env.notes.push(format!(
                    "dry run: {portal} offers {iqn} (asked with a read-only SendTargets session)"
                ));
            }
            Ok(Some(offered))
        }
        Err(e) => {
            env.notes.push(format!(
                "dry run: could not ask {portal} which targets it offers: {e:#}"
            ));
            Ok(None)
        }
    }
}

/// Attach IQN LUN at PORTAL: discovery (the plan's IQN must be offered),
/// CHAP, login, then wait for the LUN's disk. A session that already
/// exists is used as it is and is not logged out at the end.
pub fn attach(
    env: &mut AttachEnv,
    paths: &HostPaths,
    portal_v: &Portal,
    iqn: &str,
    lun: u32,
    chap: Option<&Chap>,
) -> Result<TargetDisk> {
    let portal = portal_v.to_string();
    // Already logged in (booted from it, or an earlier run)? Use it. Such
    // a session is not logged out by netroot (the running system's root
    // may be on it) unless netroot's own marker says an interrupted run of
    // netroot made it.
    let marker = session_marker(env.state_dir, iqn, &portal);
    let existing = find_session(env.runner, iqn, &portal)?;
    if let Some(s) = &existing {
        if let Some(d) = reuse_session(env, s, iqn, lun, &portal, &marker)? {
            return Ok(disk_of(paths, &d, iqn, lun, &portal));
        }
    }
    env.runner.check("running as root", || {
        need_root("logging in to an iSCSI target")
    })?;
    let had_record = !record_files(&paths.iscsi_nodes, iqn, portal_v).is_empty();
    let iface = match env.initiator {
        Some(name) => Some(use_iface(env, paths, name)?),
        None => None,
    };
    prepare_node(env, paths, portal_v, iqn, chap, iface)?;
    if !had_record {
        env.runner.run(&tool::node_update(
            iqn,
            &portal,
            "node.session.timeo.replacement_timeout",
            &MIGRATION_RECOVERY_TIMEOUT.to_string(),
        ))?;
    }
    log_in(
        env,
        iqn,
        &portal,
        iface,
        existing.is_none(),
        had_record,
        marker,
    )?;
    let timeout = attach_timeout();
    let Some(found) = wait_for_lun(env, paths, iqn, lun, &portal, timeout)? else {
        return Ok(planned_disk(env, paths, iqn, lun, &portal));
    };
    match found {
        Some(d) => Ok(disk_of(paths, &d, iqn, lun, &portal)),
        None => bail!(
            "logged in to {iqn} at {portal}, but no disk appeared for LUN {lun} within {} s \
             (see `iscsiadm -m session -P 3`); set NETROOT_ATTACH_TIMEOUT to wait longer",
            timeout.as_secs()
        ),
    }
}

/// How long the session netroot logs in to for a migration waits for a
/// target that stopped answering before the kernel fails its I/O (the
/// record's `node.session.timeo.replacement_timeout`, seconds). Set
/// deliberately on the node record netroot creates, whatever the
/// machine's iscsid.conf says (a system booted from iSCSI may say a day
/// there): a server restart of up to two minutes is ridden through, a
/// longer outage fails the step in bounded time, naming the target
/// (`transport::health`), and the run resumes when started again. The
/// migrated system's own root session waits a day instead (docs/boot.md).
pub const MIGRATION_RECOVERY_TIMEOUT: u32 = 120;

/// The LUN's disk in a session that exists already, if it has one; a
/// session netroot's marker says an interrupted run made is logged out at
/// the end of this run.
fn reuse_session(
    env: &mut AttachEnv,
    s: &tool::SessionDetail,
    iqn: &str,
    lun: u32,
    portal: &str,
    marker: &Path,
) -> Result<Option<String>> {
    let Some(d) = lun_disk(s, iqn, lun)? else {
        return Ok(None);
    };
    tracing::info!("iSCSI {iqn} is already logged in; LUN {lun} is /dev/{d}");
    if let Ok(m) = std::fs::read_to_string(marker) {
        let had_record = m.contains("node record: existed");
        push_logout(env, iqn, portal, had_record, marker.to_path_buf());
    }
    Ok(Some(d))
}

/// The open-iscsi iface netroot logs in through: it carries the plan's
/// initiator name (the one the target's ACL admits) without touching this
/// machine's own /etc/iscsi/initiatorname.iscsi. Made if missing and
/// deleted again at the end of the run.
pub const IFACE: &str = "netroot";

fn use_iface(env: &mut AttachEnv, paths: &HostPaths, name: &str) -> Result<&'static str> {
    let ifaces = paths
        .iscsi_nodes
        .parent()
        .map(|d| d.join("ifaces"))
        .unwrap_or_else(|| PathBuf::from("/etc/iscsi/ifaces"));
    if !ifaces.join(IFACE).exists() {
        env.runner.run(&tool::iface_new(IFACE))?;
    }
    env.runner
        .run(&tool::iface_update(IFACE, "iface.initiatorname", name))?;
    Ok(IFACE)
}

/// The node record to log in with: discovery (refusing a portal that does
/// not offer the IQN), a record for the plan's portal when the target
/// announces another, and CHAP.
fn prepare_node(
    env: &mut AttachEnv,
    paths: &HostPaths,
    portal_v: &Portal,
    iqn: &str,
    chap: Option<&Chap>,
    iface: Option<&str>,
) -> Result<()> {
    let portal = portal_v.as_str();
    if let Some(offered) = offered_targets(env, portal_v, iqn, iface)? {
        check_offered(&offered, portal, iqn)?;
        // Behind NAT the target may announce another address than the one
        // we reach it by: make a record for the plan's portal.
        if !offered.iter().any(|n| n.iqn == iqn && n.portal == portal) {
            env.runner
                .run(&tool::via(tool::node_new(iqn, portal), iface))?;
        }
    }
    if let Some(c) = chap {
        set_chap(env, paths, iqn, portal_v, c)?;
    }
    Ok(())
}

/// Log in. A session netroot makes (`new_session`) is noted in `marker`
/// first, so that a run killed before its cleanup still logs out when
/// resumed, and its logout is pushed on the undo list.
fn log_in(
    env: &mut AttachEnv,
    iqn: &str,
    portal: &str,
    iface: Option<&str>,
    new_session: bool,
    had_record: bool,
    marker: PathBuf,
) -> Result<()> {
    if new_session {
        env.runner.write_state(
            &marker,
            format!(
                "netroot logs in to {iqn} at {portal}\nnode record: {}\n",
                if had_record { "existed" } else { "created" }
            )
            .as_bytes(),
            0o600,
        )?;
    }
    if let Err(e) = env.runner.run(&tool::via(tool::login(iqn, portal), iface)) {
        if new_session {
            let _ = env.runner.remove_state(&marker);
        }
        return Err(explain(e, &format!("login to {iqn} at {portal}")));
    }
    if new_session {
        push_logout(env, iqn, portal, had_record, marker);
    }
    Ok(())
}

/// Wait for the LUN's disk: by its by-path link, else from the session.
/// `None` when the login was only recorded (a dry run); `Some(None)` when
/// no disk appeared within `timeout`.
fn wait_for_lun(
    env: &AttachEnv,
    paths: &HostPaths,
    iqn: &str,
    lun: u32,
    portal: &str,
    timeout: Duration,
) -> Result<Option<Option<String>>> {
    let by_path = paths.dev.join("disk/by-path");
    let runner = env.runner.clone();
    env.runner.observe(|| {
        wait_for(
            timeout,
            Duration::from_millis(250),
            timeout,
            || Ok(()),
            || {
                if let Some(d) = disk_by_path(&by_path, portal, iqn, lun) {
                    return Ok(Some(d));
                }
                match find_session(&runner, iqn, portal)? {
                    Some(s) => Ok(lun_disk(&s, iqn, lun)?.filter(|d| paths.dev.join(d).exists())),
                    None => Ok(None),
                }
            },
        )
    })
}

/// The disk a dry run reports for a login it only recorded: the plan's,
/// not yet here.
fn planned_disk(
    env: &mut AttachEnv,
    paths: &HostPaths,
    iqn: &str,
    lun: u32,
    portal: &str,
) -> TargetDisk {
    env.notes.push(format!(
        "dry run: iSCSI {iqn} is not logged in; the run would log in at {portal} and use LUN {lun}"
    ));
    TargetDisk {
        node: paths
            .dev
            .join("disk/by-path")
            .join(by_path_name(portal, iqn, lun)),
        size: env.planned_size,
        identity: format!("{iqn} lun {lun} at {portal}"),
        model: None,
        serial: None,
        image: None,
        attached: false,
    }
}

/// Where netroot notes the sessions it logged in to:
/// STATE_DIR/iscsi-sessions/IQN@PORTAL (':' and '/' replaced).
pub fn session_marker(state_dir: &Path, iqn: &str, portal: &str) -> PathBuf {
    let name: String = format!("{iqn}@{portal}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-@_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("iscsi-sessions").join(name)
}

/// Undo at the end of the run: log out, forget the node record (with its
/// CHAP secret) if netroot created it, and drop the marker.
fn push_logout(env: &mut AttachEnv, iqn: &str, portal: &str, had_record: bool, marker: PathBuf) {
    let (r, i, p) = (env.runner.clone(), iqn.to_string(), portal.to_string());
    let what = if had_record {
        format!("logging out of {iqn} at {portal}")
    } else {
        format!("logging out of {iqn} at {portal} and deleting its node record")
    };
    let via_iface = env.initiator.is_some();
    env.cleanup.push(what, move || {
        r.run(&tool::logout(&i, &p))?;
        if !had_record {
            r.run(&tool::node_delete(&i, &p))?;
        }
        if via_iface {
            r.run(&tool::iface_delete(IFACE))?;
        }
        r.remove_state(&marker)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::aoe::tests::fixture;

    #[test]
    fn by_path_names_match_the_captured_links() {
        let name = by_path_name("10.0.2.2:3260", "iqn.2024-01.test.e2e:disk", 1);
        let listing = fixture("iscsi/dev-disk-by-path.txt");
        let line = listing
            .lines()
            .find(|l| l.contains(&format!(" {name} -> ")))
            .expect("the LUN's link is in the captured listing");
        assert!(line.ends_with("-> ../../sda"), "{line}");
        // Rebuild the directory and look the disk up in it.
        let t = tempfile::tempdir().unwrap();
        for l in listing.lines().filter(|l| l.starts_with('l')) {
            let (n, target) = l.split_once(" -> ").unwrap();
            let n = n.rsplit(' ').next().unwrap();
            std::os::unix::fs::symlink(target, t.path().join(n)).unwrap();
        }
        assert_eq!(
            disk_by_path(t.path(), "10.0.2.2:3260", "iqn.2024-01.test.e2e:disk", 1).as_deref(),
            Some("sda")
        );
        assert_eq!(
            disk_by_path(t.path(), "10.0.2.2:3260", "iqn.2024-01.test.e2e:disk", 0),
            None
        );
    }

    #[test]
    fn lun_lookup_refuses_missing_lun() {
        let s = &tool::parse_session_detail(&fixture("iscsi/iscsiadm-session-P3.txt"))[0];
        assert_eq!(lun_disk(s, "iqn", 1).unwrap().as_deref(), Some("sda"));
        assert_eq!(lun_disk(s, "iqn", 0).unwrap(), None);
        let e = lun_disk(s, "iqn.2024-01.test.e2e:disk", 2).unwrap_err();
        assert!(e.downcast_ref::<Refused>().is_some());
        assert!(e.to_string().contains("1 (sda)"), "{e}");
    }

    #[test]
    fn offered_iqn_check() {
        let offered = tool::parse_node_list(&fixture("iscsi/discovery-sendtargets.txt"));
        check_offered(&offered, "10.0.2.2:3260", "iqn.2024-01.test.e2e:disk").unwrap();
        let e = check_offered(&offered, "10.0.2.2:3260", "iqn.2024-01.test.e2e:other").unwrap_err();
        assert!(e.downcast_ref::<Refused>().is_some());
        assert!(
            e.to_string()
                .ends_with("it offers: iqn.2024-01.test.e2e:disk"),
            "{e}"
        );
        let e = check_offered(&[], "p:1", "iqn.x:y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("offers: nothing (check the target's ACL"), "{e}");
    }
}
