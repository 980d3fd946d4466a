//! Root tier: the final sync (`netroot migrate --resync`). A copy of the
//! cached Debian tree (`source: directory`) is migrated onto an image;
//! then the SOURCE gains a file, has one changed and one deleted;
//! `--resync --yes` must carry exactly that over, leave netroot's own
//! files (fstab, identity, initramfs, GRUB, provenance) as the first run
//! left them, find every later step done by its probe, and a second
//! final sync must redo nothing. The source is only read. Also the
//! refusals: a final sync before any run, --stop-service without a live
//! source.

mod common;

use common::{Attached, Scratch};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// A manifest of a tree that changes when any file's content or metadata
/// changes.
fn manifest(dir: &Path) -> String {
    common::sh(&format!(
        "cd {} && find . -printf '%p %y %s %T@ %C@ %m %U:%G %n\\n' | LC_ALL=C sort | sha256sum",
        dir.display()
    ))
}

/// What netroot wrote in the target: each file's sha256 (or "missing").
fn netroot_files(root: &Path) -> BTreeMap<String, String> {
    let kver = std::fs::read_dir(root.join("lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let mut files: Vec<String> = [
        "etc/fstab",
        "etc/hostname",
        "etc/hosts",
        "etc/machine-id",
        "etc/iscsi/initiatorname.iscsi",
        "etc/iscsi/iscsi.initramfs",
        "etc/default/grub.d/netroot.cfg",
        "boot/grub/grub.cfg",
        "boot/grub/i386-pc/core.img",
        "var/lib/netroot/initramfs.json",
        "var/lib/netroot/provenance.json",
    ]
    .map(String::from)
    .to_vec();
    files.push(format!("boot/initrd.img-{kver}"));
    files
        .into_iter()
        .map(|f| {
            let p = root.join(&f);
            let h = if p.exists() {
                common::sha256_file(&p)
            } else {
                "missing".to_string()
            };
            (f, h)
        })
        .collect()
}

fn statuses(out: &str) -> BTreeMap<String, String> {
    let r: Value = serde_json::from_str(out).expect("JSON report");
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The later steps a final sync must find done by their probes.
const LATER: [&str; 5] = ["fstab", "identity", "initramfs", "bootloader", "finalize"];

#[test]
fn final_sync_carries_source_changes_and_keeps_netroots_files() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("resync");
    let src = s.join("src");
    common::sh(&format!(
        "cp -a --reflink=auto {}/. {}/",
        common::rootfs().display(),
        {
            std::fs::create_dir_all(&src).unwrap();
            src.display()
        }
    ));
    let img = s.join("disk.img");
    let plan = format!(
        r#"{{"version": 1,
  "source": {{"type": "directory", "path": "{}"}},
  "target": {{"transport": "iscsi", "portal": "10.0.2.2", "iqn": "iqn.2024-01.test.netroot:resync", "lun": 1, "device": "{}", "size": "3G"}},
  "layout": {{"table": "gpt", "firmware": "bios", "partitions": [{{"mount": "/", "fs": "ext4", "size": "rest"}}]}},
  "boot": {{"profile": "debian", "iscsi_config": "ibft"}},
  "system": {{"hostname": "resyncclient"}}
}}"#,
        src.display(),
        img.display()
    );
    let pf = s.join("plan.json");
    std::fs::write(&pf, plan).unwrap();
    let pf = pf.display().to_string();
    let state = s.join("state").display().to_string();
    let work = s.join("work").display().to_string();
    let envs = [
        ("NETROOT_STATE_DIR", state.as_str()),
        ("NETROOT_WORK_DIR", work.as_str()),
    ];
    let run = |extra: &[&str]| {
        let mut a = vec!["migrate", "--plan", &pf, "--yes", "--format", "json"];
        a.extend_from_slice(extra);
        let t = Instant::now();
        let (code, out, err) = common::netroot(&a, &envs);
        (code, out, err, t.elapsed())
    };

    // Before any run: nothing to sync again (bad input, exit 2).
    let (code, out, err, _) = run(&["--resync"]);
    assert_eq!(code, 2, "--resync before any run:\n{out}\n{err}");
    assert!(
        err.contains("records no finished copy")
            && err.contains("netroot migrate --plan FILE --yes"),
        "{err}"
    );
    assert!(!img.exists(), "the refused final sync created the image");
    // --stop-service is for a live source only.
    let (code, _, err, _) = run(&["--resync", "--stop-service", "cron"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--stop-service is for a live source only"),
        "{err}"
    );

    // The bulk copy.
    let (code, out, err, bulk) = run(&[]);
    assert_eq!(code, 0, "migrate failed:\n{out}\n{err}");
    let mnt = s.join("inspect");
    let first = {
        let a = Attached::new(&img, &mnt);
        netroot_files(&a.mnt)
    };
    assert!(!first.values().any(|h| h == "missing"), "{first:?}");

    // The source changes after the bulk copy.
    std::fs::create_dir_all(src.join("root")).unwrap();
    std::fs::write(src.join("root/after-bulk"), "written after the bulk copy\n").unwrap();
    std::fs::write(src.join("etc/motd"), "changed after the bulk copy\n").unwrap();
    assert!(src.join("etc/issue.net").exists());
    std::fs::remove_file(src.join("etc/issue.net")).unwrap();
    let source_before = manifest(&src);

    // The dry run of a final sync lists the copy with netroot's files left out.
    let (code, out, err) = common::netroot(
        &[
            "migrate",
            "--plan",
            &pf,
            "--resync",
            "--dry-run",
            "--format",
            "json",
        ],
        &envs,
    );
    assert_eq!(code, 0, "dry run of --resync:\n{out}\n{err}");
    for e in [
        "--exclude=/etc/fstab",
        "--exclude=/boot/grub/",
        "--exclude=/var/lib/netroot/initramfs.json",
    ] {
        assert!(out.contains(e), "the dry run's rsync lacks {e}:\n{out}");
    }
    assert_eq!(statuses(&out)["copy"], "would_run", "{out}");

    let (code, out, err, resync) = run(&["--resync"]);
    assert_eq!(code, 0, "the final sync failed:\n{out}\n{err}");
    let st = statuses(&out);
    assert_eq!(st["copy"], "ran", "{out}");
    for l in LATER {
        assert_eq!(st[l], "done", "step {l} after the final sync: {out}");
    }
    {
        let a = Attached::new(&img, &mnt);
        let r = &a.mnt;
        assert_eq!(
            std::fs::read_to_string(r.join("root/after-bulk")).unwrap(),
            "written after the bulk copy\n"
        );
        assert_eq!(
            std::fs::read_to_string(r.join("etc/motd")).unwrap(),
            "changed after the bulk copy\n"
        );
        assert!(!r.join("etc/issue.net").exists(), "a deleted file survived");
        assert_eq!(netroot_files(r), first, "netroot's files changed");
    }

    // A second final sync: every later step still done by its probe.
    let (code, out, err, again) = run(&["--resync"]);
    assert_eq!(code, 0, "the second final sync failed:\n{out}\n{err}");
    let st = statuses(&out);
    for l in LATER {
        assert_eq!(st[l], "done", "step {l} after a second final sync: {out}");
    }
    let (code, out, err) = common::netroot(&["status", "--plan", &pf], &envs);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("finished; last final sync at "), "{out}");
    assert_eq!(manifest(&src), source_before, "netroot changed the source");

    // The source gains a kernel (a copy of its own under another version):
    // the probes, not the journal, must redo the initramfs and grub.cfg.
    let kver = std::fs::read_dir(src.join("lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let k2 = format!("{kver}-resync");
    common::sh(&format!(
        "cd {} && cp -a lib/modules/{kver} lib/modules/{k2} && cp -a boot/vmlinuz-{kver} boot/vmlinuz-{k2} && cp -a boot/config-{kver} boot/config-{k2}",
        src.display()
    ));
    let (code, out, err, _) = run(&["--resync"]);
    assert_eq!(
        code, 0,
        "the final sync with a new kernel failed:\n{out}\n{err}"
    );
    let st = statuses(&out);
    for (step, want) in [
        ("fstab", "done"),
        ("identity", "done"),
        ("initramfs", "ran"),
        ("bootloader", "ran"),
    ] {
        assert_eq!(st[step], want, "step {step} after a kernel came: {out}");
    }
    {
        let a = Attached::new(&img, &mnt);
        let cfg = std::fs::read_to_string(a.mnt.join("boot/grub/grub.cfg")).unwrap();
        assert!(
            cfg.contains(&format!("vmlinuz-{k2} ")),
            "grub.cfg lacks the new kernel"
        );
        assert!(a.mnt.join(format!("boot/initrd.img-{k2}")).is_file());
    }
    // And loses it again: grub.cfg must not keep booting it.
    common::sh(&format!(
        "cd {} && rm -rf lib/modules/{k2} boot/vmlinuz-{k2} boot/config-{k2}",
        src.display()
    ));
    let (code, out, err, _) = run(&["--resync"]);
    assert_eq!(
        code, 0,
        "the final sync without the kernel failed:\n{out}\n{err}"
    );
    assert_eq!(statuses(&out)["bootloader"], "ran", "{out}");
    {
        let a = Attached::new(&img, &mnt);
        let cfg = std::fs::read_to_string(a.mnt.join("boot/grub/grub.cfg")).unwrap();
        assert!(
            !cfg.contains(&k2),
            "grub.cfg still boots the removed kernel"
        );
    }
    eprintln!(
        "timing: bulk migrate {:.1}s, final sync {:.1}s, second final sync {:.1}s",
        bulk.as_secs_f64(),
        resync.as_secs_f64(),
        again.as_secs_f64()
    );
}
