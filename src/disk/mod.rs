//! Block devices: the target disk, partition nodes, reading what is on
//! them (`inspect`), tables.

pub mod gpt;
pub mod inspect;
pub mod kernel;
pub mod mbr;

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The target disk as found or attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetDisk {
    /// Block device node (/dev/sda, /dev/etherd/e0.0, /dev/loop3). In a
    /// dry run of a not-yet-attached image this is a placeholder and
    /// `attached` is false.
    pub node: PathBuf,
    pub size: u64,
    /// Transport identity: "e0.0", "iqn... lun 1", or the image file.
    pub identity: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// The image file behind a loop device.
    pub image: Option<PathBuf>,
    /// False in a dry run when the disk is not really attached.
    pub attached: bool,
}

impl TargetDisk {
    /// The node of partition `n`: sda → sda2, loop0/nvme0n1/e0.0 → …p2,
    /// a udev link below /dev/disk/ → …-part2.
    pub fn part_node(&self, n: u32) -> PathBuf {
        part_node(&self.node, n)
    }
}

/// The node of partition `n` of disk `disk`.
pub fn part_node(disk: &Path, n: u32) -> PathBuf {
    let s = disk.as_os_str().to_string_lossy();
    // udev names the partitions of /dev/disk/by-{path,id}/X "X-partN".
    if s.starts_with("/dev/disk/") {
        return PathBuf::from(format!("{s}-part{n}"));
    }
    // The dry-run placeholder "/dev/loopN" reads as a loop device too.
    if s.ends_with(|c: char| c.is_ascii_digit()) || s.ends_with("/loopN") {
        PathBuf::from(format!("{s}p{n}"))
    } else {
        PathBuf::from(format!("{s}{n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn partition_nodes() {
        assert_eq!(
            part_node(Path::new("/dev/sda"), 2),
            PathBuf::from("/dev/sda2")
        );
        assert_eq!(
            part_node(Path::new("/dev/loop0"), 1),
            PathBuf::from("/dev/loop0p1")
        );
        assert_eq!(
            part_node(Path::new("/dev/nvme0n1"), 3),
            PathBuf::from("/dev/nvme0n1p3")
        );
        assert_eq!(
            part_node(Path::new("/dev/etherd/e0.0"), 2),
            PathBuf::from("/dev/etherd/e0.0p2")
        );
        assert_eq!(
            part_node(
                Path::new(
                    "/dev/disk/by-path/ip-192.0.2.1:3260-iscsi-iqn.2024-01.org.example:c1-lun-1"
                ),
                2
            ),
            PathBuf::from(
                "/dev/disk/by-path/ip-192.0.2.1:3260-iscsi-iqn.2024-01.org.example:c1-lun-1-part2"
            )
        );
    }
}
