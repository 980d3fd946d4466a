//! Facts about the host, read from the files the kernel and the distro
//! keep: the mount table, active swap areas, os-release, NICs in sysfs,
//! and the JSON that `lsblk` and `findmnt` print.
//!
//! Why a layer of its own: these facts used to be parsed again in every
//! module that needed them, each copy with its own rules (three unescapes
//! of mountinfo, three readers of /proc/swaps). Here each format has one
//! parser, a pure function over text so tests feed it captured outputs,
//! plus a reader for the live file. Nothing here runs a program: the
//! wrappers in `tools` run `lsblk`/`findmnt` and hand their output to the
//! parsers below (host imports only `event` and `outcome`).

pub mod devnode;
pub mod escape;
pub mod findmnt;
pub mod ipaddr;
pub mod lsblk;
pub mod mountinfo;
pub mod nic;
pub mod os_release;
pub mod swaps;
