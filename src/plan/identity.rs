//! Identities derived from the plan alone, so that every machine that
//! reads the same plan computes the same value: the iSCSI initiator name
//! the server's ACL admits, iPXE presents, the migration logs in with and
//! the migrated system keeps.

use super::layout::derived_uuid;
use super::Plan;

/// The client's iSCSI initiator name: the plan's `client.initiator_name`,
/// else one in Debian's generated form, stable for this plan's target.
pub fn initiator_name(plan: &Plan) -> String {
    if let Some(n) = &plan.client.initiator_name {
        return n.to_string();
    }
    let h = derived_uuid(&plan.layout_seed(), "initiator-name").replace('-', "");
    format!("iqn.1993-08.org.debian:01:{}", &h[..12])
}
