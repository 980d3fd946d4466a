//! DHCP for network-root clients: ISC dhcpd host blocks and the dnsmasq
//! equivalent. The firmware's PXE gets the iPXE binary; iPXE itself (user
//! class "iPXE") gets the client's script or root-path, never iPXE again,
//! so the chainload cannot loop.

use super::model::{ClientSpec, ExportSpec};
use super::{BootMethod, GeneratedFile, ServerOptions};
use anyhow::{bail, Result};
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
            ExportSpec::Iscsi(i) => i.host.parse().ok(),
            ExportSpec::Aoe { .. } => None,
        })
    })
}

/// The TFTP server the clients load from (next-server).
pub fn tftp_server(clients: &[ClientSpec], opts: &ServerOptions) -> Option<Ipv4Addr> {
    opts.tftp_server.or_else(|| server_ip(clients, opts))
}

/// The initiator name iPXE should present (DHCP option 203 / script).
fn initiator(c: &ClientSpec) -> Option<&str> {
    match &c.export {
        ExportSpec::Iscsi(i) => i.initiator.as_deref(),
        ExportSpec::Aoe { .. } => None,
    }
}

fn check_root_path(clients: &[ClientSpec], opts: &ServerOptions) -> Result<()> {
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
                        "plan {}: the client's static address {ip} is outside --subnet {}/{}",
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

/// ISC dhcpd configuration: option definitions, an optional subnet and one
/// host block per client. Meant to be included from dhcpd.conf.
pub fn dhcpd_conf(clients: &[ClientSpec], opts: &ServerOptions) -> Result<GeneratedFile> {
    check_root_path(clients, opts)?;
    check_subnet(clients, opts)?;
    let next = tftp_server(clients, opts);
    let mut s = String::from(
        "# netroot: DHCP for network-root clients (ISC dhcpd).\n\
         # Generated; re-run `netroot server` instead of editing.\n\
         # Include it from /etc/dhcp/dhcpd.conf:  include \"/etc/dhcp/netroot.conf\";\n\
         # Check: dhcpd -t -cf /etc/dhcp/dhcpd.conf\n\n",
    );
    if opts.boot_method == BootMethod::RootPath && clients.iter().any(|c| initiator(c).is_some()) {
        s.push_str("# iPXE reads the iSCSI initiator name from option 203.\noption netroot-initiator-iqn code 203 = string;\n\n");
    }
    if next.is_none() {
        s.push_str(
            "# WARNING: no server address known for next-server (pass --server-ip):\n\
             # PXE firmware may not find the TFTP server.\n\n",
        );
    }
    if let Some(sn) = opts.subnet {
        s.push_str(&format!(
            "subnet {} netmask {} {{\n",
            sn.network,
            sn.netmask()
        ));
        if let Some((a, b)) = opts.range {
            s.push_str(&format!("    range {a} {b};\n"));
        }
        s.push_str("}\n\n");
    }
    for c in clients {
        s.push_str(&dhcpd_host(c, opts, next));
    }
    Ok(GeneratedFile::text(
        "dhcp/dhcpd-netroot.conf",
        "ISC dhcpd host entries (include from dhcpd.conf)",
        s,
    )
    .to(DHCPD_SNIPPET))
}

fn dhcpd_host(c: &ClientSpec, opts: &ServerOptions, next: Option<Ipv4Addr>) -> String {
    let efi = opts.efi_binary.file_name();
    let mut s = format!(
        "# {} boots {} from the network (plan {})\nhost {} {{\n    hardware ethernet {};\n",
        c.name,
        c.san_uri(),
        c.plan_file.display(),
        c.name,
        c.mac
    );
    if let Some(ip) = c.ip {
        s.push_str(&format!("    fixed-address {ip};\n"));
    }
    if let Some(n) = next {
        s.push_str(&format!("    next-server {n};\n"));
    }
    s.push_str("    if exists user-class and option user-class = \"iPXE\" {\n");
    s.push_str("        # iPXE is running: never hand it iPXE again (that loops).\n");
    match opts.boot_method {
        BootMethod::Script => {
            s.push_str(&format!("        filename \"{}\";\n", c.script_path()));
        }
        BootMethod::RootPath => {
            s.push_str("        filename \"\";\n");
            s.push_str(&format!("        option root-path \"{}\";\n", c.san_uri()));
            if let Some(i) = initiator(c) {
                s.push_str(&format!("        option netroot-initiator-iqn \"{i}\";\n"));
            }
        }
    }
    let bios = c.firmware.bios();
    let uefi = c.firmware.uefi();
    let efi_test = "substring (option vendor-class-identifier, 0, 20) = \"PXEClient:Arch:00007\"\n        or substring (option vendor-class-identifier, 0, 20) = \"PXEClient:Arch:00009\"";
    match (bios, uefi) {
        (true, true) => s.push_str(&format!(
            "    }} elsif {efi_test} {{\n        filename \"{efi}\";\n    }} else {{\n        filename \"undionly.kpxe\";\n    }}\n"
        )),
        (false, true) => s.push_str(&format!("    }} else {{\n        filename \"{efi}\";\n    }}\n")),
        _ => s.push_str("    } else {\n        filename \"undionly.kpxe\";\n    }\n"),
    }
    s.push_str("}\n\n");
    s
}

/// dnsmasq configuration: tags per client, the iPXE user class, and the
/// boot file for each stage; TFTP when it is served from this host.
pub fn dnsmasq_conf(clients: &[ClientSpec], opts: &ServerOptions) -> GeneratedFile {
    let efi = opts.efi_binary.file_name();
    let mut s = String::from(
        "# netroot: DHCP (and TFTP) for network-root clients (dnsmasq).\n\
         # Generated; re-run `netroot server` instead of editing.\n\
         # Debian reads it from /etc/dnsmasq.d/. Check: dnsmasq --test -C FILE\n\n\
         # iPXE sends user class \"iPXE\": it gets its script, not iPXE again.\n\
         dhcp-userclass=set:ipxe,iPXE\n\
         # UEFI x86-64 firmware (client architecture 7 or 9).\n\
         dhcp-match=set:efi64,option:client-arch,7\n\
         dhcp-match=set:efi64,option:client-arch,9\n",
    );
    if let Some(i) = &opts.dhcp_interface {
        s.push_str(&format!("interface={i}\nbind-dynamic\n"));
    }
    if let Some(sn) = opts.subnet {
        match opts.range {
            Some((a, b)) => s.push_str(&format!("dhcp-range={a},{b},{},12h\n", sn.netmask())),
            None => s.push_str(&format!(
                "# Only the hosts below get addresses.\ndhcp-range={},static,{},12h\n",
                sn.network,
                sn.netmask()
            )),
        }
    }
    let remote_tftp = opts.tftp_server;
    match remote_tftp {
        None => s.push_str(&format!(
            "enable-tftp\ntftp-root={}\n",
            opts.tftp_root.display()
        )),
        Some(t) => s.push_str(&format!("# TFTP is served by {t}.\n")),
    }
    let srv = remote_tftp.map(|t| format!(",,{t}")).unwrap_or_default();
    for c in clients {
        let tag = format!("netroot-{}", c.name);
        s.push_str(&format!(
            "\n# {} boots {} (plan {})\n",
            c.name,
            c.san_uri(),
            c.plan_file.display()
        ));
        match c.ip {
            Some(ip) => s.push_str(&format!("dhcp-host={},set:{tag},{ip},{}\n", c.mac, c.name)),
            None => s.push_str(&format!("dhcp-host={},set:{tag},{}\n", c.mac, c.name)),
        }
        if c.firmware.bios() {
            let efi_guard = if c.firmware.uefi() { "tag:!efi64," } else { "" };
            s.push_str(&format!(
                "dhcp-boot=tag:{tag},tag:!ipxe,{efi_guard}undionly.kpxe{srv}\n"
            ));
        }
        if c.firmware.uefi() {
            let guard = if c.firmware.bios() { "tag:efi64," } else { "" };
            s.push_str(&format!(
                "dhcp-boot=tag:{tag},tag:!ipxe,{guard}{efi}{srv}\n"
            ));
        }
        match opts.boot_method {
            BootMethod::Script => s.push_str(&format!(
                "dhcp-boot=tag:{tag},tag:ipxe,{}{srv}\n",
                c.script_path()
            )),
            BootMethod::RootPath => {
                s.push_str(&format!(
                    "dhcp-option=tag:{tag},tag:ipxe,option:root-path,\"{}\"\n",
                    c.san_uri()
                ));
                if let Some(i) = initiator(c) {
                    s.push_str(&format!("dhcp-option=tag:{tag},tag:ipxe,203,\"{i}\"\n"));
                }
            }
        }
    }
    GeneratedFile::text(
        "dhcp/dnsmasq-netroot.conf",
        "dnsmasq DHCP/TFTP config (alternative to dhcpd + a TFTP server)",
        s,
    )
    .to(DNSMASQ_SNIPPET)
}
