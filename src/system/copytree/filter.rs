//! The exclude patterns of a transfer (rsync's syntax, as
//! `steps::copy::transfers` plans them) matched by the native copier, so
//! both copiers leave out exactly the same entries.
//!
//! Why its own file: the matching rules (anchored, floating, with inner
//! slashes, directory-only) are rsync's and are tested here against the
//! patterns netroot writes. A pattern this matcher cannot honour the way
//! rsync would (`**`, rule prefixes) makes [`Filter::new`] refuse, and the
//! copy uses rsync.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug)]
struct Rule {
    pat: CString,
    /// Starts with `/`: matched against the whole path from the root.
    anchored: bool,
    /// Has a `/` inside: matched against the path's trailing components.
    slashes: bool,
    /// Ends with `/`: matches directories only.
    dir_only: bool,
}

/// A transfer's excludes, ready to match.
#[derive(Debug)]
pub struct Filter {
    rules: Vec<Rule>,
}

impl Filter {
    /// The matcher for `patterns`, or why one of them needs rsync.
    pub fn new(patterns: &[String]) -> Result<Filter, String> {
        let mut rules = Vec::new();
        for p in patterns {
            if p.contains("**") || p.starts_with("- ") || p.starts_with("+ ") || p.is_empty() {
                return Err(format!("exclude pattern {p:?} uses rsync-only syntax"));
            }
            let dir_only = p.ends_with('/') && p.len() > 1;
            let body = if dir_only { &p[..p.len() - 1] } else { p };
            let anchored = body.starts_with('/');
            rules.push(Rule {
                pat: CString::new(body).map_err(|_| format!("exclude pattern {p:?} has a NUL"))?,
                anchored,
                slashes: !anchored && body.contains('/'),
                dir_only,
            });
        }
        Ok(Filter { rules })
    }

    /// Whether `rel` (relative to the transfer root, without a leading
    /// `/`) is left out.
    pub fn excluded(&self, rel: &Path, is_dir: bool) -> bool {
        let mut full = Vec::with_capacity(rel.as_os_str().len() + 2);
        full.push(b'/');
        full.extend_from_slice(rel.as_os_str().as_bytes());
        let Ok(full) = CString::new(full) else {
            return false;
        };
        let bytes = full.as_bytes();
        let name_at = bytes.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
        self.rules.iter().any(|r| {
            if r.dir_only && !is_dir {
                return false;
            }
            if r.anchored {
                return fnmatch(&r.pat, bytes);
            }
            if !r.slashes {
                return fnmatch(&r.pat, &bytes[name_at..]);
            }
            // Trailing components: each suffix that starts after a `/`.
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .any(|(i, _)| fnmatch(&r.pat, &bytes[i + 1..]))
        })
    }
}

fn fnmatch(pat: &CString, s: &[u8]) -> bool {
    let Ok(s) = CString::new(s) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and live across the call.
    unsafe { libc::fnmatch(pat.as_ptr(), s.as_ptr(), libc::FNM_PATHNAME) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &[&str]) -> Filter {
        Filter::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn anchored_patterns_match_from_the_root() {
        let x = f(&["/proc/*", "/boot", "/var/tmp/d.img", "/a\\*b"]);
        assert!(!x.excluded(Path::new("proc"), true));
        assert!(x.excluded(Path::new("proc/1"), true));
        assert!(
            !x.excluded(Path::new("proc/1/fd"), true),
            "not below: never reached"
        );
        assert!(x.excluded(Path::new("boot"), true));
        assert!(!x.excluded(Path::new("srv/boot"), true));
        assert!(x.excluded(Path::new("var/tmp/d.img"), false));
        assert!(x.excluded(Path::new("a*b"), false));
        assert!(!x.excluded(Path::new("axb"), false));
    }

    #[test]
    fn floating_patterns_match_names_or_trailing_components() {
        let x = f(&["*.tmp", "home/*/.cache", ".netroot-snapshot", "grub/"]);
        assert!(x.excluded(Path::new("a/b/c.tmp"), false));
        assert!(x.excluded(Path::new(".netroot-snapshot"), true));
        assert!(x.excluded(Path::new("srv/home/ann/.cache"), true));
        assert!(x.excluded(Path::new("home/ann/.cache"), true));
        assert!(!x.excluded(Path::new("home/ann/x/.cache"), true));
        assert!(x.excluded(Path::new("boot/grub"), true));
        assert!(
            !x.excluded(Path::new("boot/grub"), false),
            "directories only"
        );
    }

    #[test]
    fn rsync_only_syntax_is_refused() {
        assert!(Filter::new(&["/var/**/x".to_string()]).is_err());
        assert!(Filter::new(&["- foo".to_string()]).is_err());
    }
}
