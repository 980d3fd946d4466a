//! The IPv4 addresses of this machine's interfaces, from `ip -j addr`.
//!
//! Why here: `netroot server apply` runs on the server itself, so the
//! server's address and NIC on the clients' LAN need not be typed in: they
//! are read from what iproute2 reports. One parser over the JSON text (the
//! tests feed it outputs captured in guests); `tools::ip` runs the command.

use serde::Deserialize;
use std::net::Ipv4Addr;

/// One global IPv4 address of an interface that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl std::fmt::Display for LocalAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.ifname, self.addr, self.prefix)
    }
}

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    family: String,
    local: String,
    prefixlen: u8,
    #[serde(default)]
    scope: String,
}

/// The global-scope IPv4 addresses of the interfaces that are UP and not
/// loopback, in `ip`'s order. Text that is not `ip -j addr` JSON is an
/// error naming the command.
pub fn parse(json: &str) -> anyhow::Result<Vec<LocalAddr>> {
    let links: Vec<Link> = serde_json::from_str(json)
        .map_err(|e| anyhow::anyhow!("`ip -j addr` printed something that is not its JSON: {e}"))?;
    let mut out = Vec::new();
    for l in links {
        let up = l.flags.iter().any(|f| f == "UP");
        let lo = l.flags.iter().any(|f| f == "LOOPBACK");
        if !up || lo {
            continue;
        }
        for a in l.addr_info {
            if a.family != "inet" || a.scope != "global" {
                continue;
            }
            if let Ok(addr) = a.local.parse::<Ipv4Addr>() {
                out.push(LocalAddr {
                    ifname: l.ifname.clone(),
                    addr,
                    prefix: a.prefixlen.min(32),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn guest_output_gives_the_nic_and_not_loopback() {
        // The AoE guest's NIC has only IPv6 addresses: no IPv4 candidate.
        assert_eq!(parse(&fixture("aoe/ip-addr.json")).unwrap(), vec![]);
        let a = parse(&fixture("iscsi/ip-addr.json")).unwrap();
        assert_eq!(a[0].ifname, "ens3");
        assert_eq!(a[0].addr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(a[0].prefix, 24);
    }

    #[test]
    fn down_links_link_local_and_ipv6_are_left_out() {
        let j = r#"[
          {"ifname":"eth0","flags":["BROADCAST","MULTICAST"],"addr_info":[{"family":"inet","local":"192.0.2.5","prefixlen":24,"scope":"global"}]},
          {"ifname":"eth1","flags":["BROADCAST","UP","LOWER_UP"],"addr_info":[
             {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},
             {"family":"inet","local":"169.254.3.3","prefixlen":16,"scope":"link"},
             {"family":"inet","local":"198.51.100.7","prefixlen":25,"scope":"global"}]}
        ]"#;
        let a = parse(j).unwrap();
        assert_eq!(
            a,
            vec![LocalAddr {
                ifname: "eth1".into(),
                addr: Ipv4Addr::new(198, 51, 100, 7),
                prefix: 25
            }]
        );
        let e = parse("Error: ...").unwrap_err().to_string();
        assert!(e.contains("ip -j addr"), "{e}");
    }
}
