//! The server's own address and NIC on the clients' LAN, for
//! `netroot server apply`, which runs on the server itself: what a user
//! would otherwise type as `--server-ip ADDR/PREFIX` and `--interface IF`
//! is read from the machine's addresses (`ip -j addr`).
//!
//! The choice is made in one place and told in apply's report, so it is
//! never a guess the user cannot see: an address given by option or named
//! as the plan's iSCSI portal wins, then the address on `--interface`, then
//! the only address the machine has. Several candidates and no hint is an
//! error that lists them and names the options.

use super::options::{ServerOptions, Subnet};
use crate::host::ipaddr::LocalAddr;
use crate::plan::{Plan, PortalHost, Target};
use anyhow::{bail, Result};
use std::net::Ipv4Addr;

/// The IPv4 portals the plans name (their iSCSI server, as clients reach it).
pub fn plan_portals(plans: &[&Plan]) -> Vec<Ipv4Addr> {
    plans
        .iter()
        .filter_map(|p| match &p.target {
            Target::Iscsi { portal, .. } => match portal.host() {
                PortalHost::V4(a) if !a.is_loopback() && !a.is_unspecified() => Some(*a),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn listing(local: &[LocalAddr]) -> String {
    if local.is_empty() {
        return "none".into();
    }
    local
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `opts` with `server_ip`, `server_subnet` and `interface` completed
/// from this machine's addresses `local`; returns the report line saying
/// what was taken, or None when the options already said it all.
pub fn fill_from_local(
    opts: &mut ServerOptions,
    portals: &[Ipv4Addr],
    local: &[LocalAddr],
) -> Result<Option<String>> {
    let subnet_known = opts.server_subnet.is_some() || opts.subnet.is_some();
    if opts.server_ip.is_some() && opts.interface.is_some() && subnet_known {
        return Ok(None);
    }
    let (pick, why) = if let Some(ip) = opts.server_ip {
        match local.iter().find(|a| a.addr == ip) {
            Some(a) => (a, "--server-ip"),
            None if opts.interface.is_some() && subnet_known => return Ok(None),
            None => bail!(
                "--server-ip {ip} is not an address of this machine (it has: {}): pass --interface IF and --server-ip ADDR/PREFIX, or run `netroot server` on the host that has it",
                listing(local)
            ),
        }
    } else if let Some(ifname) = &opts.interface {
        match local.iter().find(|a| &a.ifname == ifname) {
            Some(a) => (a, "--interface"),
            None => bail!(
                "--interface {ifname} has no IPv4 address that is up (this machine has: {}): pass --server-ip ADDR/PREFIX",
                listing(local)
            ),
        }
    } else if let Some(a) = local.iter().find(|a| portals.contains(&a.addr)) {
        (a, "the plan's target.portal")
    } else if let [only] = local {
        (only, "the only address of this machine")
    } else {
        bail!(
            "the server's address on the clients' LAN is unknown: this machine has {} IPv4 addresses ({}); pass --server-ip ADDR/PREFIX and --interface IF",
            local.len(),
            listing(local)
        );
    };
    let mut took = Vec::new();
    if opts.server_ip.is_none() {
        opts.server_ip = Some(pick.addr);
        took.push(format!("address {}/{}", pick.addr, pick.prefix));
    }
    if opts.server_ip == Some(pick.addr) && opts.server_subnet.is_none() {
        opts.server_subnet = Some(Subnet::containing(pick.addr, pick.prefix));
        if took.is_empty() {
            took.push(format!("prefix /{}", pick.prefix));
        }
    }
    if opts.interface.is_none() {
        opts.interface = Some(pick.ifname.clone());
        took.push(format!("NIC {}", pick.ifname));
    }
    if took.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "detected  server {} (by {why}; --server-ip ADDR/PREFIX and --interface IF choose others)",
        took.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ifname: &str, ip: [u8; 4], prefix: u8) -> LocalAddr {
        LocalAddr {
            ifname: ifname.into(),
            addr: Ipv4Addr::from(ip),
            prefix,
        }
    }

    #[test]
    fn the_only_address_gives_address_prefix_and_nic() {
        let mut o = ServerOptions::default();
        let note = fill_from_local(&mut o, &[], &[a("ens3", [10, 88, 0, 1], 24)])
            .unwrap()
            .unwrap();
        assert_eq!(o.server_ip, Some(Ipv4Addr::new(10, 88, 0, 1)));
        assert_eq!(
            o.server_subnet,
            Some(Subnet::parse("10.88.0.0/24").unwrap())
        );
        assert_eq!(o.interface.as_deref(), Some("ens3"));
        assert!(
            note.contains("10.88.0.1/24") && note.contains("ens3"),
            "{note}"
        );
    }

    #[test]
    fn the_plans_portal_picks_among_several() {
        let local = [a("eth0", [192, 0, 2, 5], 24), a("eth1", [10, 88, 0, 1], 16)];
        let mut o = ServerOptions::default();
        fill_from_local(&mut o, &[Ipv4Addr::new(10, 88, 0, 1)], &local).unwrap();
        assert_eq!(o.interface.as_deref(), Some("eth1"));
        assert_eq!(
            o.server_subnet,
            Some(Subnet::parse("10.88.0.0/16").unwrap())
        );
        // No hint: an error naming both options and listing the candidates.
        let mut o = ServerOptions::default();
        let e = fill_from_local(&mut o, &[], &local)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--server-ip") && e.contains("--interface"),
            "{e}"
        );
        assert!(
            e.contains("eth0 192.0.2.5/24") && e.contains("eth1 10.88.0.1/16"),
            "{e}"
        );
    }

    #[test]
    fn an_option_wins_and_a_foreign_address_is_refused() {
        let local = [a("eth0", [192, 0, 2, 5], 24), a("eth1", [10, 88, 0, 1], 24)];
        let mut o = ServerOptions {
            interface: Some("eth0".into()),
            ..Default::default()
        };
        fill_from_local(&mut o, &[Ipv4Addr::new(10, 88, 0, 1)], &local).unwrap();
        assert_eq!(o.server_ip, Some(Ipv4Addr::new(192, 0, 2, 5)));
        let mut o = ServerOptions {
            server_ip: Some(Ipv4Addr::new(203, 0, 113, 9)),
            ..Default::default()
        };
        let e = fill_from_local(&mut o, &[], &local)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("203.0.113.9 is not an address of this machine"),
            "{e}"
        );
        // Everything given: nothing looked up, nothing said.
        let mut o = ServerOptions {
            server_ip: Some(Ipv4Addr::new(203, 0, 113, 9)),
            server_subnet: Some(Subnet::parse("203.0.113.0/24").unwrap()),
            interface: Some("eth9".into()),
            ..Default::default()
        };
        assert_eq!(fill_from_local(&mut o, &[], &local).unwrap(), None);
        let e = fill_from_local(
            &mut ServerOptions {
                interface: Some("wlan0".into()),
                ..Default::default()
            },
            &[],
            &local,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--interface wlan0 has no IPv4 address"), "{e}");
    }
}
