//! An entry's extended attributes copied: user.*, trusted.*, security.*
//! (file capabilities) and system.posix_acl_* (ACLs), by path (symlinks,
//! nodes, directories: never followed) or by open descriptor (regular
//! files, while they are open for their data).
//!
//! Why its own file: the same list/get/set loop serves both kinds of
//! handle, and most entries have no xattr at all: one list call, which
//! answers empty, is all they cost.

use anyhow::{anyhow, Result};
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::path::Path;

/// XFS shows each ACL a second time as `trusted.SGI_ACL_*`: the ACL
/// itself (system.posix_acl_*) is copied, these are not (as rsync's
/// `XFS_ACL_FILTER`).
const SKIPPED_XATTR: &[u8] = b"trusted.SGI_ACL_";

/// What the xattr calls act on.
pub(super) enum Node {
    /// A path, not followed if a symlink (the l*xattr calls).
    Path(CString),
    /// An open descriptor (the f*xattr calls).
    Fd(RawFd),
}

/// Every xattr of `src` set on `dst` (`paths` name them in errors); true
/// if there was any.
pub(super) fn copy(src: &Node, dst: &Node, paths: (&Path, &Path)) -> Result<bool> {
    let names = list(src, paths.0)?;
    let mut any = false;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(SKIPPED_XATTR) {
            continue;
        }
        let cn = CString::new(name).unwrap_or_default();
        let value = get(src, &cn, paths.0)?;
        let (v, n) = (value.as_ptr().cast(), value.len());
        // SAFETY: NUL-terminated path and name, an open descriptor; the
        // value's length is given.
        let r = unsafe {
            match dst {
                Node::Path(c) => libc::lsetxattr(c.as_ptr(), cn.as_ptr(), v, n, 0),
                Node::Fd(fd) => libc::fsetxattr(*fd, cn.as_ptr(), v, n, 0),
            }
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return Err(anyhow!(
                "setxattr {} {}: {e}",
                paths.1.display(),
                String::from_utf8_lossy(name)
            ));
        }
        any = true;
    }
    Ok(any)
}

fn os_err(call: &str, p: &Path) -> anyhow::Error {
    let e = std::io::Error::last_os_error();
    anyhow!("{call} {}: {e}", p.display())
}

fn list(node: &Node, p: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let (b, n) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: the buffer's length is given.
        let r = unsafe {
            match node {
                Node::Path(c) => libc::llistxattr(c.as_ptr(), b, n),
                Node::Fd(fd) => libc::flistxattr(*fd, b, n),
            }
        };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(buf);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(os_err("listxattr", p)),
        }
    }
}

fn get(node: &Node, name: &CStr, p: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let (b, n) = (buf.as_mut_ptr().cast(), buf.len());
        // SAFETY: as in `list`.
        let r = unsafe {
            match node {
                Node::Path(c) => libc::lgetxattr(c.as_ptr(), name.as_ptr(), b, n),
                Node::Fd(fd) => libc::fgetxattr(*fd, name.as_ptr(), b, n),
            }
        };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(buf);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            _ => return Err(os_err("getxattr", p)),
        }
    }
}
