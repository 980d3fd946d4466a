//! iSCSI: sendtargets discovery, login with CHAP, finding the LUN's disk.
//!
//! CHAP secrets: iscsiadm only takes values on its argv (`-v`), where any
//! user can read them in /proc/PID/cmdline. So netroot sets the
//! non-secret fields (authmethod, usernames) with `iscsiadm --op update`
//! and writes the passwords itself into the node record file that
//! discovery created (`/etc/iscsi/nodes/IQN/ADDR,PORT,TPGT/IFACE`, mode
//! 0600), which is where `iscsiadm --op update` would have put them. That
//! write is an in-process effect whose description names the file and
//! field, never the value.

use super::common::{attach_timeout, need_root, wait_for, AttachEnv, HostPaths};
use crate::disk::TargetDisk;
use crate::outcome::Refused;
use crate::plan::{Chap, Portal, ISCSI_DEFAULT_PORT};
use crate::tools::cmd::CommandError;
use crate::tools::{iscsiadm as tool, Runner};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// What the firmware table iPXE leaves (iBFT) says about the boot target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IbftTarget {
    pub iqn: String,
    pub address: String,
    pub port: u16,
    pub lun: u32,
    /// The initiator name the firmware used.
    pub initiator_name: Option<String>,
    /// MAC of the NIC the firmware booted from.
    pub nic_mac: Option<String>,
}

/// Decode the iBFT `lun` attribute. The kernel prints the 8-byte SCSI LUN
/// one `%x` per byte, so LUN 1 (bytes 00 01 00 …) reads "01000000".
pub fn parse_ibft_lun(s: &str) -> Option<u32> {
    let s = s.trim();
    let bytes: Vec<u8> = match s.len() {
        8 => s
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()?,
        16 => (0..8)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?,
        _ => return None,
    };
    // SAM addressing: the top two bits of byte 0 say how; peripheral (00)
    // and flat (01) both carry the LUN in the low 14 bits of bytes 0-1.
    Some((((bytes[0] & 0x3f) as u32) << 8) | bytes[1] as u32)
}

