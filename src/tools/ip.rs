//! iproute2's `ip`: the command builders netroot runs it with. Its JSON
//! output is parsed by [`crate::host::ipaddr`].

use super::Cmd;

/// `ip -j -4 addr show`: every interface with its IPv4 addresses, as JSON.
pub fn addr_json() -> Cmd {
    Cmd::new("ip").args(["-j", "-4", "addr", "show"])
}
