//! Shared support for the root-tier integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Root-tier tests need root (loop devices, mount, chroot). They fail, not
/// skip, without it, unless NETROOT_SKIP_ROOT_TESTS=1 is set on purpose.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("NETROOT_SKIP_ROOT_TESTS").is_some() {
        eprintln!("skipping: not root and NETROOT_SKIP_ROOT_TESTS is set");
        return false;
    }
    panic!(
        "this test needs root (loop devices, mount); run as root or set NETROOT_SKIP_ROOT_TESTS=1"
    );
}

/// Move this test's thread into a private mount namespace so nothing it (or
/// a netroot child) mounts can leak to the host, and everything is gone
/// when it exits. Call first in every test that mounts (each test thread
/// enters its own namespace, once).
pub fn private_mounts() {
    // Mount namespaces belong to threads: unshare() moves only the calling
    // thread, and libtest runs each test on a new thread spawned from the
    // main one (still in the host's namespace). So every test thread enters
    // its own namespace, once.
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if DONE.with(|d| d.get()) {
        return;
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("making / private");
    DONE.with(|d| d.set(true));
}

/// The path of the netroot binary built for these tests.
pub fn netroot_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netroot"))
}

/// The cached Debian bookworm root tree (built once by
/// tests/support/build-rootfs.sh; a few minutes the first time).
pub fn rootfs() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/build-rootfs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("running build-rootfs.sh");
    assert!(
        out.status.success(),
        "build-rootfs.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A scratch directory under /var/tmp (not tmpfs: images are large),
/// removed with --one-file-system after checking nothing is mounted below.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let base = PathBuf::from("/var/tmp/netroot-tests");
        std::fs::create_dir_all(&base).unwrap();
        let path = base.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        detach_loops_below(&self.path);
        let mounts = Command::new("findmnt")
            .args(["-rn", "-o", "TARGET"])
            .output();
        if let Ok(m) = mounts {
            let s = String::from_utf8_lossy(&m.stdout);
            let prefix = self.path.display().to_string();
            if s.lines().any(|l| l.starts_with(&prefix)) {
                eprintln!(
                    "NOT removing {}: something is still mounted below it",
                    prefix
                );
                return;
            }
        }
        let _ = Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(&self.path)
            .status();
    }
}

/// Detach every loop device backed by a file below `dir`.
pub fn detach_loops_below(dir: &Path) {
    let Ok(out) = Command::new("losetup")
        .args(["-l", "-n", "-O", "NAME,BACK-FILE"])
        .output()
    else {
        return;
    };
    let prefix = dir.display().to_string();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = line.split_whitespace();
        if let (Some(dev), Some(back)) = (it.next(), it.next()) {
            if back.starts_with(&prefix) {
                let _ = Command::new("losetup").args(["-d", dev]).status();
            }
        }
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Run netroot with args; returns (exit code, stdout, stderr).
pub fn netroot(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(netroot_bin());
    c.args(args).stdin(std::process::Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("running netroot");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run a bash command that must succeed; its stdout.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("bash").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A root tree just big enough for the copy (it needs etc/).
pub fn tiny_source(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::write(dir.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    std::fs::write(dir.join("usr/bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
}

/// Wait until the child is stopped (state T in /proc/PID/stat: netroot's
/// NETROOT_TEST_STOP_AT hook); its log shown if it ends first.
pub fn wait_stopped(child: &mut std::process::Child, log: &Path) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the run ended ({st}) before stopping:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
        if state == Some(Some('T')) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run never stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An image's partition 2 (the root of the tests' one-root layouts)
/// attached read-only and mounted at `mnt`; undone on drop.
pub struct Attached {
    pub loopdev: String,
    pub mnt: PathBuf,
}

impl Attached {
    pub fn new(img: &Path, mnt: &Path) -> Attached {
        let loopdev = sh(&format!("losetup -f -P -r --show {}", img.display()))
            .trim()
            .to_string();
        let part = format!("{loopdev}p2");
        for _ in 0..100 {
            if Path::new(&part).exists() {
                break;
            }
            let _ = Command::new("partx").args(["-u", &loopdev]).status();
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::create_dir_all(mnt).unwrap();
        sh(&format!("mount -o ro {part} {}", mnt.display()));
        Attached {
            loopdev,
            mnt: mnt.to_path_buf(),
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = Command::new("losetup").args(["-d", &self.loopdev]).status();
    }
}

/// A plan that copies the directory `src` onto the image file `img`
/// (GPT/BIOS, one ext4 root; iSCSI target `iqn.2024-01.test.netroot:NAME`,
/// never attached: the image is the target), with `"snapshot": true` when
/// asked.
pub fn dir_plan(src: &Path, img: &Path, name: &str, size: &str, snapshot: bool) -> String {
    let snap = if snapshot {
        r#", "snapshot": true"#
    } else {
        ""
    };
    format!(
        r#"{{"version": 1,
  "source": {{"type": "directory", "path": "{}"{snap}}},
  "target": {{"transport": "iscsi", "portal": "127.0.0.1", "iqn": "iqn.2024-01.test.netroot:{name}",
              "lun": 1, "device": "{}", "size": "{size}"}},
  "layout": {{"table": "gpt", "firmware": "bios", "partitions": [
    {{"mount": "/", "fs": "ext4", "size": "rest"}}]}},
  "boot": {{"profile": "debian"}}
}}"#,
        src.display(),
        img.display()
    )
}
