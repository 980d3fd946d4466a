//! `lsblk -J -b -O` output: block devices as a tree.
//!
//! Why here: the wizard lists local disks and the discover step looks at
//! one device; both read the same JSON, parsed once (tools::lsblk runs
//! the program). Sizes may be numbers or strings of digits depending on
//! the util-linux version.

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};

/// One block device (disk, partition, loop, rom) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockDev {
    /// Name as lsblk shows it ("sda1", "etherd/e0.0p2").
    pub name: String,
    #[serde(default)]
    pub kname: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// Size in bytes (`-b`).
    #[serde(default, deserialize_with = "num_or_str")]
    pub size: Option<u64>,
    /// "disk", "part", "loop", "rom", ...
    #[serde(rename = "type", default)]
    pub dev_type: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    /// Transport ("iscsi", "sata", "nvme"); null for AoE and loop.
    #[serde(default)]
    pub tran: Option<String>,
    #[serde(default)]
    pub fstype: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    /// Mount points (lsblk ≥ 2.37 prints a list, with null for none).
    #[serde(default)]
    pub mountpoints: Vec<Option<String>>,
    #[serde(default)]
    pub children: Vec<BlockDev>,
}

impl BlockDev {
    /// Every mount point of this device and its children.
    pub fn all_mountpoints(&self) -> Vec<String> {
        let mut v: Vec<String> = self.mountpoints.iter().flatten().cloned().collect();
        for c in &self.children {
            v.extend(c.all_mountpoints());
        }
        v
    }
    /// The device and its descendants, depth first.
    pub fn walk(&self) -> Vec<&BlockDev> {
        let mut v = vec![self];
        for c in &self.children {
            v.extend(c.walk());
        }
        v
    }
}

/// A byte count as lsblk/findmnt print it with -b: a number, or a string
/// of digits (older util-linux).
pub(crate) fn num_or_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Deserialize)]
struct Wrapper {
    blockdevices: Vec<BlockDev>,
}

/// Parse `lsblk -J` output.
pub fn parse(json: &str) -> Result<Vec<BlockDev>> {
    let w: Wrapper = serde_json::from_str(json).context("parsing `lsblk -J` output")?;
    Ok(w.blockdevices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> Vec<BlockDev> {
        parse(
            &std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn local_disks_have_model_serial_and_partitions() {
        let d = &fixture("local/mbr-sda-lsblk.json")[0];
        assert_eq!(d.name, "sda");
        assert_eq!(d.size, Some(67108864));
        assert_eq!(d.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(d.serial.as_deref(), Some("QM00005"));
        assert_eq!(d.children.len(), 2);
        assert_eq!(d.children[1].fstype.as_deref(), Some("swap"));
        let n = &fixture("local/gpt-nvme0n1-lsblk.json")[0];
        assert_eq!(n.serial.as_deref(), Some("e2efixture01"));
        assert_eq!(n.tran.as_deref(), Some("nvme"));
    }

    #[test]
    fn network_roots_show_their_mounts() {
        let all = fixture("aoe/lsblk.json");
        let e = all.iter().find(|d| d.name == "etherd/e0.0").unwrap();
        assert_eq!(e.size, Some(4294967296));
        assert_eq!(e.all_mountpoints(), vec!["/".to_string()]);
        assert!(e.model.is_none());
        let all = fixture("iscsi/lsblk.json");
        let sda = all.iter().find(|d| d.name == "sda").unwrap();
        assert_eq!(sda.tran.as_deref(), Some("iscsi"));
        assert_eq!(sda.model.as_deref(), Some("VIRTUAL-DISK"));
        assert_eq!(sda.walk().len(), 3);
    }

    #[test]
    fn host_loop_without_udev_has_null_columns() {
        let d = &fixture("host/gpt-lsblk.json")[0];
        assert_eq!(d.size, Some(67108864));
        assert!(d.fstype.is_none());
        assert_eq!(d.children.len(), 2);
        assert!(d.all_mountpoints().is_empty());
        let m = &fixture("host/mbr-lsblk.json")[0];
        assert_eq!(m.walk().len(), 3);
    }

    #[test]
    fn sizes_as_strings_and_bad_json() {
        let d = parse(r#"{"blockdevices":[{"name":"vda","size":"1024 ","type":"disk"}]}"#).unwrap();
        assert_eq!(d[0].size, Some(1024));
        assert!(parse("nope").is_err());
    }
}
