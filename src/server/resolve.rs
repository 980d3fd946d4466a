//! The server facts every generated file shares, completed once from the
//! options and the clients before anything is rendered: the server's
//! address, the clients' DHCP subnet and dynamic range, the interface
//! dnsmasq answers on. A fact that cannot be known is an error naming the
//! option that gives it — never a file that silently serves nobody (a
//! dnsmasq without `dhcp-range` runs, passes `--test`, and answers no one).

use super::model::{ClientSpec, ExportSpec};
use super::options::{ServerOptions, Subnet};
use anyhow::{bail, Result};
use std::net::Ipv4Addr;

/// `opts` with `server_ip`, `subnet`, `range` and `dhcp_interface` filled
/// in from what the clients and the other options say, and the clients
/// with a loopback portal pointed at the server's address (a client on
/// the LAN cannot reach the machine's 127.0.0.1).
pub fn complete(
    clients: &[ClientSpec],
    opts: &ServerOptions,
) -> Result<(Vec<ClientSpec>, ServerOptions)> {
    let mut o = opts.clone();
    o.server_ip = opts.server_ip.or_else(|| portal_address(clients));
    let needs_ip = clients.iter().any(loopback_portal) || o.tftp_server.is_none();
    if needs_ip && o.server_ip.is_none() {
        bail!("{}", unknown_server_ip(clients));
    }
    let mut out = clients.to_vec();
    if let Some(ip) = o.server_ip {
        for c in out.iter_mut() {
            if let ExportSpec::Iscsi(i) = &mut c.export {
                if i.ipv4.is_some_and(|a| a.is_loopback()) {
                    i.host = ip.to_string();
                    i.ipv4 = Some(ip);
                }
            }
        }
    }
    o.subnet = match opts.subnet.or(opts.server_subnet) {
        Some(s) => Some(s),
        None => static_subnet(clients)?,
    };
    let Some(sn) = o.subnet else {
        bail!("the clients' DHCP subnet is unknown: pass --server-ip ADDR/PREFIX (e.g. 192.0.2.1/24, the server's address with its prefix) or --subnet NETWORK/PREFIX");
    };
    if let Some(ip) = o.server_ip.filter(|ip| !sn.contains(*ip)) {
        bail!(
            "the server address {ip} is outside the DHCP subnet {}/{}: check --server-ip and --subnet",
            sn.network,
            sn.prefix
        );
    }
    if opts.dhcp_proxy && opts.boot_method == super::options::BootMethod::RootPath {
        bail!("--boot-method root-path and --dhcp-proxy exclude each other: a proxy DHCP answer carries no root-path; use the default --boot-method script");
    }
    if opts.dhcp_proxy && opts.range.is_some() {
        bail!("--range and --dhcp-proxy exclude each other: in proxy mode the LAN's own DHCP server hands out the addresses");
    }
    if !o.dhcp_proxy && o.range.is_none() && clients.iter().any(|c| c.ip.is_none()) {
        o.range = Some(default_range(sn, o.server_ip, clients)?);
    }
    if o.dhcp_interface.is_none() {
        o.dhcp_interface = o.interface.clone();
    }
    Ok((out, o))
}

fn loopback_portal(c: &ClientSpec) -> bool {
    matches!(&c.export, ExportSpec::Iscsi(i) if i.ipv4.is_some_and(|a| a.is_loopback()))
}

/// The first iSCSI portal given as a routable IPv4 address: the server
/// clients log in to is, by default, the one serving them.
fn portal_address(clients: &[ClientSpec]) -> Option<Ipv4Addr> {
    clients.iter().find_map(|c| match &c.export {
        ExportSpec::Iscsi(i) => i.ipv4.filter(|a| !a.is_loopback() && !a.is_unspecified()),
        ExportSpec::Aoe { .. } => None,
    })
}

fn unknown_server_ip(clients: &[ClientSpec]) -> String {
    let why = match clients.iter().find(|c| loopback_portal(c)) {
        Some(c) => format!(
            "plan {}: target.portal is this machine's loopback address, which clients on the LAN cannot reach",
            c.plan_file.display()
        ),
        None => "next-server (where PXE firmware fetches iPXE) and the iPXE script need it".into(),
    };
    format!(
        "the server's IPv4 address is unknown ({why}): pass --server-ip ADDR/PREFIX, the server's address on the clients' LAN, e.g. --server-ip 192.0.2.1/24"
    )
}

/// The subnet of the clients' static addresses, when every static client
/// names the same one.
fn static_subnet(clients: &[ClientSpec]) -> Result<Option<Subnet>> {
    let mut found: Option<Subnet> = None;
    for c in clients {
        let Some(sn) = c.ip_subnet else { continue };
        match found {
            Some(f) if f != sn => bail!(
                "plan {}: its static address is in {}/{}, another plan's in {}/{}: pass --subnet for the DHCP subnet",
                c.plan_file.display(),
                sn.network,
                sn.prefix,
                f.network,
                f.prefix
            ),
            _ => found = Some(sn),
        }
    }
    Ok(found)
}

