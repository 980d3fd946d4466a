//! Typed wrappers for the mkfs family, mkswap and wipefs. Every command
//! here destroys data and is marked so.

use super::Cmd;
use crate::plan::FsKind;
use std::path::Path;

/// The command that makes a `fs` filesystem on `dev` with the chosen UUID
/// (vfat: volume id "ABCD-1234") and label.
pub fn mkfs_cmd(fs: FsKind, dev: &Path, uuid: &str, label: Option<&str>) -> Cmd {
    let c = match fs {
        FsKind::Ext4 => {
            let c = Cmd::new("mkfs.ext4").args(["-F", "-q", "-U", uuid]);
            with_label(c, "-L", label)
        }
        FsKind::Xfs => {
            let c = Cmd::new("mkfs.xfs")
                .args(["-f", "-q", "-m"])
                .arg(format!("uuid={uuid}"));
            with_label(c, "-L", label)
        }
        FsKind::Btrfs => {
            let c = Cmd::new("mkfs.btrfs").args(["-f", "-q", "-U", uuid]);
            with_label(c, "-L", label)
        }
        FsKind::Vfat => {
            let c = Cmd::new("mkfs.vfat")
                .args(["-F", "32", "-i"])
                .arg(vfat_volume_id(uuid));
            with_label(c, "-n", label)
        }
        FsKind::Swap => {
            let c = Cmd::new("mkswap").args(["-f", "-U", uuid]);
            with_label(c, "-L", label)
        }
    };
    c.arg(dev).destructive()
}

fn with_label(c: Cmd, flag: &str, label: Option<&str>) -> Cmd {
    match label {
        Some(l) => c.arg(flag).arg(l),
        None => c,
    }
}

/// mkfs.vfat -i takes the volume id as 8 hex digits: "ABCD-1234" → "ABCD1234".
pub fn vfat_volume_id(uuid: &str) -> String {
    uuid.replace('-', "").to_uppercase()
}

/// `wipefs -a DEV`: erase every filesystem / table signature on `dev`.
pub fn wipefs_cmd(dev: &Path) -> Cmd {
    Cmd::new("wipefs").arg("-a").arg(dev).destructive()
}

/// The TYPE blkid reports for a filesystem kind.
pub fn blkid_type(fs: FsKind) -> &'static str {
    fs.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_per_filesystem() {
        let d = Path::new("/dev/loop0p2");
        let u = "0b5e8a6c-2d3f-4e1a-9c1b-1234567890ab";
        assert_eq!(
            mkfs_cmd(FsKind::Ext4, d, u, Some("root")).display(),
            format!("mkfs.ext4 -F -q -U {u} -L root /dev/loop0p2")
        );
        assert_eq!(
            mkfs_cmd(FsKind::Xfs, d, u, None).display(),
            format!("mkfs.xfs -f -q -m uuid={u} /dev/loop0p2")
        );
        assert_eq!(
            mkfs_cmd(FsKind::Btrfs, d, u, None).display(),
            format!("mkfs.btrfs -f -q -U {u} /dev/loop0p2")
        );
        assert_eq!(
            mkfs_cmd(FsKind::Vfat, d, "ab12-CD34", Some("EFI")).display(),
            "mkfs.vfat -F 32 -i AB12CD34 -n EFI /dev/loop0p2"
        );
        assert_eq!(
            mkfs_cmd(FsKind::Swap, d, u, None).display(),
            format!("mkswap -f -U {u} /dev/loop0p2")
        );
        assert!(mkfs_cmd(FsKind::Swap, d, u, None).is_destructive());
        assert!(wipefs_cmd(d).is_destructive());
    }
}
