//! DHCP for network-root clients: ISC dhcpd host blocks and the dnsmasq
//! equivalent. The firmware's PXE gets the iPXE binary; iPXE itself (user
//! class "iPXE") gets the client's script or root-path, never iPXE again,
//! so the chainload cannot loop.

use super::context::{self, ClientCtx, OptionsCtx};
use super::files::GeneratedFile;
use super::model::{ClientSpec, ExportSpec};
use super::options::{BootMethod, ServerOptions};
use super::templates::render;
use anyhow::{bail, Result};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Where the dhcpd snippet is installed; dhcpd.conf must include it.
pub const DHCPD_SNIPPET: &str = "/etc/dhcp/netroot.conf";
/// Where the dnsmasq snippet is installed (Debian reads /etc/dnsmasq.d).
pub const DNSMASQ_SNIPPET: &str = "/etc/dnsmasq.d/netroot.conf";

/// The server address used for next-server: `--server-ip`, else the first
/// iSCSI portal given as an IPv4 address.
pub fn server_ip(clients: &[ClientSpec], opts: &ServerOptions) -> Option<Ipv4Addr> {
    opts.server_ip.or_else(|| {
        clients.iter().find_map(|c| match &c.export {
            ExportSpec::Iscsi(i) => i.ipv4,
            ExportSpec::Aoe { .. } => None,
        })
    })
}

/// The TFTP server the clients load from (next-server).
pub fn tftp_server(clients: &[ClientSpec], opts: &ServerOptions) -> Option<Ipv4Addr> {
    opts.tftp_server.or_else(|| server_ip(clients, opts))
}

/// `--boot-method root-path` cannot carry CHAP.
pub fn check_root_path(clients: &[ClientSpec], opts: &ServerOptions) -> Result<()> {
    if opts.boot_method == BootMethod::RootPath {
        for c in clients {
            if !c.secrets().is_empty() {
                bail!(
                    "plan {}: CHAP needs the iPXE script (it sets username and password); drop --boot-method root-path",
                    c.plan_file.display()
                );
            }
        }
    }
    Ok(())
}

fn check_subnet(clients: &[ClientSpec], opts: &ServerOptions) -> Result<()> {
    if let Some(sn) = opts.subnet {
        for c in clients {
            if let Some(ip) = c.ip {
                if !sn.contains(ip) {
                    bail!(
                        "plan {}: the client's static address {ip} is outside the DHCP subnet {}/{} (from --subnet, else the server address's prefix): check the server address and --subnet",
                        c.plan_file.display(),
                        sn.network,
                        sn.prefix
                    );
                }
            }
        }
        if let Some((a, b)) = opts.range {
            if !sn.contains(a) || !sn.contains(b) || u32::from(a) > u32::from(b) {
                bail!("--range {a}-{b} is not an ascending range inside --subnet");
            }
        }
    } else if opts.range.is_some() {
        bail!("--range needs --subnet");
    }
    Ok(())
}

/// What the DHCP templates see.
#[derive(Serialize)]
struct DhcpCtx {
    clients: Vec<ClientCtx>,
    opts: OptionsCtx,
    /// The TFTP server for next-server, `none` when unknown.
    next_server: Option<String>,
    /// Where the snippet is installed.
    snippet: &'static str,
}

/// ISC dhcpd configuration (`profiles/server/dhcpd.conf.j2`): option
/// definitions, an optional subnet and one host block per client. Meant to
/// be included from dhcpd.conf.
pub fn dhcpd_conf(clients: &[ClientSpec], opts: &ServerOptions) -> Result<GeneratedFile> {
    check_root_path(clients, opts)?;
    check_subnet(clients, opts)?;
    let ctx = DhcpCtx {
        clients: context::clients(clients),
        opts: opts.into(),
        next_server: tftp_server(clients, opts).map(|a| a.to_string()),
        snippet: DHCPD_SNIPPET,
    };
    Ok(GeneratedFile::text(
        "dhcp/dhcpd-netroot.conf",
        "ISC dhcpd host entries (include from dhcpd.conf)",
        render("dhcpd.conf.j2", ctx)?,
    )
    .to(DHCPD_SNIPPET))
}

/// dnsmasq configuration (`profiles/server/dnsmasq.conf.j2`): tags per
/// client, the iPXE user class, and the boot file for each stage; TFTP when
/// it is served from this host.
pub fn dnsmasq_conf(clients: &[ClientSpec], opts: &ServerOptions) -> Result<GeneratedFile> {
    let ctx = DhcpCtx {
        clients: context::clients(clients),
        opts: opts.into(),
        next_server: tftp_server(clients, opts).map(|a| a.to_string()),
        snippet: DNSMASQ_SNIPPET,
    };
    Ok(GeneratedFile::text(
        "dhcp/dnsmasq-netroot.conf",
        "dnsmasq DHCP/TFTP config (alternative to dhcpd + a TFTP server)",
        render("dnsmasq.conf.j2", ctx)?,
    )
    .to(DNSMASQ_SNIPPET))
}
