//! Step `mount`: mount the target's filesystems.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Mount;

impl Step for Mount {
    fn id(&self) -> StepId {
        StepId::Mount
    }
    fn kind(&self) -> StepKind {
        StepKind::Session
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "mount the target's filesystems".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step mount is not implemented yet")
    }
}
