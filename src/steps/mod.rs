//! The migration steps, one file each, in the order they run.

use crate::engine::{self, RunOptions, RunReport, Step};
use crate::event::ProgressSink;
use crate::plan::Plan;
use anyhow::Result;
use std::sync::Arc;

pub mod bootloader;
pub mod copy;
pub mod discover;
pub mod finalize;
pub mod format;
pub mod fstab;
pub mod identity;
pub mod initramfs;
pub mod mount;
pub mod partition;
pub mod preflight;
pub mod shared;

/// The standard steps, in order.
pub fn all() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(discover::Discover),
        Box::new(preflight::Preflight),
        Box::new(partition::Partition),
        Box::new(format::Format),
        Box::new(mount::Mount),
        Box::new(copy::Copy),
        Box::new(fstab::Fstab),
        Box::new(identity::Identity),
        Box::new(initramfs::Initramfs),
        Box::new(bootloader::Bootloader),
        Box::new(finalize::Finalize),
    ]
}

/// Run (or dry-run) a validated plan with the standard steps.
pub fn run_plan(
    plan: Plan,
    opts: RunOptions,
    progress: Arc<dyn ProgressSink>,
) -> Result<RunReport> {
    engine::run_steps_with(plan, opts, progress, &all(), &shared::lost_target)
}
