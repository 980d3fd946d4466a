//! What a path a plan names really is: the block device number behind a
//! node or a symlink to it, the image file behind a loop device (sysfs),
//! and a path made canonical even when its last part does not exist yet.
//!
//! Why: two plans may name the same disk differently (`/dev/sdb` and a
//! udev link, `img` and `dir/../img`, an image and the loop device on it);
//! the device lock and the copy's exclusions both need the one identity.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The (major, minor) of the block device at `path` (symlinks followed),
/// or None when it is not a block device.
pub fn block_dev(path: &Path) -> Option<(u64, u64)> {
    let md = std::fs::metadata(path).ok()?;
    if !md.file_type().is_block_device() {
        return None;
    }
    let r = md.rdev();
    Some((
        nix::sys::stat::major(r) as u64,
        nix::sys::stat::minor(r) as u64,
    ))
}

/// The file behind loop device `dev`, as the kernel records it (None when
/// `dev` is no attached loop device).
pub fn loop_backing_file(dev: (u64, u64)) -> Option<PathBuf> {
    let p = format!("/sys/dev/block/{}:{}/loop/backing_file", dev.0, dev.1);
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim().trim_end_matches(" (deleted)");
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// What a path naming a disk is on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskPath {
    /// A block device (symlinks followed) and, for an attached loop
    /// device, the file behind it (canonical).
    Block {
        dev: (u64, u64),
        backing: Option<PathBuf>,
    },
    /// An image file, existing or to be created (canonical).
    File(PathBuf),
}

impl DiskPath {
    /// The file that holds the disk's bytes, if a file does: the image,
    /// or the loop device's backing file.
    pub fn file(&self) -> Option<&Path> {
        match self {
            DiskPath::Block { backing, .. } => backing.as_deref(),
            DiskPath::File(f) => Some(f),
        }
    }
}

/// What `path` is: a block device (with a loop device's backing file),
/// else an image file. The device lock keys the run by it and the copy
/// leaves its file out, so both read the disk's identity from here.
pub fn disk_path(path: &Path) -> DiskPath {
    match block_dev(path) {
        Some(dev) => DiskPath::Block {
            dev,
            backing: loop_backing_file(dev).map(|b| canonical(&b)),
        },
        None => DiskPath::File(canonical(path)),
    }
}

/// The (st_dev, st_ino) of the regular file at `path` (symlinks followed).
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    let md = std::fs::metadata(path).ok()?;
    md.is_file().then(|| (md.dev(), md.ino()))
}

/// `path` made absolute and canonical: symlinks and `..` resolved. When
/// it does not exist, its nearest existing ancestor is canonicalized and
/// the rest appended with `.` and `..` folded.
pub fn canonical(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    if let Ok(c) = std::fs::canonicalize(&abs) {
        return c;
    }
    // The nearest ancestor that exists, canonical, then the rest folded.
    let parts: Vec<Component> = abs.components().collect();
    for n in (1..parts.len()).rev() {
        let head: PathBuf = parts[..n].iter().collect();
        if let Ok(mut base) = std::fs::canonicalize(&head) {
            for c in &parts[n..] {
                match c {
                    Component::ParentDir => {
                        base.pop();
                    }
                    Component::Normal(x) => base.push(x),
                    _ => {}
                }
            }
            return base;
        }
    }
    abs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_resolves_links_and_dotdot_also_for_a_missing_file() {
        let d = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(real.join("dir")).unwrap();
        std::os::unix::fs::symlink(real.join("dir"), real.join("link")).unwrap();
        assert_eq!(
            canonical(&real.join("link/new.img")),
            real.join("dir/new.img")
        );
        assert_eq!(
            canonical(&real.join("dir/../dir/new.img")),
            real.join("dir/new.img")
        );
        assert_eq!(canonical(&real.join("no/such/../x")), real.join("no/x"));
        std::fs::write(real.join("dir/new.img"), b"").unwrap();
        assert_eq!(
            canonical(&real.join("link/new.img")),
            real.join("dir/new.img")
        );
        assert_eq!(
            file_id(&real.join("link/new.img")),
            file_id(&real.join("dir/new.img"))
        );
        assert!(file_id(&real.join("dir")).is_none());
    }

    #[test]
    fn dev_null_is_no_block_device() {
        assert!(block_dev(Path::new("/dev/null")).is_none());
        assert!(block_dev(Path::new("/nonexistent")).is_none());
    }
}
