//! Step `preflight`: check the target is safe to write and large enough.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Preflight;

impl Step for Preflight {
    fn id(&self) -> StepId {
        StepId::Preflight
    }
    fn kind(&self) -> StepKind {
        StepKind::Session
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "check the target is safe to write and large enough".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step preflight is not implemented yet")
    }
}
