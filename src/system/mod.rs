//! Changes inside the migrated system: fstab, identity, chroot guard.

pub mod chroot;
pub mod copytree;
pub mod fstab;
pub mod identity;
pub mod snapshot;
