//! netroot: move an installed Linux system onto an AoE or iSCSI network
//! disk and make it boot diskless (PXE → iPXE sanboot → GRUB → initramfs
//! that attaches the disk → real root).
//!
//! Layout, bottom up (each layer imports only the ones before it; the table
//! is enforced by tests/layering.rs): [`event`] (typed progress events, step
//! names), [`outcome`] (refused, interrupted, the stop flag, exit codes),
//! [`plan`] (types, validation, schema), [`host`] (parsers and readers of
//! host facts: mountinfo, swaps, os-release, sysfs NICs, lsblk/findmnt
//! JSON), [`tools`] (one typed wrapper per
//! external program), [`disk`], [`profile`], [`system`], [`transport`],
//! [`engine`] (step trait, runner, journal, report; steps handed in),
//! [`steps`] (one file a step), [`server`], [`ui`], [`cli`].

pub mod cli;
pub mod disk;
pub mod engine;
pub mod event;
pub mod host;
pub mod outcome;
pub mod plan;
pub mod profile;
pub mod server;
pub mod steps;
pub mod system;
pub mod tools;
pub mod transport;
pub mod ui;
