//! Typed wrappers for `mount` / `umount` / `fusefat`, and what the
//! kernel says about filesystems (/proc/filesystems).
//!
//! The mount table is a host fact parsed in [`crate::host::mountinfo`];
//! it is re-exported here for the callers that mount and unmount.

use super::Cmd;
use std::path::Path;

pub use crate::host::mountinfo::{mounts, parse as parse_mountinfo, MountEntry};

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

#[cfg(test)]
mod tests {
    use super::*;

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
