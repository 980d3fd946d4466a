//! Probing block devices: sysfs facts (size, partitions, holders, what
//! holds the running root) and comparing a partition table with the plan.

use crate::plan::{ResolvedLayout, TableKind};
use crate::tools::sfdisk::Table;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Device number (major, minor) of a block device node.
pub fn dev_number(node: &Path) -> Result<(u64, u64)> {
    let md = std::fs::metadata(node).with_context(|| format!("reading {}", node.display()))?;
    if !md.file_type().is_block_device() {
        bail!("{} is not a block device", node.display());
    }
    let rdev = md.rdev();
    Ok((
        nix::sys::stat::major(rdev) as u64,
        nix::sys::stat::minor(rdev) as u64,
    ))
}

/// The sysfs directory of a block device (/sys/devices/.../block/sda).
pub fn sysfs_dir(node: &Path) -> Result<PathBuf> {
    let (ma, mi) = dev_number(node)?;
    let link = PathBuf::from(format!("/sys/dev/block/{ma}:{mi}"));
    std::fs::canonicalize(&link).with_context(|| format!("resolving {}", link.display()))
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Size in bytes of a block device.
pub fn block_size(node: &Path) -> Result<u64> {
    let dir = sysfs_dir(node)?;
    let s = read_trim(&dir.join("size"))
        .with_context(|| format!("reading the size of {} from sysfs", node.display()))?;
    Ok(s.parse::<u64>()
        .with_context(|| format!("size of {}: {s:?}", node.display()))?
        * 512)
}

/// A disk and its partitions as sysfs names them, with device numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskNodes {
    /// Kernel name of the disk ("loop3", "sda").
    pub kname: String,
    /// (kernel name, (major, minor)) of the disk and each partition.
    pub devs: Vec<(String, (u64, u64))>,
    /// "NAME is held by HOLDER" for every holder (dm, md, ...).
    pub holders: Vec<String>,
}

fn parse_dev(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn holders_of(dir: &Path, name: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("holders")) {
        for e in rd.flatten() {
            v.push(format!(
                "{name} is held by {}",
                e.file_name().to_string_lossy()
            ));
        }
    }
    v
}

/// The disk at `node` with its partitions and holders, from sysfs.
pub fn disk_nodes(node: &Path) -> Result<DiskNodes> {
    let dir = sysfs_dir(node)?;
    let kname = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = DiskNodes {
        kname: kname.clone(),
        ..Default::default()
    };
    if let Some(d) = read_trim(&dir.join("dev")).and_then(|s| parse_dev(&s)) {
        n.devs.push((kname.clone(), d));
    }
    n.holders.extend(holders_of(&dir, &kname));
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if !p.join("partition").exists() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(d) = read_trim(&p.join("dev")).and_then(|s| parse_dev(&s)) {
            n.devs.push((name.clone(), d));
        }
        n.holders.extend(holders_of(&p, &name));
    }
    Ok(n)
}

/// The partitions the kernel currently knows on `node`: (number, start
/// sector, sectors), sorted by number.
pub fn kernel_partitions(node: &Path) -> Result<Vec<(u32, u64, u64)>> {
    let dir = sysfs_dir(node)?;
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
    {
        let p = e.path();
        let num = read_trim(&p.join("partition")).and_then(|s| s.parse().ok());
        let start = read_trim(&p.join("start")).and_then(|s| s.parse().ok());
        let size = read_trim(&p.join("size")).and_then(|s| s.parse().ok());
        if let (Some(n), Some(a), Some(b)) = (num, start, size) {
            v.push((n, a, b));
        }
    }
    v.sort();
    Ok(v)
}

/// Does the kernel's view of `node`'s partitions match the layout?
pub fn kernel_matches(node: &Path, layout: &ResolvedLayout) -> Result<bool> {
    let k = kernel_partitions(node)?;
    let want: Vec<(u32, u64, u64)> = layout
        .partitions
        .iter()
        .map(|p| (p.number, p.start_sector(), p.sectors()))
        .collect();
    Ok(k == want)
}

/// Kernel names of every block device the running root lives on: the
/// root's partition, its disk, what a dm/md device is built from, and the
/// disk holding a loop device's backing file.
pub fn root_devices() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mounts = crate::tools::mount::mounts();
    if let Some(root) = mounts.iter().rev().find(|m| m.target == Path::new("/")) {
        walk_dev(root.dev, &mut out, 0);
    }
    out
}

fn walk_dev(dev: (u64, u64), out: &mut BTreeSet<String>, depth: u32) {
    if dev.0 == 0 || depth > 16 {
        return;
    }
    let Ok(dir) = std::fs::canonicalize(format!("/sys/dev/block/{}:{}", dev.0, dev.1)) else {
        return;
    };
    walk_dir(&dir, out, depth);
}

fn walk_dir(dir: &Path, out: &mut BTreeSet<String>, depth: u32) {
    let Some(name) = dir.file_name().map(|s| s.to_string_lossy().into_owned()) else {
        return;
    };
    if !out.insert(name) {
        return;
    }
    if dir.join("partition").exists() {
        if let Some(parent) = dir.parent() {
            walk_dir(parent, out, depth + 1);
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("slaves")) {
        for e in rd.flatten() {
            if let Ok(p) = std::fs::canonicalize(e.path()) {
                walk_dir(&p, out, depth + 1);
            }
        }
    }
    if let Some(back) = read_trim(&dir.join("loop/backing_file")) {
        if let Ok(md) = std::fs::metadata(back.trim_end_matches(" (deleted)")) {
            let d = md.dev();
            walk_dev(
                (
                    nix::sys::stat::major(d) as u64,
                    nix::sys::stat::minor(d) as u64,
                ),
                out,
                depth + 1,
            );
        }
    }
}

/// Block devices in use as swap (device numbers), from /proc/swaps.
pub fn swap_devices() -> Vec<(u64, u64)> {
    crate::host::swaps::active()
        .iter()
        .filter_map(|s| dev_number(&s.name).ok())
        .collect()
}

/// How an existing partition table relates to the planned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableState {
    /// No table on the disk.
    Empty,
    /// Exactly the planned table.
    Matches,
    /// Something else; the text says what differs.
    Differs(String),
}