/// The upper half of the subnet's host addresses (the lower half usually
/// holds the server and fixed addresses), or the lower half when the server
/// or a fixed client address is in the upper one.
fn default_range(
    sn: Subnet,
    server: Option<Ipv4Addr>,
    clients: &[ClientSpec],
) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let net = u32::from(sn.network);
    let size = 1u64 << (32 - u32::from(sn.prefix));
    if size < 8 {
        bail!(
            "the subnet {}/{} is too small for a default DHCP range: pass --range START-END",
            sn.network,
            sn.prefix
        );
    }
    let half = (size / 2) as u32;
    let upper = (net + half, net + (size as u32 - 2));
    let lower = (net + 1, net + half - 1);
    let taken: Vec<u32> = server
        .into_iter()
        .chain(clients.iter().filter_map(|c| c.ip))
        .map(u32::from)
        .collect();
    let free = |(a, b): (u32, u32)| !taken.iter().any(|t| (a..=b).contains(t));
    let (a, b) = if free(upper) {
        upper
    } else if free(lower) {
        lower
    } else {
        bail!(
            "the server and fixed client addresses leave no half of {}/{} for a default DHCP range: pass --range START-END",
            sn.network,
            sn.prefix
        );
    };
    Ok((Ipv4Addr::from(a), Ipv4Addr::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Firmware;
    use crate::server::model::IscsiExport;

    fn client(portal: Ipv4Addr, ip: Option<Ipv4Addr>) -> ClientSpec {
        ClientSpec {
            name: "c".into(),
            plan_file: "p.json".into(),
            mac: "52:54:00:00:00:01".into(),
            ip,
            ip_subnet: ip.map(|_| Subnet::parse("192.0.2.0/24").unwrap()),
            firmware: Firmware::Bios,
            backing: "/srv/netroot/c.img".into(),
            backing_size: None,
            export: ExportSpec::Iscsi(IscsiExport {
                host: portal.to_string(),
                ipv4: Some(portal),
                port: 3260,
                iqn: "iqn.2024-01.org.example:c".into(),
                lun: 1,
                initiator: Some("iqn.2024-01.org.example:c-init".into()),
                chap: None,
            }),
        }
    }

    #[test]
    fn loopback_portal_needs_the_server_address_and_is_replaced_by_it() {
        let c = client(Ipv4Addr::LOCALHOST, None);
        let e = complete(std::slice::from_ref(&c), &ServerOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--server-ip") && e.contains("loopback"), "{e}");
        let opts = ServerOptions {
            server_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
            server_subnet: Some(Subnet::parse("192.0.2.0/24").unwrap()),
            ..Default::default()
        };
        let (cs, o) = complete(&[c], &opts).unwrap();
        assert!(
            cs[0].san_uri().starts_with("iscsi:192.0.2.1:"),
            "{}",
            cs[0].san_uri()
        );
        assert_eq!(
            o.range,
            Some((Ipv4Addr::new(192, 0, 2, 128), Ipv4Addr::new(192, 0, 2, 254)))
        );
    }

    #[test]
    fn a_subnet_is_required_and_a_range_derived() {
        let c = client(Ipv4Addr::new(192, 0, 2, 200), None);
        let e = complete(std::slice::from_ref(&c), &ServerOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("subnet is unknown") && e.contains("--server-ip ADDR/PREFIX"),
            "{e}"
        );
        // The server sits in the upper half: the lower half is offered.
        let opts = ServerOptions {
            subnet: Some(Subnet::parse("192.0.2.0/24").unwrap()),
            ..Default::default()
        };
        let (_, o) = complete(&[c], &opts).unwrap();
        assert_eq!(o.server_ip, Some(Ipv4Addr::new(192, 0, 2, 200)));
        assert_eq!(
            o.range,
            Some((Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 127)))
        );
    }

    #[test]
    fn static_clients_give_the_subnet_and_need_no_range() {
        let c = client(
            Ipv4Addr::new(192, 0, 2, 1),
            Some(Ipv4Addr::new(192, 0, 2, 10)),
        );
        let (_, o) = complete(&[c], &ServerOptions::default()).unwrap();
        assert_eq!(o.subnet, Some(Subnet::parse("192.0.2.0/24").unwrap()));
        assert_eq!(o.range, None);
        let mut c = client(
            Ipv4Addr::new(198, 51, 100, 1),
            Some(Ipv4Addr::new(192, 0, 2, 10)),
        );
        c.ip_subnet = Some(Subnet::parse("192.0.2.0/24").unwrap());
        let e = complete(&[c], &ServerOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the DHCP subnet"), "{e}");
    }
}
