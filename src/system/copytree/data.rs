//! A regular file's data: copy_file_range where the kernel can (one
//! filesystem, or one that copies across), else sendfile (the kernel's
//! page-cache-to-page-cache copy, one syscall for a small file), else
//! read/write; holes kept with SEEK_DATA/SEEK_HOLE.
//!
//! Why its own file: copy_file_range between two filesystems fails with
//! EXDEV on most kernels (source and target always differ here), so the
//! copy learns that once per job ([`Data::cfr`]) instead of paying a
//! failed syscall per file; sendfile then spares the copy through a
//! user-space buffer that read/write costs (measured: about a quarter of
//! the copier's CPU time went to that buffer on the test tree).

use anyhow::{anyhow, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a job copies data; shared by its workers.
pub(super) struct Data {
    /// copy_file_range still worth trying (no EXDEV, ENOSYS or
    /// EOPNOTSUPP yet).
    pub cfr: AtomicBool,
    /// sendfile still worth trying.
    pub sendfile: AtomicBool,
}

impl Default for Data {
    fn default() -> Self {
        Data {
            cfr: AtomicBool::new(true),
            sendfile: AtomicBool::new(true),
        }
    }
}

fn io_err(call: &str, p: &Path, e: std::io::Error) -> anyhow::Error {
    anyhow!("{call} {}: {e}", p.display())
}

impl Data {
    /// Copy `len` bytes of `from` into the new, empty `to`, holes kept
    /// when `sparse`; the bytes of data copied.
    pub fn copy(
        &self,
        from: &File,
        to: &File,
        len: u64,
        sparse: bool,
        names: (&Path, &Path),
    ) -> Result<u64> {
        if !sparse {
            return self.range(from, to, 0, len, names);
        }
        let fd = from.as_raw_fd();
        let mut copied = 0;
        let mut pos: i64 = 0;
        while (pos as u64) < len {
            // SAFETY: lseek on an open descriptor.
            let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
            if data < 0 {
                break; // ENXIO: only a hole is left.
            }
            // SAFETY: as above.
            let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
            let end = if hole < 0 { len as i64 } else { hole };
            copied += self.range(from, to, data, (end - data) as u64, names)?;
            pos = end;
        }
        to.set_len(len)
            .map_err(|e| io_err("ftruncate", names.1, e))?;
        Ok(copied)
    }

    /// Copy `len` bytes at `off` (the same offset on both sides).
    fn range(
        &self,
        from: &File,
        to: &File,
        off: i64,
        len: u64,
        names: (&Path, &Path),
    ) -> Result<u64> {
        let mut done = 0;
        if self.cfr.load(Ordering::Relaxed) {
            match cfr(from, to, off, len) {
                Ok(n) => return Ok(n),
                Err((n, e)) => {
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) {
                        self.cfr.store(false, Ordering::Relaxed);
                    } else if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) {
                        return Err(io_err("copy_file_range", names.0, e));
                    }
                    done = n;
                }
            }
        }
        if self.sendfile.load(Ordering::Relaxed) {
            match sendfile(from, to, off + done as i64, len - done) {
                Ok(n) => return Ok(done + n),
                Err((n, e)) => {
                    if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
                        return Err(io_err("sendfile", names.0, e));
                    }
                    self.sendfile.store(false, Ordering::Relaxed);
                    done += n;
                }
            }
        }
        Ok(done + read_write(from, to, off + done as i64, len - done, names)?)
    }
}

type Partial = (u64, std::io::Error);

/// Call `step(offset, want)` — one kernel copy of up to `want` bytes from
/// `off + done`, returning what it copied, 0 at the source's end, or < 0
/// on an error — until `len` bytes; on an error, the bytes done before it.
fn copy_loop(
    off: i64,
    len: u64,
    mut step: impl FnMut(i64, usize) -> isize,
) -> Result<u64, Partial> {
    let mut done: u64 = 0;
    while done < len {
        let want = (len - done).min(1 << 30) as usize;
        let n = step(off + done as i64, want);
        if n == 0 {
            break; // The file shrank while it was copied.
        }
        if n < 0 {
            return Err((done, std::io::Error::last_os_error()));
        }
        done += n as u64;
    }
    Ok(done)
}

/// copy_file_range until `len` bytes or the source's end.
fn cfr(from: &File, to: &File, off: i64, len: u64) -> Result<u64, Partial> {
    copy_loop(off, len, |at, want| {
        let mut o_in = at;
        let mut o_out = at;
        // SAFETY: both descriptors are open; the offsets are ours.
        unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut o_in,
                to.as_raw_fd(),
                &mut o_out,
                want,
                0,
            ) as isize
        }
    })
}

/// sendfile from `off` of `from` to the same offset of `to`.
fn sendfile(from: &File, to: &File, off: i64, len: u64) -> Result<u64, Partial> {
    let out = to.as_raw_fd();
    // SAFETY: lseek on an open descriptor; sendfile writes at the
    // output's position.
    if unsafe { libc::lseek(out, off, libc::SEEK_SET) } < 0 {
        return Err((0, std::io::Error::last_os_error()));
    }
    copy_loop(off, len, |at, want| {
        let mut o_in: libc::off_t = at;
        // SAFETY: both descriptors are open; the offset is ours.
        unsafe { libc::sendfile(out, from.as_raw_fd(), &mut o_in, want) }
    })
}

fn read_write(from: &File, to: &File, off: i64, len: u64, names: (&Path, &Path)) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = from
            .read_at(&mut buf[..want], off as u64 + done)
            .map_err(|e| io_err("read", names.0, e))?;
        if n == 0 {
            break;
        }
        to.write_all_at(&buf[..n], off as u64 + done)
            .map_err(|e| io_err("write", names.1, e))?;
        done += n as u64;
    }
    Ok(done)
}
