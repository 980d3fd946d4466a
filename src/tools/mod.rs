//! External programs, each behind one typed wrapper. All run through
//! [`cmd::Runner`]; their output is parsed here or, for host facts
//! (lsblk, findmnt JSON), by [`crate::host`].

pub mod aoe;
pub mod blkid;
pub mod btrfs;
pub mod cleanup;
pub mod cmd;
pub mod debootstrap;
pub mod du;
pub mod findmnt;
pub mod grub;
pub mod initramfs;
pub mod ip;
pub mod iscsiadm;
pub mod losetup;
pub mod lsblk;
pub mod lvm;
pub mod mkfs;
pub mod mount;
pub mod rsync;
pub mod runner;
pub mod sfdisk;
pub mod systemctl;

pub use cmd::{Cmd, Output};
pub use runner::{Action, Runner};
