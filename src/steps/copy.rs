//! Step `copy`: copy the system onto the target.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Copy;

impl Step for Copy {
    fn id(&self) -> StepId {
        StepId::Copy
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "copy the system onto the target".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step copy is not implemented yet")
    }
}
