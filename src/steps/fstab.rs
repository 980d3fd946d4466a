//! Step `fstab`: the target's /etc/fstab by UUID for the network disk, the
//! source's entries for its old local disks dropped (each noted).
//!
//! Computed from the source tree (which is never changed), or from the
//! target itself after debootstrap, so a dry run shows the exact file and a
//! re-run writes the same bytes. The probe is "the target's fstab already is
//! what would be written". The client's identity is the next step's.

use super::shared::{base_tree, files_as_planned, files_to_write, write_files};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::host::{mountinfo, swaps};
use crate::plan::Source;
use crate::system::fstab::{self, Dropped};
use crate::system::identity::IdentityFile;
use crate::tools::blkid;
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::Path;

pub struct Fstab;

/// The files the step writes, relative to the target root.
struct Wanted {
    files: Vec<IdentityFile>,
    dropped: Vec<Dropped>,
}

/// Specs that name the live source's local disks (mount sources of the
/// running system and their UUID/LABEL/PARTUUID), so their fstab entries
/// are dropped even when marked nofail.
fn live_old_devices(ctx: &Ctx) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut devs: BTreeSet<String> = mountinfo::mounts()
        .into_iter()
        .filter(|m| m.source.starts_with("/dev/"))
        .map(|m| m.source)
        .collect();
    devs.extend(
        swaps::active()
            .iter()
            .filter_map(|s| s.name.to_str())
            .filter(|d| d.starts_with("/dev/"))
            .map(str::to_string),
    );
    for d in devs {
        if let Ok(tags) = blkid::tags(&ctx.runner, Path::new(&d)) {
            for (k, v) in tags {
                if matches!(k.as_str(), "UUID" | "LABEL" | "PARTUUID" | "PARTLABEL") {
                    out.insert(format!("{k}={v}"));
                }
            }
        }
        out.insert(d);
    }
    out
}

fn wanted(ctx: &Ctx) -> Result<Wanted> {
    let layout = ctx.layout()?;
    let base = base_tree(ctx);
    let profile = match ctx.plan.source {
        Source::Debootstrap { .. } => crate::profile::resolve(&ctx.plan, None)?,
        _ => crate::profile::resolve(&ctx.plan, base.as_deref())?,
    };
    let old_devices = if matches!(ctx.plan.source, Source::Live { .. }) {
        live_old_devices(ctx)
    } else {
        BTreeSet::new()
    };
    let old = base
        .as_ref()
        .and_then(|b| std::fs::read_to_string(b.join("etc/fstab")).ok())
        .unwrap_or_default();
    let (text, dropped) = fstab::rewrite(&old, layout, profile.fstab.netdev, &old_devices);
    let files = vec![IdentityFile {
        path: "etc/fstab".into(),
        contents: text,
        mode: 0o644,
    }];
    Ok(Wanted { files, dropped })
}

impl Step for Fstab {
    fn id(&self) -> StepId {
        StepId::Fstab
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "fstab by UUID for the network disk".to_string()
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.as_ref() else {
            return Ok(Probe::Todo("the target is not mounted".into()));
        };
        if ctx.layout.is_none() {
            return Ok(Probe::Todo("the layout is not resolved".into()));
        }
        let w = wanted(ctx)?;
        if let Some(todo) = files_to_write(root, &w.files) {
            return Ok(todo);
        }
        Ok(files_as_planned(&w.files))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = ctx.root()?.clone();
        let w = wanted(ctx)?;
        for d in &w.dropped {
            ctx.notes
                .push(format!("fstab: dropped `{}`: {}", d.line, d.reason));
        }
        write_files(&ctx.runner, &root, &w.files)?;
        Ok(())
    }
    fn protects(&self, ctx: &Ctx) -> Result<Vec<String>> {
        Ok(wanted(ctx)?
            .files
            .iter()
            .map(|f| format!("/{}", f.path.display()))
            .collect())
    }
}
