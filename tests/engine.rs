//! The step engine with steps of our own: probe/apply/journal, resume,
//! dry-run, the --yes rule and the changed-plan rule.

use anyhow::Result;
use netroot::engine::run::{run_steps, Refused};
use netroot::engine::{Ctx, Probe, RunOptions, Step, StepId, StepKind, StepStatus};
use netroot::plan::{parse_plan, Plan};
use netroot::tools::Cmd;
use netroot::ui::progress::{Collect, Event, NullSink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn plan(size: &str) -> Plan {
    parse_plan(&format!(
        r#"{{"version":1,"source":{{"type":"live"}},
           "target":{{"transport":"aoe","shelf":3,"slot":1}},
           "layout":{{"table":"gpt","firmware":"bios",
                      "partitions":[{{"mount":"/","fs":"ext4","size":"{size}"}}]}}}}"#
    ))
    .unwrap()
}

/// A step that creates a file; done when the file exists.
struct FileStep {
    id: StepId,
    kind: StepKind,
    path: PathBuf,
    applied: Arc<AtomicUsize>,
}

impl Step for FileStep {
    fn id(&self) -> StepId {
        self.id
    }
    fn kind(&self) -> StepKind {
        self.kind
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        format!("create {}", self.path.display())
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(if self.path.exists() {
            Probe::Done("file exists".into())
        } else {
            Probe::Todo("file missing".into())
        })
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        self.applied.fetch_add(1, Ordering::SeqCst);
        ctx.runner.run(&Cmd::new("true"))?;
        ctx.runner.write_file(&self.path, b"done\n", 0o644)
    }
}

fn steps(dir: &Path, applied: &Arc<AtomicUsize>) -> Vec<Box<dyn Step>> {
    vec![
        Box::new(FileStep {
            id: StepId::Partition,
            kind: StepKind::Destructive,
            path: dir.join("a"),
            applied: applied.clone(),
        }),
        Box::new(FileStep {
            id: StepId::Copy,
            kind: StepKind::Change,
            path: dir.join("b"),
            applied: applied.clone(),
        }),
        Box::new(FileStep {
            id: StepId::Fstab,
            kind: StepKind::Change,
            path: dir.join("c"),
            applied: applied.clone(),
        }),
    ]
}

fn opts(state: &Path) -> RunOptions {
    RunOptions {
        state_dir: state.to_path_buf(),
        lock_dir: state.join("locks"),
        yes: true,
        ..RunOptions::default()
    }
}

#[test]
fn runs_then_rerun_only_probes() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    let r = run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        Arc::new(NullSink),
        &s,
    )
    .unwrap();
    assert!(r.steps.iter().all(|s| s.status == StepStatus::Ran));
    assert_eq!(n.load(Ordering::SeqCst), 3);
    let r = run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        Arc::new(NullSink),
        &s,
    )
    .unwrap();
    assert!(
        r.steps.iter().all(|s| s.status == StepStatus::Done),
        "{r:?}"
    );
    assert!(r.steps.iter().all(|s| s.actions.is_empty()));
    assert_eq!(
        n.load(Ordering::SeqCst),
        3,
        "a finished plan applies nothing"
    );
}

#[test]
fn resumes_where_it_stopped_and_trusts_the_disk_over_the_journal() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    let mut o = opts(&d.path().join("state"));
    o.stop_after = Some(StepId::Copy);
    let r = run_steps(plan("rest"), o, Arc::new(NullSink), &s).unwrap();
    assert_eq!(r.steps[2].status, StepStatus::NotReached);
    assert!(!d.path().join("c").exists());
    // The disk lost step a's work although the journal says it finished.
    std::fs::remove_file(d.path().join("a")).unwrap();
    let r = run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        Arc::new(NullSink),
        &s,
    )
    .unwrap();
    let st: Vec<_> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(st, vec![StepStatus::Ran, StepStatus::Done, StepStatus::Ran]);
}

#[test]
fn dry_run_writes_nothing_and_reports_everything() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    let mut o = opts(&d.path().join("state"));
    o.dry_run = true;
    o.yes = false;
    let r = run_steps(plan("rest"), o, Arc::new(NullSink), &s).unwrap();
    assert!(r.steps.iter().all(|s| s.status == StepStatus::WouldRun));
    assert!(!d.path().join("a").exists());
    assert!(
        !d.path().join("state").exists(),
        "a dry run writes no journal"
    );
    assert_eq!(r.files_written().len(), 3);
    let text = r.to_text();
    assert!(text.contains("DRY RUN"), "{text}");
    assert!(text.contains("DESTRUCTIVE"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["steps"][0]["actions"][1]["kind"], "write_file");
    assert_eq!(json["steps"][0]["actions"][1]["contents"], "done\n");
}

#[test]
fn destructive_steps_need_yes() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    let mut o = opts(&d.path().join("state"));
    o.yes = false;
    let e = run_steps(plan("rest"), o, Arc::new(NullSink), &s).unwrap_err();
    assert!(e.downcast_ref::<Refused>().is_some(), "{e:#}");
    assert!(e.to_string().contains("--yes"), "{e:#}");
    assert_eq!(n.load(Ordering::SeqCst), 0);
}

#[test]
fn a_different_plan_for_the_same_target_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        Arc::new(NullSink),
        &s,
    )
    .unwrap();
    let e = run_steps(
        plan("2G"),
        opts(&d.path().join("state")),
        Arc::new(NullSink),
        &s,
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("layout.partitions[0].size"), "{msg}");
    assert_eq!(
        n.load(Ordering::SeqCst),
        3,
        "nothing ran for the second plan"
    );
}

