//! Typed wrapper for `du`: bytes a directory tree occupies.
//!
//! Why a wrapper: the wizard and preflight both size an offline source
//! tree; they ran `du` with different flags (apparent size vs. disk use).
//! One command now: disk use (`--block-size=1`, not `-b`), what the
//! target's filesystems must hold; sparse files are copied sparse.

use super::{Cmd, Runner};
use anyhow::{anyhow, Result};
use std::path::Path;

/// `du -sx --block-size=1 DIR`: one total, this filesystem only.
pub fn usage_cmd(dir: &Path) -> Cmd {
    Cmd::new("du").args(["-sx", "--block-size=1"]).arg(dir)
}

/// The total of `du -s` output ("BYTES\tDIR").
pub fn parse_total(stdout: &str) -> Option<u64> {
    stdout.split_whitespace().next()?.parse().ok()
}

/// Bytes the tree at `dir` occupies on disk.
pub fn used_bytes(runner: &Runner, dir: &Path) -> Result<u64> {
    let out = runner.query(&usage_cmd(dir))?;
    parse_total(&out.stdout)
        .ok_or_else(|| anyhow!("du printed {:?} for {}", out.stdout, dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_and_total() {
        assert_eq!(
            usage_cmd(Path::new("/srv/tree")).display(),
            "du -sx --block-size=1 /srv/tree"
        );
        assert_eq!(parse_total("123456\t/srv/tree\n"), Some(123456));
        assert_eq!(parse_total(""), None);
        assert_eq!(parse_total("du: cannot read\n"), None);
    }

    #[test]
    fn measures_a_tree() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), vec![1u8; 100_000]).unwrap();
        if which::which("du").is_ok() {
            assert!(used_bytes(&Runner::real(), d.path()).unwrap() >= 100_000);
        }
    }
}
