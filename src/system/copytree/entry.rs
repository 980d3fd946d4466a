//! One entry of the native copier: a file's data (`data`), special
//! files, symlinks, and the metadata of each (owner as numbers, xattrs
//! incl. ACLs and file capabilities, mode, times to the nanosecond).
//!
//! Why its own file: the order of these calls is what keeps the metadata:
//! chown clears setuid bits and `security.capability`, so the owner comes
//! first, then the xattrs, then the mode; writing data clears them too, so
//! the data comes before all of it. Errors name the syscall and the path.
//! A regular file is made from its directory's open descriptors (the *at
//! calls: no walk of two long paths per call) and costs only the calls
//! its metadata needs: created with the source's permission bits, it gets
//! no fchown or fchmod when it already has the owner and mode (root's
//! files made by root, most of a system), and one flistxattr when it has
//! no xattr.

use super::data::Data;
use super::xattr::{self, Node};
use anyhow::{anyhow, Result};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub(super) fn cpath(p: &Path) -> CString {
    // Paths from the filesystem hold no NUL.
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

pub(super) fn os_err(call: &str, p: &Path) -> anyhow::Error {
    let e = std::io::Error::last_os_error();
    anyhow!("{call} {}: {e}", p.display())
}

fn io_err(call: &str, p: &Path, e: std::io::Error) -> anyhow::Error {
    anyhow!("{call} {}: {e}", p.display())
}

/// Whether an error means the source entry is gone (a running system).
pub(super) fn vanished(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    }) || e.to_string().ends_with("(os error 2)")
}

/// A file with this much data starts its writeback once it is written,
/// while the other workers copy: the step's syncfs then has less left to
/// write, and a network disk receives data during the copy. Measured on
/// the test tree (loaded machine, tests/bench/README.md): copy step
/// 1.6-2.2 s against 2.1-5.0 s with no early writeback and 3.0-6.3 s
/// with it for every file (small files' writeback one by one costs more
/// than the final syncfs batching it).
const WRITEBACK_NOW: u64 = 1 << 20;

/// A source directory being copied and its copy, open: the entries in
/// it are made with the *at syscalls, without walking the two paths
/// again for each entry.
pub(super) struct At {
    pub src: File,
    pub dst: File,
}

impl At {
    /// Open source directory `src` (not following a symlink) and target
    /// directory `dst`.
    pub fn open(src: &Path, dst: &Path) -> Result<At> {
        let dir = |p: &Path| {
            File::options()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(p)
        };
        Ok(At {
            src: dir(src).map_err(|e| io_err("opendir", src, e))?,
            dst: dir(dst).map_err(|e| io_err("opendir", dst, e))?,
        })
    }
}

/// An entry's lstat, from the directory it is in.
#[derive(Clone, Copy)]
pub(super) struct Stat(libc::stat);

impl std::fmt::Debug for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stat(mode {:o})", self.0.st_mode)
    }
}

impl Stat {
    /// lstat of `name` in directory `dir` (`path` names it in errors).
    pub fn at(dir: &File, name: &CStr, path: &Path) -> Result<Stat> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a NUL-terminated name and room for one stat.
        let r = unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            return Err(os_err("lstat", path));
        }
        // SAFETY: fstatat filled it.
        Ok(Stat(unsafe { st.assume_init() }))
    }

    /// lstat of `path`.
    pub fn path(path: &Path) -> Result<Stat> {
        let c = cpath(path);
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a NUL-terminated path and room for one stat.
        if unsafe { libc::lstat(c.as_ptr(), st.as_mut_ptr()) } != 0 {
            return Err(os_err("lstat", path));
        }
        // SAFETY: lstat filled it.
        Ok(Stat(unsafe { st.assume_init() }))
    }

    fn fd(f: &File, path: &Path) -> Result<Stat> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: an open descriptor and room for one stat.
        if unsafe { libc::fstat(f.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return Err(os_err("fstat", path));
        }
        // SAFETY: fstat filled it.
        Ok(Stat(unsafe { st.assume_init() }))
    }

    fn kind(&self) -> u32 {
        self.0.st_mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }
    pub fn dev(&self) -> u64 {
        self.0.st_dev
    }
    pub fn ino(&self) -> u64 {
        self.0.st_ino
    }
    pub fn nlink(&self) -> u64 {
        self.0.st_nlink
    }
    pub fn mode(&self) -> u32 {
        self.0.st_mode
    }
    pub fn uid(&self) -> u32 {
        self.0.st_uid
    }
    pub fn gid(&self) -> u32 {
        self.0.st_gid
    }
    pub fn len(&self) -> u64 {
        self.0.st_size as u64
    }
    fn blocks(&self) -> u64 {
        self.0.st_blocks as u64
    }
    fn rdev(&self) -> u64 {
        self.0.st_rdev
    }
}

