//! Step `format`: make the planned filesystems (ext4, xfs, btrfs, vfat,
//! swap) with the UUIDs chosen up front, so the dry run already shows the
//! exact fstab.
//!
//! Probe: `blkid -p` on each partition; a filesystem of the planned type
//! with the planned UUID is kept, every other one is made.

use crate::disk::TargetDisk;
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::plan::{ResolvedLayout, ResolvedPartition};
use crate::tools::{blkid, mkfs, Runner};
use anyhow::Result;

pub struct Format;

/// The partitions that get a filesystem (or swap).
fn planned(layout: &ResolvedLayout) -> impl Iterator<Item = &ResolvedPartition> {
    layout.partitions.iter().filter(|p| p.fs.is_some())
}

/// Does `tags` (from blkid) show the planned filesystem of `p`?
pub fn has_planned_fs(p: &ResolvedPartition, tags: &blkid::Tags) -> Result<(), String> {
    let (Some(fs), Some(uuid)) = (p.fs, p.fs_uuid.as_deref()) else {
        return Ok(());
    };
    let ty = tags.get("TYPE").map(String::as_str);
    let found_uuid = tags.get("UUID").map(String::as_str);
    if ty != Some(mkfs::blkid_type(fs)) {
        return Err(match ty {
            Some(t) => format!("partition {} holds {t}, not {}", p.number, fs.as_str()),
            None => format!("partition {} has no filesystem", p.number),
        });
    }
    if !found_uuid.is_some_and(|u| u.eq_ignore_ascii_case(uuid)) {
        return Err(format!(
            "partition {} holds {} with UUID {} instead of {uuid}",
            p.number,
            fs.as_str(),
            found_uuid.unwrap_or("(none)")
        ));
    }
    Ok(())
}

/// Which planned filesystems are missing (with why), in disk order.
fn missing<'a>(
    runner: &Runner,
    disk: &TargetDisk,
    layout: &'a ResolvedLayout,
) -> Result<Vec<(&'a ResolvedPartition, String)>> {
    let mut v = Vec::new();
    for p in planned(layout) {
        let node = disk.part_node(p.number);
        if !disk.attached || !node.exists() {
            v.push((p, format!("{} does not exist yet", node.display())));
            continue;
        }
        let tags = blkid::probe(runner, &node)?;
        if let Err(why) = has_planned_fs(p, &tags) {
            v.push((p, why));
        }
    }
    Ok(v)
}

impl Step for Format {
    fn id(&self) -> StepId {
        StepId::Format
    }
    fn kind(&self) -> StepKind {
        StepKind::Destructive
    }
    fn describe(&self, ctx: &Ctx) -> String {
        match &ctx.layout {
            Some(l) => format!(
                "make the filesystems ({})",
                planned(l)
                    .map(|p| format!("p{} {}", p.number, p.fs.map(|f| f.as_str()).unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "make the filesystems".to_string(),
        }
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let disk = ctx.disk()?;
        let layout = ctx.layout()?;
        let m = missing(&ctx.runner, disk, layout)?;
        if m.is_empty() {
            Ok(Probe::Done(format!(
                "every planned filesystem is there with its UUID ({})",
                planned(layout)
                    .map(|p| format!("p{} {}", p.number, p.fs_uuid.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        } else {
            Ok(Probe::Todo(
                m.iter()
                    .map(|(_, w)| w.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ))
        }
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let disk = ctx.disk()?.clone();
        let layout = ctx.layout()?.clone();
        for (p, why) in missing(&ctx.runner, &disk, &layout)? {
            let (Some(fs), Some(uuid)) = (p.fs, p.fs_uuid.as_deref()) else {
                continue;
            };
            tracing::info!("formatting partition {}: {why}", p.number);
            let node = disk.part_node(p.number);
            // Erase every old signature first so blkid never sees two.
            ctx.runner.run(&mkfs::wipefs_cmd(&node))?;
            ctx.runner
                .run(&mkfs::mkfs_cmd(fs, &node, uuid, p.label.as_deref()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::size::SizeSpec;
    use crate::plan::{resolve_layout, Firmware, FsKind, Layout, PartitionSpec, TableKind};

    #[test]
    fn planned_fs_needs_type_and_uuid() {
        let l = Layout {
            table: TableKind::Gpt,
            firmware: Firmware::Uefi,
            partitions: vec![
                PartitionSpec {
                    mount: Some("/boot/efi".into()),
                    fs: FsKind::Vfat,
                    size: SizeSpec::new("64M"),
                    label: None,
                },
                PartitionSpec {
                    mount: Some("/".into()),
                    fs: FsKind::Ext4,
                    size: SizeSpec::new("rest"),
                    label: None,
                },
            ],
            wipe: false,
        };
        let r = resolve_layout(&l, 1 << 30, b"x").unwrap();
        let esp = &r.partitions[0];
        let root = &r.partitions[1];
        let mut t = blkid::Tags::new();
        assert!(has_planned_fs(root, &t)
            .unwrap_err()
            .contains("no filesystem"));
        t.insert("TYPE".into(), "xfs".into());
        assert!(has_planned_fs(root, &t).unwrap_err().contains("holds xfs"));
        t.insert("TYPE".into(), "ext4".into());
        t.insert("UUID".into(), "0000".into());
        assert!(has_planned_fs(root, &t).unwrap_err().contains("UUID 0000"));
        t.insert("UUID".into(), root.fs_uuid.clone().unwrap().to_uppercase());
        assert!(has_planned_fs(root, &t).is_ok());
        let mut v = blkid::Tags::new();
        v.insert("TYPE".into(), "vfat".into());
        v.insert("UUID".into(), esp.fs_uuid.clone().unwrap().to_lowercase());
        assert!(has_planned_fs(esp, &v).is_ok());
    }
}
