//! Step `finalize`: leave evidence in the target and flush it.
//!
//! Writes /var/lib/netroot/provenance.json (plan digest, netroot version,
//! source, target, root UUID, date) and copies this run's log
//! (`--log-file`) to /var/log/netroot/migrate.log, then syncs the target's
//! filesystems. Unmounting, logging out and detaching are the engine's
//! cleanup stack's job at the end of the run.

use super::shared::{target_root, STATE_DIR};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::tools::Cmd;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub struct Finalize;

const PROVENANCE: &str = "provenance.json";
const LOG: &str = "var/log/netroot/migrate.log";

/// The provenance record left in the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub plan_digest: String,
    pub netroot_version: String,
    pub source: String,
    pub target: String,
    pub root_uuid: Option<String>,
    /// RFC 3339, UTC.
    pub date: String,
}

impl Step for Finalize {
    fn id(&self) -> StepId {
        StepId::Finalize
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        format!("record provenance in /{STATE_DIR}/{PROVENANCE}, copy the run log to /{LOG}, sync")
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = &ctx.root else {
            return Ok(Probe::Todo("the target is not mounted yet".into()));
        };
        let p = root.join(STATE_DIR).join(PROVENANCE);
        match std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| serde_json::from_str::<Provenance>(&t).ok())
        {
            Some(r) if r.plan_digest == ctx.plan.digest() => Ok(Probe::Done(format!(
                "/{STATE_DIR}/{PROVENANCE} records this plan ({})",
                r.date
            ))),
            Some(_) => Ok(Probe::Todo(format!(
                "/{STATE_DIR}/{PROVENANCE} records another plan"
            ))),
            None => Ok(Probe::Todo(format!(
                "no /{STATE_DIR}/{PROVENANCE} in the target"
            ))),
        }
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = target_root(ctx)?;
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let rec = Provenance {
            plan_digest: ctx.plan.digest(),
            netroot_version: env!("CARGO_PKG_VERSION").to_string(),
            source: ctx.plan.source.describe(),
            target: crate::engine::describe_target(&ctx.plan),
            root_uuid: ctx.layout.as_ref().and_then(|l| l.root().fs_uuid.clone()),
            date,
        };
        if let Some(log) = ctx.opts.log_file.clone() {
            // An effect, not a recorded file: a dry run would show the whole log.
            let dst = root.join(LOG);
            let what = format!("copy the run log {} to {}", log.display(), dst.display());
            ctx.runner.effect(&what, false, move || {
                let bytes =
                    std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
                crate::tools::runner::write_atomic(&dst, &bytes, 0o600)
            })?;
        }
        ctx.runner.write_file(
            &root.join(STATE_DIR).join(PROVENANCE),
            (serde_json::to_string_pretty(&rec)? + "\n").as_bytes(),
            0o644,
        )?;
        ctx.runner
            .run(&Cmd::new("sync").arg("-f").arg(&root))
            .context("syncing the target's filesystems")?;
        Ok(())
    }
    fn protects(&self, _ctx: &Ctx) -> Result<Vec<String>> {
        Ok(vec![
            format!("/{STATE_DIR}/{PROVENANCE}"),
            format!("/{LOG}"),
        ])
    }
}
