//! Root tier: the data half of a migration (copy, fstab, identity) on
//! loop-backed images, checked with real tools.
//!
//! - `steps_*`: the copy, fstab and identity steps in-process, onto a target
//!   partitioned and mounted by hand (independent of the disk steps).
//! - `matrix_*`: `netroot migrate --stop-after identity` of the cached Debian
//!   tree (`source: directory`) onto gpt-bios, gpt-uefi, gpt-both and mbr,
//!   with ext4 and xfs roots; then a second run that must change nothing.
//! - `killed_*`: SIGKILL inside copy and inside identity, resume, and compare
//!   with an uninterrupted run.

mod common;
mod data_support;

use anyhow::Result;
use data_support::*;
use netroot::engine::run::run_steps;
use netroot::engine::{Ctx, Probe, RunOptions, Step, StepId, StepKind, StepStatus};
use netroot::plan::{resolve_layout, FsKind, Plan, ResolvedLayout, TableKind};
use netroot::ui::progress::{Collect, Event};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Run netroot; returns (code, report JSON or Null, stderr).
fn migrate(s: &Setup, envs: &[(&str, &str)]) -> (i32, Value, String) {
    migrate_to(s, envs, Some("identity"))
}

/// Run netroot up to `stop_after` (the whole plan for None).
fn migrate_to(s: &Setup, envs: &[(&str, &str)], stop_after: Option<&str>) -> (i32, Value, String) {
    let state = s.state.display().to_string();
    let work = s.work.display().to_string();
    let plan = s.plan_file.display().to_string();
    let (code, out, err) = common::netroot(
        &[
            "migrate",
            "--plan",
            &plan,
            "--yes",
            "--stop-after",
            stop_after.unwrap_or("finalize"),
            "--format",
            "json",
            "--state-dir",
            &state,
            "--work-dir",
            &work,
        ],
        envs,
    );
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

/// The layout netroot places on the 3 GiB image, as the plan resolves it.
fn planned_layout(plan: &Plan) -> ResolvedLayout {
    resolve_layout(&plan.layout, IMAGE_SIZE, &plan.layout_seed()).unwrap()
}

fn statuses(r: &Value) -> Vec<(String, String)> {
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

/// Partition table as `sfdisk --json` reads it from the image.
fn check_table(img: &Path, layout: &ResolvedLayout) {
    let j: Value = serde_json::from_str(&sh(&format!("sfdisk --json {}", img.display()))).unwrap();
    let t = &j["partitiontable"];
    assert_eq!(
        t["label"],
        if layout.table == TableKind::Gpt {
            "gpt"
        } else {
            "dos"
        }
    );
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), layout.partitions.len(), "{j}");
    for (got, want) in parts.iter().zip(&layout.partitions) {
        assert_eq!(got["start"].as_u64().unwrap(), want.start / 512, "{got}");
        assert_eq!(got["size"].as_u64().unwrap(), want.size / 512, "{got}");
        assert_eq!(
            got["type"].as_str().unwrap().to_lowercase(),
            want.type_id.to_lowercase(),
            "{got}"
        );
    }
}

/// Filesystem UUIDs as blkid reads them equal the planned ones.
fn check_uuids(m: &Mounted, layout: &ResolvedLayout) {
    for p in layout.partitions.iter().filter(|p| p.fs.is_some()) {
        let got = sh(&format!(
            "blkid -p -o value -s UUID {}p{}",
            m.loopdev, p.number
        ));
        assert_eq!(
            got.trim(),
            p.fs_uuid.as_deref().unwrap(),
            "partition {}",
            p.number
        );
    }
}

