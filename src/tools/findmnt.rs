//! Typed wrapper for `findmnt`: what is mounted, asked in JSON and parsed
//! by [`crate::host::findmnt`].
//!
//! Why a wrapper: the wizard, the bootloader step and the chroot guard
//! each built their own findmnt command line and read its text (and one
//! undid only the `\x20` of its escapes); the commands live here now.

use super::{Cmd, Runner};
use crate::host::findmnt::{parse, MountFact};
use anyhow::{anyhow, Result};
use std::path::{Path, PathBuf};

/// Columns every query asks for.
const COLUMNS: &str = "TARGET,SOURCE,FSTYPE";

fn run(runner: &Runner, cmd: &Cmd) -> Result<Vec<MountFact>> {
    let out = runner.query(cmd)?;
    parse(&out.stdout).map_err(|e| anyhow!("{}: {e}", cmd.display()))
}

/// `findmnt -J -b --real -o TARGET,SOURCE,FSTYPE,SIZE,USED`: the real
/// (not pseudo) filesystems with their size and use in bytes.
pub fn real_cmd() -> Cmd {
    Cmd::new("findmnt").args(["-J", "-b", "--real", "-o", "TARGET,SOURCE,FSTYPE,SIZE,USED"])
}

/// The real filesystems with their use.
pub fn real_mounts(runner: &Runner) -> Result<Vec<MountFact>> {
    run(runner, &real_cmd())
}

/// `findmnt -J -o TARGET,SOURCE,FSTYPE --mountpoint DIR` (exit 1: nothing
/// is mounted there).
pub fn at_cmd(dir: &Path) -> Cmd {
    Cmd::new("findmnt")
        .args(["-J", "-o", COLUMNS, "--mountpoint"])
        .arg(dir)
        .ok_codes(&[0, 1])
}

/// The source of the filesystem mounted at `dir`, None when nothing is.
pub fn source_at(runner: &Runner, dir: &Path) -> Result<Option<String>> {
    Ok(run(runner, &at_cmd(dir))?
        .into_iter()
        .next_back()
        .map(|m| m.source))
}

/// `findmnt -J -o TARGET,SOURCE,FSTYPE`: every mount of this namespace.
pub fn all_cmd() -> Cmd {
    Cmd::new("findmnt").args(["-J", "-o", COLUMNS])
}

/// Every mount point of this namespace, parents first.
pub fn targets(runner: &Runner) -> Result<Vec<PathBuf>> {
    Ok(run(runner, &all_cmd())?
        .into_iter()
        .map(|m| PathBuf::from(m.target))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        assert_eq!(
            real_cmd().display(),
            "findmnt -J -b --real -o TARGET,SOURCE,FSTYPE,SIZE,USED"
        );
        assert_eq!(
            at_cmd(Path::new("/run/x/root")).display(),
            "findmnt -J -o TARGET,SOURCE,FSTYPE --mountpoint /run/x/root"
        );
        assert_eq!(all_cmd().display(), "findmnt -J -o TARGET,SOURCE,FSTYPE");
    }

    #[test]
    fn the_live_root_is_found() {
        let r = Runner::real();
        if which::which("findmnt").is_ok() && Path::new("/proc/self/mountinfo").exists() {
            assert!(targets(&r).unwrap().contains(&PathBuf::from("/")));
            assert!(source_at(&r, Path::new("/")).unwrap().is_some());
            let none = source_at(&r, Path::new("/nonexistent-netroot-dir")).unwrap();
            assert_eq!(none, None);
        }
    }
}
