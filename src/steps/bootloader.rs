//! Step `bootloader`: install GRUB on the target.

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use anyhow::{bail, Result};

pub struct Bootloader;

impl Step for Bootloader {
    fn id(&self) -> StepId {
        StepId::Bootloader
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "install GRUB on the target".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("not implemented yet".into()))
    }
    fn apply(&self, _ctx: &mut Ctx) -> Result<()> {
        bail!("step bootloader is not implemented yet")
    }
}