fn norm_id(s: &str) -> String {
    s.trim_start_matches("0x").to_ascii_lowercase()
}

/// Compare `table` (from sfdisk) with the planned layout.
pub fn compare_table(layout: &ResolvedLayout, table: Option<&Table>) -> TableState {
    let Some(t) = table else {
        return TableState::Empty;
    };
    let (want_label, kind) = match layout.table {
        TableKind::Gpt => ("gpt", "GPT"),
        TableKind::Mbr => ("dos", "MBR"),
    };
    if t.label != want_label {
        return TableState::Differs(format!(
            "a {} table where the plan wants {kind}",
            if t.label == "dos" { "MBR" } else { &t.label }
        ));
    }
    if t.id.as_deref().map(norm_id) != Some(norm_id(&layout.disk_id)) {
        return TableState::Differs(format!(
            "disk id {} where the plan wants {}",
            t.id.as_deref().unwrap_or("(none)"),
            layout.disk_id
        ));
    }
    if t.partitions.len() != layout.partitions.len() {
        return TableState::Differs(format!(
            "{} partitions where the plan has {}",
            t.partitions.len(),
            layout.partitions.len()
        ));
    }
    for (p, e) in layout.partitions.iter().zip(&t.partitions) {
        let n = p.number;
        if e.start != p.start_sector() || e.size != p.sectors() {
            return TableState::Differs(format!(
                "partition {n} spans sectors {}+{} where the plan wants {}+{}",
                e.start,
                e.size,
                p.start_sector(),
                p.sectors()
            ));
        }
        if norm_id(&e.type_id) != norm_id(&p.type_id) {
            return TableState::Differs(format!(
                "partition {n} has type {} where the plan wants {}",
                e.type_id, p.type_id
            ));
        }
        if layout.table == TableKind::Gpt {
            if e.uuid.as_deref().map(norm_id) != p.part_guid.as_deref().map(norm_id) {
                return TableState::Differs(format!(
                    "partition {n} has GUID {} where the plan wants {}",
                    e.uuid.as_deref().unwrap_or("(none)"),
                    p.part_guid.as_deref().unwrap_or("(none)")
                ));
            }
        } else if e.bootable != p.bootable {
            return TableState::Differs(format!(
                "partition {n} boot flag is {} where the plan wants {}",
                if e.bootable { "on" } else { "off" },
                if p.bootable { "on" } else { "off" }
            ));
        }
    }
    TableState::Matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::size::SizeSpec;
    use crate::plan::{resolve_layout, Firmware, FsKind, Layout, PartitionSpec};
    use crate::tools::sfdisk::{parse, Entry};

    fn layout(table: TableKind) -> ResolvedLayout {
        let l = Layout {
            table,
            firmware: Firmware::Bios,
            partitions: vec![PartitionSpec {
                mount: Some("/".into()),
                fs: FsKind::Ext4,
                size: SizeSpec::new("rest"),
                label: None,
            }],
            wipe: false,
        };
        resolve_layout(&l, 64 << 20, b"s").unwrap()
    }

    fn as_table(l: &ResolvedLayout) -> Table {
        Table {
            label: if l.table == TableKind::Gpt {
                "gpt"
            } else {
                "dos"
            }
            .into(),
            id: Some(if l.table == TableKind::Gpt {
                l.disk_id.to_uppercase()
            } else {
                format!("0x{}", l.disk_id)
            }),
            device: None,
            partitions: l
                .partitions
                .iter()
                .map(|p| Entry {
                    node: format!("/dev/loop0p{}", p.number),
                    start: p.start_sector(),
                    size: p.sectors(),
                    type_id: p.type_id.to_uppercase(),
                    uuid: p.part_guid.as_ref().map(|g| g.to_uppercase()),
                    name: None,
                    bootable: p.bootable,
                })
                .collect(),
        }
    }

    #[test]
    fn planned_table_matches_itself() {
        for k in [TableKind::Gpt, TableKind::Mbr] {
            let l = layout(k);
            assert_eq!(compare_table(&l, Some(&as_table(&l))), TableState::Matches);
            assert_eq!(compare_table(&l, None), TableState::Empty);
        }
    }

    #[test]
    fn differences_are_named() {
        let l = layout(TableKind::Gpt);
        let mut t = as_table(&l);
        t.partitions[1].size -= 2048;
        let TableState::Differs(why) = compare_table(&l, Some(&t)) else {
            panic!()
        };
        assert!(why.contains("partition 2 spans"), "{why}");
        let fixture = parse(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/host/mbr-sfdisk.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
        .unwrap();
        let TableState::Differs(why) = compare_table(&l, Some(&fixture)) else {
            panic!()
        };
        assert!(why.contains("MBR table"), "{why}");
        let m = layout(TableKind::Mbr);
        let TableState::Differs(why) = compare_table(&m, Some(&fixture)) else {
            panic!()
        };
        assert!(why.contains("disk id 0x9ee524b0"), "{why}");
    }
}
