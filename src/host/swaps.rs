//! /proc/swaps: the active swap areas.
//!
//! Why here: preflight refuses a target in use as swap, copy leaves swap
//! files out, fstab drops entries for the old swap devices; three readers
//! of this file became this one. Names are escaped like mountinfo paths.

use super::escape::unescape_octal;
use std::path::{Path, PathBuf};

/// The `Type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapKind {
    /// A swap file on a mounted filesystem.
    File,
    /// A block device (partition, zram, ...).
    Partition,
    /// A type this parser does not know.
    Other,
}

/// One active swap area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// Device node or file path, escapes decoded.
    pub name: PathBuf,
    pub kind: SwapKind,
}

/// Parse /proc/swaps text (the `Filename Type Size Used Priority` header
/// and lines that do not fit are skipped).
pub fn parse(text: &str) -> Vec<Swap> {
    parse_bytes(text.as_bytes())
}

/// Parse /proc/swaps as bytes.
pub fn parse_bytes(text: &[u8]) -> Vec<Swap> {
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let mut f = line
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|x| !x.is_empty());
            let name = f.next()?;
            let kind = match f.next()? {
                b"Type" => return None,
                b"file" => SwapKind::File,
                b"partition" => SwapKind::Partition,
                _ => SwapKind::Other,
            };
            Some(Swap {
                name: PathBuf::from(unescape_octal(name)),
                kind,
            })
        })
        .collect()
}

/// Read and parse a swaps file.
pub fn read(path: &Path) -> std::io::Result<Vec<Swap>> {
    Ok(parse_bytes(&std::fs::read(path)?))
}

/// The swap areas active now (empty when /proc/swaps cannot be read).
pub fn active() -> Vec<Swap> {
    read(Path::new("/proc/swaps")).unwrap_or_default()
}

/// The swap files (not devices) among `swaps`.
pub fn files(swaps: &[Swap]) -> Vec<PathBuf> {
    swaps
        .iter()
        .filter(|s| s.kind == SwapKind::File)
        .map(|s| s.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_file_names() {
        let s = "Filename\tType\tSize\tUsed\tPriority\n/dev/loop0p2  partition\t15356\t0\t-2\n";
        let names: Vec<String> = parse(s)
            .iter()
            .map(|x| x.name.display().to_string())
            .collect();
        assert_eq!(names, vec!["/dev/loop0p2".to_string()]);
    }

    #[test]
    fn swap_files_and_partitions() {
        let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile                               file\t\t1048572\t\t0\t\t-2\n/dev/sda5                               partition\t1048572\t\t0\t\t-3\n";
        assert_eq!(files(&parse(swaps)), [PathBuf::from("/swapfile")]);
        let all = parse(swaps);
        assert_eq!(all[1].kind, SwapKind::Partition);
        assert_eq!(all[1].name, Path::new("/dev/sda5"));
    }

    #[test]
    fn escaped_names_and_empty_table() {
        let s = "Filename\tType\tSize\tUsed\tPriority\n/var/my\\040swap\\303\\251 file 10 0 -2\n/dev/zram0 zram 1 0 100\n";
        let all = parse(s);
        assert_eq!(all[0].name, Path::new("/var/my swapé"));
        assert_eq!(all[1].kind, SwapKind::Other);
        assert!(parse("Filename\tType\tSize\tUsed\tPriority\n").is_empty());
    }
}
