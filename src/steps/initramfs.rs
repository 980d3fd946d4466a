//! Step `initramfs`: build an initramfs that reaches the network root.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Initramfs;

impl Step for Initramfs {
    fn id(&self) -> StepId {
        StepId::Initramfs
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "build an initramfs that reaches the network root".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step initramfs is not implemented yet")
    }
}
