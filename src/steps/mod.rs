//! The migration steps, one file each, in the order they run.

use crate::engine::Step;

pub mod bootloader;
pub mod copy;
pub mod discover;
pub mod finalize;
pub mod format;
pub mod fstab;
pub mod initramfs;
pub mod mount;
pub mod partition;
pub mod preflight;

/// The standard steps, in order.
pub fn all() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(discover::Discover),
        Box::new(preflight::Preflight),
        Box::new(partition::Partition),
        Box::new(format::Format),
        Box::new(mount::Mount),
        Box::new(copy::Copy),
        Box::new(fstab::Fstab),
        Box::new(initramfs::Initramfs),
        Box::new(bootloader::Bootloader),
        Box::new(finalize::Finalize),
    ]
}