fn matrix(kind: &str, fs: &str) {
    if !common::require_root() {
        return;
    }
    let s = setup(&format!("data-{kind}-{fs}"), kind, fs, true);
    let src_before = manifest(&s.src);
    let (code, report, err) = migrate(&s, &[]);
    let layout = planned_layout(&s.plan);
    // A kernel without vfat gets the ESP through fusefat, with a note saying so.
    let fat = layout.partitions.iter().any(|p| p.fs == Some(FsKind::Vfat));
    assert_eq!(code, 0, "migrate failed:\n{err}");
    if fat && !vfat_supported() {
        assert!(
            report.to_string().contains("mounted through FUSE"),
            "no FUSE note in {report}"
        );
    }
    assert_eq!(
        report["layout"],
        serde_json::to_value(&layout).unwrap(),
        "layout differs from the plan's"
    );
    let img = s.scratch.join("disk.img");
    check_table(&img, &layout);
    let target_manifest = {
        let m = Mounted::new(&img, &layout, &s.scratch.join("check"));
        check_uuids(&m, &layout);
        check_tree(&s.src, &m.mnt, &layout, true);
        manifest(&m.mnt)
    };
    // The second run finds everything done and changes no file.
    let (code, report, err) = migrate(&s, &[]);
    assert_eq!(code, 0, "second run failed:\n{err}");
    for (step, status) in statuses(&report) {
        if ["partition", "format", "copy", "fstab", "identity"].contains(&step.as_str()) {
            assert_eq!(status, "done", "second run: {step} {status}");
        }
    }
    let m = Mounted::new(&img, &layout, &s.scratch.join("check"));
    assert_eq!(
        manifest(&m.mnt),
        target_manifest,
        "the second run changed the target"
    );
    drop(m);
    assert_eq!(manifest(&s.src), src_before, "the source changed");
}

#[test]
fn matrix_gpt_bios_ext4() {
    matrix("gpt-bios", "ext4");
}
#[test]
fn matrix_gpt_bios_xfs() {
    matrix("gpt-bios", "xfs");
}
#[test]
fn matrix_gpt_uefi_ext4() {
    matrix("gpt-uefi", "ext4");
}
#[test]
fn matrix_gpt_uefi_xfs() {
    matrix("gpt-uefi", "xfs");
}
#[test]
fn matrix_gpt_both_ext4() {
    matrix("gpt-both", "ext4");
}
#[test]
fn matrix_gpt_both_xfs() {
    matrix("gpt-both", "xfs");
}
#[test]
fn matrix_mbr_ext4() {
    matrix("mbr", "ext4");
}
#[test]
fn matrix_mbr_xfs() {
    matrix("mbr", "xfs");
}

/// Content and metadata of a tree, times left out (two runs write their
/// files at different moments).
fn same_trees(a: &Path, b: &Path) -> Vec<String> {
    sh(&format!(
        "rsync -rlpgoDHAXnc --numeric-ids '{}' --delete --itemize-changes {}/ {}/",
        netroot::tools::rsync::XFS_ACL_FILTER,
        a.display(),
        b.display()
    ))
    .lines()
    .filter(|l| !l.contains("lost+found"))
    .map(str::to_string)
    .collect()
}

/// Unmount everything below `dir` (deepest first) and detach `img`'s loops.
fn release(dir: &Path, img: &Path) {
    let prefix = dir.display().to_string();
    let mut targets: Vec<String> = sh("findmnt -rn -o TARGET")
        .lines()
        .filter(|t| t.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        sh(&format!("umount '{t}'"));
    }
    for l in sh(&format!("losetup -j {} -O NAME -n", img.display())).lines() {
        let _ = Command::new("losetup").args(["-d", l.trim()]).status();
    }
}

/// Kill netroot at `at`, resume, and compare with an uninterrupted run.
fn killed(at: &str, name: &str) {
    if !common::require_root() {
        return;
    }
    let s = setup(name, "gpt-bios", "ext4", false);
    let (code, _, err) = migrate(&s, &[("NETROOT_TEST_KILL_AT", at)]);
    assert_eq!(code, -1, "netroot was not killed at {at}:\n{err}");
    let (code, report, err) = migrate(&s, &[]);
    assert_eq!(code, 0, "resume failed:\n{err}");
    let step = at.split(':').next().unwrap();
    let st = statuses(&report);
    assert!(
        st.contains(&(step.to_string(), "ran".to_string())),
        "{st:?}"
    );
    // The killed run's mounts and loop device outlive it (in this test's
    // namespace); let go of them before reading the image.
    release(&s.scratch.path, &s.scratch.join("disk.img"));
    // The same plan (same image path, so the same UUIDs and identity),
    // uninterrupted, after moving the resumed image aside.
    let img = s.scratch.join("disk.img");
    let resumed = s.scratch.join("resumed.img");
    std::fs::rename(&img, &resumed).unwrap();
    std::fs::remove_dir_all(&s.state).unwrap();
    let (code, _, err) = migrate(&s, &[]);
    assert_eq!(code, 0, "clean run failed:\n{err}");
    let layout = planned_layout(&s.plan);
    let a = Mounted::new(&resumed, &layout, &s.scratch.join("a"));
    let b = Mounted::new(&img, &layout, &s.scratch.join("b"));
    check_tree(&s.src, &a.mnt, &layout, false);
    let d = same_trees(&a.mnt, &b.mnt);
    assert!(
        d.is_empty(),
        "resumed and clean runs differ:\n{}",
        d.join("\n")
    );
}

