//! Support for tests/migrate_data.rs: plans, the matrix layouts, mounting a
//! result read-only, and the checks of a migrated tree.
#![allow(dead_code)]

use super::common::{self, Scratch};
use netroot::plan::{parse_plan, FsKind, Plan, ResolvedLayout};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const IMAGE_SIZE: u64 = 3 << 30;

pub use super::common::sh;

/// A plan migrating `src` onto the image `img`.
pub fn plan_json(src: &Path, img: &Path, table: &str, firmware: &str, parts: &str) -> String {
    format!(
        r#"{{"version": 1,
  "source": {{"type": "directory", "path": "{}"}},
  "target": {{"transport": "iscsi", "portal": "127.0.0.1", "iqn": "iqn.2024-01.test.netroot:data", "lun": 1,
              "device": "{}", "size": "3G"}},
  "layout": {{"table": "{table}", "firmware": "{firmware}", "partitions": [{parts}]}},
  "boot": {{"profile": "debian"}},
  "copy": {{"exclude": ["/var/cache/apt/*.bin"]}},
  "system": {{"hostname": "client7", "regenerate": {{"machine_id": true, "initiator_name": true, "ssh_host_keys": SSH}}}}
}}"#,
        src.display(),
        img.display()
    )
}

/// The layouts of the matrix, with the root filesystem `fs`.
pub fn layout_of(kind: &str, fs: &str) -> (&'static str, &'static str, String) {
    match kind {
        "gpt-bios" => (
            "gpt",
            "bios",
            format!(
                r#"{{"mount": "/boot", "fs": "ext4", "size": "400M"}}, {{"mount": "/", "fs": "{fs}", "size": "rest"}}"#
            ),
        ),
        "gpt-uefi" => (
            "gpt",
            "uefi",
            format!(
                r#"{{"mount": "/boot/efi", "fs": "vfat", "size": "100M"}}, {{"mount": "/", "fs": "{fs}", "size": "rest"}}"#
            ),
        ),
        "gpt-both" => (
            "gpt",
            "both",
            format!(
                r#"{{"mount": "/boot/efi", "fs": "vfat", "size": "100M"}}, {{"fs": "swap", "size": "128M"}}, {{"mount": "/", "fs": "{fs}", "size": "rest"}}"#
            ),
        ),
        "mbr" => (
            "mbr",
            "bios",
            format!(
                r#"{{"mount": "/boot", "fs": "ext4", "size": "400M"}}, {{"fs": "swap", "size": "128M"}}, {{"mount": "/", "fs": "{fs}", "size": "rest"}}"#
            ),
        ),
        _ => unreachable!(),
    }
}

pub struct Setup {
    pub scratch: Scratch,
    pub src: PathBuf,
    pub plan_file: PathBuf,
    pub plan: Plan,
    pub state: PathBuf,
    pub work: PathBuf,
}

pub fn setup(name: &str, kind: &str, fs: &str, ssh: bool) -> Setup {
    common::private_mounts();
    let src = common::rootfs();
    let scratch = Scratch::new(name);
    let img = scratch.join("disk.img");
    let (table, fw, parts) = layout_of(kind, fs);
    let text =
        plan_json(&src, &img, table, fw, &parts).replace("SSH", if ssh { "true" } else { "false" });
    let plan_file = scratch.join("plan.json");
    std::fs::write(&plan_file, &text).unwrap();
    let plan = parse_plan(&text).unwrap();
    let state = scratch.join("state");
    let work = scratch.join("work");
    Setup {
        src,
        plan_file,
        plan,
        state,
        work,
        scratch,
    }
}

/// A manifest of a tree that changes when any file's content or metadata
/// changes (ctime covers xattrs, ACLs, modes and owners).
pub fn manifest(dir: &Path) -> String {
    sh(&format!(
        "cd {} && find . -printf '%p %y %s %T@ %C@ %m %U:%G %n\\n' | LC_ALL=C sort | sha256sum",
        dir.display()
    ))
}

