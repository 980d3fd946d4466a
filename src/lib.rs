//! netroot: move an installed Linux system onto an AoE or iSCSI network
//! disk and make it boot diskless (PXE → iPXE sanboot → GRUB → initramfs
//! that attaches the disk → real root).
//!
//! Layout: [`plan`] (types, validation, schema), [`engine`] (step trait,
//! runner, journal, report), [`steps`] (one file a step), [`tools`] (one
//! typed wrapper per external program), [`disk`], [`transport`],
//! [`profile`], [`server`], [`ui`], [`cli`].

pub mod cli;
pub mod disk;
pub mod engine;
pub mod plan;
pub mod profile;
pub mod server;
pub mod steps;
pub mod system;
pub mod tools;
pub mod transport;
pub mod ui;
