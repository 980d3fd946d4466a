//! Every server file for a set of clients, in README order: the exports,
//! DHCP, the TFTP tree, then the README that lists them all. Apart from the
//! module root so `apply` can generate without importing it.

use super::files::GeneratedFile;
use super::model::{self, ClientSpec};
use super::options::ServerOptions;
use super::{dhcp, export, ipxe, readme, resolve};
use anyhow::{bail, Result};

/// Generate every file for these clients. Pure: no file is read or written.
pub fn generate(clients: &[ClientSpec], opts: &ServerOptions) -> Result<Vec<GeneratedFile>> {
    if clients.is_empty() {
        bail!("no plan given; pass --plan FILE (once per client)");
    }
    model::check_unique(clients)?;
    dhcp::check_root_path(clients, opts)?;
    let (clients, opts) = resolve::complete(clients, opts)?;
    let (clients, opts) = (&clients[..], &opts);
    let mut files = Vec::new();
    for c in clients {
        files.extend(export::files(c, opts)?);
    }
    files.push(dhcp::dhcpd_conf(clients, opts)?);
    files.push(dhcp::dnsmasq_conf(clients, opts)?);
    files.extend(ipxe::files(clients, opts)?);
    files.push(readme::readme(clients, opts, &files)?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Firmware;
    use crate::server::model::{ExportSpec, IscsiExport};
    use crate::server::options::EfiBinary;

    fn iscsi(lun: u32, port: u16) -> ClientSpec {
        ClientSpec {
            name: "c".into(),
            plan_file: "p.json".into(),
            mac: "52:54:00:00:00:01".into(),
            ip: None,
            ip_subnet: None,
            firmware: Firmware::Uefi,
            backing: "/srv/c.img".into(),
            backing_size: None,
            export: ExportSpec::Iscsi(IscsiExport {
                host: "192.0.2.1".into(),
                ipv4: Some(std::net::Ipv4Addr::new(192, 0, 2, 1)),
                port,
                iqn: "iqn.2024-01.org.example:c".into(),
                lun,
                initiator: None,
                chap: None,
            }),
        }
    }

    #[test]
    fn uefi_only_client_gets_only_the_efi_binary() {
        let c = iscsi(1, 3260);
        let opts = ServerOptions {
            efi_binary: EfiBinary::Snponly,
            subnet: Some(crate::server::Subnet::parse("192.0.2.0/24").unwrap()),
            ..Default::default()
        };
        let files = generate(&[c], &opts).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.rel_path.as_str()).collect();
        assert!(names.contains(&"tftp/snponly.efi"), "{names:?}");
        assert!(!names.contains(&"tftp/undionly.kpxe"), "{names:?}");
        let d = files
            .iter()
            .find(|f| f.rel_path == "dhcp/dhcpd-netroot.conf")
            .unwrap()
            .text_contents()
            .unwrap()
            .to_string();
        assert!(
            d.contains("    } else {\n        filename \"snponly.efi\";"),
            "{d}"
        );
        assert!(!d.contains("undionly"), "{d}");
        // No initiator name and no --allow-any-initiator would have been refused
        // by load_clients; here the tgt block says any initiator may log in.
        let t = files
            .iter()
            .find(|f| f.rel_path.ends_with("netroot-c.conf") && f.rel_path.starts_with("iscsi/"))
            .unwrap();
        assert!(t
            .text_contents()
            .unwrap()
            .contains("any initiator may log in"));
    }
}
