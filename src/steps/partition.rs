//! Step `partition`: write the partition table.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Partition;

impl Step for Partition {
    fn id(&self) -> StepId {
        StepId::Partition
    }
    fn kind(&self) -> StepKind {
        StepKind::Destructive
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "write the partition table".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step partition is not implemented yet")
    }
}
