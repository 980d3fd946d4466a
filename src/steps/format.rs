//! Step `format`: create the filesystems with the planned UUIDs.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Format;

impl Step for Format {
    fn id(&self) -> StepId {
        StepId::Format
    }
    fn kind(&self) -> StepKind {
        StepKind::Destructive
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "create the filesystems with the planned UUIDs".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step format is not implemented yet")
    }
}