/// The target attached read-only and mounted at `mnt`; undone on drop.
pub struct Mounted {
    pub loopdev: String,
    pub mnt: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Mounted {
    pub fn new(img: &Path, layout: &ResolvedLayout, mnt: &Path) -> Mounted {
        let loopdev = sh(&format!("losetup -f -P -r --show {}", img.display()))
            .trim()
            .to_string();
        for p in &layout.partitions {
            wait_for(&format!("{loopdev}p{}", p.number));
        }
        let mut mounts = Vec::new();
        for p in layout.mount_order() {
            let dir = mnt.join(p.mount.as_deref().unwrap().trim_start_matches('/'));
            std::fs::create_dir_all(&dir).ok();
            if p.fs == Some(FsKind::Vfat) && !vfat_supported() {
                // No vfat in this kernel: read the ESP through FUSE.
                let n = format!("{loopdev}p{}", p.number);
                sh(&format!("fusefat -o ro,fsname={n} {n} {}", dir.display()));
                mounts.push(dir);
                continue;
            }
            let opts = if p.fs == Some(FsKind::Xfs) {
                "ro,norecovery"
            } else {
                "ro"
            };
            sh(&format!(
                "mount -o {opts} {loopdev}p{} {}",
                p.number,
                dir.display()
            ));
            mounts.push(dir);
        }
        Mounted {
            loopdev,
            mnt: mnt.to_path_buf(),
            mounts,
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg(m).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.loopdev]).status();
    }
}

/// Whether this kernel can mount FAT (some CI kernels cannot).
pub fn vfat_supported() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|t| t.lines().any(|l| l.trim_end().ends_with("vfat")))
}

