//! /proc/self/mountinfo: the mount table, one type for every caller.
//!
//! Why here: preflight, the mount step, the copy step, fstab and the disk
//! probe all ask "what is mounted where, from which device"; they used to
//! carry two parsers with different escape rules. The file is read as
//! bytes since mount points need not be UTF-8 (see [`super::escape`]).

use super::escape::{unescape_lossy, unescape_octal};
use std::path::{Path, PathBuf};

/// Directories of a root tree that hold only runtime state or other
/// filesystems: never copied; created empty on the target (tmp with 1777).
pub const VOLATILE_DIRS: [(&str, u32); 7] = [
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("run", 0o755),
    ("tmp", 0o1777),
    ("mnt", 0o755),
    ("media", 0o755),
];

/// Filesystem types that hold data worth copying when mounted in the source.
pub const DATA_FS: [&str; 10] = [
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "jfs", "reiserfs", "zfs",
];

/// One line of mountinfo: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
/// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountEntry {
    /// Device number "MAJ:MIN" of the mounted filesystem.
    pub dev: (u64, u64),
    /// Mount point, escapes decoded.
    pub target: PathBuf,
    /// Filesystem type ("ext4", "fuse.sshfs", ...).
    pub fstype: String,
    /// Mount source ("/dev/sda1", "tmpfs", ...), escapes decoded.
    pub source: String,
}

/// Parse mountinfo text; lines that do not have the format are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    parse_bytes(text.as_bytes())
}

/// Parse mountinfo as the kernel writes it (bytes, not always UTF-8).
pub fn parse_bytes(text: &[u8]) -> Vec<MountEntry> {
    text.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<MountEntry> {
    // Fields are separated by single spaces; escaped fields hold none.
    let f: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    // Six fixed fields, then optional ones up to the lone "-".
    let sep = 6 + f.get(6..)?.iter().position(|x| *x == b"-")?;
    let (major, minor) = std::str::from_utf8(f[2]).ok()?.split_once(':')?;
    Some(MountEntry {
        dev: (major.parse().ok()?, minor.parse().ok()?),
        target: PathBuf::from(unescape_octal(f[4])),
        fstype: unescape_lossy(f.get(sep + 1)?),
        source: f
            .get(sep + 2)
            .map(|s| unescape_lossy(s))
            .unwrap_or_default(),
    })
}

/// Read and parse a mountinfo file.
pub fn read(path: &Path) -> std::io::Result<Vec<MountEntry>> {
    Ok(parse_bytes(&std::fs::read(path)?))
}

/// This process's mounts (empty when /proc is not mounted).
pub fn mounts() -> Vec<MountEntry> {
    read(Path::new("/proc/self/mountinfo")).unwrap_or_default()
}

/// The mount that holds `path` (the last mounted one with the longest
/// mount point above it), compared as given: pass canonical paths.
pub fn holding<'a>(path: &Path, mounts: &'a [MountEntry]) -> Option<&'a MountEntry> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.target))
        .max_by_key(|(i, m)| (m.target.components().count(), *i))
        .map(|(_, m)| m)
}

