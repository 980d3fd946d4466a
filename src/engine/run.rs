//! Running a plan: probe each step, apply what is not done, journal it.

use super::device_lock;
use super::journal::{self, Journal};
use super::report::{RunReport, StepReport, StepStatus};
use super::{Ctx, Probe, RunOptions, Step, StepId, StepKind};
use crate::event::{Event, ProgressSink, StepEnded};
pub use crate::outcome::{request_stop, stop_requested, Interrupted, Refused};
use crate::plan::Plan;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Instant;

/// Run a plan with the given steps, in order. The caller hands them in
/// (`steps::run_plan` the standard ones, tests their own), so the engine
/// knows no step.
pub fn run_steps(
    plan: Plan,
    opts: RunOptions,
    progress: Arc<dyn ProgressSink>,
    steps: &[Box<dyn Step>],
) -> Result<RunReport> {
    run_steps_with(plan, opts, progress, steps, &|_| None)
}

/// Asked after a step failed: what to say first when the network disk
/// went away (`None`: nothing). The caller's (`steps::run_plan` passes the
/// transport's check), so the engine knows no transport.
pub type FailureCheck = dyn Fn(&Ctx) -> Option<String>;

/// [`run_steps`], with `on_failure` asked when a step fails.
pub fn run_steps_with(
    plan: Plan,
    opts: RunOptions,
    progress: Arc<dyn ProgressSink>,
    steps: &[Box<dyn Step>],
    on_failure: &FailureCheck,
) -> Result<RunReport> {
    let dry = opts.dry_run;
    check_resync(&plan, &opts)?;
    // The device first: before the journal, before any write.
    let device_lock = if dry {
        None
    } else {
        Some(device_lock::acquire(
            &opts.lock_dir,
            &plan,
            opts.plan_file.as_deref(),
        )?)
    };
    let held = dry
        .then(|| device_lock::held_by_other(&opts.lock_dir, &plan))
        .flatten();
    let mut journal = if dry {
        None
    } else {
        Some(Journal::open(&opts.state_dir, &plan)?)
    };
    let mut ctx = Ctx::new(plan, opts, progress);
    ctx.device_lock = device_lock;
    ctx.notes.extend(held.map(|h| format!("lock: {h}")));
    load_journal_done(&mut ctx, journal.as_ref())?;
    let mut reports: Vec<StepReport> = Vec::new();
    let mut result = run_each(
        &mut ctx,
        journal.as_mut(),
        steps,
        dry,
        &mut reports,
        on_failure,
    );
    if result.is_ok() && ctx.opts.resync && reports.len() == steps.len() {
        if let Some(j) = journal.as_mut() {
            result = j.mark_resync();
        }
    }
    let cleanup_errors = ctx.cleanup.run_all();
    result?;
    for e in cleanup_errors {
        ctx.notes.push(format!("cleanup: {e}"));
    }
    for s in steps.iter().skip(reports.len()) {
        reports.push(StepReport {
            step: s.id(),
            kind: s.kind(),
            description: s.describe(&ctx),
            status: StepStatus::NotReached,
            reason: String::new(),
            actions: Vec::new(),
        });
    }
    Ok(RunReport {
        netroot_version: env!("CARGO_PKG_VERSION").to_string(),
        dry_run: dry,
        plan_digest: ctx.plan.digest(),
        source: ctx.plan.source.describe(),
        target: describe_target(&ctx.plan),
        disk: ctx.disk.clone(),
        layout: ctx.layout.clone(),
        steps: reports,
        notes: ctx.notes.clone(),
        journal: journal.as_ref().map(|j| j.path().display().to_string()),
    })
}

