//! Making the kernel's view of a disk's partitions match its table.
//!
//! Some kernels (this project's CI hosts among them) do not parse GPT
//! themselves, and without udev nothing re-reads a table after it is
//! written. So after attaching a disk and after writing a table netroot
//! compares the kernel's partitions (sysfs) with the table on the disk
//! (sfdisk), and if they differ asks the kernel to re-read (BLKRRPART) and
//! then tells it the partitions itself (`partx -u`, `partx -a`, BLKPG), and
//! waits for the nodes. None of this changes a byte of the disk.

use super::inspect::kernel_partitions;
use crate::tools::{sfdisk, Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for partition nodes.
const NODE_WAIT: Duration = Duration::from_secs(10);

nix::ioctl_none!(blkrrpart, 0x12, 95);

/// The partition number at the end of a node name ("/dev/loop0p12" → 12).
pub fn trailing_number(node: &str) -> Option<u32> {
    let digits: String = node
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// (number, start, sectors) of every partition in the on-disk table.
fn table_partitions(runner: &Runner, node: &Path) -> Result<Vec<(u32, u64, u64)>> {
    let Some(t) = sfdisk::read_table(runner, node)? else {
        return Ok(Vec::new());
    };
    let mut v: Vec<_> = t
        .partitions
        .iter()
        .filter_map(|e| Some((trailing_number(&e.node)?, e.start, e.size)))
        .collect();
    v.sort();
    Ok(v)
}

/// BLKRRPART on `node`.
pub fn reread(node: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(node).with_context(|| format!("opening {}", node.display()))?;
    // SAFETY: BLKRRPART takes no argument; the fd is valid while `f` lives.
    unsafe { blkrrpart(f.as_raw_fd()) }
        .with_context(|| format!("BLKRRPART on {}", node.display()))?;
    Ok(())
}

/// Make the kernel know exactly the partitions of `node`'s table and wait
/// until their device nodes exist. `part_node` names partition n.
pub fn sync_partitions(
    runner: &Runner,
    node: &Path,
    part_node: impl Fn(u32) -> PathBuf,
) -> Result<()> {
    let want = table_partitions(runner, node)?;
    let ok = || -> Result<bool> { Ok(kernel_partitions(node)? == want) };
    if !ok()? {
        if let Err(e) = reread(node) {
            tracing::info!("{e:#}; telling the kernel with partx");
        }
    }
    if !ok()? {
        let _ = runner.refresh(&Cmd::new("partx").arg("-u").arg(node).ok_codes(&[0, 1]));
    }
    if !ok()? {
        let _ = runner.refresh(&Cmd::new("partx").arg("-a").arg(node).ok_codes(&[0, 1]));
    }
    if !ok()? {
        bail!(
            "the kernel does not see the partitions of {} as the table has them \
             (kernel {:?}, table {:?}); check `lsblk {}` and `partx -s {}`",
            node.display(),
            kernel_partitions(node)?,
            want,
            node.display(),
            node.display()
        );
    }
    let start = Instant::now();
    loop {
        let missing = want
            .iter()
            .map(|(n, _, _)| part_node(*n))
            .find(|p| !p.exists());
        let Some(m) = missing else { return Ok(()) };
        if start.elapsed() > NODE_WAIT {
            bail!(
                "{} did not appear within {} s; check `lsblk {}` and run again",
                m.display(),
                NODE_WAIT.as_secs(),
                node.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn numbers_from_node_names() {
        assert_eq!(trailing_number("/dev/loop0p12"), Some(12));
        assert_eq!(trailing_number("/dev/sda3"), Some(3));
        assert_eq!(trailing_number("/dev/etherd/e0.0p2"), Some(2));
        assert_eq!(trailing_number("/x/disk.img"), None);
    }
}