#[test]
fn killed_in_discover_resumes_to_the_same_result() {
    // Right after the image is attached (its loop device outlives the run).
    killed("discover:1", "data-kill-discover");
}
#[test]
fn killed_as_preflight_begins_resumes_to_the_same_result() {
    // preflight changes nothing: killed as it begins, the disk attached.
    killed("preflight:0", "data-kill-preflight");
}
#[test]
fn killed_as_fstab_begins_resumes_to_the_same_result() {
    // fstab's one change is an atomic write: killed after it, the step is
    // done; killed as it begins, the resumed run writes it.
    killed("fstab:0", "data-kill-fstab");
}
#[test]
fn killed_in_copy_resumes_to_the_same_result() {
    killed("copy:1", "data-kill-copy");
}
#[test]
fn killed_in_identity_resumes_to_the_same_result() {
    killed("identity:1", "data-kill-identity");
}
#[test]
fn killed_late_in_identity_resumes_to_the_same_result() {
    killed("identity:3", "data-kill-identity3");
}

/// The target partitioned, formatted and mounted by hand (read-write).
struct HandTarget {
    loopdev: String,
    mounts: Vec<PathBuf>,
}

impl HandTarget {
    fn new(img: &Path, layout: &ResolvedLayout, root: &Path) -> HandTarget {
        sh(&format!("truncate -s {IMAGE_SIZE} {}", img.display()));
        let mut script = format!(
            "label: {}\n",
            if layout.table == TableKind::Gpt {
                "gpt"
            } else {
                "dos"
            }
        );
        for p in &layout.partitions {
            script.push_str(&format!(
                "start={}, size={}, type={}\n",
                p.start / 512,
                p.size / 512,
                p.type_id
            ));
        }
        sh(&format!("echo '{script}' | sfdisk -q {}", img.display()));
        let loopdev = sh(&format!("losetup -f -P --show {}", img.display()))
            .trim()
            .to_string();
        let mut t = HandTarget {
            loopdev,
            mounts: Vec::new(),
        };
        for p in layout.partitions.iter().filter(|p| p.fs.is_some()) {
            let dev = format!("{}p{}", t.loopdev, p.number);
            wait_for(&dev);
            let u = p.fs_uuid.as_deref().unwrap();
            sh(&match p.fs.unwrap() {
                FsKind::Ext4 => format!("mkfs.ext4 -q -F -U {u} {dev}"),
                FsKind::Xfs => format!("mkfs.xfs -q -f -m uuid={u} {dev}"),
                FsKind::Vfat => format!("mkfs.vfat -i {} {dev} >/dev/null", u.replace('-', "")),
                FsKind::Swap => format!("mkswap -U {u} {dev} >/dev/null"),
                FsKind::Btrfs => unreachable!(),
            });
        }
        for p in layout.mount_order() {
            let dir = root.join(p.mount.as_deref().unwrap().trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            sh(&format!(
                "mount {}p{} {}",
                t.loopdev,
                p.number,
                dir.display()
            ));
            t.mounts.push(dir);
        }
        t
    }
}

impl Drop for HandTarget {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg(m).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.loopdev]).status();
    }
}

/// Stands in for discover..mount: hands the copy its layout and root.
struct HandMount {
    layout: ResolvedLayout,
    root: PathBuf,
}

impl Step for HandMount {
    fn id(&self) -> StepId {
        StepId::Mount
    }
    fn kind(&self) -> StepKind {
        StepKind::EveryRun
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "mounted by the test".into()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("session".into()))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        ctx.layout = Some(self.layout.clone());
        ctx.root = Some(self.root.clone());
        Ok(())
    }
}

fn data_steps(layout: &ResolvedLayout, root: &Path) -> Vec<Box<dyn Step>> {
    vec![
        Box::new(HandMount {
            layout: layout.clone(),
            root: root.to_path_buf(),
        }),
        Box::new(netroot::steps::copy::Copy),
        Box::new(netroot::steps::fstab::Fstab),
        Box::new(netroot::steps::identity::Identity),
    ]
}

