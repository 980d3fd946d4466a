//! Network block transports: AoE and iSCSI (discovery, attach, identity).

pub mod aoe;
pub mod iscsi;

use crate::disk::TargetDisk;
use crate::engine::Ctx;
use anyhow::{bail, Result};

/// Attach the plan's network target on this machine (AoE discover / iSCSI
/// login), wait for its block device, and return it. Undo actions (logout)
/// go on `ctx.cleanup`. Only called when the plan has no `target.device`.
pub fn attach(ctx: &mut Ctx) -> Result<TargetDisk> {
    let _ = ctx;
    bail!("attaching network targets is not implemented yet: set target.device")
}