/// Read `/sys/firmware/ibft/target0` (and initiator, ethernet0).
pub fn read_ibft(paths: &HostPaths) -> Option<IbftTarget> {
    let t = |a: &str| paths.read_sys(format!("firmware/ibft/target0/{a}"));
    Some(IbftTarget {
        iqn: t("target-name")?,
        address: t("ip-addr")?,
        port: t("port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(ISCSI_DEFAULT_PORT),
        lun: t("lun").and_then(|l| parse_ibft_lun(&l)).unwrap_or(0),
        initiator_name: paths.read_sys("firmware/ibft/initiator/initiator-name"),
        nic_mac: paths.read_sys("firmware/ibft/ethernet0/mac"),
    })
}

/// Set `key = value` lines in an open-iscsi record (replacing existing
/// ones, else inserting before `# END RECORD`).
pub fn set_record_values(record: &str, values: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = record.lines().map(str::to_string).collect();
    for (k, v) in values {
        let new = format!("{k} = {v}");
        let pos = lines
            .iter()
            .position(|l| l.split_once('=').is_some_and(|(n, _)| n.trim() == *k));
        match pos {
            Some(i) => lines[i] = new,
            None => {
                let end = lines
                    .iter()
                    .position(|l| l.starts_with("# END RECORD"))
                    .unwrap_or(lines.len());
                lines.insert(end, new);
            }
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// The node record files for IQN at PORTAL ("ADDR:PORT"): every
/// `IQN/ADDR,PORT,TPGT` entry, a file (old layout) or a directory with one
/// file per iface.
pub fn record_files(nodes_dir: &Path, iqn: &str, portal: &str) -> Vec<PathBuf> {
    let Some((addr, port)) = portal.rsplit_once(':') else {
        return Vec::new();
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let prefix = format!("{addr},{port},");
    let mut v = Vec::new();
    for e in std::fs::read_dir(nodes_dir.join(iqn))
        .into_iter()
        .flatten()
        .flatten()
    {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            v.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|f| f.path())
                    .filter(|f| f.is_file()),
            );
        } else if p.is_file() {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Configure CHAP on the node record: authmethod and usernames through
/// iscsiadm, passwords straight into the record file (never on an argv).
fn set_chap(
    env: &AttachEnv,
    paths: &HostPaths,
    iqn: &str,
    portal: &str,
    chap: &Chap,
) -> Result<()> {
    let r = &env.runner;
    let mut secrets: Vec<(&str, String)> = vec![(
        "node.session.auth.password",
        chap.secret_file.read("target.chap.secret_file")?,
    )];
    r.run(&tool::node_update(
        iqn,
        portal,
        "node.session.auth.authmethod",
        "CHAP",
    ))?;
    r.run(&tool::node_update(
        iqn,
        portal,
        "node.session.auth.username",
        &chap.username,
    ))?;
    match (&chap.target_username, &chap.target_secret_file) {
        (Some(u), Some(f)) => {
            r.run(&tool::node_update(
                iqn,
                portal,
                "node.session.auth.username_in",
                u,
            ))?;
            secrets.push((
                "node.session.auth.password_in",
                f.read("target.chap.target_secret_file")?,
            ));
        }
        (None, None) => {}
        _ => bail!("target.chap: mutual CHAP needs both target_username and target_secret_file"),
    }
    let names: Vec<&str> = secrets.iter().map(|(k, _)| *k).collect();
    let what = format!(
        "setting {} in the node record of {iqn} at {portal} under {} (mode 0600)",
        names.join(" and "),
        paths.iscsi_nodes.display()
    );
    let nodes = paths.iscsi_nodes.clone();
    let (iqn_s, portal_s) = (iqn.to_string(), portal.to_string());
    r.effect(&what, false, move || {
        let files = record_files(&nodes, &iqn_s, &portal_s);
        if files.is_empty() {
            bail!(
                "no node record for {iqn_s} at {portal_s} in {} (discovery did not store one)",
                nodes.display()
            );
        }
        let pairs: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for f in files {
            let old = std::fs::read_to_string(&f)
                .with_context(|| format!("reading the node record {}", f.display()))?;
            crate::tools::runner::write_atomic(
                &f,
                set_record_values(&old, &pairs).as_bytes(),
                0o600,
            )?;
        }
        Ok(())
    })?;
    Ok(())
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
) -> Result<Option<Vec<tool::NodeEntry>>> {
    let portal = portal_v.to_string();
    let out = env
        .runner
        .run(&tool::discovery(&portal))
        .map_err(|e| explain(e, &format!("sendtargets discovery at {portal}")))?;
    if let Some(offered) = env
        .runner
        .observe(|| Ok(tool::parse_node_list(&out.stdout)))?
    {
        return Ok(Some(offered));
    }
    match super::sendtargets::send_targets(portal_v, Duration::from_secs(10)) {
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
    let by_path = paths.dev.join("disk/by-path");
    // Already logged in (booted from it, or an earlier run)? Use it. Such
    // a session is not logged out by netroot (the running system's root
    // may be on it) unless netroot's own marker says an interrupted run of
    // netroot made it.
    let marker = session_marker(env.state_dir, iqn, &portal);
    let existing = find_session(env.runner, iqn, &portal)?;
    if let Some(s) = &existing {
        if let Some(d) = lun_disk(s, iqn, lun)? {
            tracing::info!("iSCSI {iqn} is already logged in; LUN {lun} is /dev/{d}");
            if let Ok(m) = std::fs::read_to_string(&marker) {
                let had_record = m.contains("node record: existed");
                push_logout(env, iqn, &portal, had_record, marker);
            }
            return Ok(disk_of(paths, &d, iqn, lun, &portal));
        }
    }
    env.runner.check("running as root", || {
        need_root("logging in to an iSCSI target")
    })?;
    let had_record = !record_files(&paths.iscsi_nodes, iqn, &portal).is_empty();
    if let Some(offered) = offered_targets(env, portal_v, iqn)? {
        check_offered(&offered, &portal, iqn)?;
        // Behind NAT the target may announce another address than the one
        // we reach it by: make a record for the plan's portal.
        if !offered.iter().any(|n| n.iqn == iqn && n.portal == portal) {
            env.runner.run(&tool::node_new(iqn, &portal))?;
        }
    }
    if let Some(c) = chap {
        set_chap(env, paths, iqn, &portal, c)?;
    }
    if existing.is_none() {
        // Note first that netroot makes this session, so that a run killed
        // before its cleanup still logs out when resumed.
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
    if let Err(e) = env.runner.run(&tool::login(iqn, &portal)) {
        if existing.is_none() {
            let _ = env.runner.remove_state(&marker);
        }
        return Err(explain(e, &format!("login to {iqn} at {portal}")));
    }
    if existing.is_none() {
        push_logout(env, iqn, &portal, had_record, marker);
    }
    let timeout = attach_timeout();
    let runner = env.runner.clone();
    let found = env.runner.observe(|| {
        wait_for(
            timeout,
            Duration::from_millis(250),
            timeout,
            || Ok(()),
            || {
                if let Some(d) = disk_by_path(&by_path, &portal, iqn, lun) {
                    return Ok(Some(d));
                }
                match find_session(&runner, iqn, &portal)? {
                    Some(s) => Ok(lun_disk(&s, iqn, lun)?.filter(|d| paths.dev.join(d).exists())),
                    None => Ok(None),
                }
            },
        )
    })?;
    let Some(found) = found else {
        // The login was only recorded: the disk is the plan's, not yet here.
        env.notes.push(format!(
            "dry run: iSCSI {iqn} is not logged in; the run would log in at {portal} and use LUN {lun}"
        ));
        return Ok(TargetDisk {
            node: by_path.join(by_path_name(&portal, iqn, lun)),
            size: env.planned_size,
            identity: format!("{iqn} lun {lun} at {portal}"),
            model: None,
            serial: None,
            image: None,
            attached: false,
        });
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

/// iscsiadm is missing, or this kernel has no `iscsi_tcp` (status 12).
fn iscsiadm_unusable(e: &anyhow::Error) -> bool {
    match CommandError::find(e) {
        Some(CommandError::NotFound { .. }) => true,
        Some(c) => c.status() == Some(tool::ERR_TRANS_NOT_FOUND),
        None => false,
    }
}

fn unusable_why(e: &anyhow::Error) -> &'static str {
    if matches!(CommandError::find(e), Some(CommandError::NotFound { .. })) {
        "it is not installed"
    } else {
        "this kernel has no iscsi_tcp module"
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
    env.cleanup.push(what, move || {
        r.run(&tool::logout(&i, &p))?;
        if !had_record {
            r.run(&tool::node_delete(&i, &p))?;
        }
        r.remove_state(&marker)
    });
}

/// Add what failed and what the iscsiadm exit status means to its error.
fn explain(e: anyhow::Error, what: &str) -> anyhow::Error {
    let code = CommandError::find(&e).and_then(CommandError::status);
    match code.and_then(tool::explain_status) {
        Some(why) => e.context(format!("{what} failed: {why}")),
        None => e.context(format!("{what} failed")),
    }
}

/// What `netroot discover iscsi` found at a portal.
#[derive(Debug, Clone, Serialize)]
pub struct PortalListing {
    /// "ADDR:PORT" asked.
    pub portal: String,
    /// How the targets were listed: "iscsiadm", or "sendtargets" (netroot's
    /// own discovery session, when iscsiadm cannot run here).
    pub method: String,
    /// Targets offered (sendtargets).
    pub targets: Vec<OfferedTarget>,
    /// The boot target from the iBFT, if this machine booted from iSCSI.
    pub ibft: Option<IbftTarget>,
}

/// One offered target, with what this machine has attached of it.
#[derive(Debug, Clone, Serialize)]
pub struct OfferedTarget {
    pub iqn: String,
    /// The portal the target announces ("ADDR:PORT").
    pub portal: String,
    pub tpgt: u32,
    /// LUNs of an existing session to it (empty when not logged in).
    pub luns: Vec<AttachedLun>,
}

/// A LUN of a logged-in session.
#[derive(Debug, Clone, Serialize)]
pub struct AttachedLun {
    pub lun: u32,
    pub disk: Option<PathBuf>,
    pub size: Option<u64>,
}

/// The text table of `netroot discover iscsi`.
pub fn render_table(l: &PortalListing) -> String {
    let mut out = String::new();
    if l.targets.is_empty() {
        out.push_str(&format!(
            "the portal {} offers no targets to this initiator (check the target's ACL)\n",
            l.portal
        ));
    } else {
        let mut rows = vec![[
            "IQN".to_string(),
            "PORTAL".into(),
            "TPGT".into(),
            "ATTACHED HERE".into(),
        ]];
        for t in &l.targets {
            let att: Vec<String> = t
                .luns
                .iter()
                .filter_map(|x| {
                    let d = x.disk.as_ref()?;
                    Some(format!(
                        "lun {} {} {}",
                        x.lun,
                        d.display(),
                        x.size.map(super::human_size).unwrap_or_default()
                    ))
                })
                .collect();
            rows.push([
                t.iqn.clone(),
                t.portal.clone(),
                t.tpgt.to_string(),
                if att.is_empty() {
                    "-".into()
                } else {
                    att.join(", ")
                },
            ]);
        }
        out.push_str(&super::common::table(&rows));
    }
    if let Some(b) = &l.ibft {
        out.push_str(&format!(
            "booted from (iBFT): {} lun {} at {}:{}\n",
            b.iqn, b.lun, b.address, b.port
        ));
    }
    out
}

/// List the targets a portal offers (sendtargets discovery that leaves the
/// node database alone), with the LUNs of sessions already logged in.
pub fn discover(runner: &Runner, paths: &HostPaths, portal_v: &Portal) -> Result<PortalListing> {
    let portal = portal_v.to_string();
    let (offered, method) = match runner.query(&tool::discovery_nonpersistent(&portal)) {
        Ok(out) => (tool::parse_node_list(&out.stdout), "iscsiadm"),
        Err(e) if iscsiadm_unusable(&e) => {
            tracing::warn!(
                "iscsiadm cannot run discovery here ({}); using netroot's own SendTargets session",
                unusable_why(&e)
            );
            let v = super::sendtargets::send_targets(portal_v, Duration::from_secs(10))
                .with_context(|| format!("sendtargets discovery at {portal}"))?;
            (v, "sendtargets")
        }
        Err(e) => return Err(explain(e, &format!("sendtargets discovery at {portal}"))),
    };
    let sessions = runner
        .query(&tool::session_detail())
        .map(|o| tool::parse_session_detail(&o.stdout))
        .unwrap_or_default();
    let targets = offered
        .into_iter()
        .map(|n| {
            let luns = sessions
                .iter()
                .filter(|s| s.iqn == n.iqn)
                .flat_map(|s| s.luns.iter())
                .map(|l| AttachedLun {
                    lun: l.lun,
                    disk: l.disk.as_ref().map(|d| paths.dev.join(d)),
                    size: l.disk.as_ref().and_then(|d| {
                        paths
                            .read_sys(format!("class/block/{d}/size"))
                            .and_then(|s| s.parse::<u64>().ok())
                            .map(|s| s * 512)
                    }),
                })
                .collect();
            OfferedTarget {
                iqn: n.iqn,
                portal: n.portal,
                tpgt: n.tpgt,
                luns,
            }
        })
        .collect();
    Ok(PortalListing {
        portal,
        method: method.to_string(),
        targets,
        ibft: read_ibft(paths),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::aoe::tests::unpack_catdir;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

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
    fn ibft_from_the_captured_tables() {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            sys: t.path().to_path_buf(),
            ..HostPaths::default()
        };
        assert_eq!(read_ibft(&paths), None);
        for part in ["target0", "initiator", "ethernet0"] {
            unpack_catdir(
                &fixture(&format!("iscsi/sys-firmware-ibft-{part}.txt")),
                &t.path().join("firmware/ibft").join(part),
            );
        }
        let ib = read_ibft(&paths).unwrap();
        assert_eq!(
            ib,
            IbftTarget {
                iqn: "iqn.2024-01.test.e2e:disk".into(),
                address: "10.0.2.2".into(),
                port: 3260,
                lun: 1,
                initiator_name: Some(
                    "iqn.2010-04.org.ipxe:00000000-0000-0000-0000-000000000000".into()
                ),
                nic_mac: Some("52:54:00:12:34:56".into()),
            }
        );
        assert_eq!(parse_ibft_lun("00000000"), Some(0));
        assert_eq!(parse_ibft_lun("0001000000000000"), Some(1));
        assert_eq!(parse_ibft_lun("0011000000000000"), Some(17));
        assert_eq!(parse_ibft_lun("x"), None);
    }

    #[test]
    fn record_editing_replaces_or_inserts() {
        let rec =
            "# BEGIN RECORD 2.1.8\nnode.name = iqn.a:b\nnode.session.auth.authmethod = None\n\
                   node.session.auth.password = old\n# END RECORD\n";
        let new = set_record_values(
            rec,
            &[
                ("node.session.auth.password", "s3cret-pass"),
                ("node.session.auth.password_in", "other-s3cret"),
            ],
        );
        assert_eq!(
            new,
            "# BEGIN RECORD 2.1.8\nnode.name = iqn.a:b\nnode.session.auth.authmethod = None\n\
             node.session.auth.password = s3cret-pass\nnode.session.auth.password_in = other-s3cret\n\
             # END RECORD\n"
        );
    }

    #[test]
    fn record_files_in_both_layouts() {
        let t = tempfile::tempdir().unwrap();
        let n = t.path();
        std::fs::create_dir_all(n.join("iqn.a:b/10.0.2.2,3260,1")).unwrap();
        std::fs::write(n.join("iqn.a:b/10.0.2.2,3260,1/default"), "x").unwrap();
        std::fs::write(n.join("iqn.a:b/10.0.2.2,3261,1"), "old layout, other port").unwrap();
        // IPv6 addresses are stored without brackets; -1 = no TPGT (`-o new`).
        std::fs::create_dir_all(n.join("iqn.a:c/fd00::1,3260,-1")).unwrap();
        std::fs::write(n.join("iqn.a:c/fd00::1,3260,-1/default"), "x").unwrap();
        assert_eq!(
            record_files(n, "iqn.a:b", "10.0.2.2:3260"),
            vec![n.join("iqn.a:b/10.0.2.2,3260,1/default")]
        );
        assert_eq!(
            record_files(n, "iqn.a:b", "10.0.2.2:3261"),
            vec![n.join("iqn.a:b/10.0.2.2,3261,1")]
        );
        assert_eq!(record_files(n, "iqn.a:c", "[fd00::1]:3260").len(), 1);
        assert!(record_files(n, "iqn.none", "10.0.2.2:3260").is_empty());
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
    fn table() {
        let l = PortalListing {
            portal: "10.0.2.2:3260".into(),
            method: "iscsiadm".into(),
            targets: vec![OfferedTarget {
                iqn: "iqn.2024-01.test.e2e:disk".into(),
                portal: "127.0.0.1:3260".into(),
                tpgt: 1,
                luns: vec![
                    AttachedLun {
                        lun: 0,
                        disk: None,
                        size: None,
                    },
                    AttachedLun {
                        lun: 1,
                        disk: Some("/dev/sda".into()),
                        size: Some(4 << 30),
                    },
                ],
            }],
            ibft: None,
        };
        let t = render_table(&l);
        assert_eq!(
            t,
            "IQN                        PORTAL          TPGT  ATTACHED HERE\n\
             iqn.2024-01.test.e2e:disk  127.0.0.1:3260  1     lun 1 /dev/sda 4.0 GiB\n"
        );
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