/// A final sync needs a finished copy in this plan's journal, and
/// services to stop only make sense on the running system: both are bad
/// input (exit 2), found before anything is locked or written.
fn check_resync(plan: &Plan, opts: &RunOptions) -> Result<()> {
    use crate::outcome::Invalid;
    if !opts.stop_services.is_empty() && !matches!(plan.source, crate::plan::Source::Live { .. }) {
        return Err(Invalid(format!(
            "--stop-service is for a live source only (this plan's source is {}): \
             stop the services of the system that owns the tree yourself, then run \
             `netroot migrate --plan FILE --resync --yes`",
            plan.source.describe()
        ))
        .into());
    }
    if !opts.resync {
        return Ok(());
    }
    if matches!(plan.source, crate::plan::Source::Debootstrap { .. }) {
        return Err(Invalid(
            "--resync copies again what changed in the source, but this plan's source is \
             debootstrap (nothing to sync from): run the plan without --resync"
                .into(),
        )
        .into());
    }
    let path = journal::journal_path(&opts.state_dir, plan);
    let copied = match journal::read(&path)? {
        Some(d) if d.plan_digest != plan.digest() => {
            return Err(journal::different_plan(&path, &d, plan).into())
        }
        Some(d) => d.steps.contains_key(&StepId::Copy),
        None => false,
    };
    if !copied {
        return Err(Invalid(format!(
            "--resync copies again what changed since a finished copy, but the journal {} \
             records no finished copy of this plan: run the migration first \
             (`netroot migrate --plan FILE --yes`; it resumes an unfinished one), then the final sync",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// What the journal says is done: the open journal's, or in a dry run the
/// one on disk if it belongs to this plan.
fn load_journal_done(ctx: &mut Ctx, journal: Option<&Journal>) -> Result<()> {
    if let Some(j) = journal {
        ctx.journal_done = j.data.steps.keys().copied().collect();
        return Ok(());
    }
    // A dry run reads the journal as a run and `status` do: a journal of
    // another plan is refused with the changed fields, like the run would.
    let path = journal::journal_path(&ctx.opts.state_dir, &ctx.plan);
    match journal::read(&path)? {
        Some(d) if d.plan_digest == ctx.plan.digest() => {
            ctx.journal_done = d.steps.keys().copied().collect();
        }
        Some(d) => return Err(journal::different_plan(&path, &d, &ctx.plan).into()),
        None => {}
    }
    Ok(())
}

/// Run the steps in order until one fails, Ctrl-C asks to stop, or the
/// step to stop after has run; each finished step's report is pushed.
fn run_each(
    ctx: &mut Ctx,
    mut journal: Option<&mut Journal>,
    steps: &[Box<dyn Step>],
    dry: bool,
    reports: &mut Vec<StepReport>,
    on_failure: &FailureCheck,
) -> Result<()> {
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let id = step.id();
        if !dry && stop_requested() {
            return Err(Interrupted(id).into());
        }
        if ctx.opts.resync && id == StepId::Copy {
            ctx.protect = collect_protects(ctx, &steps[i + 1..])?;
        }
        let report = run_one(
            ctx,
            journal.as_deref_mut(),
            step.as_ref(),
            i + 1,
            total,
            dry,
            on_failure,
        )?;
        reports.push(report);
        if ctx.opts.stop_after == Some(id) {
            break;
        }
    }
    Ok(())
}

/// What the steps after the copy write in the target, for a final sync's
/// copy to leave alone.
fn collect_protects(ctx: &Ctx, later: &[Box<dyn Step>]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in later {
        for p in s
            .protects(ctx)
            .with_context(|| format!("listing what step {} wrote in the target", s.id()))?
        {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// One step: announce it, probe it, apply it if it is not done, and
/// report it.
fn run_one(
    ctx: &mut Ctx,
    journal: Option<&mut Journal>,
    step: &dyn Step,
    index: usize,
    total: usize,
    dry: bool,
    on_failure: &FailureCheck,
) -> Result<StepReport> {
    let id = step.id();
    ctx.runner.set_step(id.as_str());
    let description = step.describe(ctx);
    let started = Instant::now();
    ctx.emit(Event::StepStart {
        step: id,
        index,
        total,
        description: description.clone(),
    });
    let ended = |ctx: &Ctx, status: StepEnded| {
        ctx.emit(Event::StepEnd {
            step: id,
            status,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    };
    match probe_and_apply(ctx, journal, step, dry) {
        Ok((status, reason)) => {
            let actions = ctx.runner.take_actions();
            ended(
                ctx,
                match status {
                    StepStatus::Done => StepEnded::Done,
                    StepStatus::WouldRun => StepEnded::WouldRun,
                    _ => StepEnded::Ran,
                },
            );
            Ok(StepReport {
                step: id,
                kind: step.kind(),
                description,
                status,
                reason,
                actions,
            })
        }
        Err(e) => {
            ended(ctx, StepEnded::Failed);
            Err(name_lost_target(ctx, e, on_failure))
        }
    }
}

/// A step that failed because the network disk went away fails naming
/// the target and what to check, the step's own error after it. Not for
/// a plan working on a local device or image (`target.device`), nor for
/// refusals and bad input (those name what to fix already).
fn name_lost_target(ctx: &Ctx, e: anyhow::Error, on_failure: &FailureCheck) -> anyhow::Error {
    if ctx.plan.target.device().is_some()
        || e.downcast_ref::<Refused>().is_some()
        || e.downcast_ref::<crate::outcome::Invalid>().is_some()
    {
        return e;
    }
    match on_failure(ctx) {
        Some(lost) => e.context(lost),
        None => e,
    }
}

/// Probe a step and apply it when it is not done: its status and why.
fn probe_and_apply(
    ctx: &mut Ctx,
    mut journal: Option<&mut Journal>,
    step: &dyn Step,
    dry: bool,
) -> Result<(StepStatus, String)> {
    let id = step.id();
    let resync = ctx.opts.resync;
    let probe = if step.kind() == StepKind::EveryRun {
        Probe::Todo("done by every run".into())
    } else if resync && id == StepId::Copy {
        Probe::Todo("final sync: copy again what changed since the last copy".into())
    } else if dry && resync && ctx.journal_done.contains(&id) {
        Probe::Done(
            "finished, as the journal records; the final sync probes it again after the copy \
             and redoes it only if the copy changed what it wrote"
                .into(),
        )
    } else if dry && ctx.journal_done.contains(&id) {
        // What the journal records as finished is reported so; a dry run
        // does not mount the target to look again (the run's probe does).
        Probe::Done("finished, as the journal records".into())
    } else {
        step.probe(ctx)
            .with_context(|| format!("probing step {id}"))?
    };
    let (status, reason) = match probe {
        Probe::Done(why) => {
            if let Some(j) = journal.as_deref_mut() {
                if !j.is_done(id) {
                    j.mark_done(id)?;
                }
            }
            (StepStatus::Done, why)
        }
        Probe::Todo(why) => (apply_step(ctx, journal, step, &why, dry)?, why),
    };
    Ok((status, reason))
}

/// Apply a step the probe found not done (`why`): refused if destructive
/// without --yes; journaled and checked again unless a dry run or done by
/// every run.
fn apply_step(
    ctx: &mut Ctx,
    mut journal: Option<&mut Journal>,
    step: &dyn Step,
    why: &str,
    dry: bool,
) -> Result<StepStatus> {
    let id = step.id();
    if step.kind() == StepKind::Destructive && !dry && !ctx.opts.yes {
        return Err(Refused(format!(
            "step {id} would destroy data on {}: read the dry run \
             (`netroot migrate --plan FILE --dry-run`), then run again with --yes",
            ctx.disk
                .as_ref()
                .map(|d| d.node.display().to_string())
                .unwrap_or_else(|| "the target".into())
        ))
        .into());
    }
    if let Some(j) = journal.as_deref_mut() {
        if ctx.opts.resync && id == StepId::Copy {
            // Unfinished until this copy ends: an interrupted final sync is
            // resumed by a plain run like an interrupted first copy.
            j.mark_undone(id)?;
        } else if j.is_done(id) && step.kind() != StepKind::EveryRun {
            if ctx.opts.resync {
                tracing::info!(
                    "final sync: the copy changed what {id} depends on ({why}); doing it again"
                );
            } else {
                tracing::warn!(
                    "journal says {id} finished, but the disk says: {why}; doing it again"
                );
            }
            j.mark_undone(id)?;
            ctx.journal_done.remove(&id);
        }
    }
    step.apply(ctx).with_context(|| format!("step {id}"))?;
    if !dry && step.kind() != StepKind::EveryRun {
        let syncing = Instant::now();
        ctx.sync_target().with_context(|| format!("step {id}"))?;
        tracing::debug!(
            "{id}: the target's filesystems synced in {:.2} s",
            syncing.elapsed().as_secs_f64()
        );
        if let Some(j) = journal.as_deref_mut() {
            j.mark_done(id)?;
        }
        ctx.journal_done.insert(id);
        check_applied(ctx, journal, step)?;
    }
    Ok(if dry {
        StepStatus::WouldRun
    } else {
        StepStatus::Ran
    })
}

/// Probe a step again after it ran: still not done is an error (and the
/// journal forgets it).
fn check_applied(ctx: &Ctx, journal: Option<&mut Journal>, step: &dyn Step) -> Result<()> {
    let id = step.id();
    match step
        .probe(ctx)
        .with_context(|| format!("checking step {id}"))?
    {
        Probe::Done(_) => Ok(()),
        Probe::Todo(why) => {
            if let Some(j) = journal {
                j.mark_undone(id)?;
            }
            anyhow::bail!("step {id} ran but its check says it is not done: {why}");
        }
    }
}

pub fn describe_target(plan: &Plan) -> String {
    use crate::plan::Target;
    let base = match &plan.target {
        Target::Iscsi {
            portal,
            iqn,
            lun,
            chap,
            ..
        } => format!(
            "iSCSI {iqn} LUN {lun} at portal {portal}{}",
            if chap.is_some() { " (CHAP)" } else { "" }
        ),
        Target::Aoe {
            shelf,
            slot,
            interface,
            ..
        } => format!(
            "AoE e{shelf}.{slot}{}",
            interface
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default()
        ),
    };
    match plan.target.device() {
        Some(d) => format!("{base}; working on {} here", d.display()),
        None => base,
    }
}

/// Per-step state as the journal records it (for `netroot status`).
pub fn status(plan: &Plan, opts: &RunOptions) -> Result<Vec<(StepId, Option<String>)>> {
    let path = journal::journal_path(&opts.state_dir, plan);
    let data = journal::read(&path)?;
    let data = match data {
        Some(d) if d.plan_digest != plan.digest() => {
            return Err(journal::different_plan(&path, &d, plan).into())
        }
        d => d,
    };
    Ok(StepId::ALL
        .iter()
        .map(|id| (*id, data.as_ref().and_then(|d| d.steps.get(id).cloned())))
        .collect())
}
