//! Typed wrapper for `blkid`: probe one device's signatures.

use super::{Cmd, Runner};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// What `blkid -p -o export` found on one device: TYPE, UUID, LABEL,
/// PTTYPE, ... (empty when nothing was found).
pub type Tags = BTreeMap<String, String>;

/// Low-level probe of `dev` (reads the device, not the udev cache).
pub fn probe_cmd(dev: &Path) -> Cmd {
    // Exit status 2: nothing found.
    Cmd::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(dev)
        .ok_codes(&[0, 2])
}

/// `blkid -o export DEV`: the tags blkid knows for `dev` (from its cache,
/// so a partition shows PARTUUID/PARTLABEL, not the low-level PART_ENTRY_*).
pub fn tags_cmd(dev: &Path) -> Cmd {
    // Exit status 2: nothing found.
    Cmd::new("blkid")
        .args(["-o", "export"])
        .arg(dev)
        .ok_codes(&[0, 2])
}

/// Parse `blkid -o export` output (KEY=VALUE lines; a blank line separates
/// devices, only the first device is returned).
pub fn parse_export(s: &str) -> Tags {
    let mut t = Tags::new();
    for line in s.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !t.is_empty() {
                break;
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            t.insert(k.to_string(), v.to_string());
        }
    }
    t
}

/// Parse blkid's default output, one device a line:
/// `/dev/sda1: UUID="…" TYPE="ext4" PARTUUID="…"`.
pub fn parse_default(s: &str) -> BTreeMap<String, Tags> {
    let mut all = BTreeMap::new();
    for line in s.lines() {
        let Some((dev, rest)) = line.split_once(": ") else {
            continue;
        };
        let mut tags = Tags::new();
        let mut r = rest.trim();
        while let Some(eq) = r.find("=\"") {
            let key = r[..eq].trim().to_string();
            let after = &r[eq + 2..];
            let Some(end) = after.find('"') else { break };
            tags.insert(key, after[..end].to_string());
            r = &after[end + 1..];
        }
        all.insert(dev.to_string(), tags);
    }
    all
}

/// Probe `dev`; an empty map when it holds no known signature.
pub fn probe(runner: &Runner, dev: &Path) -> Result<Tags> {
    let out = runner.query(&probe_cmd(dev))?;
    Ok(parse_export(&out.stdout))
}

/// The tags of `dev` (UUID, LABEL, PARTUUID, ...); empty when none.
pub fn tags(runner: &Runner, dev: &Path) -> Result<Tags> {
    let out = runner.query(&tags_cmd(dev))?;
    Ok(parse_export(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn parses_default_fixtures() {
        let all = parse_default(&fixture("host/mbr-blkid.txt"));
        let p1 = &all["/dev/loop0p1"];
        assert_eq!(p1["TYPE"], "ext4");
        assert_eq!(p1["LABEL"], "root");
        assert_eq!(p1["UUID"], "e23de20b-1f0e-4aac-aaea-a5e49aed650b");
        assert_eq!(all["/dev/loop0p2"]["TYPE"], "swap");
        let aoe = parse_default(&fixture("aoe/blkid.txt"));
        assert_eq!(
            aoe["/dev/etherd/e0.0p2"]["UUID"],
            "301375e7-c5ab-4875-b0f3-141c80c84b2a"
        );
        assert!(!aoe["/dev/etherd/e0.0p1"].contains_key("TYPE"));
        let gpt = parse_default(&fixture("host/gpt-blkid.txt"));
        assert_eq!(gpt.len(), 2);
        assert_eq!(
            gpt["/dev/loop0p1"]["PARTUUID"],
            "334a1766-eab5-c443-add1-7e149da02349"
        );
    }

    #[test]
    fn argv() {
        let d = Path::new("/dev/sda1");
        assert_eq!(probe_cmd(d).display(), "blkid -p -o export /dev/sda1");
        assert_eq!(tags_cmd(d).display(), "blkid -o export /dev/sda1");
    }

    #[test]
    fn parses_export() {
        let t = parse_export(
            "DEVNAME=/dev/loop0p2\nUUID=375c7fdb-5be2-40e2-b2c7-6abc1d0a0d6e\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n\nDEVNAME=/dev/other\nTYPE=xfs\n",
        );
        assert_eq!(t["TYPE"], "ext4");
        assert_eq!(t["UUID"], "375c7fdb-5be2-40e2-b2c7-6abc1d0a0d6e");
        assert!(parse_export("").is_empty());
    }
}
