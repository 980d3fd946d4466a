//! Typed wrapper for `sfdisk`: read a partition table as JSON.

use super::{Cmd, Runner};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

/// A partition table as `sfdisk --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Table {
    /// "gpt" or "dos".
    pub label: String,
    /// GPT disk GUID (upper case) or MBR signature ("0x9ee524b0").
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub partitions: Vec<Entry>,
}

/// One partition entry (sizes and starts in 512-byte sectors).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub node: String,
    pub start: u64,
    pub size: u64,
    /// GPT type GUID or MBR type byte in hex ("83").
    #[serde(rename = "type")]
    pub type_id: String,
    /// GPT partition GUID.
    #[serde(default)]
    pub uuid: Option<String>,
    /// GPT partition name.
    #[serde(default)]
    pub name: Option<String>,
    /// MBR boot flag.
    #[serde(default)]
    pub bootable: bool,
}

#[derive(Deserialize)]
struct Wrapper {
    partitiontable: Table,
}

/// The command that prints `disk`'s table as JSON.
pub fn dump_cmd(disk: &Path) -> Cmd {
    // Exit status 1 with empty output: the disk has no table.
    Cmd::new("sfdisk").arg("--json").arg(disk).ok_codes(&[0, 1])
}

/// Parse `sfdisk --json` output; empty output means no table.
pub fn parse(json: &str) -> Result<Option<Table>> {
    if json.trim().is_empty() {
        return Ok(None);
    }
    let w: Wrapper = serde_json::from_str(json).context("parsing `sfdisk --json` output")?;
    Ok(Some(w.partitiontable))
}

/// Read `disk`'s partition table (None when it has none).
pub fn read_table(runner: &Runner, disk: &Path) -> Result<Option<Table>> {
    let out = runner.query(&dump_cmd(disk))?;
    if out.code != 0 && out.stdout.trim().is_empty() {
        let err = out.stderr.to_lowercase();
        if !err.contains("does not contain a recognized partition table") && !err.is_empty() {
            anyhow::bail!(
                "reading the partition table of {}: {}",
                disk.display(),
                out.stderr.trim()
            );
        }
        return Ok(None);
    }
    parse(&out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn parses_gpt_fixture() {
        let t = parse(&fixture("host/gpt-sfdisk.json")).unwrap().unwrap();
        assert_eq!(t.label, "gpt");
        assert_eq!(
            t.id.as_deref(),
            Some("7898975D-5D38-FB46-8411-B6B32A5FAFFC")
        );
        assert_eq!(t.partitions.len(), 2);
        let p1 = &t.partitions[0];
        assert_eq!((p1.start, p1.size), (2048, 2048));
        assert_eq!(p1.type_id, "21686148-6449-6E6F-744E-656564454649");
        assert_eq!(
            p1.uuid.as_deref(),
            Some("334A1766-EAB5-C443-ADD1-7E149DA02349")
        );
        assert_eq!(t.partitions[1].node, "/dev/loop0p2");
        assert_eq!(t.partitions[1].size, 124928);
        assert!(!p1.bootable);
    }

    #[test]
    fn parses_mbr_fixture() {
        let t = parse(&fixture("host/mbr-sfdisk.json")).unwrap().unwrap();
        assert_eq!(t.label, "dos");
        assert_eq!(t.id.as_deref(), Some("0x9ee524b0"));
        assert!(t.partitions[0].bootable);
        assert_eq!(t.partitions[0].type_id, "83");
        assert_eq!(t.partitions[1].type_id, "82");
        assert_eq!(t.partitions[1].start, 100352);
        assert!(t.partitions[1].uuid.is_none());
    }

    #[test]
    fn empty_output_is_no_table() {
        assert_eq!(parse("").unwrap(), None);
        assert!(parse("{").is_err());
    }
}
