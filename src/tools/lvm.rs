//! Typed wrappers for LVM (`lvs`, `lvcreate --snapshot`, `lvremove`): the
//! snapshot of a logical volume that a copy can read from.
//!
//! Why a wrapper of its own: preflight asks which volume backs a source
//! filesystem and how much room its volume group has for a snapshot; the
//! copy step makes and drops it. `lvs` is read as JSON (`--reportformat
//! json`, sizes in bytes without suffix) and parsed once, here.

use super::{Cmd, Runner};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

/// A logical volume, as `lvs` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    pub vg: String,
    pub lv: String,
    /// Size of the volume, bytes.
    pub size: u64,
    /// Free space of its volume group, bytes.
    pub vg_free: u64,
}

impl LogicalVolume {
    /// `VG/LV`, as LVM commands name it.
    pub fn path(&self) -> String {
        format!("{}/{}", self.vg, self.lv)
    }
}

/// `lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_size,vg_free DEV`.
pub fn lvs_cmd(dev: &str) -> Cmd {
    Cmd::new("lvs")
        .args([
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "vg_name,lv_name,lv_size,vg_free",
        ])
        .arg(dev)
}

/// `lvcreate --snapshot --name NAME --extents PCT%FREE VG/LV`: the
/// snapshot's room for the writes made while it exists is PCT percent of
/// the volume group's free space (so n snapshots in one group, taken one
/// after the other with 100/n, 100/(n-1), … share it evenly, whatever the
/// extent size).
pub fn snapshot_cmd(origin: &LogicalVolume, name: &str, pct_free: u32) -> Cmd {
    Cmd::new("lvcreate")
        .args(["--snapshot", "--name", name, "--extents"])
        .arg(format!("{pct_free}%FREE"))
        .arg(origin.path())
}

/// `lvremove --yes VG/NAME`.
pub fn remove_cmd(vg: &str, name: &str) -> Cmd {
    Cmd::new("lvremove")
        .arg("--yes")
        .arg(format!("{vg}/{name}"))
}

/// The device node of `VG/NAME`.
pub fn device(vg: &str, name: &str) -> std::path::PathBuf {
    Path::new("/dev").join(vg).join(name)
}

#[derive(Deserialize)]
struct Report {
    report: Vec<ReportPart>,
}

#[derive(Deserialize)]
struct ReportPart {
    #[serde(default)]
    lv: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    vg_name: String,
    lv_name: String,
    lv_size: String,
    vg_free: String,
}

/// Parse `lvs --reportformat json --units b --nosuffix` output.
pub fn parse_lvs(json: &str) -> Result<Vec<LogicalVolume>> {
    let r: Report = serde_json::from_str(json).context("parsing `lvs --reportformat json`")?;
    r.report
        .into_iter()
        .flat_map(|p| p.lv)
        .map(|row| {
            let num = |s: &str, what: &str| {
                s.trim()
                    .parse::<u64>()
                    .with_context(|| format!("lvs: {what} {s:?} is not a number of bytes"))
            };
            Ok(LogicalVolume {
                size: num(&row.lv_size, "lv_size")?,
                vg_free: num(&row.vg_free, "vg_free")?,
                vg: row.vg_name,
                lv: row.lv_name,
            })
        })
        .collect()
}

/// The logical volume behind block device `dev`, or None when it is not
/// one (or LVM's tools are not installed: then it cannot be one we
/// snapshot either).
pub fn volume_of(runner: &Runner, dev: &str) -> Option<LogicalVolume> {
    let out = runner.query(&lvs_cmd(dev)).ok()?;
    parse_lvs(&out.stdout).ok()?.into_iter().next()
}

/// Whether `VG/NAME` exists.
pub fn exists(runner: &Runner, vg: &str, name: &str) -> bool {
    runner.query(&lvs_cmd(&format!("{vg}/{name}"))).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lvs_json() {
        let j = r#"{
  "report": [
      { "lv": [ {"vg_name":"vg0", "lv_name":"root", "lv_size":"8589934592", "vg_free":"2147483648"} ] }
  ]
}"#;
        let v = parse_lvs(j).unwrap();
        assert_eq!(
            v,
            vec![LogicalVolume {
                vg: "vg0".into(),
                lv: "root".into(),
                size: 8 << 30,
                vg_free: 2 << 30
            }]
        );
        assert!(parse_lvs(
            r#"{"report":[{"lv":[{"vg_name":"a","lv_name":"b","lv_size":"1.5g","vg_free":"0"}]}]}"#
        )
        .is_err());
    }

    #[test]
    fn argv() {
        let lv = LogicalVolume {
            vg: "vg0".into(),
            lv: "root".into(),
            size: 1,
            vg_free: 1,
        };
        assert_eq!(
            snapshot_cmd(&lv, "root-netroot-snap", 50).display(),
            "lvcreate --snapshot --name root-netroot-snap --extents 50%FREE vg0/root"
        );
        assert_eq!(
            remove_cmd("vg0", "root-netroot-snap").display(),
            "lvremove --yes vg0/root-netroot-snap"
        );
        assert_eq!(
            lvs_cmd("/dev/mapper/vg0-root").display(),
            "lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_size,vg_free /dev/mapper/vg0-root"
        );
    }
}