/// The data filesystems mounted strictly below `root`, in mount-table
/// order (a later mount on the same point replaces the earlier one),
/// leaving out those below `root`'s volatile directories and below any
/// of `skip` (netroot's own state, work and target paths): besides the
/// one holding `root`, the filesystems a copy of `root` reads. Paths are
/// compared as given: pass canonical ones. The copy's transfers and the
/// snapshot check both ask this, so they never disagree on what is read.
pub fn data_mounts_below<'a>(
    root: &Path,
    mounts: &'a [MountEntry],
    skip: &[PathBuf],
) -> Vec<&'a MountEntry> {
    let hidden = |t: &Path| {
        VOLATILE_DIRS
            .iter()
            .any(|(d, _)| t.starts_with(root.join(d)))
            || skip.iter().any(|s| t.starts_with(s))
    };
    let mut out: Vec<&MountEntry> = Vec::new();
    for m in mounts {
        if m.target.starts_with(root)
            && m.target != root
            && DATA_FS.contains(&m.fstype.as_str())
            && !hidden(&m.target)
        {
            out.retain(|o| o.target != m.target);
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn data_mounts_below_leaves_out_volatile_skipped_and_pseudo() {
        let s = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
                 2 1 8:2 / /home rw - ext4 /dev/sda2 rw\n\
                 3 1 0:5 / /proc rw - proc proc rw\n\
                 4 1 0:6 / /tmp rw - ext4 /dev/sda3 rw\n\
                 5 1 8:4 / /var/lib/netroot rw - ext4 /dev/sda4 rw\n\
                 6 1 8:5 / /srv rw - xfs /dev/sda5 rw\n\
                 7 1 8:6 / /srv rw - ext4 /dev/sda6 rw\n";
        let m = parse(s);
        let skip = [PathBuf::from("/var/lib/netroot")];
        let got: Vec<String> = data_mounts_below(Path::new("/"), &m, &skip)
            .iter()
            .map(|e| format!("{} {}", e.target.display(), e.fstype))
            .collect();
        assert_eq!(got, ["/home ext4", "/srv ext4"]);
        assert!(data_mounts_below(Path::new("/home"), &m, &[]).is_empty());
    }

    #[test]
    fn parses_mountinfo() {
        let s = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                 40 22 7:1 / /var/tmp/a\\040b rw - ext4 /dev/loop1p2 rw\n\
                 41 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw\n";
        let m = parse(s);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].dev, (254, 0));
        assert_eq!(m[0].target, PathBuf::from("/"));
        assert_eq!(m[1].target, PathBuf::from("/var/tmp/a b"));
        assert_eq!(m[1].source, "/dev/loop1p2");
        assert_eq!(m[2].fstype, "devtmpfs");
    }

    /// A host mount table with data, pseudo and escaped mounts (the copy
    /// step's tests plan transfers over it too).
    pub(crate) const MOUNTINFO: &str = "\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:22 / /run rw shared:5 - tmpfs tmpfs rw
25 22 8:1 / /boot rw - ext4 /dev/sda1 rw
26 22 8:3 / /home rw - ext4 /dev/sda3 rw
27 22 8:4 / /mnt/usb rw - ext4 /dev/sdb1 rw
28 22 8:5 / /var/lib/docker rw - btrfs /dev/sda5 rw
29 25 8:6 / /boot/efi rw - vfat /dev/sda6 rw
30 24 7:0 / /run/netroot/target rw - xfs /dev/loop0p4 rw
31 22 0:40 / /srv/my\\040data rw - ext4 /dev/sda7 rw
";

    #[test]
    fn mountinfo_parse() {
        let m = parse(MOUNTINFO);
        assert_eq!(m.len(), 10);
        assert_eq!(
            m[0],
            MountEntry {
                dev: (8, 2),
                target: "/".into(),
                fstype: "ext4".into(),
                source: "/dev/sda2".into()
            }
        );
        assert_eq!(m[9].target, Path::new("/srv/my data"));
    }

    #[test]
    fn octal_escapes_beyond_space_and_raw_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let s = b"50 22 0:51 / /mnt/caf\\303\\251\\011x rw - fuse.sshfs me@h:/a\\040b rw\n\
                  51 22 0:52 / /mnt/\xe9t\xe9 rw master:3 - tmpfs tmpfs rw\n\
                  52 22 0:53 / /mnt/\\134back\\012nl rw - tmpfs none rw\n";
        let m = parse_bytes(s);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].target, Path::new("/mnt/café\tx"));
        assert_eq!(m[0].source, "me@h:/a b");
        assert_eq!(m[0].fstype, "fuse.sshfs");
        assert_eq!(m[1].target.as_os_str().as_bytes(), b"/mnt/\xe9t\xe9");
        assert_eq!(m[2].target, Path::new("/mnt/\\back\nnl"));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let m = parse("garbage\n1 2 x:y / /a rw - ext4 /dev/a rw\n\n3 4 1:2 / /b rw - ext4\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].target, Path::new("/b"));
        assert_eq!(m[0].source, "");
    }

    #[test]
    fn the_live_table_has_a_root() {
        if Path::new("/proc/self/mountinfo").exists() {
            assert!(mounts().iter().any(|m| m.target == Path::new("/")));
        }
    }
}
