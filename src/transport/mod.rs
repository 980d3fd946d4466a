//! Network block transports: AoE and iSCSI (discovery, attach, identity).
