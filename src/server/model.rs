//! One client as the server sees it, resolved from its plan and the server
//! options: names, MAC, address, firmware, and what to export.

use super::options::{ServerOptions, Subnet};
use crate::plan::identity;
use crate::plan::{Addressing, Chap, Firmware, Plan, Target};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// One client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// Name used for host entries and file names ([a-z0-9-]).
    pub name: String,
    /// The plan file it came from (for messages).
    pub plan_file: PathBuf,
    /// Boot NIC MAC, lower case with colons.
    pub mac: String,
    /// Fixed address when the plan's boot network is static.
    pub ip: Option<Ipv4Addr>,
    /// The subnet of that static address.
    pub ip_subnet: Option<Subnet>,
    pub firmware: Firmware,
    /// The backing file or block device on the server.
    pub backing: PathBuf,
    /// The plan's `target.size`: what `server apply` creates a missing
    /// backing file with.
    pub backing_size: Option<u64>,
    pub export: ExportSpec,
}

/// What is exported for a client.
#[derive(Debug, Clone, PartialEq)]
// One value per client of a server: the size of the larger variant does not
// matter, boxing it would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum ExportSpec {
    Aoe {
        shelf: u16,
        slot: u8,
        /// Server interface vblade listens on.
        interface: String,
    },
    Iscsi(IscsiExport),
}

/// An iSCSI export.
#[derive(Debug, Clone, PartialEq)]
pub struct IscsiExport {
    /// Portal host as the client reaches it (IPv4 address or name).
    pub host: String,
    /// The portal's IPv4 address, when it is one (next-server's default).
    pub ipv4: Option<Ipv4Addr>,
    pub port: u16,
    pub iqn: String,
    pub lun: u32,
    /// The initiator name the ACL admits: the one iPXE presents and the
    /// one the migrating system logs in with (`none`: any initiator, only
    /// with `--allow-any-initiator`).
    pub initiator: Option<String>,
    pub chap: Option<ChapSecrets>,
}

/// CHAP credentials with the secrets read from their files. `Debug`
/// shows the secrets as `***`.
#[derive(Clone, PartialEq)]
pub struct ChapSecrets {
    pub username: String,
    pub secret: String,
    pub secret_file: PathBuf,
    /// Mutual CHAP: (user, secret, file).
    pub target: Option<(String, String, PathBuf)>,
}

impl std::fmt::Debug for ChapSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChapSecrets")
            .field("username", &self.username)
            .field("secret", &"***")
            .field("secret_file", &self.secret_file)
            .field(
                "target",
                &self.target.as_ref().map(|(u, _, p)| (u, "***", p)),
            )
            .finish()
    }
}

impl ClientSpec {
    /// The iPXE SAN URI: `aoe:eS.L` or `iscsi:HOST::PORT:LUN:IQN` (LUN in hex).
    pub fn san_uri(&self) -> String {
        match &self.export {
            ExportSpec::Aoe { shelf, slot, .. } => format!("aoe:e{shelf}.{slot}"),
            ExportSpec::Iscsi(i) => {
                let port = if i.port == crate::plan::ISCSI_DEFAULT_PORT {
                    String::new()
                } else {
                    i.port.to_string()
                };
                format!("iscsi:{}::{port}:{:x}:{}", i.host, i.lun, i.iqn)
            }
        }
    }
    /// Every secret of this client (for redaction).
    pub fn secrets(&self) -> Vec<String> {
        match &self.export {
            ExportSpec::Iscsi(IscsiExport { chap: Some(c), .. }) => {
                let mut v = vec![c.secret.clone()];
                if let Some((_, s, _)) = &c.target {
                    v.push(s.clone());
                }
                v
            }
            _ => Vec::new(),
        }
    }
    /// The iPXE script's path relative to the TFTP root.
    pub fn script_path(&self) -> String {
        format!("netroot/{}.ipxe", self.name)
    }
    /// The vblade instance name (`vblade@NAME.service`,
    /// `/etc/vblade.conf.d/NAME.conf`); also the LIO backstore's name.
    pub fn vblade_instance(&self) -> String {
        format!("netroot-{}", self.name)
    }
    /// The vblade unit of this export: `vblade@` and the instance escaped
    /// the way systemd escapes it (`systemd-escape`: '-' is `\x2d`).
    /// Unescaped, `%I` in vblade@.service would turn `netroot-box` into
    /// `netroot/box` and look for /etc/vblade.conf.d/netroot/box.conf.
    pub fn vblade_unit(&self) -> String {
        format!("vblade@{}.service", systemd_escape(&self.vblade_instance()))
    }
    /// The tgt config file name in /etc/tgt/conf.d.
    pub fn tgt_conf_name(&self) -> String {
        format!("netroot-{}.conf", self.name)
    }
    /// vblade's argv for an AoE export: `-m MAC` restricts it to the client.
    pub fn vblade_argv(&self) -> Option<Vec<String>> {
        let ExportSpec::Aoe {
            shelf,
            slot,
            interface,
        } = &self.export
        else {
            return None;
        };
        Some(vec![
            "vblade".into(),
            "-m".into(),
            self.mac.clone(),
            shelf.to_string(),
            slot.to_string(),
            interface.clone(),
            self.backing.display().to_string(),
        ])
    }
}

