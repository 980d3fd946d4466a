//! The server side generated from plans: the AoE or iSCSI export, DHCP
//! (ISC dhcpd and dnsmasq), the TFTP tree with iPXE and a per-client iPXE
//! script, and a README saying what goes where.
//!
//! Generation is pure: [`generate`] turns plans and [`ServerOptions`] into
//! [`GeneratedFile`]s (the CHAP secrets are read from their files first, by
//! [`load_clients`]). [`write`] puts them into a directory through the
//! runner, so `--dry-run` shows every file (secrets as `***`). [`apply`]
//! installs them on a Debian server.

pub mod apply;
pub mod dhcp;
pub mod export;
pub mod ipxe;
pub mod model;
pub mod readme;

pub use apply::{apply, ApplyOptions, DhcpServer};
pub use model::{load_clients, ClientSpec, ExportSpec, IscsiExport};

use crate::plan::Plan;
use crate::tools::cmd::{Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

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
    /// source). Default: the iSCSI portal's address.
    pub server_ip: Option<Ipv4Addr>,
    /// The TFTP server when it is another host (next-server).
    pub tftp_server: Option<Ipv4Addr>,
    /// A DHCP subnet to declare (dhcpd `subnet`, dnsmasq `dhcp-range`).
    pub subnet: Option<Subnet>,
    /// A dynamic range inside the subnet for clients without a fixed address.
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The interface dnsmasq answers DHCP on.
    pub dhcp_interface: Option<String>,
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
            tftp_server: None,
            subnet: None,
            range: None,
            dhcp_interface: None,
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

/// What a generated file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Contents {
    /// Text generated here.
    Text(String),
    /// A copy of a file on the server (the iPXE binaries).
    CopyOf(PathBuf),
}

/// One generated file. `Debug` shows the contents with secrets as `***`.
#[derive(Clone, PartialEq)]
pub struct GeneratedFile {
    /// Path inside the output directory, e.g. "dhcp/dnsmasq-netroot.conf".
    pub rel_path: String,
    /// Where the file goes on the server (absolute), if it is installed.
    pub install_to: Option<PathBuf>,
    pub contents: Contents,
    /// File mode: 0600 for anything holding a secret.
    pub mode: u32,
    /// Secret values inside the contents, redacted from every display.
    pub secrets: Vec<String>,
    /// One line saying what the file is.
    pub what: String,
}

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contents = match &self.contents {
            Contents::Text(t) => format!("Text({:?})", redact(t, &self.secrets)),
            Contents::CopyOf(p) => format!("CopyOf({})", p.display()),
        };
        f.debug_struct("GeneratedFile")
            .field("rel_path", &self.rel_path)
            .field("install_to", &self.install_to)
            .field("contents", &contents)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("secrets", &self.secrets.len())
            .field("what", &self.what)
            .finish()
    }
}

impl GeneratedFile {
    fn text(rel: impl Into<String>, what: impl Into<String>, body: String) -> Self {
        GeneratedFile {
            rel_path: rel.into(),
            install_to: None,
            contents: Contents::Text(body),
            mode: 0o644,
            secrets: Vec::new(),
            what: what.into(),
        }
    }
    fn to(mut self, p: impl Into<PathBuf>) -> Self {
        self.install_to = Some(p.into());
        self
    }
    fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
    /// The text, if generated here.
    pub fn text_contents(&self) -> Option<&str> {
        match &self.contents {
            Contents::Text(t) => Some(t),
            Contents::CopyOf(_) => None,
        }
    }
    /// The text with secrets replaced by `***`.
    pub fn redacted(&self) -> Option<String> {
        self.text_contents().map(|t| redact(t, &self.secrets))
    }
}

/// Replace each secret in `s` by `***`.
pub fn redact(s: &str, secrets: &[String]) -> String {
    let mut s = s.to_string();
    for sec in secrets.iter().filter(|x| !x.is_empty()) {
        s = s.replace(sec.as_str(), "***");
    }
    s
}

/// Load plans' clients (reading CHAP secrets) and generate every file.
pub fn generate_from_plans(
    plans: &[(PathBuf, Plan)],
    opts: &ServerOptions,
) -> Result<Vec<GeneratedFile>> {
    let clients = load_clients(plans, opts)?;
    generate(&clients, opts)
}

/// Generate every file for these clients. Pure: no file is read or written.
pub fn generate(clients: &[ClientSpec], opts: &ServerOptions) -> Result<Vec<GeneratedFile>> {
    if clients.is_empty() {
        bail!("no plan given; pass --plan FILE (once per client)");
    }
    model::check_unique(clients)?;
    let mut files = Vec::new();
    for c in clients {
        files.extend(export::files(c, opts));
    }
    files.push(dhcp::dhcpd_conf(clients, opts)?);
    files.push(dhcp::dnsmasq_conf(clients, opts));
    files.extend(ipxe::files(clients, opts));
    files.push(readme::readme(clients, opts, &files));
    Ok(files)
}

/// Write the generated files below `out` through the runner (recorded in a
/// dry run; secrets never recorded). Binaries are copied with `install`.
pub fn write(runner: &Runner, files: &[GeneratedFile], out: &Path) -> Result<()> {
    for f in files {
        let dest = out.join(&f.rel_path);
        put_file(runner, f, &dest)?;
    }
    Ok(())
}

/// Write one generated file at `dest`.
pub(crate) fn put_file(runner: &Runner, f: &GeneratedFile, dest: &Path) -> Result<()> {
    match &f.contents {
        Contents::Text(t) => {
            if f.secrets.is_empty() {
                runner.write_file(dest, t.as_bytes(), f.mode)
            } else {
                runner.write_secret_file(dest, t.as_bytes(), f.mode, &f.secrets)
            }
        }
        Contents::CopyOf(src) => {
            if !runner.is_dry() && !src.exists() {
                bail!(
                    "{} not found; install Debian's ipxe package (apt-get install ipxe) or pass --ipxe-dir",
                    src.display()
                );
            }
            runner
                .run(
                    &Cmd::new("install")
                        .args(["-D", "-m", &format!("{:04o}", f.mode)])
                        .arg(src)
                        .arg(dest),
                )
                .map(|_| ())
        }
    }
    .with_context(|| format!("writing {}", dest.display()))
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
    fn debug_never_shows_a_secret() {
        let mut f = GeneratedFile::text("x", "y", "password s3cret-secret\n".into());
        f.secrets = vec!["s3cret-secret".into()];
        let d = format!("{f:?}");
        assert!(!d.contains("s3cret") && d.contains("***"), "{d}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("incominguser u s3cret-secret", &["s3cret-secret".into()]),
            "incominguser u ***"
        );
    }
}