#[test]
fn steps_copy_and_fstab_onto_a_hand_made_target() {
    if !common::require_root() {
        return;
    }
    let s = setup("data-steps", "mbr", "xfs", true);
    let src_before = manifest(&s.src);
    let layout = planned_layout(&s.plan);
    let root = s.scratch.join("root");
    let target = HandTarget::new(&s.scratch.join("disk.img"), &layout, &root);
    let opts = RunOptions {
        state_dir: s.state.clone(),
        work_dir: s.work.clone(),
        yes: true,
        ..RunOptions::default()
    };
    // A dry run first: it shows the fstab computed from the source, writes nothing.
    let dry = run_steps(
        s.plan.clone(),
        RunOptions {
            dry_run: true,
            ..opts.clone()
        },
        Arc::new(Collect::default()),
        &data_steps(&layout, &root),
    )
    .unwrap();
    let fstab_step = dry.steps.iter().find(|x| x.step == StepId::Fstab).unwrap();
    let shown = fstab_step
        .actions
        .iter()
        .find_map(|a| match a {
            netroot::tools::Action::WriteFile { path, contents, .. }
                if path.ends_with("etc/fstab") =>
            {
                Some(contents.clone())
            }
            _ => None,
        })
        .expect("the dry run shows /etc/fstab");
    assert!(
        shown.contains(&format!(
            "UUID={}",
            layout.root().fs_uuid.as_deref().unwrap()
        )),
        "{shown}"
    );
    assert!(!root.join("etc").exists(), "the dry run copied something");

    let sink = Arc::new(Collect::default());
    let r = run_steps(
        s.plan.clone(),
        opts.clone(),
        sink.clone(),
        &data_steps(&layout, &root),
    )
    .unwrap();
    assert!(
        r.steps.iter().all(|x| x.status == StepStatus::Ran),
        "{:?}",
        r.steps
    );
    // The plan's swap takes the old swap's line: nothing is dropped.
    assert!(
        r.notes.iter().all(|n| !n.contains("dropped")),
        "{:?}",
        r.notes
    );
    let bytes: Vec<(u64, u64)> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Bytes { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    let last = bytes.last().expect("progress events from rsync");
    assert!(last.0 > 500 << 20, "copied only {} bytes", last.0);
    assert!(
        bytes.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress goes backwards"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/fstab")).unwrap(),
        shown,
        "the dry run showed other bytes"
    );
    check_tree(&s.src, &root, &layout, true);
    let after_first = manifest(&root);
    // Again: both probes say done; nothing changes.
    let r = run_steps(
        s.plan.clone(),
        opts.clone(),
        Arc::new(Collect::default()),
        &data_steps(&layout, &root),
    )
    .unwrap();
    let st: Vec<_> = r.steps.iter().map(|x| (x.step, x.status)).collect();
    assert_eq!(
        st[1..],
        [
            (StepId::Copy, StepStatus::Done),
            (StepId::Fstab, StepStatus::Done),
            (StepId::Identity, StepStatus::Done)
        ]
    );
    assert_eq!(manifest(&root), after_first);
    // A lost journal: the copy runs again (incrementally, putting back the
    // source's files), then fstab and identity are written again.
    std::fs::remove_dir_all(&s.state).unwrap();
    let r = run_steps(
        s.plan.clone(),
        opts,
        Arc::new(Collect::default()),
        &data_steps(&layout, &root),
    )
    .unwrap();
    assert_eq!(r.steps[1].status, StepStatus::Ran);
    assert_eq!(r.steps[2].status, StepStatus::Ran);
    assert_eq!(r.steps[3].status, StepStatus::Ran);
    check_tree(&s.src, &root, &layout, true);
    drop(target);
    assert_eq!(manifest(&s.src), src_before, "the source changed");
}

