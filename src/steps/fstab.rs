//! Step `fstab`: rewrite /etc/fstab to the new UUIDs.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Fstab;

impl Step for Fstab {
    fn id(&self) -> StepId {
        StepId::Fstab
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "rewrite /etc/fstab to the new UUIDs".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step fstab is not implemented yet")
    }
}
