//! The step engine: steps as values that can describe, probe and apply
//! themselves; a journal that makes runs resumable; the report.

pub mod context;
pub mod journal;
pub mod report;
pub mod run;

pub use context::{Cleanup, Ctx, RunOptions};
pub use journal::Journal;
pub use report::{RunReport, StepReport, StepStatus};
pub use run::{run_plan, status};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The steps of a migration, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    Discover,
    Preflight,
    Partition,
    Format,
    Mount,
    Copy,
    Fstab,
    Initramfs,
    Bootloader,
    Finalize,
}

impl StepId {
    pub const ALL: [StepId; 10] = [
        StepId::Discover,
        StepId::Preflight,
        StepId::Partition,
        StepId::Format,
        StepId::Mount,
        StepId::Copy,
        StepId::Fstab,
        StepId::Initramfs,
        StepId::Bootloader,
        StepId::Finalize,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::Discover => "discover",
            StepId::Preflight => "preflight",
            StepId::Partition => "partition",
            StepId::Format => "format",
            StepId::Mount => "mount",
            StepId::Copy => "copy",
            StepId::Fstab => "fstab",
            StepId::Initramfs => "initramfs",
            StepId::Bootloader => "bootloader",
            StepId::Finalize => "finalize",
        }
    }
    pub fn parse(s: &str) -> Option<StepId> {
        StepId::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of work a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Sets up this run (attach, check, mount); changes nothing on the
    /// target's data and is done again by every run.
    Session,
    /// Changes the target; recorded in the journal when finished.
    Change,
    /// Changes the target and destroys what was there (partition, format).
    Destructive,
}

/// Result of probing a step against the real disk and tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Already done; the text says how we know.
    Done(String),
    /// Needs doing; the text says why.
    Todo(String),
}

/// One step of the engine.
pub trait Step {
    fn id(&self) -> StepId;
    fn kind(&self) -> StepKind;
    /// One line for people: what this step does with this plan.
    fn describe(&self, ctx: &Ctx) -> String;
    /// Is the step already done? Looks at the real disk and tree (and, where
    /// the disk cannot tell, at the journal through `ctx.journal_says_done`).
    fn probe(&self, ctx: &Ctx) -> Result<Probe>;
    /// Do the step. Every side effect goes through `ctx.runner`, so a
    /// dry-run records instead of acting.
    fn apply(&self, ctx: &mut Ctx) -> Result<()>;
}
