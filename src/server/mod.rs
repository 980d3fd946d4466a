//! The server side generated from plans: the AoE or iSCSI export, DHCP
//! (ISC dhcpd and dnsmasq), the TFTP tree with iPXE and a per-client iPXE
//! script, and a README saying what goes where.
//!
//! Generation is pure: [`generate`] turns plans and [`ServerOptions`] into
//! [`GeneratedFile`]s (the CHAP secrets are read from their files first, by
//! [`load_clients`]). Each file's text is a template under
//! `profiles/server/` rendered by [`templates`]. [`write`] puts them into a
//! directory through the runner, so `--dry-run` shows every file (secrets
//! as `***`). [`apply`] installs them on a Debian server.
//!
//! This file only declares the children, re-exports their API and holds
//! the entry point from plans; no child imports anything from here.

pub mod apply;
pub mod context;
pub mod detect;
pub mod dhcp;
pub mod export;
pub mod files;
pub mod generate;
pub mod ipxe;
pub mod lio;
pub mod model;
pub mod options;
pub mod readme;
pub mod resolve;
pub mod templates;

pub use apply::{apply, ApplyOptions, DhcpServer, IscsiTarget};
pub use files::{redact, write, Contents, GeneratedFile};
pub use generate::generate;
pub use model::{load_clients, ClientSpec, ExportSpec, IscsiExport};
pub use options::{parse_server_ip, BootMethod, EfiBinary, ServerOptions, Subnet};

use crate::plan::Plan;
use anyhow::Result;
use std::path::PathBuf;

/// Load plans' clients (reading CHAP secrets) and generate every file.
pub fn generate_from_plans(
    plans: &[(PathBuf, Plan)],
    opts: &ServerOptions,
) -> Result<Vec<GeneratedFile>> {
    let clients = model::load_clients(plans, opts)?;
    generate::generate(&clients, opts)
}
