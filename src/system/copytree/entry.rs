//! One entry of the native copier: a file's data (copy_file_range, holes
//! kept with SEEK_DATA/SEEK_HOLE), special files, symlinks, and the
//! metadata of each (owner as numbers, xattrs incl. ACLs and file
//! capabilities, mode, times to the nanosecond).
//!
//! Why its own file: the order of these calls is what keeps the metadata:
//! chown clears setuid bits and `security.capability`, so the owner comes
//! first, then the xattrs, then the mode; writing data clears them too, so
//! the data comes before all of it. Errors name the syscall and the path.

use anyhow::{anyhow, Result};
use std::ffi::CString;
use std::fs::{File, Metadata};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// XFS shows each ACL a second time as `trusted.SGI_ACL_*`: the ACL
/// itself (system.posix_acl_*) is copied, these are not (as rsync's
/// `XFS_ACL_FILTER`).
const SKIPPED_XATTR: &[u8] = b"trusted.SGI_ACL_";

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

/// Copy regular file `src` to the new file `dst`, data and metadata;
/// returns the bytes of data copied.
pub(super) fn copy_file(src: &Path, dst: &Path, m: &Metadata) -> Result<u64> {
    let from = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOATIME)
        .open(src)
        .or_else(|_| {
            File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(src)
        })
        .map_err(|e| io_err("open", src, e))?;
    let to = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| io_err("open (create)", dst, e))?;
    let len = m.len();
    let sparse = m.blocks() * 512 < len;
    let mut copied = 0;
    if sparse {
        let mut pos: i64 = 0;
        while (pos as u64) < len {
            let fd = from.as_raw_fd();
            // SAFETY: lseek on an open descriptor.
            let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
            if data < 0 {
                break; // ENXIO: only a hole is left.
            }
            // SAFETY: as above.
            let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
            let end = if hole < 0 { len as i64 } else { hole };
            copied += copy_range(&from, &to, data, (end - data) as u64, src, dst)?;
            pos = end;
        }
        to.set_len(len).map_err(|e| io_err("ftruncate", dst, e))?;
    } else {
        copied = copy_range(&from, &to, 0, len, src, dst)?;
    }
    set_meta_fd(&to, src, dst, m)?;
    Ok(copied)
}

/// Copy `len` bytes at `off` (same offset on both sides): copy_file_range,
/// else read/write where the kernel cannot (EXDEV, EINVAL, ENOSYS...).
fn copy_range(from: &File, to: &File, off: i64, len: u64, src: &Path, dst: &Path) -> Result<u64> {
    let mut done: u64 = 0;
    while done < len {
        let mut o_in = off + done as i64;
        let mut o_out = o_in;
        let want = (len - done).min(1 << 30) as usize;
        // SAFETY: both descriptors are open; the offsets are ours.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut o_in,
                to.as_raw_fd(),
                &mut o_out,
                want,
                0,
            )
        };
        if n == 0 {
            break; // The file shrank while it was copied.
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(
                    libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM,
                ) => Ok(done + read_write(from, to, off + done as i64, len - done, src, dst)?),
                _ => Err(io_err("copy_file_range", src, e)),
            };
        }
        done += n as u64;
    }
    Ok(done)
}

fn read_write(from: &File, to: &File, off: i64, len: u64, src: &Path, dst: &Path) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = from
            .read_at(&mut buf[..want], off as u64 + done)
            .map_err(|e| io_err("read", src, e))?;
        if n == 0 {
            break;
        }
        to.write_all_at(&buf[..n], off as u64 + done)
            .map_err(|e| io_err("write", dst, e))?;
        done += n as u64;
    }
    Ok(done)
}

/// Owner, xattrs, mode, times of an open regular file, in that order.
fn set_meta_fd(to: &File, src: &Path, dst: &Path, m: &Metadata) -> Result<()> {
    std::os::unix::fs::fchown(to, Some(m.uid()), Some(m.gid()))
        .map_err(|e| io_err("fchown", dst, e))?;
    copy_xattrs(src, dst)?;
    let fd = to.as_raw_fd();
    // SAFETY: fchmod on an open descriptor.
    if unsafe { libc::fchmod(fd, m.mode() & 0o7777) } != 0 {
        return Err(os_err("fchmod", dst));
    }
    let t = times(m);
    // SAFETY: futimens with two timespecs.
    if unsafe { libc::futimens(fd, t.as_ptr()) } != 0 {
        return Err(os_err("futimens", dst));
    }
    Ok(())
}

fn times(m: &Metadata) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        libc::timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    ]
}

/// Owner, xattrs, mode (not for symlinks) and times of `dst`, a symlink,
/// node or directory, without following a symlink.
pub(super) fn set_meta_path(src: &Path, dst: &Path, m: &Metadata) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))
        .map_err(|e| io_err("lchown", dst, e))?;
    copy_xattrs(src, dst)?;
    let c = cpath(dst);
    if !m.file_type().is_symlink() {
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
pub(super) fn make_special(src: &Path, dst: &Path, m: &Metadata) -> Result<()> {
    if m.file_type().is_symlink() {
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

/// Every xattr of `src` set on `dst` (neither followed if a symlink):
/// user.*, trusted.*, security.* (file capabilities) and system.posix_acl_*.
pub(super) fn copy_xattrs(src: &Path, dst: &Path) -> Result<()> {
    let (cs, cd) = (cpath(src), cpath(dst));
    let names = list(&cs, src)?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(SKIPPED_XATTR) {
            continue;
        }
        let cn = CString::new(name).unwrap_or_default();
        let value = get(&cs, &cn, src)?;
        // SAFETY: NUL-terminated path and name; the value's length is given.
        let r = unsafe {
            libc::lsetxattr(
                cd.as_ptr(),
                cn.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return Err(anyhow!(
                "lsetxattr {} {}: {e}",
                dst.display(),
                String::from_utf8_lossy(name)
            ));
        }
    }
    Ok(())
}

fn list(c: &CString, p: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: the buffer's length is given.
        let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(os_err("llistxattr", p)),
        }
    }
}

fn get(c: &CString, name: &CString, p: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: as in `list`.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            _ => return Err(os_err("lgetxattr", p)),
        }
    }
}
