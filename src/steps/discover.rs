//! Step `discover`: find and attach the target disk.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Discover;

impl Step for Discover {
    fn id(&self) -> StepId {
        StepId::Discover
    }
    fn kind(&self) -> StepKind {
        StepKind::Session
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "find and attach the target disk".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step discover is not implemented yet")
    }
}
