//! Root tier: `source.snapshot` — the copy reads a read-only snapshot of
//! the source's filesystem, not the live tree.
//!
//! - A directory source kept in a btrfs subvolume (loop-backed btrfs, the
//!   host kernel has btrfs): the run is stopped by its own test hook right
//!   after it took the snapshot; the test then changes the source (a new
//!   file, a changed file) and lets it go on. The copy must hold the tree
//!   as it was at the snapshot, and the snapshot must be gone afterwards.
//!   A final sync (`--resync`) then reads a fresh snapshot and carries
//!   what changed since.
//! - A run killed with the snapshot in place: the next run drops it, takes
//!   a fresh one and finishes; nothing is left behind.
//! - A source on a filesystem that can't be snapshotted (ext4 on a plain
//!   partition): refused by preflight (exit 3) naming source.snapshot,
//!   before any write to the target.
//!
//! LVM snapshots can't be made on this machine (no device-mapper in the
//! host kernel); their argv and the room check are unit-tested in
//! tools::lvm and system::snapshot.

mod common;

use common::Scratch;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn plan_text(src: &Path, img: &Path) -> String {
    common::dir_plan(src, img, "snap", "1G", true)
}

fn migrate_args(s: &Scratch, plan: &Path, extra: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "migrate".into(),
        "--plan".into(),
        plan.display().to_string(),
        "--stop-after".into(),
        "copy".into(),
        extra.into(),
    ];
    for (flag, dir) in [("--state-dir", "state"), ("--work-dir", "work")] {
        v.push(flag.into());
        v.push(s.join(dir).display().to_string());
    }
    v
}

/// A btrfs filesystem on a loop-backed image mounted at `s/btrfs`, with the
/// subvolume `deb` holding a tiny root tree: its path.
fn btrfs_source(s: &Scratch) -> std::path::PathBuf {
    let img = s.join("btrfs.img");
    let mnt = s.join("btrfs");
    std::fs::create_dir(&mnt).unwrap();
    common::sh(&format!(
        "truncate -s 512M {0} && mkfs.btrfs -q {0}",
        img.display()
    ));
    common::sh(&format!(
        "mount -o loop {} {}",
        img.display(),
        mnt.display()
    ));
    common::sh(&format!("btrfs subvolume create {}/deb", mnt.display()));
    let src = mnt.join("deb");
    common::tiny_source(&src);
    std::fs::write(src.join("etc/state"), "before\n").unwrap();
    src
}

fn subvolumes(mnt: &Path) -> String {
    common::sh(&format!("btrfs subvolume list {}", mnt.display()))
}

/// The target's root filesystem (partition 2 after bios_grub), mounted
/// read-only at `s/check`; the caller unmounts.
fn mount_target(s: &Scratch, img: &Path) -> std::path::PathBuf {
    let dir = s.join("check");
    std::fs::create_dir_all(&dir).unwrap();
    let dev = common::sh(&format!("losetup -f -P -r --show {}", img.display()));
    let dev = dev.trim();
    // No udev here: ask the kernel for the partitions until the node shows.
    for _ in 0..100 {
        if Path::new(&format!("{dev}p2")).exists() {
            break;
        }
        let _ = Command::new("partx").args(["-u", dev]).status();
        std::thread::sleep(Duration::from_millis(50));
    }
    common::sh(&format!("mount -o ro {dev}p2 {}", dir.display()));
    // The loop device goes when the mount does.
    common::sh(&format!("losetup -d {dev}"));
    dir
}