/// A string escaped as `systemd-escape` does for a unit instance: ASCII
/// letters, digits, ':', '_' and (not first) '.' kept, '/' as '-', every
/// other byte as `\xNN`.
pub fn systemd_escape(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i > 0 => out.push('.'),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Resolve every plan into a client, reading CHAP secret files. Errors name
/// the plan file and the field or option to fix.
pub fn load_clients(plans: &[(PathBuf, Plan)], opts: &ServerOptions) -> Result<Vec<ClientSpec>> {
    let named: Vec<_> = opts
        .export_devices
        .iter()
        .filter(|(n, _)| n.is_some())
        .collect();
    let unnamed: Vec<_> = opts
        .export_devices
        .iter()
        .filter(|(n, _)| n.is_none())
        .collect();
    if !unnamed.is_empty() && plans.len() != 1 {
        bail!("--export-device PATH without a name needs exactly one plan; with several plans write --export-device HOSTNAME=PATH");
    }
    if unnamed.len() > 1 {
        bail!("--export-device given twice for the only plan");
    }
    let mut out = Vec::new();
    for (file, plan) in plans {
        let name = client_name(plan);
        let dev = named
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name.as_str()))
            .or(unnamed.first())
            .map(|(_, p)| p.clone());
        out.push(
            client_from_plan(file, plan, &name, dev, opts)
                .with_context(|| format!("plan {}", file.display()))?,
        );
    }
    for (n, _) in &named {
        let n = n.as_deref().unwrap_or_default();
        if !out.iter().any(|c| c.name == n) {
            bail!(
                "--export-device {n}=…: no plan has the client name {n:?} (names: {})",
                out.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(out)
}

/// What `netroot server` needs of the plan itself (client.mac, an IPv4
/// static address, a client name, readable CHAP secrets), checked without
/// the server's options: what only they can tell (the server's NIC for
/// vblade, its address) `netroot server` asks for by option name.
pub fn check_plan_for_server(file: &Path, plan: &Plan) -> Result<()> {
    let opts = ServerOptions {
        // vblade's NIC is the server's, never in a plan: stand one in.
        interface: Some("server-nic".to_string()),
        ..ServerOptions::default()
    };
    client_from_plan(file, plan, &client_name(plan), None, &opts).map(|_| ())
}

/// The client's name: system.hostname, else derived from the target.
pub fn client_name(plan: &Plan) -> String {
    let raw = match &plan.system.hostname {
        Some(h) => h.split('.').next().unwrap_or(h).to_string(),
        None => match &plan.target {
            Target::Aoe { shelf, slot, .. } => format!("aoe-e{shelf}-{slot}"),
            Target::Iscsi { iqn, .. } => {
                format!("iscsi-{}", iqn.rsplit(':').next().unwrap_or(iqn))
            }
        },
    };
    let s: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.trim_matches('-').to_string()
}

fn client_from_plan(
    file: &Path,
    plan: &Plan,
    name: &str,
    dev: Option<PathBuf>,
    opts: &ServerOptions,
) -> Result<ClientSpec> {
    if name.is_empty() {
        bail!("cannot derive a client name; set system.hostname");
    }
    let mac = plan.client.mac.as_ref().context(
        "client.mac is missing: the DHCP host entry and the AoE -m restriction need the client's boot NIC MAC; add \"client\": {\"mac\": \"52:54:00:…\"}",
    )?;
    let mac = mac.to_string();
    let (ip, ip_subnet) = match &plan.boot.network.address {
        Addressing::Dhcp => (None, None),
        Addressing::Static { address, .. } => match address.addr() {
            std::net::IpAddr::V4(a) => (Some(a), Some(Subnet::containing(a, address.prefix()))),
            std::net::IpAddr::V6(_) => bail!(
                "boot.network.address.static.address {address} is not IPv4 ADDR/PREFIX (DHCP and iPXE here are IPv4)"
            ),
        },
    };
    let backing = dev
        .or_else(|| plan.target.device().cloned())
        .unwrap_or_else(|| default_backing(name));
    let backing_size = plan.target.size().and_then(|s| s.bytes());
    if !backing.is_absolute() {
        bail!(
            "export device {} is not an absolute path",
            backing.display()
        );
    }
    let shown = backing.display().to_string();
    if shown
        .chars()
        .any(|c| c.is_whitespace() || "\"'\\$`".contains(c))
    {
        bail!(
            "export device {shown:?} contains a blank, quote, backslash or $: vblade@.service and tgt's config split on them; rename it or use a symlink"
        );
    }
    let export = export_spec(plan, opts)?;
    Ok(ClientSpec {
        name: name.to_string(),
        plan_file: file.to_path_buf(),
        mac,
        ip,
        ip_subnet,
        firmware: plan.layout.firmware,
        backing,
        backing_size,
        export,
    })
}

/// Where a client's disk lives on the server when neither the plan's
/// `target.device` nor `--export-device` says: one image file per client.
pub const EXPORT_DIR: &str = "/srv/netroot";

fn default_backing(name: &str) -> PathBuf {
    Path::new(EXPORT_DIR).join(format!("{name}.img"))
}

/// What is exported for the plan's target: AoE with the server interface
/// vblade uses, or iSCSI with the initiator name and CHAP secrets.
fn export_spec(plan: &Plan, opts: &ServerOptions) -> Result<ExportSpec> {
    Ok(match &plan.target {
        Target::Aoe { shelf, slot, .. } => {
            // The plan's target.interface is the client's NIC, not the
            // server's: vblade's needs its own option.
            let interface = opts
                .interface
                .clone()
                .context("the server interface for vblade is unknown: pass --interface IF (the server's NIC on the clients' LAN; the plan's target.interface is the client's)")?;
            ExportSpec::Aoe {
                shelf: *shelf,
                slot: *slot,
                interface,
            }
        }
        Target::Iscsi {
            portal,
            iqn,
            lun,
            chap,
            ..
        } => {
            let (host, port) = (portal.host().to_string(), portal.port());
            let ipv4 = match portal.host().ip() {
                Some(std::net::IpAddr::V4(a)) => Some(a),
                _ => None,
            };
            // The same name the migrated system and the migration itself
            // use (derived from the plan when it names none).
            let initiator = match &plan.client.initiator_name {
                None if opts.allow_any_initiator => None,
                _ => Some(identity::initiator_name(plan)),
            };
            let chap = chap.as_ref().map(chap_secrets).transpose()?;
            ExportSpec::Iscsi(IscsiExport {
                host,
                ipv4,
                port,
                iqn: iqn.to_string(),
                lun: *lun,
                initiator,
                chap,
            })
        }
    })
}

/// CHAP credentials with the secrets read from their files.
fn chap_secrets(c: &Chap) -> Result<ChapSecrets> {
    let secret = c.secret_file.read("target.chap.secret_file")?;
    let target = match (&c.target_username, &c.target_secret_file) {
        (Some(u), Some(f)) => Some((
            u.clone(),
            f.read("target.chap.target_secret_file")?,
            f.to_path_buf(),
        )),
        (None, None) => None,
        _ => bail!("target.chap: mutual CHAP needs both target_username and target_secret_file"),
    };
    Ok(ChapSecrets {
        username: c.username.clone(),
        secret,
        secret_file: c.secret_file.to_path_buf(),
        target,
    })
}

/// Several plans: names, MACs, addresses and AoE/iSCSI identities must differ.
pub fn check_unique(clients: &[ClientSpec]) -> Result<()> {
    let mut names = BTreeSet::new();
    let mut macs = BTreeSet::new();
    let mut ips = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for c in clients {
        let who = c.plan_file.display();
        if !names.insert(c.name.clone()) {
            bail!(
                "plan {who}: client name {:?} is used by two plans; set distinct system.hostname",
                c.name
            );
        }
        if !macs.insert(c.mac.clone()) {
            bail!("plan {who}: client.mac {} is used by two plans", c.mac);
        }
        if let Some(ip) = c.ip {
            if !ips.insert(ip) {
                bail!("plan {who}: address {ip} is used by two plans");
            }
        }
        let id = match &c.export {
            ExportSpec::Aoe { shelf, slot, .. } => format!("aoe e{shelf}.{slot}"),
            ExportSpec::Iscsi(i) => format!("iscsi {}", i.iqn),
        };
        if !ids.insert(id.clone()) {
            bail!("plan {who}: {id} is exported for two plans; give each client its own target");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::{Mac, Portal, SecretFile};

    fn normalize_mac(s: &str) -> Result<String> {
        Ok(s.parse::<Mac>().map_err(anyhow::Error::msg)?.to_string())
    }

    fn split_portal(s: &str) -> Result<(String, u16)> {
        let p: Portal = s.parse().map_err(anyhow::Error::msg)?;
        Ok((p.host().to_string(), p.port()))
    }

    fn read_secret(path: &Path, field: &str) -> Result<String> {
        let f: SecretFile = path
            .display()
            .to_string()
            .parse()
            .map_err(anyhow::Error::msg)?;
        f.read(field)
    }

    #[test]
    fn macs() {
        assert_eq!(
            normalize_mac("52-54-00-AB-CD-EF").unwrap(),
            "52:54:00:ab:cd:ef"
        );
        assert_eq!(normalize_mac("525400abcdef").unwrap(), "52:54:00:ab:cd:ef");
        assert!(normalize_mac("eth0").is_err());
    }

    #[test]
    fn portals() {
        assert_eq!(
            split_portal("192.0.2.1").unwrap(),
            ("192.0.2.1".into(), 3260)
        );
        assert_eq!(
            split_portal("192.0.2.1:3261").unwrap(),
            ("192.0.2.1".into(), 3261)
        );
        assert_eq!(
            split_portal("[fd00::1]:3262").unwrap(),
            ("[fd00::1]".into(), 3262)
        );
        assert!(split_portal("h:x").is_err());
    }

    #[test]
    fn secret_rules() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s");
        std::fs::write(&f, "short\n").unwrap();
        let e = read_secret(&f, "x").unwrap_err().to_string();
        assert!(e.contains("12 to 16") && !e.contains("short"), "{e}");
        std::fs::write(&f, "has a blank 1234\n").unwrap();
        let e = read_secret(&f, "x").unwrap_err().to_string();
        assert!(!e.contains("blank 1234"), "{e}");
        std::fs::write(&f, "Sup3r-Secret-42\n").unwrap();
        assert_eq!(read_secret(&f, "x").unwrap(), "Sup3r-Secret-42");
    }
}

#[cfg(test)]
mod uri_tests {
    use super::*;
    use crate::plan::Firmware;

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
    fn vblade_units_are_escaped_as_systemd_does() {
        // `systemd-escape netroot-box-1` prints netroot\x2dbox\x2d1.
        assert_eq!(systemd_escape("netroot-box-1"), "netroot\\x2dbox\\x2d1");
        assert_eq!(systemd_escape("a/b.c"), "a-b.c");
        assert_eq!(systemd_escape(".x"), "\\x2ex");
        let c = iscsi(1, 3260);
        assert_eq!(c.vblade_unit(), "vblade@netroot\\x2dc.service");
    }

    #[test]
    fn san_uris() {
        assert_eq!(
            iscsi(1, 3260).san_uri(),
            "iscsi:192.0.2.1:::1:iqn.2024-01.org.example:c"
        );
        // iPXE reads the LUN in hex.
        assert_eq!(
            iscsi(10, 3261).san_uri(),
            "iscsi:192.0.2.1::3261:a:iqn.2024-01.org.example:c"
        );
        let mut a = iscsi(0, 3260);
        a.export = ExportSpec::Aoe {
            shelf: 11,
            slot: 0,
            interface: "eth0".into(),
        };
        assert_eq!(a.san_uri(), "aoe:e11.0");
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    fn plan(json: &str) -> Plan {
        crate::plan::parse_plan(json).unwrap()
    }

    const AOE: &str = r#"{"version":1,"source":{"type":"live"},
      "target":{"transport":"aoe","shelf":1,"slot":2,"interface":"eth3","device":"/srv/a b.img"},
      "layout":{"table":"mbr","firmware":"bios","partitions":[{"mount":"/","fs":"ext4","size":"rest"}]},
      "client":{"mac":"52:54:00:00:00:01"},"system":{"hostname":"Box.example.org"}}"#;

    #[test]
    fn names_interface_and_device_checks() {
        let p = plan(AOE);
        assert_eq!(client_name(&p), "box");
        let opts = ServerOptions::default();
        let e = load_clients(&[("a.json".into(), p.clone())], &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.json"), "{e}");
        let e = format!(
            "{:#}",
            load_clients(&[("a.json".into(), p.clone())], &opts).unwrap_err()
        );
        assert!(e.contains("contains a blank"), "{e}");
        let opts = ServerOptions {
            export_devices: vec![(None, "/srv/box.img".into())],
            ..Default::default()
        };
        // The plan's target.interface (eth3) is the client's NIC: vblade
        // needs the server's, from --interface.
        let e = format!(
            "{:#}",
            load_clients(&[("a.json".into(), p.clone())], &opts).unwrap_err()
        );
        assert!(e.contains("--interface IF"), "{e}");
        let opts = ServerOptions {
            interface: Some("eth1".into()),
            ..opts
        };
        let c = load_clients(&[("a.json".into(), p)], &opts).unwrap();
        assert!(matches!(&c[0].export, ExportSpec::Aoe { interface, .. } if interface == "eth1"));
        assert_eq!(c[0].backing, PathBuf::from("/srv/box.img"));
    }
}
