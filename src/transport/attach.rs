//! Attaching the plan's target: [`attach`] finds it on the network,
//! attaches it (AoE: load the initiator and discover; iSCSI: discovery, CHAP,
//! login), waits for its block device and checks that what it found is what
//! the plan names ([`verify`]).

use super::common::{human_size, AttachEnv, HostPaths};
use super::{aoe, iscsi};
use crate::disk::TargetDisk;
use crate::outcome::Refused;
use crate::plan::{Size, Target};
use anyhow::Result;

/// Attach the plan's network target on this machine (AoE discover / iSCSI
/// login), wait for its block device, and return it. Undo actions (logout)
/// go on `env.cleanup`. Only called when the plan has no `target.device`.
///
/// Refuses (exit code 3) when what answers does not match the plan: a
/// different size than `target.size`, an IQN the portal does not offer, a
/// LUN the target does not have. In a dry run nothing is attached: the
/// commands are recorded and a placeholder disk (`attached: false`) with
/// the plan's identity is returned, unless the target is attached already.
///
/// `paths` are the sysfs, /dev and node-database trees
/// ([`HostPaths::default`] on a real machine; tests use fake trees).
pub fn attach(env: &mut AttachEnv, target: &Target, paths: &HostPaths) -> Result<TargetDisk> {
    let disk = match target {
        Target::Aoe {
            shelf,
            slot,
            interface,
            ..
        } => aoe::attach(env, paths, *shelf, *slot, interface.as_deref())?,
        Target::Iscsi {
            portal,
            iqn,
            lun,
            chap,
            ..
        } => iscsi::attach(env, paths, portal, iqn, *lun, chap.as_ref())?,
    };
    if disk.attached {
        verify(target, &disk)?;
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
        if let Size::Bytes(b) = spec.get() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SizeSpec;
    use crate::transport::common::{planned_size, wait_for};
    use std::path::PathBuf;
    use std::time::Duration;

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
    use crate::tools::cleanup::Cleanup;
    use crate::tools::{Action, Runner};
    use crate::transport::common::planned_size;
    use std::path::PathBuf;

    /// The parts of a dry run an attach uses.
    struct Fake {
        plan: crate::plan::Plan,
        runner: Runner,
        state_dir: PathBuf,
        notes: Vec<String>,
        cleanup: Cleanup,
    }

    impl Fake {
        fn env(&mut self) -> AttachEnv<'_> {
            AttachEnv {
                runner: &self.runner,
                state_dir: &self.state_dir,
                notes: &mut self.notes,
                cleanup: &mut self.cleanup,
                planned_size: planned_size(&self.plan.target),
                initiator: None,
            }
        }
    }

    fn ctx(target: serde_json::Value) -> Fake {
        let plan: crate::plan::Plan = serde_json::from_value(serde_json::json!({
            "version": 1,
            "source": {"type": "live"},
            "target": target,
            "layout": {"table": "gpt", "firmware": "bios",
                       "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]}
        }))
        .unwrap();
        Fake {
            plan,
            runner: Runner::dry(),
            state_dir: crate::engine::RunOptions::default().state_dir,
            notes: Vec::new(),
            cleanup: Cleanup::default(),
        }
    }

    fn argvs(ctx: &Fake) -> Vec<String> {
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
        let d = aoe::attach(&mut c.env(), &paths, 7, 1, Some("52:54:00:12:34:56")).unwrap();
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
        let d = aoe::attach(&mut c.env(), &paths, 0, 0, None).unwrap();
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
            &mut c.env(),
            &paths,
            &"127.0.0.1:9".parse().unwrap(),
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
                // The record netroot made fails I/O after 2 minutes without
                // the target, whatever iscsid.conf says.
                format!("{q} --op update -n node.session.timeo.replacement_timeout -v 120"),
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
