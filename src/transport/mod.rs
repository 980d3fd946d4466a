//! Network block transports: AoE and iSCSI (discovery, attach, identity).
//!
//! [`attach`] is what the discover step calls when the plan has no
//! `target.device`: it finds the plan's target on the network, attaches it
//! (AoE: load the initiator and discover; iSCSI: discovery, CHAP, login),
//! waits for its block device and checks that what it found is what the
//! plan names ([`verify`]). A target that is already attached is used as it
//! is, without any change, so a re-run attaches nothing twice.

pub mod aoe;
pub mod iscsi;
pub mod sendtargets;

use crate::disk::TargetDisk;
use crate::engine::run::Refused;
use crate::engine::Ctx;
use crate::plan::{Size, Target};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the kernel's and open-iscsi's trees are. Real runs use the
/// defaults; tests point them at fake trees in a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// sysfs (/sys).
    pub sys: PathBuf,
    /// devtmpfs (/dev).
    pub dev: PathBuf,
    /// open-iscsi's node database (/etc/iscsi/nodes).
    pub iscsi_nodes: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            iscsi_nodes: PathBuf::from("/etc/iscsi/nodes"),
        }
    }
}

impl HostPaths {
    /// Read a small sysfs attribute, trimmed; `None` if it is missing.
    pub fn read_sys(&self, rel: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.sys.join(rel))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// How long to wait for a network disk to appear: `NETROOT_ATTACH_TIMEOUT`
/// seconds, 30 by default.
pub fn attach_timeout() -> Duration {
    let secs = std::env::var("NETROOT_ATTACH_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Attach the plan's network target on this machine (AoE discover / iSCSI
/// login), wait for its block device, and return it. Undo actions (logout)
/// go on `ctx.cleanup`. Only called when the plan has no `target.device`.
///
/// Refuses (exit code 3) when what answers does not match the plan: a
/// different size than `target.size`, an IQN the portal does not offer, a
/// LUN the target does not have. In a dry run nothing is attached: the
/// commands are recorded and a placeholder disk (`attached: false`) with
/// the plan's identity is returned, unless the target is attached already.
pub fn attach(ctx: &mut Ctx) -> Result<TargetDisk> {
    attach_with(ctx, &HostPaths::default())
}

/// [`attach`] with the sysfs, /dev and node-database trees at `paths`
/// (tests use fake trees).
pub fn attach_with(ctx: &mut Ctx, paths: &HostPaths) -> Result<TargetDisk> {
    let target = ctx.plan.target.clone();
    let disk = match &target {
        Target::Aoe {
            shelf,
            slot,
            interface,
            ..
        } => aoe::attach(ctx, paths, *shelf, *slot, interface.as_deref())?,
        Target::Iscsi {
            portal,
            iqn,
            lun,
            chap,
            ..
        } => iscsi::attach(ctx, paths, portal, iqn, *lun, chap.as_ref())?,
    };
    if disk.attached {
        verify(&target, &disk)?;
    }
    Ok(disk)
}

/// Check that an attached disk is the one the plan names: the transport
/// identity, and the size when the plan gives `target.size`. A mismatch is
/// a [`Refused`] error (exit code 3) listing what was found.
pub fn verify(target: &Target, disk: &TargetDisk) -> Result<()> {
    let want = target.identity();
    if !disk.identity.starts_with(&want) {
        return Err(Refused(format!(
            "the disk at {} is {}, not the plan's target {want}",
            disk.node.display(),
            disk.identity
        ))
        .into());
    }
    if let Some(spec) = target.size() {
        if let Ok(Size::Bytes(b)) = spec.parse() {
            if b != disk.size {
                return Err(Refused(format!(
                    "{want} at {} has {} ({} bytes) but target.size is {spec} ({b} bytes): \
                     is this the right target? Fix target.size or the export",
                    disk.node.display(),
                    human_size(disk.size),
                    disk.size
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// The size a dry run assumes for a disk it did not attach: `target.size`
/// when the plan gives it, else 0.
pub(crate) fn planned_size(target: &Target) -> u64 {
    match target.size().map(|s| s.parse()) {
        Some(Ok(Size::Bytes(b))) => b,
        _ => 0,
    }
}

/// Wait until `ready` returns `Some`, calling it every `step`, for at most
/// `timeout`; `kick` runs first and then every `kick_every` (e.g. sending
/// an AoE discover again).
pub(crate) fn wait_for<T>(
    timeout: Duration,
    step: Duration,
    kick_every: Duration,
    mut kick: impl FnMut() -> Result<()>,
    mut ready: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let start = std::time::Instant::now();
    let mut last_kick: Option<std::time::Instant> = None;
    loop {
        if last_kick.is_none_or(|k| k.elapsed() >= kick_every) {
            kick()?;
            last_kick = Some(std::time::Instant::now());
        }
        if let Some(v) = ready()? {
            return Ok(Some(v));
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(step);
    }
}

/// "4.0 GiB" style sizes for tables and messages.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Left-aligned columns separated by two spaces, no trailing blanks.
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut w = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < N {
                line.push_str(&" ".repeat(w[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bail with a clear message when we are not root (attaching needs it).
pub(crate) fn need_root(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root: run netroot as root (sudo)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SizeSpec;

    fn disk(identity: &str, size: u64) -> TargetDisk {
        TargetDisk {
            node: PathBuf::from("/dev/etherd/e0.0"),
            size,
            identity: identity.into(),
            model: None,
            serial: None,
            image: None,
            attached: true,
        }
    }

    fn aoe_target(size: Option<&str>) -> Target {
        Target::Aoe {
            shelf: 0,
            slot: 0,
            interface: None,
            device: None,
            size: size.map(SizeSpec::new),
        }
    }

    #[test]
    fn verify_accepts_matching_identity_and_size() {
        let d = disk("e0.0 (target MAC ce:00:d7:b2:e1:7e via ens3)", 4294967296);
        verify(&aoe_target(None), &d).unwrap();
        verify(&aoe_target(Some("4G")), &d).unwrap();
    }

    #[test]
    fn verify_refuses_other_size_or_identity() {
        let d = disk("e0.0 (target MAC ce:00:d7:b2:e1:7e via ens3)", 4294967296);
        let e = verify(&aoe_target(Some("8G")), &d).unwrap_err();
        assert!(e.downcast_ref::<Refused>().is_some());
        let m = e.to_string();
        assert!(
            m.contains("target.size is 8G") && m.contains("4.0 GiB"),
            "{m}"
        );
        let e = verify(&aoe_target(None), &disk("e1.0", 1)).unwrap_err();
        assert!(e.downcast_ref::<Refused>().is_some());
        assert!(e.to_string().contains("not the plan's target e0.0"), "{e}");
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(4294967296), "4.0 GiB");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(67108864), "64.0 MiB");
        assert_eq!(planned_size(&aoe_target(Some("1G"))), 1 << 30);
        assert_eq!(planned_size(&aoe_target(None)), 0);
    }

    #[test]
    fn wait_for_kicks_and_gives_up() {
        let mut kicks = 0;
        let r: Option<()> = wait_for(
            Duration::from_millis(30),
            Duration::from_millis(5),
            Duration::from_millis(10),
            || {
                kicks += 1;
                Ok(())
            },
            || Ok(None),
        )
        .unwrap();
        assert!(r.is_none());
        assert!(kicks >= 2, "{kicks}");
        let mut n = 0;
        let r = wait_for(
            Duration::from_secs(60),
            Duration::from_millis(1),
            Duration::from_secs(60),
            || Ok(()),
            || {
                n += 1;
                Ok((n == 3).then_some(n))
            },
        )
        .unwrap();
        assert_eq!(r, Some(3));
    }
}

/// Dry runs of [`attach`] against fake sysfs trees: what they record, and
/// that no secret is in it.
#[cfg(test)]
mod dry_tests {
    use super::*;
    use crate::engine::RunOptions;
    use crate::tools::Action;
    use crate::ui::progress::NullSink;
    use std::sync::Arc;

    fn ctx(target: serde_json::Value) -> Ctx {
        let plan: crate::plan::Plan = serde_json::from_value(serde_json::json!({
            "version": 1,
            "source": {"type": "live"},
            "target": target,
            "layout": {"table": "gpt", "firmware": "bios",
                       "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]}
        }))
        .unwrap();
        let opts = RunOptions {
            dry_run: true,
            ..RunOptions::default()
        };
        Ctx::new(plan, opts, Arc::new(NullSink))
    }

    fn argvs(ctx: &Ctx) -> Vec<String> {
        ctx.runner
            .take_actions()
            .into_iter()
            .map(|a| match a {
                Action::Command { argv, .. } => argv.join(" "),
                Action::Effect { what, .. } => format!("effect: {what}"),
                Action::WriteFile { path, .. } => format!("write {path}"),
            })
            .collect()
    }

    #[test]
    fn aoe_dry_run_records_load_link_and_discover() {
        let (_t, paths) = aoe::tests::fake_host();
        let mut c = ctx(serde_json::json!(
            {"transport": "aoe", "shelf": 7, "slot": 1, "interface": "52:54:00:12:34:56", "size": "1G"}
        ));
        let d = aoe::attach(&mut c, &paths, 7, 1, Some("52:54:00:12:34:56")).unwrap();
        assert!(!d.attached);
        assert_eq!(d.node, paths.dev.join("etherd/e7.1"));
        assert_eq!(d.size, 1 << 30);
        assert_eq!(d.identity, "e7.1");
        assert_eq!(
            argvs(&c),
            vec![
                "modprobe aoe aoe_iflist=ens3",
                "ip link set dev ens3 up",
                "aoe-discover"
            ]
        );
        assert!(c.cleanup.is_empty());
    }

    #[test]
    fn aoe_already_attached_changes_nothing() {
        let (_t, paths) = aoe::tests::fake_host();
        let mut c = ctx(serde_json::json!({"transport": "aoe", "shelf": 0, "slot": 0}));
        let d = aoe::attach(&mut c, &paths, 0, 0, None).unwrap();
        assert!(d.attached);
        assert_eq!(d.size, 4294967296);
        assert!(d.identity.contains("ce:00:d7:b2:e1:7e"));
        verify(&c.plan.target, &d).unwrap();
        assert!(argvs(&c).is_empty());
    }

    #[test]
    fn iscsi_dry_run_keeps_the_chap_secret_out() {
        if crate::tools::cmd::resolve("iscsiadm").is_err() {
            panic!("this test needs iscsiadm (Debian package open-iscsi, listed in .ci/deps)");
        }
        let t = tempfile::tempdir().unwrap();
        let secret = t.path().join("chap.secret");
        std::fs::write(&secret, "Sup3rS3cretPw\n").unwrap();
        let mutual = t.path().join("mutual.secret");
        std::fs::write(&mutual, "An0therS3cret\n").unwrap();
        let paths = HostPaths {
            sys: t.path().join("sys"),
            dev: t.path().join("dev"),
            iscsi_nodes: t.path().join("nodes"),
        };
        let chap = serde_json::json!({"username": "client1", "secret_file": secret,
            "target_username": "tgt1", "target_secret_file": mutual});
        let mut c = ctx(
            serde_json::json!({"transport": "iscsi", "portal": "127.0.0.1:9",
            "iqn": "iqn.2024-01.org.example:client1", "chap": chap}),
        );
        let crate::plan::Target::Iscsi { chap, .. } = c.plan.target.clone() else {
            unreachable!()
        };
        let d = iscsi::attach(
            &mut c,
            &paths,
            "127.0.0.1:9",
            "iqn.2024-01.org.example:client1",
            1,
            chap.as_ref(),
        )
        .unwrap();
        assert!(!d.attached);
        assert_eq!(
            d.node,
            paths
                .dev
                .join("disk/by-path/ip-127.0.0.1:9-iscsi-iqn.2024-01.org.example:client1-lun-1")
        );
        let acts = argvs(&c);
        let q = "iscsiadm -m node -T iqn.2024-01.org.example:client1 -p 127.0.0.1:9";
        assert_eq!(
            acts,
            vec![
                "iscsiadm -m discovery -t st -p 127.0.0.1:9".to_string(),
                format!("{q} --op update -n node.session.auth.authmethod -v CHAP"),
                format!("{q} --op update -n node.session.auth.username -v client1"),
                format!("{q} --op update -n node.session.auth.username_in -v tgt1"),
                format!(
                    "effect: setting node.session.auth.password and node.session.auth.password_in \
                     in the node record of iqn.2024-01.org.example:client1 at 127.0.0.1:9 under {} \
                     (mode 0600)",
                    paths.iscsi_nodes.display()
                ),
                format!("{q} --login"),
            ]
        );
        // Nothing listens on port 9: the dry run says it could not check.
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("could not ask 127.0.0.1:9")),
            "{:?}",
            c.notes
        );
        let all = format!("{acts:?} {:?}", c.notes);
        assert!(!all.contains("S3cret"), "{all}");
    }
}
