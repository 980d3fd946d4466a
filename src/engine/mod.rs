//! The step engine: steps as values that can describe, probe and apply
//! themselves; a journal that makes runs resumable; the report.

pub mod context;
pub mod device_lock;
pub mod journal;
pub mod report;
pub mod run;

pub use context::{Cleanup, Ctx, RunOptions};
pub use journal::Journal;
pub use report::{RunReport, StepReport, StepStatus};
pub use run::{describe_target, run_steps, run_steps_with, status, FailureCheck};

pub use crate::event::StepId;
pub use crate::outcome::{Interrupted, Refused};

use anyhow::Result;
use serde::Serialize;

/// What kind of work a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Sets up this run (attach, check, mount); changes nothing on the
    /// target's data and is done again by every run (never probed, never
    /// journaled).
    EveryRun,
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
    /// What this step writes in the target that a later copy must leave
    /// alone: absolute paths in the target tree (rsync patterns; a trailing
    /// `/` for a directory). A final sync excludes them from its copy, so
    /// netroot's own files stay as they are and the step's probe, run again
    /// after the copy, decides whether anything needs redoing.
    fn protects(&self, _ctx: &Ctx) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
