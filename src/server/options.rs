//! The facts `netroot server` needs that a plan does not hold (server
//! address, DHCP subnet, TFTP root, iPXE binary, boot method), with their
//! defaults. A file of its own so that every generator and `apply` can
//! read them without importing the module root.

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Server facts the plan does not hold, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// Backing file or block device per client: `(None, path)` for the only
    /// plan, `(Some(hostname), path)` to pick a plan by its client name.
    /// Overrides the plan's `target.device`.
    pub export_devices: Vec<(Option<String>, PathBuf)>,
    /// Server interface vblade serves AoE on (default: the plan's AoE
    /// interface when it is a name).
    pub interface: Option<String>,
    /// The server's IPv4 address (next-server, the iPXE script's TFTP
    /// source, the portal clients reach when the plan's is loopback).
    /// Default: the iSCSI portal's address.
    pub server_ip: Option<Ipv4Addr>,
    /// The subnet `--server-ip ADDR/PREFIX` names (the DHCP subnet unless
    /// `--subnet` says otherwise).
    pub server_subnet: Option<Subnet>,
    /// The TFTP server when it is another host (next-server).
    pub tftp_server: Option<Ipv4Addr>,
    /// A DHCP subnet to declare (dhcpd `subnet`, dnsmasq `dhcp-range`).
    pub subnet: Option<Subnet>,
    /// A dynamic range inside the subnet for clients without a fixed address.
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The interface dnsmasq answers DHCP on.
    pub dhcp_interface: Option<String>,
    /// dnsmasq as a proxy DHCP server: another DHCP server on the LAN hands
    /// out the addresses, dnsmasq only says what to boot.
    pub dhcp_proxy: bool,
    /// Where the TFTP server's files live.
    pub tftp_root: PathBuf,
    /// Where Debian's `ipxe` package puts its binaries.
    pub ipxe_dir: PathBuf,
    /// The UEFI iPXE binary: `ipxe.efi` (own drivers) or `snponly.efi`
    /// (the firmware's network driver).
    pub efi_binary: EfiBinary,
    /// How iPXE learns what to boot.
    pub boot_method: BootMethod,
    /// How many times the iPXE script tries `sanboot` before giving up.
    pub retries: u32,
    /// Allow any initiator when a plan names no `client.initiator_name`.
    pub allow_any_initiator: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            export_devices: Vec::new(),
            interface: None,
            server_ip: None,
            server_subnet: None,
            tftp_server: None,
            subnet: None,
            range: None,
            dhcp_interface: None,
            dhcp_proxy: false,
            tftp_root: PathBuf::from("/srv/tftp"),
            ipxe_dir: PathBuf::from("/usr/lib/ipxe"),
            efi_binary: EfiBinary::Ipxe,
            boot_method: BootMethod::Script,
            retries: 5,
            allow_any_initiator: false,
        }
    }
}

/// The UEFI iPXE binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EfiBinary {
    /// `ipxe.efi`: iPXE's own NIC drivers.
    Ipxe,
    /// `snponly.efi`: the firmware's SNP driver (for NICs iPXE lacks).
    Snponly,
}

impl EfiBinary {
    /// The file name in the ipxe package and on the TFTP server.
    pub fn file_name(self) -> &'static str {
        match self {
            EfiBinary::Ipxe => "ipxe.efi",
            EfiBinary::Snponly => "snponly.efi",
        }
    }
}

/// How the second DHCP answer (to iPXE) says what to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMethod {
    /// The per-client iPXE script over TFTP: sets the initiator name and
    /// CHAP, retries `sanboot`, prints a readable message when it fails.
    Script,
    /// DHCP `root-path` (and option 203 initiator-iqn) with an empty file
    /// name: iPXE sanboots by itself. No retries, no CHAP.
    RootPath,
}

/// `--server-ip ADDR` or `ADDR/PREFIX`: the address, and the subnet it
/// sits in when the prefix is given.
pub fn parse_server_ip(s: &str) -> Result<(Ipv4Addr, Option<Subnet>)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: Ipv4Addr = a
        .parse()
        .with_context(|| format!("--server-ip {s:?}: {a:?} is not an IPv4 address"))?;
    let Some(p) = p else { return Ok((ip, None)) };
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .with_context(|| format!("--server-ip {s:?}: prefix {p:?} is not 0..=32"))?;
    Ok((ip, Some(Subnet::containing(ip, prefix))))
}

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parse "192.0.2.0/24"; host bits must be zero.
    pub fn parse(s: &str) -> Result<Subnet> {
        let (a, p) = s
            .split_once('/')
            .with_context(|| format!("subnet {s:?}: expected ADDR/PREFIX, e.g. 192.0.2.0/24"))?;
        let network: Ipv4Addr = a
            .parse()
            .with_context(|| format!("subnet {s:?}: {a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .with_context(|| format!("subnet {s:?}: prefix {p:?} is not 0..=32"))?;
        let sn = Subnet { network, prefix };
        if u32::from(network) & !sn.mask_bits() != 0 {
            bail!(
                "subnet {s:?}: host bits are set; did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(network) & sn.mask_bits())
            );
        }
        Ok(sn)
    }
    /// The subnet `a/prefix` lies in (prefix capped at 32).
    pub fn containing(a: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        let network = Subnet { network: a, prefix }.mask_bits() & u32::from(a);
        Subnet {
            network: Ipv4Addr::from(network),
            prefix,
        }
    }
    fn mask_bits(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    /// The netmask, e.g. 255.255.255.0.
    pub fn netmask(self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }
    /// Whether `a` lies in the subnet.
    pub fn contains(self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask_bits() == u32::from(self.network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parsing() {
        let s = Subnet::parse("192.0.2.0/24").unwrap();
        assert_eq!(s.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert!(s.contains(Ipv4Addr::new(192, 0, 2, 77)));
        assert!(!s.contains(Ipv4Addr::new(192, 0, 3, 1)));
        let e = Subnet::parse("192.0.2.1/24").unwrap_err().to_string();
        assert!(e.contains("did you mean 192.0.2.0/24"), "{e}");
        assert!(Subnet::parse("192.0.2.0").is_err());
        assert!(Subnet::parse("192.0.2.0/33").is_err());
    }

    #[test]
    fn server_ip_with_and_without_prefix() {
        let (ip, sn) = parse_server_ip("192.0.2.7/24").unwrap();
        assert_eq!(ip, Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(sn, Some(Subnet::parse("192.0.2.0/24").unwrap()));
        assert_eq!(parse_server_ip("10.0.0.1").unwrap().1, None);
        let e = parse_server_ip("10.0.0.1/40").unwrap_err().to_string();
        assert!(e.contains("--server-ip") && e.contains("0..=32"), "{e}");
    }
}
