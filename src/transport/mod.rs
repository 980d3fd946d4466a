//! Network block transports: AoE and iSCSI (discovery, attach, identity).
//!
//! [`attach`] is what the discover step calls when the plan has no
//! `target.device`. A target that is already attached is used as it is,
//! without any change, so a re-run attaches nothing twice. The transports
//! know nothing of the engine: what an attach needs from the run comes in
//! an [`AttachEnv`].

pub mod aoe;
pub mod aoe_kick;
pub mod attach;
pub mod common;
pub mod health;
pub mod iscsi;
pub mod iscsi_listing;
pub mod iscsi_record;
pub mod sendtargets;

pub use attach::{attach, verify};
pub use common::{attach_timeout, human_size, AttachEnv, HostPaths};
