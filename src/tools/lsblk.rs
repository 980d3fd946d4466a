//! Typed wrapper for `lsblk`: block devices as a tree (`lsblk -J -b -O`).
//! The JSON is parsed by [`crate::host::lsblk`].

use super::{Cmd, Runner};
use crate::host::lsblk::parse;
use anyhow::Result;
use std::path::Path;

pub use crate::host::lsblk::BlockDev;

/// `lsblk -J -b -O [DEV]`: every column, sizes in bytes.
pub fn list_cmd(dev: Option<&Path>) -> Cmd {
    let c = Cmd::new("lsblk").args(["-J", "-b", "-O"]);
    match dev {
        Some(d) => c.arg(d),
        None => c,
    }
}

/// The device `dev` (with its partitions) as lsblk sees it.
pub fn device(runner: &Runner, dev: &Path) -> Result<BlockDev> {
    let out = runner.query(&list_cmd(Some(dev)))?;
    parse(&out.stdout)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("lsblk printed nothing for {}", dev.display()))
}

/// Every block device of the machine, as trees of disks and partitions.
pub fn all(runner: &Runner) -> Result<Vec<BlockDev>> {
    parse(&runner.query(&list_cmd(None))?.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        assert_eq!(list_cmd(None).display(), "lsblk -J -b -O");
        assert_eq!(
            list_cmd(Some(Path::new("/dev/sda"))).display(),
            "lsblk -J -b -O /dev/sda"
        );
    }
}