#[test]
fn progress_events_frame_each_step() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let s = steps(d.path(), &n);
    let sink = Arc::new(Collect::default());
    run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        sink.clone(),
        &s,
    )
    .unwrap();
    let ev = sink.0.lock().unwrap();
    let starts = ev
        .iter()
        .filter(|e| matches!(e, Event::StepStart { .. }))
        .count();
    let ends = ev
        .iter()
        .filter(|e| matches!(e, Event::StepEnd { .. }))
        .count();
    assert_eq!((starts, ends), (3, 3));
}

/// A step whose apply fails.
struct FailingStep;

impl Step for FailingStep {
    fn id(&self) -> StepId {
        StepId::Copy
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "fail".into()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("never done".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        anyhow::bail!("the copy broke")
    }
}

#[test]
fn a_failed_step_still_ends_in_the_stream() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let mut s = steps(d.path(), &n);
    s.truncate(1);
    s.push(Box::new(FailingStep));
    let sink = Arc::new(Collect::default());
    let e = run_steps(
        plan("rest"),
        opts(&d.path().join("state")),
        sink.clone(),
        &s,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("the copy broke"), "{e:#}");
    let ev = sink.0.lock().unwrap();
    let ends: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, status, .. } => Some((*step, *status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            (StepId::Partition, netroot::event::StepEnded::Ran),
            (StepId::Copy, netroot::event::StepEnded::Failed)
        ]
    );
}

/// A later step that names what it writes, so a final sync's copy leaves it.
struct Protecting(FileStep);

impl Step for Protecting {
    fn id(&self) -> StepId {
        self.0.id()
    }
    fn kind(&self) -> StepKind {
        self.0.kind()
    }
    fn describe(&self, ctx: &Ctx) -> String {
        self.0.describe(ctx)
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        self.0.probe(ctx)
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        self.0.apply(ctx)
    }
    fn protects(&self, _ctx: &Ctx) -> Result<Vec<String>> {
        Ok(vec![self.0.path.display().to_string()])
    }
}

/// A copy that records what the run told it to leave alone.
struct SeeingCopy(FileStep, Arc<std::sync::Mutex<Vec<String>>>);

impl Step for SeeingCopy {
    fn id(&self) -> StepId {
        StepId::Copy
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, ctx: &Ctx) -> String {
        self.0.describe(ctx)
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        self.0.probe(ctx)
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        *self.1.lock().unwrap() = ctx.protect.clone();
        self.0.apply(ctx)
    }
}

#[test]
fn a_final_sync_copies_again_and_probes_the_later_steps() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let file = |id, name: &str| FileStep {
        id,
        kind: StepKind::Change,
        path: d.path().join(name),
        applied: n.clone(),
    };
    let s: Vec<Box<dyn Step>> = vec![
        Box::new(SeeingCopy(file(StepId::Copy, "b"), seen.clone())),
        Box::new(Protecting(file(StepId::Fstab, "c"))),
    ];
    let state = d.path().join("state");
    let resync = || RunOptions {
        resync: true,
        ..opts(&state)
    };
    // Before any run: bad input (exit 2), naming what to do first.
    let e = run_steps(plan("rest"), resync(), Arc::new(NullSink), &s).unwrap_err();
    assert_eq!(netroot::outcome::exit_code(&e), 2, "{e:#}");
    assert!(e.to_string().contains("run the migration first"), "{e:#}");
    assert_eq!(n.load(Ordering::SeqCst), 0);
    run_steps(plan("rest"), opts(&state), Arc::new(NullSink), &s).unwrap();
    assert!(
        seen.lock().unwrap().is_empty(),
        "a first run protects nothing"
    );
    // The final sync: the copy runs although the disk and journal say done;
    // the later step is probed (done) and its file was handed to the copy.
    let r = run_steps(plan("rest"), resync(), Arc::new(NullSink), &s).unwrap();
    let st: Vec<_> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(st, [StepStatus::Ran, StepStatus::Done]);
    assert_eq!(
        *seen.lock().unwrap(),
        [d.path().join("c").display().to_string()]
    );
    // The copy "overwrote" what the later step wrote: its probe redoes it.
    std::fs::remove_file(d.path().join("c")).unwrap();
    let r = run_steps(plan("rest"), resync(), Arc::new(NullSink), &s).unwrap();
    let st: Vec<_> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(st, [StepStatus::Ran, StepStatus::Ran]);
    let j = netroot::engine::journal::read(&netroot::engine::journal::journal_path(
        &state,
        &plan("rest"),
    ))
    .unwrap()
    .unwrap();
    assert!(
        j.last_resync.is_some(),
        "the journal does not record the final sync"
    );
    // --stop-service on a source that is not the running system: exit 2.
    let dir_plan = parse_plan(
        r#"{"version":1,"source":{"type":"directory","path":"/srv/tree"},
           "target":{"transport":"aoe","shelf":3,"slot":1},
           "layout":{"table":"gpt","firmware":"bios",
                     "partitions":[{"mount":"/","fs":"ext4","size":"rest"}]}}"#,
    )
    .unwrap();
    let o = RunOptions {
        stop_services: vec!["cron".into()],
        ..resync()
    };
    let e = run_steps(dir_plan, o, Arc::new(NullSink), &s).unwrap_err();
    assert_eq!(netroot::outcome::exit_code(&e), 2, "{e:#}");
    assert!(e.to_string().contains("live source only"), "{e:#}");
}
