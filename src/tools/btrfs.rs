//! Typed wrapper for `btrfs subvolume`: the read-only snapshot a copy can
//! read from, and its removal.
//!
//! Why a wrapper of its own: the copy step and preflight both need to know
//! whether a directory is a subvolume (pure: its inode number) and how the
//! snapshot is made and dropped; the argv is unit-tested here.

use super::Cmd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The inode number of every btrfs subvolume's root directory
/// (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOLUME_ROOT_INO: u64 = 256;

/// `btrfs subvolume snapshot -r SRC DEST`: a read-only snapshot of the
/// subvolume SRC at DEST (same filesystem).
pub fn snapshot_cmd(src: &Path, dest: &Path) -> Cmd {
    Cmd::new("btrfs")
        .args(["subvolume", "snapshot", "-r"])
        .arg(src)
        .arg(dest)
}

/// `btrfs subvolume delete PATH`.
pub fn delete_cmd(path: &Path) -> Cmd {
    Cmd::new("btrfs").args(["subvolume", "delete"]).arg(path)
}

/// Whether `dir` is the root of a btrfs subvolume (a plain directory, or a
/// bind mount of one, is not and cannot be snapshotted).
pub fn is_subvolume_root(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.ino() == SUBVOLUME_ROOT_INO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        assert_eq!(
            snapshot_cmd(Path::new("/home"), Path::new("/home/.netroot-snapshot")).display(),
            "btrfs subvolume snapshot -r /home /home/.netroot-snapshot"
        );
        assert_eq!(
            delete_cmd(Path::new("/.netroot-snapshot")).display(),
            "btrfs subvolume delete /.netroot-snapshot"
        );
    }

    #[test]
    fn a_plain_directory_is_no_subvolume() {
        let d = std::env::temp_dir();
        // /tmp is never a btrfs subvolume root on the test machines; a
        // missing path is not one either.
        assert!(!is_subvolume_root(&d.join("netroot-no-such-dir")));
    }
}
