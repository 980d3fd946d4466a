//! Typed wrappers for `mount` / `umount`, and a reader for
//! /proc/self/mountinfo.

use super::Cmd;
use std::path::{Path, PathBuf};

/// `mount -t FSTYPE DEV DIR`.
pub fn mount_cmd(dev: &Path, dir: &Path, fstype: &str) -> Cmd {
    Cmd::new("mount").args(["-t", fstype]).arg(dev).arg(dir)
}

/// `umount -R DIR`: DIR and anything a killed run left mounted below it.
pub fn umount_cmd(dir: &Path) -> Cmd {
    Cmd::new("umount").arg("-R").arg(dir)
}

/// `fusefat -o rw+,fsname=DEV DEV DIR`: a FAT filesystem mounted read-write
/// through FUSE, for kernels without vfat. `fsname` makes DEV the mount
/// source in mountinfo, so a killed run's mount is recognised and tools
/// that look up the device behind a directory (grub-install) find it.
pub fn fusefat_cmd(dev: &Path, dir: &Path) -> Cmd {
    Cmd::new("fusefat")
        .arg("-o")
        .arg(format!("rw+,fsname={}", dev.display()))
        .arg(dev)
        .arg(dir)
}

/// `fusermount -u DIR`: undo a FUSE mount.
pub fn fuse_umount_cmd(dir: &Path) -> Cmd {
    Cmd::new("fusermount").arg("-u").arg(dir)
}

/// Does /proc/filesystems text list `fstype` (as "nodev\tX" or "\tX")?
pub fn fs_listed(proc_filesystems: &str, fstype: &str) -> bool {
    proc_filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fstype))
}

/// Whether the running kernel has `fstype` registered right now
/// (/proc/filesystems; false when it cannot be read).
pub fn kernel_has_fs(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| fs_listed(&s, fstype))
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Device number "MAJ:MIN" of the mounted filesystem.
    pub dev: (u64, u64),
    /// Mount point.
    pub target: PathBuf,
    pub fstype: String,
    /// Mount source ("/dev/sda1", "tmpfs", ...).
    pub source: String,
}

/// Undo the octal escapes mountinfo uses for space, tab, newline, backslash.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse /proc/self/mountinfo.
pub fn parse_mountinfo(s: &str) -> Vec<MountInfo> {
    let mut v = Vec::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 3 || f.len() < 5 {
            continue;
        }
        let Some((ma, mi)) = f[2].split_once(':') else {
            continue;
        };
        let (Ok(ma), Ok(mi)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        v.push(MountInfo {
            dev: (ma, mi),
            target: PathBuf::from(unescape(f[4])),
            fstype: f[sep + 1].to_string(),
            source: unescape(f[sep + 2]),
        });
    }
    v
}

/// This process's mounts.
pub fn mounts() -> Vec<MountInfo> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| parse_mountinfo(&s))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let s = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                 40 22 7:1 / /var/tmp/a\\040b rw - ext4 /dev/loop1p2 rw\n\
                 41 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw\n";
        let m = parse_mountinfo(s);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].dev, (254, 0));
        assert_eq!(m[0].target, PathBuf::from("/"));
        assert_eq!(m[1].target, PathBuf::from("/var/tmp/a b"));
        assert_eq!(m[1].source, "/dev/loop1p2");
        assert_eq!(m[2].fstype, "devtmpfs");
    }

    #[test]
    fn argv() {
        assert_eq!(
            mount_cmd(Path::new("/dev/loop0p2"), Path::new("/run/x/root"), "ext4").display(),
            "mount -t ext4 /dev/loop0p2 /run/x/root"
        );
        assert_eq!(
            fusefat_cmd(Path::new("/dev/loop0p1"), Path::new("/run/x/root/boot/efi")).display(),
            "fusefat -o rw+,fsname=/dev/loop0p1 /dev/loop0p1 /run/x/root/boot/efi"
        );
        assert_eq!(
            fuse_umount_cmd(Path::new("/run/x/root/boot/efi")).display(),
            "fusermount -u /run/x/root/boot/efi"
        );
    }

    #[test]
    fn proc_filesystems() {
        let t = "nodev\tsysfs\nnodev\tfuse\n\text4\n\txfs\n\tfuseblk\n";
        assert!(fs_listed(t, "ext4"));
        assert!(fs_listed(t, "fuse"));
        assert!(!fs_listed(t, "vfat"));
        assert!(!fs_listed("\tmsdos\n", "vfat"));
    }
}
