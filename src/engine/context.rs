//! What a run carries from step to step.

use super::device_lock::DeviceLock;
use super::StepId;
use crate::disk::TargetDisk;
use crate::event::{Event, ProgressSink};
use crate::plan::{Plan, ResolvedLayout};
pub use crate::tools::cleanup::Cleanup;
use crate::tools::Runner;
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dry_run: bool,
    /// Destructive steps are allowed without asking.
    pub yes: bool,
    /// Where journals and locks live (default /var/lib/netroot).
    pub state_dir: PathBuf,
    /// Where the target is mounted during a run (default /run/netroot).
    pub work_dir: PathBuf,
    /// Stop after this step (for tests and step-by-step use).
    pub stop_after: Option<StepId>,
    /// The log file of this run, copied into the target by finalize.
    pub log_file: Option<PathBuf>,
    /// Where the per-device locks live (default /run/lock/netroot, one
    /// directory for the whole host: keep the default outside tests).
    pub lock_dir: PathBuf,
    /// The plan file, named in the device lock for a refused second run.
    pub plan_file: Option<PathBuf>,
    /// A final sync (`--resync`): copy again what changed since the
    /// journal's finished copy, then probe the later steps again.
    pub resync: bool,
    /// Units stopped around the copy (`--stop-service`, live source only).
    pub stop_services: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            yes: false,
            state_dir: std::env::var_os("NETROOT_STATE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/lib/netroot")),
            work_dir: std::env::var_os("NETROOT_WORK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/run/netroot")),
            stop_after: None,
            log_file: None,
            lock_dir: super::device_lock::default_dir(),
            plan_file: None,
            resync: false,
            stop_services: Vec::new(),
        }
    }
}

/// The state a run carries between steps.
pub struct Ctx {
    pub plan: Plan,
    pub runner: Runner,
    pub opts: RunOptions,
    /// The target disk once discovered/attached.
    pub disk: Option<TargetDisk>,
    /// The layout placed on the target's size, with the chosen UUIDs.
    pub layout: Option<ResolvedLayout>,
    /// Where the target's root filesystem is mounted.
    pub root: Option<PathBuf>,
    /// Steps the journal records as finished.
    pub journal_done: BTreeSet<StepId>,
    /// Notes for the report (e.g. fstab entries dropped).
    pub notes: Vec<String>,
    pub progress: Arc<dyn ProgressSink>,
    /// Undo actions (unmount, detach, logout), newest first.
    pub cleanup: Cleanup,
    /// The target device's locks (none in a dry run).
    pub device_lock: Option<DeviceLock>,
    /// Paths in the target (absolute, rsync patterns) the later steps
    /// write, which a final sync leaves alone; set before the copy of a
    /// resync from each later step's [`super::Step::protects`].
    pub protect: Vec<String>,
}

impl Ctx {
    pub fn new(plan: Plan, opts: RunOptions, progress: Arc<dyn ProgressSink>) -> Self {
        let runner = if opts.dry_run {
            Runner::dry()
        } else {
            Runner::real()
        };
        Ctx {
            plan,
            runner,
            opts,
            disk: None,
            layout: None,
            root: None,
            journal_done: BTreeSet::new(),
            notes: Vec::new(),
            progress,
            cleanup: Cleanup::default(),
            device_lock: None,
            protect: Vec::new(),
        }
    }

    /// Extend the device lock to the attached disk `node` (the lock is
    /// taken before the first step; a network disk's node is known only
    /// once attached). Refuses when another run holds that node.
    pub fn lock_attached(&mut self, node: &std::path::Path) -> Result<()> {
        match self.device_lock.as_mut() {
            Some(l) => l.extend_to(node),
            None => Ok(()),
        }
    }

    pub fn journal_says_done(&self, id: StepId) -> bool {
        self.journal_done.contains(&id)
    }

    pub fn emit(&self, e: Event) {
        self.progress.event(&e);
    }

    /// The target disk, or an error naming the step that should have found it.
    pub fn disk(&self) -> Result<&TargetDisk> {
        self.disk.as_ref().ok_or_else(|| {
            anyhow::anyhow!("the target disk is not attached (the discover step did not run)")
        })
    }

    pub fn layout(&self) -> Result<&ResolvedLayout> {
        self.layout.as_ref().ok_or_else(|| {
            anyhow::anyhow!("the layout is not resolved (the discover step did not run)")
        })
    }

    /// The mounted target root, or an error.
    /// Flush the target's mounted filesystems (the root and every mount
    /// below it) to the disk: what a step wrote is on the disk before the
    /// journal says the step is done. Without it a network disk lost after
    /// the step could keep sizes and times of files whose data never
    /// reached it, and the next run would trust them. Nothing is mounted
    /// (or written) in a dry run.
    pub fn sync_target(&self) -> Result<()> {
        use anyhow::Context;
        let Some(root) = &self.root else {
            return Ok(());
        };
        for m in crate::host::mountinfo::mounts() {
            if !m.target.starts_with(root) {
                continue;
            }
            let dir = std::fs::File::open(&m.target)
                .with_context(|| format!("opening {} to sync it", m.target.display()))?;
            nix::unistd::syncfs(&dir)
                .with_context(|| format!("syncing {} to the target disk", m.target.display()))?;
        }
        Ok(())
    }

    pub fn root(&self) -> Result<&PathBuf> {
        self.root.as_ref().ok_or_else(|| {
            anyhow::anyhow!("the target is not mounted (the mount step did not run)")
        })
    }
}