pub fn wait_for(node: &str) {
    for _ in 0..100 {
        if Path::new(node).exists() {
            return;
        }
        let _ = Command::new("partx")
            .args(["-u", node.rsplit_once('p').unwrap().0])
            .status();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{node} did not appear");
}

/// The differences `rsync -aHAXn --itemize-changes --delete` finds between
/// the source and the target, minus what netroot is meant to change.
pub fn unexpected_differences(src: &Path, dst: &Path) -> Vec<String> {
    let out = sh(&format!(
        "rsync -aHAXn --numeric-ids '{}' --delete --itemize-changes {}/ {}/",
        netroot::tools::rsync::XFS_ACL_FILTER,
        src.display(),
        dst.display()
    ));
    let changed_files = [
        "etc/fstab",
        "etc/hostname",
        "etc/hosts",
        "etc/machine-id",
        "var/lib/dbus/machine-id",
        "etc/iscsi/initiatorname.iscsi",
    ];
    let parents = ["./", "etc/", "etc/iscsi/", "etc/ssh/", "var/lib/dbus/"];
    out.lines()
        .filter(|l| {
            let Some((flags, path)) = l.split_once(' ') else {
                return true;
            };
            let path = path.trim();
            let excluded_content = ["dev/", "proc/", "sys/", "run/", "tmp/", "mnt/", "media/"]
                .iter()
                .any(|d| path.starts_with(d) && path.len() > d.len());
            let lost_found = path.contains("lost+found");
            let identity = changed_files.contains(&path) || path.starts_with("etc/ssh/ssh_host_");
            // A directory whose only change is its mtime, because netroot wrote into it.
            let dir_time = flags.starts_with(".d..t") && parents.contains(&path);
            !(excluded_content || lost_found || identity || dir_time)
        })
        .map(str::to_string)
        .collect()
}

/// Everything the data half promises about a migrated tree at `dst`.
pub fn check_tree(src: &Path, dst: &Path, layout: &ResolvedLayout, ssh: bool) {
    // A planned mount point the source lacks (an ESP on a BIOS-only
    // source) exists on the target, empty apart from what netroot puts there.
    let made: Vec<String> = layout
        .partitions
        .iter()
        .filter_map(|p| p.mount.as_deref())
        .filter(|m| *m != "/" && !src.join(m.trim_start_matches('/')).exists())
        .map(|m| format!("{}/", m.trim_start_matches('/')))
        .collect();
    let diff: Vec<String> = unexpected_differences(src, dst)
        .into_iter()
        .filter(|l| {
            !l.strip_prefix("*deleting")
                .is_some_and(|p| made.iter().any(|m| p.trim() == m))
        })
        .collect();
    assert!(
        diff.is_empty(),
        "unexpected differences source → target:\n{}",
        diff.join("\n")
    );
    // The special files, with the tools that see them.
    let fx = dst.join("root/netroot-fixtures");
    let caps = sh(&format!("getcap {}", fx.join("cap-true").display()));
    assert!(
        caps.contains("cap_net_raw=ep"),
        "file capability lost: {caps:?}"
    );
    let acl = sh(&format!("getfacl -p {}", fx.join("acl").display()));
    assert!(acl.contains("user:nobody:r--"), "ACL lost: {acl}");
    let xattr = sh(&format!(
        "getfattr -n user.netroot --only-values {}",
        fx.join("xattr").display()
    ));
    assert_eq!(xattr, "kept");
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(fx.join("hardlink-a")).unwrap();
    let b = std::fs::metadata(fx.join("hardlink-b")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "hard link lost");
    let s = std::fs::metadata(fx.join("sparse")).unwrap();
    assert!(
        s.blocks() * 512 < 4 << 20,
        "sparse file filled: {} blocks",
        s.blocks()
    );
    use std::os::unix::fs::FileTypeExt;
    let n = std::fs::symlink_metadata(fx.join("null-dev")).unwrap();
    assert!(n.file_type().is_char_device() && n.rdev() == libc::makedev(1, 3));
    assert!(std::fs::symlink_metadata(fx.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    // The volatile directories exist, empty; tmp is 1777.
    for d in ["proc", "sys", "dev", "run", "tmp", "mnt", "media"] {
        let p = dst.join(d);
        assert!(p.is_dir(), "{d} missing");
        assert_eq!(std::fs::read_dir(&p).unwrap().count(), 0, "{d} not empty");
    }
    assert_eq!(
        std::fs::metadata(dst.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    // fstab: every migrated mount and swap by UUID, the old /dev/sda lines gone.
    let fstab = std::fs::read_to_string(dst.join("etc/fstab")).unwrap();
    let rows: Vec<Vec<&str>> = fstab
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!fstab.contains("/dev/sda"), "{fstab}");
    assert!(
        rows.contains(&vec!["proc", "/proc", "proc", "defaults", "0", "0"]),
        "{fstab}"
    );
    assert!(
        rows.contains(&vec!["tmpfs", "/tmp", "tmpfs", "defaults,nosuid", "0", "0"]),
        "{fstab}"
    );
    for p in layout.partitions.iter().filter(|p| p.fs.is_some()) {
        let spec = format!("UUID={}", p.fs_uuid.as_deref().unwrap());
        let row = rows
            .iter()
            .find(|r| r[0] == spec)
            .unwrap_or_else(|| panic!("no {spec} in\n{fstab}"));
        let fs = p.fs.unwrap();
        assert_eq!(row[1], p.mount.as_deref().unwrap_or("none"));
        assert_eq!(row[2], fs.as_str());
        assert_eq!(row[3].contains("_netdev"), fs != FsKind::Swap, "{fstab}");
    }
    assert_eq!(
        rows.len(),
        2 + layout.partitions.iter().filter(|p| p.fs.is_some()).count(),
        "{fstab}"
    );
    // Identity.
    assert_eq!(
        std::fs::read_to_string(dst.join("etc/hostname")).unwrap(),
        "client7\n"
    );
    assert!(std::fs::read_to_string(dst.join("etc/hosts"))
        .unwrap()
        .contains("127.0.1.1\tclient7\n"));
    let mid = std::fs::read_to_string(dst.join("etc/machine-id")).unwrap();
    assert_eq!(mid.trim().len(), 32);
    assert_ne!(
        Some(mid),
        std::fs::read_to_string(src.join("etc/machine-id")).ok()
    );
    let iname = std::fs::read_to_string(dst.join("etc/iscsi/initiatorname.iscsi")).unwrap();
    assert!(
        iname.contains("InitiatorName=iqn.1993-08.org.debian:01:"),
        "{iname}"
    );
    assert_ne!(
        Some(iname),
        std::fs::read_to_string(src.join("etc/iscsi/initiatorname.iscsi")).ok()
    );
    if ssh {
        for k in ["ed25519", "rsa", "ecdsa"] {
            let rel = format!("etc/ssh/ssh_host_{k}_key");
            let t = std::fs::read(dst.join(&rel)).unwrap();
            assert_ne!(
                Some(t),
                std::fs::read(src.join(&rel)).ok(),
                "{rel} is the source's"
            );
            assert!(dst.join(format!("{rel}.pub")).exists());
        }
    }
}