#[test]
fn the_copy_reads_the_snapshot_not_the_live_tree() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("snapshot-btrfs");
    let src = btrfs_source(&s);
    let img = s.join("t.img");
    let plan = s.join("plan.json");
    std::fs::write(&plan, plan_text(&src, &img)).unwrap();

    // The dry run says it will read from a snapshot.
    let dry = migrate_args(&s, &plan, "--dry-run");
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let (code, out, err) = common::netroot(&dry, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "btrfs subvolume snapshot -r {0} {0}/.netroot-snapshot",
            src.display()
        )),
        "the dry run does not show the snapshot:\n{out}"
    );
    // The copy reads the snapshot (rsync's SRC/ or the native copier's
    // "copying SRC to").
    let snap = format!("{}/.netroot-snapshot", src.display());
    assert!(
        out.contains(&format!("{snap}/ ")) || out.contains(&format!("copying {snap} to ")),
        "{out}"
    );

    // Stopped right after the snapshot (the copy step's first change).
    let log = s.join("run.log");
    let mut run = Command::new(common::netroot_bin())
        .args(migrate_args(&s, &plan, "--yes"))
        .env("NETROOT_TEST_STOP_AT", "copy:1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    common::wait_stopped(&mut run, &log);
    let during = subvolumes(&s.join("btrfs"));
    std::fs::write(src.join("etc/state"), "changed during the copy\n").unwrap();
    std::fs::write(src.join("etc/new-during-copy"), "x\n").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let st = run.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(st.success(), "the run failed ({st}):\n{log_text}");
    assert!(
        during.contains("deb/.netroot-snapshot"),
        "no snapshot while copying:\n{during}"
    );
    let after = subvolumes(&s.join("btrfs"));
    assert!(
        !after.contains("netroot-snapshot"),
        "the snapshot was left:\n{after}"
    );

    let t = mount_target(&s, &img);
    let state = std::fs::read_to_string(t.join("etc/state")).unwrap();
    let new_exists = t.join("etc/new-during-copy").exists();
    let hello = t.join("usr/bin/hello").exists();
    let nested = t.join(".netroot-snapshot").exists();
    common::sh(&format!("umount {}", t.display()));
    assert_eq!(
        state, "before\n",
        "the copy read the live tree, not the snapshot"
    );
    assert!(!new_exists, "a file made after the snapshot was copied");
    assert!(hello, "the tree was not copied");
    assert!(!nested, "the snapshot directory was copied");
    // The source holds what the test wrote; netroot changed nothing in it.
    assert_eq!(
        std::fs::read_to_string(src.join("etc/state")).unwrap(),
        "changed during the copy\n"
    );
    assert!(!src.join(".netroot-snapshot").exists());

    // A final sync reads a fresh snapshot: what changed since is carried.
    let resync = migrate_args(&s, &plan, "--resync");
    let mut resync: Vec<&str> = resync.iter().map(String::as_str).collect();
    resync.push("--yes");
    let (code, out, err) = common::netroot(&resync, &[]);
    assert_eq!(code, 0, "the final sync failed:\n{out}\n{err}");
    let after = subvolumes(&s.join("btrfs"));
    assert!(
        !after.contains("netroot-snapshot"),
        "the final sync left its snapshot:\n{after}"
    );
    let t = mount_target(&s, &img);
    let state = std::fs::read_to_string(t.join("etc/state")).unwrap();
    let new_exists = t.join("etc/new-during-copy").exists();
    common::sh(&format!("umount {}", t.display()));
    assert_eq!(
        state, "changed during the copy\n",
        "the final sync missed a change"
    );
    assert!(new_exists, "the final sync missed a new file");
    common::sh(&format!("umount {}", s.join("btrfs").display()));
}

#[test]
fn a_run_killed_with_its_snapshot_in_place_drops_it_next_time() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("snapshot-killed");
    let src = btrfs_source(&s);
    let img = s.join("t.img");
    let plan = s.join("plan.json");
    std::fs::write(&plan, plan_text(&src, &img)).unwrap();
    let args = migrate_args(&s, &plan, "--yes");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = common::netroot(&args, &[("NETROOT_TEST_KILL_AT", "copy:1")]);
    assert_eq!(code, -1, "the run was not killed:\n{err}");
    assert!(
        subvolumes(&s.join("btrfs")).contains("deb/.netroot-snapshot"),
        "the killed run left no snapshot: the test proves nothing"
    );
    std::fs::write(src.join("etc/state"), "after the kill\n").unwrap();
    let (code, out, err) = common::netroot(&args, &[]);
    assert_eq!(code, 0, "the resumed run failed:\n{out}\n{err}");
    let after = subvolumes(&s.join("btrfs"));
    assert!(
        !after.contains("netroot-snapshot"),
        "a snapshot was left:\n{after}"
    );
    let t = mount_target(&s, &img);
    let state = std::fs::read_to_string(t.join("etc/state")).unwrap();
    common::sh(&format!("umount {}", t.display()));
    assert_eq!(
        state, "after the kill\n",
        "the resumed run read the stale snapshot"
    );
    common::sh(&format!("umount {}", s.join("btrfs").display()));
}

#[test]
fn a_source_that_cannot_be_snapshotted_is_refused_before_any_write() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("snapshot-refused");
    // An ext4 filesystem on a loop device: no btrfs subvolume, no LVM.
    let fs = s.join("ext4.img");
    let mnt = s.join("ext4");
    std::fs::create_dir(&mnt).unwrap();
    common::sh(&format!(
        "truncate -s 64M {0} && mkfs.ext4 -q {0}",
        fs.display()
    ));
    common::sh(&format!("mount -o loop {} {}", fs.display(), mnt.display()));
    let src = mnt.join("deb");
    common::tiny_source(&src);
    std::fs::write(src.join("etc/state"), "before\n").unwrap();
    let img = s.join("t.img");
    common::sh(&format!("truncate -s 1G {}", img.display()));
    let before = common::sha256_file(&img);
    let plan = s.join("plan.json");
    std::fs::write(&plan, plan_text(&src, &img)).unwrap();
    let args = migrate_args(&s, &plan, "--yes");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = common::netroot(&args, &[]);
    common::sh(&format!("umount {}", mnt.display()));
    assert_eq!(code, 3, "not refused:\n{err}");
    assert!(err.contains("source.snapshot"), "{err}");
    assert!(
        err.contains("neither a btrfs subvolume nor an LVM logical volume"),
        "{err}"
    );
    assert_eq!(common::sha256_file(&img), before, "the target was written");
}