/// Copy regular file `name` of directory `at.src` to the new file `name`
/// in `at.dst` (`src` and `dst`: their paths), data and metadata; returns
/// the bytes of data copied.
pub(super) fn copy_file(
    data: &Data,
    at: &At,
    name: &CStr,
    (src, dst): (&Path, &Path),
    m: &Stat,
) -> Result<u64> {
    let open = |flags: i32| {
        // SAFETY: a NUL-terminated name relative to an open directory.
        let fd = unsafe { libc::openat(at.src.as_raw_fd(), name.as_ptr(), flags) };
        // SAFETY: a descriptor openat just returned is ours.
        (fd >= 0).then(|| unsafe { File::from_raw_fd(fd) })
    };
    let base = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let from = open(base | libc::O_NOATIME)
        .or_else(|| open(base))
        .ok_or_else(|| os_err("open", src))?;
    // The source's permission bits from the start: most files then need
    // no chmod (see set_meta_fd); setuid, setgid and sticky come last.
    // SAFETY: as above; the mode is a creation mode.
    let fd = unsafe {
        libc::openat(
            at.dst.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            (m.mode() & 0o777) as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(os_err("open (create)", dst));
    }
    // SAFETY: as above.
    let to = unsafe { File::from_raw_fd(fd) };
    let sparse = m.blocks() * 512 < m.len();
    let copied = data.copy(&from, &to, m.len(), sparse, (src, dst))?;
    if copied >= WRITEBACK_NOW {
        // SAFETY: an open descriptor; SYNC_FILE_RANGE_WRITE only starts
        // the writeback (an error shows at the step's syncfs).
        unsafe { libc::sync_file_range(to.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    set_meta_fd(&from, &to, (src, dst), m)?;
    Ok(copied)
}

/// Owner, xattrs, mode, times of a new regular file, in that order; the
/// owner and the mode only where the new file's differ (root's files made
/// by root, with the umask leaving their bits alone: no call).
fn set_meta_fd(from: &File, to: &File, (src, dst): (&Path, &Path), m: &Stat) -> Result<()> {
    let now = Stat::fd(to, dst)?;
    let mut changed = false;
    if (now.uid(), now.gid()) != (m.uid(), m.gid()) {
        std::os::unix::fs::fchown(to, Some(m.uid()), Some(m.gid()))
            .map_err(|e| io_err("fchown", dst, e))?;
        changed = true;
    }
    changed |= xattr::copy(
        &Node::Fd(from.as_raw_fd()),
        &Node::Fd(to.as_raw_fd()),
        (src, dst),
    )?;
    let fd = to.as_raw_fd();
    if changed || now.mode() & 0o7777 != m.mode() & 0o7777 {
        // SAFETY: fchmod on an open descriptor.
        if unsafe { libc::fchmod(fd, m.mode() & 0o7777) } != 0 {
            return Err(os_err("fchmod", dst));
        }
    }
    let t = times(m);
    // SAFETY: futimens with two timespecs.
    if unsafe { libc::futimens(fd, t.as_ptr()) } != 0 {
        return Err(os_err("futimens", dst));
    }
    Ok(())
}

fn times(m: &Stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: m.0.st_atime,
            tv_nsec: m.0.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: m.0.st_mtime,
            tv_nsec: m.0.st_mtime_nsec,
        },
    ]
}

/// Owner, xattrs, mode (not for symlinks) and times of `dst`, a symlink,
/// node or directory, without following a symlink.
pub(super) fn set_meta_path(src: &Path, dst: &Path, m: &Stat) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))
        .map_err(|e| io_err("lchown", dst, e))?;
    xattr::copy(&Node::Path(cpath(src)), &Node::Path(cpath(dst)), (src, dst))?;
    let c = cpath(dst);
    if !m.is_symlink() {
        // SAFETY: chmod of a NUL-terminated path.
        if unsafe { libc::chmod(c.as_ptr(), m.mode() & 0o7777) } != 0 {
            return Err(os_err("chmod", dst));
        }
    }
    let t = times(m);
    // SAFETY: utimensat with two timespecs, not following a symlink.
    if unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(os_err("utimensat", dst));
    }
    Ok(())
}

/// Make the symlink, device node, FIFO or socket `dst` like `src`.
pub(super) fn make_special(src: &Path, dst: &Path, m: &Stat) -> Result<()> {
    if m.is_symlink() {
        let to = std::fs::read_link(src).map_err(|e| io_err("readlink", src, e))?;
        std::os::unix::fs::symlink(&to, dst).map_err(|e| io_err("symlink", dst, e))?;
    } else {
        let c = cpath(dst);
        // SAFETY: mknod of a NUL-terminated path; the type bits are the
        // source's (char, block, FIFO or socket).
        if unsafe { libc::mknod(c.as_ptr(), m.mode() & (libc::S_IFMT | 0o7777), m.rdev()) } != 0 {
            return Err(os_err("mknod", dst));
        }
    }
    set_meta_path(src, dst, m)
}
