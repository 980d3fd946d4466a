//! README.txt: in order, what to install and where each generated file
//! goes. The text is the template `profiles/server/README.txt.j2`.

use super::context::{self, ClientCtx, FileCtx, OptionsCtx};
use super::dhcp::{server_ip, DHCPD_SNIPPET, DNSMASQ_SNIPPET};
use super::files::GeneratedFile;
use super::model::{ClientSpec, ExportSpec};
use super::options::ServerOptions;
use super::templates::render;
use anyhow::Result;
use serde::Serialize;

/// What the README template sees.
#[derive(Serialize)]
struct ReadmeCtx {
    clients: Vec<ClientCtx>,
    opts: OptionsCtx,
    /// The server address next-server uses, `none` when unknown.
    server_ip: Option<String>,
    /// The packages to install for the exports.
    packages: Vec<&'static str>,
    /// Whether a client uses CHAP (its iPXE script holds the secret).
    any_chap: bool,
    /// The files below tftp/.
    tftp_files: Vec<FileCtx>,
    /// Every file generated before the README.
    files: Vec<FileCtx>,
    dhcpd_snippet: &'static str,
    dnsmasq_snippet: &'static str,
}

/// The README for the output directory.
pub fn readme(
    clients: &[ClientSpec],
    opts: &ServerOptions,
    files: &[GeneratedFile],
) -> Result<GeneratedFile> {
    let mut packages = vec!["ipxe"];
    if clients
        .iter()
        .any(|c| matches!(c.export, ExportSpec::Aoe { .. }))
    {
        packages.push("vblade");
    }
    if clients
        .iter()
        .any(|c| matches!(c.export, ExportSpec::Iscsi(_)))
    {
        packages.push("tgt");
    }
    let ctx = ReadmeCtx {
        clients: context::clients(clients),
        opts: opts.into(),
        server_ip: server_ip(clients, opts).map(|a| a.to_string()),
        packages,
        any_chap: clients.iter().any(|c| !c.secrets().is_empty()),
        tftp_files: files
            .iter()
            .filter(|f| f.rel_path.starts_with("tftp/"))
            .map(FileCtx::from)
            .collect(),
        files: files.iter().map(FileCtx::from).collect(),
        dhcpd_snippet: DHCPD_SNIPPET,
        dnsmasq_snippet: DNSMASQ_SNIPPET,
    };
    Ok(GeneratedFile::text(
        "README.txt",
        "this file",
        render("README.txt.j2", ctx)?,
    ))
}
