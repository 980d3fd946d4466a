//! What more than one step needs, in one place so steps never import each
//! other: attaching the target from the run's context, the distro profile
//! and the tree it is read from, where netroot keeps state in the target,
//! the size the plan's layout occupies, the kernels a tree holds, and the
//! probe and write of the files the fstab and identity steps put in the
//! target.

use crate::disk::TargetDisk;
use crate::engine::{Ctx, Probe};
use crate::plan::Size;
use crate::profile::{self, Profile};
use crate::system::identity::IdentityFile;
use crate::tools::Runner;
use crate::transport::{self, AttachEnv, HostPaths};
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

/// After a failed step: the network target is gone (the session or the
/// AoE device is down), named with what to check; `None` if it looks fine.
pub fn lost_target(ctx: &Ctx) -> Option<String> {
    transport::health::lost_target(&ctx.runner, &HostPaths::default(), &ctx.plan.target)
}

/// Attach the plan's network target with the run's runner, notes and undo
/// list (`paths`: the host trees; [`HostPaths::default`] on a real machine).
pub fn attach_with(ctx: &mut Ctx, paths: &HostPaths) -> Result<TargetDisk> {
    let initiator = crate::plan::identity::initiator_name(&ctx.plan);
    let mut env = AttachEnv {
        runner: &ctx.runner,
        state_dir: &ctx.opts.state_dir,
        notes: &mut ctx.notes,
        cleanup: &mut ctx.cleanup,
        planned_size: transport::common::planned_size(&ctx.plan.target),
        initiator: Some(&initiator),
    };
    transport::attach(&mut env, &ctx.plan.target, paths)
}

/// Where netroot keeps its records in the target.
pub const STATE_DIR: &str = "var/lib/netroot";

/// Where the target root is mounted during a run.
pub fn root_dir(ctx: &Ctx) -> PathBuf {
    ctx.opts.work_dir.join(ctx.plan.target_key()).join("root")
}

/// The target root to work on: where the mount step mounted it (or, in a
/// dry run, recorded mounting it).
pub fn target_root(ctx: &Ctx) -> Result<PathBuf> {
    ctx.root().cloned()
}

/// The tree to read facts from (kernels, os-release): the target once the
/// copy is there, else (dry run) the source.
pub fn inspect_tree(ctx: &Ctx, root: &Path) -> Option<PathBuf> {
    if root.join("etc").is_dir() {
        return Some(root.to_path_buf());
    }
    ctx.plan.source.tree()
}

/// Kernel versions installed in `tree` (a modules directory and a kernel).
pub fn kernels(tree: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for base in ["lib/modules", "usr/lib/modules"] {
        let Ok(rd) = std::fs::read_dir(tree.join(base)) else {
            continue;
        };
        for e in rd.flatten() {
            let k = e.file_name().to_string_lossy().into_owned();
            if tree.join(format!("boot/vmlinuz-{k}")).exists() || e.path().join("vmlinuz").exists()
            {
                v.push(k);
            }
        }
        if !v.is_empty() {
            break;
        }
    }
    v.sort();
    v.dedup();
    v
}

/// The profile for this run.
pub fn profile_for(ctx: &Ctx, tree: Option<&Path>) -> Result<Profile> {
    profile::resolve(&ctx.plan, tree).context("choosing the distro profile (boot.profile)")
}

/// Bytes of the plan's `target.size`, if set.
pub fn planned_size(ctx: &Ctx) -> Result<Option<u64>> {
    match ctx.plan.target.size() {
        None => Ok(None),
        Some(s) => match s.get() {
            Size::Bytes(b) => Ok(Some(b)),
            Size::Rest => Err(anyhow!("target.size: \"rest\" is not a disk size")),
        },
    }
}

/// The tree the target's files are derived from: the source for live and
/// directory sources, the target itself after debootstrap.
pub fn base_tree(ctx: &Ctx) -> Option<PathBuf> {
    ctx.plan.source.tree().or_else(|| ctx.root.clone())
}

/// Whether the file at `path` already has `f`'s contents and mode.
pub fn file_is(path: &Path, f: &IdentityFile) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match (std::fs::read(path), std::fs::metadata(path)) {
        (Ok(b), Ok(m)) => b == f.contents.as_bytes() && m.permissions().mode() & 0o7777 == f.mode,
        _ => false,
    }
}

/// The probe's answer while some of `files` differ from what is in `root`
/// ("to write: PATHS"); `None` when all are as planned.
pub fn files_to_write(root: &Path, files: &[IdentityFile]) -> Option<Probe> {
    let differ: Vec<String> = files
        .iter()
        .filter(|f| !file_is(&root.join(&f.path), f))
        .map(|f| f.path.display().to_string())
        .collect();
    (!differ.is_empty()).then(|| Probe::Todo(format!("to write: {}", differ.join(", "))))
}

/// The probe's answer when all of `files` are as planned.
pub fn files_as_planned(files: &[IdentityFile]) -> Probe {
    Probe::Done(format!(
        "{} already as planned",
        files
            .iter()
            .map(|f| format!("/{}", f.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Write each of `files` into `root` whose contents or mode differ.
pub fn write_files(runner: &Runner, root: &Path, files: &[IdentityFile]) -> Result<()> {
    for f in files {
        let p = root.join(&f.path);
        if !file_is(&p, f) {
            runner
                .write_file(&p, f.contents.as_bytes(), f.mode)
                .with_context(|| format!("writing /{} in the target", f.path.display()))?;
        }
    }
    Ok(())
}
