//! Root tier: the chroot guard on a small tree. Everything it sets up is
//! undone in reverse on close and on drop (error path); what a killed run
//! left behind is cleaned up by the next guard; a dry run only records.

mod common;

use common::Scratch;
use netroot::system::chroot::{Chroot, ChrootOptions};
use netroot::tools::{Action, Runner};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

fn mounts_below(p: &Path) -> Vec<String> {
    let out = Command::new("findmnt")
        .args(["-rn", "-o", "TARGET"])
        .output()
        .unwrap();
    let prefix = p.display().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// A tiny root: the mount points, a resolv.conf symlink (as with
/// systemd-resolved) and an existing policy-rc.d of the system's own.
fn tree(s: &Scratch) -> std::path::PathBuf {
    let root = s.join("root");
    for d in ["etc", "usr/sbin", "dev", "proc", "sys", "run"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        root.join("etc/resolv.conf"),
    )
    .unwrap();
    std::fs::write(root.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 0\n").unwrap();
    // The target's root is a mount point in real runs.
    let st = Command::new("mount")
        .args(["--bind"])
        .arg(&root)
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    root
}

fn assert_pristine(root: &Path) {
    assert_eq!(mounts_below(&root.join("dev")), Vec::<String>::new());
    assert_eq!(mounts_below(&root.join("proc")), Vec::<String>::new());
    assert_eq!(mounts_below(&root.join("sys")), Vec::<String>::new());
    assert_eq!(mounts_below(&root.join("run")), Vec::<String>::new());
    assert_eq!(mounts_below(&root.join("etc")), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(root.join("dev")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_link(root.join("etc/resolv.conf")).unwrap(),
        Path::new("../run/systemd/resolve/stub-resolv.conf")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("usr/sbin/policy-rc.d")).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
    assert!(!root.join("etc/resolv.conf.netroot-orig").exists());
    assert!(!root.join("usr/sbin/policy-rc.d.netroot-orig").exists());
}

#[test]
fn guard_sets_up_and_undoes_everything() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("boot-chroot");
    let root = tree(&s);
    // A block device to expose: a small loop image.
    let img = s.join("d.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    let loopdev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(loopdev.starts_with("/dev/loop"), "{loopdev}");
    let opts = ChrootOptions {
        devices: vec![loopdev.clone().into()],
        by_uuid: vec![("1234-abcd".into(), loopdev.clone().into())],
        efivars: false,
    };
    let runner = Runner::real();
    {
        let g = Chroot::enter(&runner, &root, &opts).unwrap();
        let dev = root.join("dev");
        assert!(std::fs::metadata(dev.join("null"))
            .unwrap()
            .file_type()
            .is_char_device());
        let rel = loopdev.trim_start_matches("/dev/");
        assert!(std::fs::metadata(dev.join(rel))
            .unwrap()
            .file_type()
            .is_block_device());
        assert_eq!(
            std::fs::read_link(dev.join("disk/by-uuid/1234-abcd")).unwrap(),
            Path::new(&loopdev)
        );
        // The private /dev is not the host's: nothing written there reaches /dev.
        std::fs::write(dev.join("netroot-probe"), "x").unwrap();
        assert!(!Path::new("/dev/netroot-probe").exists());
        assert!(root.join("proc/self").exists());
        assert!(root.join("sys/kernel").is_dir());
        assert_eq!(
            std::fs::read(root.join("etc/resolv.conf")).unwrap(),
            std::fs::read("/etc/resolv.conf").unwrap()
        );
        let p = std::fs::read_to_string(root.join("usr/sbin/policy-rc.d")).unwrap();
        assert!(p.contains("exit 101"), "{p}");
        g.close().unwrap();
    }
    assert_pristine(&root);

    // The error path: the guard is dropped while a step fails.
    let r: anyhow::Result<()> = (|| {
        let _g = Chroot::enter(&runner, &root, &opts)?;
        anyhow::bail!("a step failed")
    })();
    assert!(r.is_err());
    assert_pristine(&root);

    // A killed run's leftovers: a mount on /dev and a set-aside resolv.conf.
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "x"])
        .arg(root.join("dev"))
        .status()
        .unwrap()
        .success());
    std::fs::rename(
        root.join("etc/resolv.conf"),
        root.join("etc/resolv.conf.netroot-orig"),
    )
    .unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    Chroot::enter(&runner, &root, &opts)
        .unwrap()
        .close()
        .unwrap();
    assert_pristine(&root);

    let _ = Command::new("losetup").args(["-d", &loopdev]).status();
    let _ = Command::new("umount").arg(&root).status();
}

#[test]
fn dry_run_records_the_binds_and_changes_nothing() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("boot-chroot-dry");
    let root = tree(&s);
    let runner = Runner::dry();
    Chroot::enter(&runner, &root, &ChrootOptions::default())
        .unwrap()
        .close()
        .unwrap();
    let acts = runner.take_actions();
    let cmds: Vec<String> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Command { argv, .. } => Some(argv.join(" ")),
            _ => None,
        })
        .collect();
    let dev = root.join("dev").display().to_string();
    assert!(
        cmds.iter()
            .any(|c| c.contains("mount -t tmpfs") && c.ends_with(&dev)),
        "{cmds:#?}"
    );
    assert!(cmds.iter().any(|c| c.contains("-t proc")), "{cmds:#?}");
    assert!(cmds.iter().any(|c| c.contains("-t sysfs")), "{cmds:#?}");
    assert!(
        cmds.iter().any(|c| c.contains("--bind /etc/resolv.conf")),
        "{cmds:#?}"
    );
    // Undone in reverse: /dev is unmounted last.
    let umounts: Vec<&String> = cmds.iter().filter(|c| c.starts_with("umount")).collect();
    assert!(umounts.last().unwrap().ends_with(&dev), "{umounts:#?}");
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::WriteFile { path, .. } if path.ends_with("policy-rc.d"))));
    assert_pristine(&root);
    let _ = Command::new("umount").arg(&root).status();
}
