//! The engine's stop flag (set by the wizard's Ctrl-C handler): the run
//! stops before the next step, the finished step stays in the journal, and
//! a run of the same plan without the flag would go on from there. In its
//! own test binary because the flag is process-wide.

use anyhow::Result;
use netroot::engine::run::{request_stop, run_steps, Interrupted};
use netroot::engine::{Ctx, Probe, RunOptions, Step, StepId, StepKind};
use netroot::plan::{parse_plan, Plan};
use netroot::ui::progress::NullSink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn plan() -> Plan {
    parse_plan(
        r#"{"version":1,"source":{"type":"live"},
           "target":{"transport":"aoe","shelf":4,"slot":2},
           "layout":{"table":"gpt","firmware":"bios",
                     "partitions":[{"mount":"/","fs":"ext4","size":"rest"}]}}"#,
    )
    .unwrap()
}

/// Creates a file; the first one also "presses Ctrl-C" while it runs.
struct Touch {
    id: StepId,
    path: PathBuf,
    stop: bool,
    applied: Arc<AtomicUsize>,
}

impl Step for Touch {
    fn id(&self) -> StepId {
        self.id
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        format!("create {}", self.path.display())
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(if self.path.exists() {
            Probe::Done("exists".into())
        } else {
            Probe::Todo("missing".into())
        })
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        self.applied.fetch_add(1, Ordering::SeqCst);
        if self.stop {
            request_stop();
        }
        ctx.runner.write_file(&self.path, b"x\n", 0o644)
    }
}

#[test]
fn a_stop_request_ends_the_run_before_the_next_step() {
    let d = tempfile::tempdir().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let steps: Vec<Box<dyn Step>> = vec![
        Box::new(Touch {
            id: StepId::Copy,
            path: d.path().join("copy"),
            stop: true,
            applied: n.clone(),
        }),
        Box::new(Touch {
            id: StepId::Fstab,
            path: d.path().join("fstab"),
            stop: false,
            applied: n.clone(),
        }),
    ];
    let opts = RunOptions {
        state_dir: d.path().join("state"),
        work_dir: d.path().join("work"),
        lock_dir: d.path().join("locks"),
        yes: true,
        ..RunOptions::default()
    };
    let e = run_steps(plan(), opts.clone(), Arc::new(NullSink), &steps).unwrap_err();
    let i = e
        .downcast_ref::<Interrupted>()
        .unwrap_or_else(|| panic!("not an interruption: {e:#}"));
    assert_eq!(i.0, StepId::Fstab);
    assert_eq!(n.load(Ordering::SeqCst), 1, "the step after the stop ran");
    assert!(d.path().join("copy").exists());
    assert!(!d.path().join("fstab").exists());
    let st = netroot::engine::status(&plan(), &opts).unwrap();
    let done: Vec<StepId> = st
        .iter()
        .filter(|(_, t)| t.is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(done, vec![StepId::Copy], "the finished step is journaled");
    // A dry run is never stopped by the flag.
    let dry = RunOptions {
        dry_run: true,
        ..opts
    };
    let r = run_steps(plan(), dry, Arc::new(NullSink), &steps).unwrap();
    assert_eq!(r.steps.len(), 2);
}