/// The whole plan (with initramfs and bootloader): the data half still
/// holds afterwards, and a second whole run changes no file.
#[test]
fn whole_plan_keeps_the_data_and_runs_twice_without_change() {
    if !common::require_root() {
        return;
    }
    let s = setup("data-whole", "gpt-bios", "ext4", true);
    let src_before = manifest(&s.src);
    let (code, _, err) = migrate_to(&s, &[], None);
    assert_eq!(code, 0, "migrate failed:\n{err}");
    let layout = planned_layout(&s.plan);
    let img = s.scratch.join("disk.img");
    let first = {
        let m = Mounted::new(&img, &layout, &s.scratch.join("check"));
        let out = sh(&format!(
            "rsync -aHAXn --numeric-ids '{}' --delete --itemize-changes {}/ {}/",
            netroot::tools::rsync::XFS_ACL_FILTER,
            s.src.display(),
            m.mnt.display()
        ));
        eprintln!("whole plan, source → target:\n{out}");
        manifest(&m.mnt)
    };
    let (code, report, err) = migrate_to(&s, &[], None);
    assert_eq!(code, 0, "second run failed:\n{err}");
    for (step, status) in statuses(&report) {
        assert!(
            status == "done" || ["discover", "preflight", "mount"].contains(&step.as_str()),
            "second run: {step} {status}"
        );
    }
    let m = Mounted::new(&img, &layout, &s.scratch.join("check"));
    assert_eq!(manifest(&m.mnt), first, "the second run changed the target");
    drop(m);
    assert_eq!(manifest(&s.src), src_before, "the source changed");
}

/// `source: debootstrap` (needs the network; NETROOT_TEST_MIRROR picks the
/// mirror): a complete Debian with the profile's packages, fstab by UUID.
#[test]
fn debootstrap_source_installs_the_profile_packages() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let scratch = common::Scratch::new("data-debootstrap");
    let mirror = std::env::var("NETROOT_TEST_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let text = format!(
        r#"{{"version": 1,
  "source": {{"type": "debootstrap", "suite": "bookworm", "mirror": "{mirror}", "variant": "minbase", "include": ["less"]}},
  "target": {{"transport": "aoe", "shelf": 4, "slot": 2, "device": "{}", "size": "3G"}},
  "layout": {{"table": "gpt", "firmware": "bios", "partitions": [{{"mount": "/", "fs": "ext4", "size": "rest"}}]}},
  "system": {{"hostname": "fresh", "regenerate": {{"machine_id": true}}}}
}}"#,
        scratch.join("disk.img").display()
    );
    let plan_file = scratch.join("plan.json");
    std::fs::write(&plan_file, &text).unwrap();
    let plan = netroot::plan::parse_plan(&text).unwrap();
    let s = Setup {
        src: PathBuf::from("/nonexistent"),
        plan_file,
        state: scratch.join("state"),
        work: scratch.join("work"),
        plan,
        scratch,
    };
    let (code, _, err) = migrate(&s, &[]);
    assert_eq!(code, 0, "migrate failed:\n{err}");
    let layout = planned_layout(&s.plan);
    let m = Mounted::new(
        &s.scratch.join("disk.img"),
        &layout,
        &s.scratch.join("check"),
    );
    assert!(
        !m.mnt.join("debootstrap").exists(),
        "debootstrap did not finish"
    );
    let status = std::fs::read_to_string(m.mnt.join("var/lib/dpkg/status")).unwrap();
    let have = netroot::tools::debootstrap::installed_packages(&status);
    for p in [
        "less",
        "linux-image-amd64",
        "initramfs-tools",
        "grub-pc-bin",
        "aoetools",
        // A debootstrapped tree has no network stack: it gets one.
        "ifupdown",
    ] {
        assert!(have.contains(p), "{p} not installed");
    }
    // A BIOS-only layout never runs GRUB for UEFI; an AoE root no open-iscsi.
    for p in ["grub-efi-amd64-bin", "open-iscsi"] {
        assert!(!have.contains(p), "{p} installed for a BIOS AoE plan");
    }
    let fstab = std::fs::read_to_string(m.mnt.join("etc/fstab")).unwrap();
    let root = layout.root().fs_uuid.clone().unwrap();
    assert!(
        fstab.contains(&format!(
            "UUID={root}\t/\text4\terrors=remount-ro,_netdev\t0\t1"
        )),
        "{fstab}"
    );
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("etc/hostname")).unwrap(),
        "fresh\n"
    );
    let before = manifest(&m.mnt);
    drop(m);
    let (code, report, err) = migrate(&s, &[]);
    assert_eq!(code, 0, "second run failed:\n{err}");
    assert!(statuses(&report).contains(&("copy".into(), "done".into())));
    assert!(statuses(&report).contains(&("fstab".into(), "done".into())));
    let m = Mounted::new(
        &s.scratch.join("disk.img"),
        &layout,
        &s.scratch.join("check"),
    );
    assert_eq!(
        manifest(&m.mnt),
        before,
        "the second run changed the target"
    );
}
