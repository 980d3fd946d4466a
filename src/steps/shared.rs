//! What more than one step needs, in one place so steps never import each
//! other: attaching the target from the run's context, the distro profile
//! and the tree it is read from, where netroot keeps state in the target,
//! and the size the plan's layout occupies.

use crate::disk::TargetDisk;
use crate::engine::Ctx;
use crate::plan::Size;
use crate::profile::{self, Profile};
use crate::transport::{self, AttachEnv, HostPaths};
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

/// Attach the plan's network target with the run's runner, notes and undo
/// list (`paths`: the host trees; [`HostPaths::default`] on a real machine).
pub fn attach_with(ctx: &mut Ctx, paths: &HostPaths) -> Result<TargetDisk> {
    let mut env = AttachEnv {
        runner: &ctx.runner,
        state_dir: &ctx.opts.state_dir,
        notes: &mut ctx.notes,
        cleanup: &mut ctx.cleanup,
        planned_size: transport::common::planned_size(&ctx.plan.target),
    };
    transport::attach(&mut env, &ctx.plan.target, paths)
}

/// Where netroot keeps its records in the target.
pub const STATE_DIR: &str = "var/lib/netroot";

/// Where the target root is mounted during a run.
pub fn root_dir(ctx: &Ctx) -> PathBuf {
    ctx.opts.work_dir.join(ctx.plan.target_key()).join("root")
}

/// The target root to work on: the mounted root, or in a dry run before
/// the mount a placeholder below the work dir.
pub fn target_root(ctx: &Ctx) -> Result<PathBuf> {
    match (&ctx.root, ctx.runner.is_dry()) {
        (Some(r), _) => Ok(r.clone()),
        (None, true) => Ok(root_dir(ctx)),
        (None, false) => ctx.root().cloned(),
    }
}

/// The tree to read facts from (kernels, os-release): the target once the
/// copy is there, else (dry run) the source.
pub fn inspect_tree(ctx: &Ctx, root: &Path) -> Option<PathBuf> {
    if root.join("etc").is_dir() {
        return Some(root.to_path_buf());
    }
    match &ctx.plan.source {
        crate::plan::Source::Live => Some(PathBuf::from("/")),
        crate::plan::Source::Directory { path } => Some(path.clone()),
        crate::plan::Source::Debootstrap { .. } => None,
    }
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
