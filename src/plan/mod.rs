//! The plan: what a migration does, as data. Versioned, closed (unknown
//! fields are errors) and validated before any destructive step.

pub mod diff;
mod dupkeys;
pub mod errors;
mod fields;
mod here;
pub mod identity;
pub mod layout;
pub mod schema;
mod secret;
pub mod size;
mod structural;
pub mod types;
pub mod validate;
pub mod values;

pub use errors::{PlanError, PlanErrors};
pub use layout::{resolve_layout, PartRole, ResolvedLayout, ResolvedPartition};
pub use size::{parse_size, Size, SizeSpec};
pub use types::*;
pub use validate::{parse_plan, validate_plan};
pub use values::{
    Cidr, Hostname, IfName, Interface, Iqn, Mac, Portal, PortalHost, SecretFile, ISCSI_DEFAULT_PORT,
};

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Read and validate a plan file. Errors list every problem with its path.
pub fn load_plan(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::outcome::Invalid(format!("reading plan {}: {e}", path.display())))?;
    parse_plan(&text).map_err(|e| anyhow::Error::new(e).context(format!("plan {}", path.display())))
}

/// [`load_plan`], then the checks that need this machine (the source tree
/// exists, the CHAP secrets are readable and well-formed): what `plan
/// validate` and `migrate` accept is what can run here.
pub fn load_plan_here(path: &Path) -> Result<Plan> {
    let plan = load_plan(path)?;
    here::check_here(&plan)
        .map_err(|e| anyhow::Error::new(e).context(format!("plan {}", path.display())))?;
    Ok(plan)
}

pub use here::check_here;

impl Plan {
    /// The plan's canonical JSON (field order of the types, defaults filled in).
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("plan serialises")
    }

    /// sha256 of the canonical JSON, hex. `layout.wipe` is left out: it is
    /// a permission, so turning it on to replace an old table does not make
    /// a different plan.
    pub fn digest(&self) -> String {
        let mut p = self.clone();
        p.layout.wipe = false;
        // How the copy reads the source (a snapshot or not) is not what it
        // copies: a final sync may switch it without starting over.
        match &mut p.source {
            Source::Live { snapshot } | Source::Directory { snapshot, .. } => *snapshot = false,
            Source::Debootstrap { .. } => {}
        }
        hex::encode(Sha256::digest(p.canonical_json().as_bytes()))
    }

    /// Seed for the UUIDs netroot chooses up front: the target's identity and
    /// the layout, so other plan changes keep the same UUIDs.
    pub fn layout_seed(&self) -> Vec<u8> {
        let mut s = self.target.identity().into_bytes();
        if let Some(d) = self.target.device() {
            s.extend_from_slice(d.as_os_str().as_encoded_bytes());
        }
        // `wipe` is permission, not shape: it must not change the UUIDs.
        let mut shape = self.layout.clone();
        shape.wipe = false;
        s.extend_from_slice(serde_json::to_string(&shape).unwrap().as_bytes());
        s
    }

    /// A short stable name for state files: transport and identity.
    pub fn target_key(&self) -> String {
        let raw = match &self.target {
            Target::Iscsi { iqn, lun, .. } => format!("iscsi-{iqn}-lun{lun}"),
            Target::Aoe { shelf, slot, .. } => format!("aoe-e{shelf}.{slot}"),
        };
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}
