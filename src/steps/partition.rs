//! Step `partition`: write the planned partition table (GPT with
//! bios_grub and/or ESP, or MBR with a 1 MiB gap), make the kernel re-read
//! it and wait for the partition nodes.
//!
//! Probe: the table on the disk is compared with the layout. The same
//! table is kept; no table is written; a different table is replaced only
//! with `layout.wipe: true`, otherwise the run is refused before any write.

use crate::disk::inspect::{self, compare_table, TableState};
use crate::disk::{gpt, kernel, mbr, TargetDisk};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::outcome::Refused;
use crate::plan::{ResolvedLayout, TableKind};
use crate::tools::{blkid, mkfs, sfdisk, Runner};
use anyhow::{Context, Result};
use std::path::Path;

pub struct Partition;

fn table_name(l: &ResolvedLayout) -> &'static str {
    match l.table {
        TableKind::Gpt => "GPT",
        TableKind::Mbr => "MBR",
    }
}

/// What is on the disk now, compared with the plan. A disk with no table
/// but a filesystem on the whole device counts as different.
fn table_state(runner: &Runner, disk: &TargetDisk, layout: &ResolvedLayout) -> Result<TableState> {
    let table = sfdisk::read_table(runner, &disk.node)?;
    let state = compare_table(layout, table.as_ref());
    if state == TableState::Empty {
        let tags = blkid::probe(runner, &disk.node)?;
        if let Some(t) = tags.get("TYPE").or(tags.get("PTTYPE")) {
            return Ok(TableState::Differs(format!(
                "no partition table but a {t} signature on the whole disk"
            )));
        }
    }
    Ok(state)
}

impl Step for Partition {
    fn id(&self) -> StepId {
        StepId::Partition
    }
    fn kind(&self) -> StepKind {
        StepKind::Destructive
    }
    fn describe(&self, ctx: &Ctx) -> String {
        match (&ctx.layout, &ctx.disk) {
            (Some(l), Some(d)) => format!(
                "write a {} table with {} partitions on {}",
                table_name(l),
                l.partitions.len(),
                d.node.display()
            ),
            _ => "write the partition table".to_string(),
        }
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let disk = ctx.disk()?;
        let layout = ctx.layout()?;
        if !disk.attached {
            return Ok(Probe::Todo(
                if disk.image.is_some() {
                    "the image file does not exist yet"
                } else {
                    "the disk is not attached during a dry run"
                }
                .into(),
            ));
        }
        match table_state(&ctx.runner, disk, layout)? {
            TableState::Matches if !inspect::kernel_matches(&disk.node, layout)? => {
                Ok(Probe::Todo(format!(
                    "{} has the planned table but the kernel has not read it yet",
                    disk.node.display()
                )))
            }
            TableState::Matches => Ok(Probe::Done(format!(
                "{} has the planned {} table (disk id {})",
                disk.node.display(),
                table_name(layout),
                layout.disk_id
            ))),
            TableState::Empty => Ok(Probe::Todo(format!(
                "{} has no partition table",
                disk.node.display()
            ))),
            TableState::Differs(why) if ctx.plan.layout.wipe => Ok(Probe::Todo(format!(
                "{} has a different partition table ({why}); layout.wipe is set, replacing it",
                disk.node.display()
            ))),
            TableState::Differs(why) => Err(Refused(format!(
                "{} has a different partition table ({why}); set layout.wipe to true to \
                 replace it (everything on the disk is lost)",
                disk.node.display()
            ))
            .into()),
        }
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let disk = ctx.disk()?.clone();
        let layout = ctx.layout()?.clone();
        let already =
            disk.attached && table_state(&ctx.runner, &disk, &layout)? == TableState::Matches;
        if !already {
            write(ctx, &disk, &layout)?;
        }
        let d = disk.clone();
        let runner = ctx.runner.clone();
        ctx.runner.effect(
            &format!(
                "make the kernel read the new table of {} and wait for the partition nodes",
                disk.node.display()
            ),
            false,
            move || kernel::sync_partitions(&runner, &d.node, |n| d.part_node(n)),
        )?;
        Ok(())
    }
}

fn write(ctx: &Ctx, disk: &TargetDisk, layout: &ResolvedLayout) -> Result<()> {
    // Old signatures on the whole disk (a previous table, a filesystem
    // written to the bare disk) go first, so nothing stale remains.
    ctx.runner.run(&mkfs::wipefs_cmd(&disk.node))?;
    let node = disk.node.clone();
    let l = layout.clone();
    ctx.runner.effect(
        &format!(
            "write the {} table (disk id {}) to {}",
            table_name(layout),
            layout.disk_id,
            disk.node.display()
        ),
        true,
        move || write_table(&node, &l),
    )?;
    Ok(())
}

/// Write `layout`'s table to the device `node`.
pub fn write_table(node: &Path, layout: &ResolvedLayout) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(node)
        .with_context(|| format!("opening {} for writing", node.display()))?;
    match layout.table {
        TableKind::Gpt => gpt::write(&mut f, layout)?,
        TableKind::Mbr => mbr::write(&mut f, layout)?,
    }
    f.sync_all()
        .with_context(|| format!("syncing {}", node.display()))?;
    Ok(())
}
