//! What the templates under `profiles/server/` see: the client model and
//! the server options flattened into plain serializable values (strings,
//! numbers, booleans, `none`), so a template reads `c.iscsi.iqn` or
//! `opts.tftp_root` and never needs Rust's types or formatting.

use super::files::{Contents, GeneratedFile};
use super::model::{ChapSecrets, ClientSpec, ExportSpec};
use super::options::{BootMethod, ServerOptions};
use serde::Serialize;

/// One client.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCtx {
    pub name: String,
    pub plan_file: String,
    pub mac: String,
    /// The fixed address, `none` with DHCP.
    pub ip: Option<String>,
    pub bios: bool,
    pub uefi: bool,
    pub backing: String,
    /// Whether the backing store is below /dev (a block device).
    pub backing_in_dev: bool,
    pub san_uri: String,
    pub script_path: String,
    pub vblade_instance: String,
    /// `vblade@ESCAPED.service`, the unit name systemctl takes.
    pub vblade_unit: String,
    pub tgt_conf_name: String,
    /// The initiator name iPXE presents (iSCSI), else `none`.
    pub initiator: Option<String>,
    /// `none` unless the export is AoE.
    pub aoe: Option<AoeCtx>,
    /// `none` unless the export is iSCSI.
    pub iscsi: Option<IscsiCtx>,
    /// vblade's arguments (AoE), else empty; quote them with `shell_quote`.
    pub vblade_argv: Vec<String>,
}

/// An AoE export.
#[derive(Debug, Clone, Serialize)]
pub struct AoeCtx {
    pub shelf: u16,
    pub slot: u8,
    pub interface: String,
}

/// An iSCSI export.
#[derive(Debug, Clone, Serialize)]
pub struct IscsiCtx {
    pub host: String,
    pub port: u16,
    pub iqn: String,
    pub lun: u32,
    pub chap: Option<ChapCtx>,
}

/// CHAP: the secrets themselves (for tgt's config and the iPXE script) and
/// the files they were read from (for the scripts that read them at run
/// time).
#[derive(Debug, Clone, Serialize)]
pub struct ChapCtx {
    pub username: String,
    pub secret: String,
    pub secret_file: String,
    /// Mutual CHAP.
    pub target: Option<Credential>,
}

/// One user, secret and secret file.
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub username: String,
    pub secret: String,
    pub secret_file: String,
}

fn chap(c: &ChapSecrets) -> ChapCtx {
    ChapCtx {
        username: c.username.clone(),
        secret: c.secret.clone(),
        secret_file: c.secret_file.display().to_string(),
        target: c.target.as_ref().map(|(u, s, f)| Credential {
            username: u.clone(),
            secret: s.clone(),
            secret_file: f.display().to_string(),
        }),
    }
}

impl From<&ClientSpec> for ClientCtx {
    fn from(c: &ClientSpec) -> Self {
        let (aoe, iscsi, initiator) = match &c.export {
            ExportSpec::Aoe {
                shelf,
                slot,
                interface,
            } => (
                Some(AoeCtx {
                    shelf: *shelf,
                    slot: *slot,
                    interface: interface.clone(),
                }),
                None,
                None,
            ),
            ExportSpec::Iscsi(i) => (
                None,
                Some(IscsiCtx {
                    host: i.host.clone(),
                    port: i.port,
                    iqn: i.iqn.clone(),
                    lun: i.lun,
                    chap: i.chap.as_ref().map(chap),
                }),
                i.initiator.clone(),
            ),
        };
        ClientCtx {
            name: c.name.clone(),
            plan_file: c.plan_file.display().to_string(),
            mac: c.mac.clone(),
            ip: c.ip.map(|i| i.to_string()),
            bios: c.firmware.bios(),
            uefi: c.firmware.uefi(),
            backing: c.backing.display().to_string(),
            backing_in_dev: c.backing.starts_with("/dev"),
            san_uri: c.san_uri(),
            script_path: c.script_path(),
            vblade_instance: c.vblade_instance(),
            vblade_unit: c.vblade_unit(),
            tgt_conf_name: c.tgt_conf_name(),
            initiator,
            aoe,
            iscsi,
            vblade_argv: c.vblade_argv().unwrap_or_default(),
        }
    }
}

/// Every client.
pub fn clients(clients: &[ClientSpec]) -> Vec<ClientCtx> {
    clients.iter().map(ClientCtx::from).collect()
}

/// The server options.
#[derive(Debug, Clone, Serialize)]
pub struct OptionsCtx {
    pub interface: Option<String>,
    pub server_ip: Option<String>,
    /// The TFTP server when it is another host, else `none`.
    pub tftp_server: Option<String>,
    pub subnet: Option<SubnetCtx>,
    /// The dynamic range, `none` without `--range`.
    pub range: Option<(String, String)>,
    pub dhcp_interface: Option<String>,
    /// dnsmasq is a proxy DHCP server (another one hands out addresses).
    pub dhcp_proxy: bool,
    pub tftp_root: String,
    pub ipxe_dir: String,
    /// `ipxe.efi` or `snponly.efi`.
    pub efi_binary: &'static str,
    /// iPXE boots by the per-client script (else by DHCP root-path).
    pub boot_script: bool,
    /// iPXE boots by DHCP root-path.
    pub boot_root_path: bool,
    /// How often the iPXE script tries sanboot (at least 1).
    pub retries: u32,
}

/// A subnet.
#[derive(Debug, Clone, Serialize)]
pub struct SubnetCtx {
    pub network: String,
    pub prefix: u8,
    pub netmask: String,
}

impl From<&ServerOptions> for OptionsCtx {
    fn from(o: &ServerOptions) -> Self {
        OptionsCtx {
            interface: o.interface.clone(),
            server_ip: o.server_ip.map(|i| i.to_string()),
            tftp_server: o.tftp_server.map(|i| i.to_string()),
            subnet: o.subnet.map(|s| SubnetCtx {
                network: s.network.to_string(),
                prefix: s.prefix,
                netmask: s.netmask().to_string(),
            }),
            range: o.range.map(|(a, b)| (a.to_string(), b.to_string())),
            dhcp_interface: o.dhcp_interface.clone(),
            dhcp_proxy: o.dhcp_proxy,
            tftp_root: o.tftp_root.display().to_string(),
            ipxe_dir: o.ipxe_dir.display().to_string(),
            efi_binary: o.efi_binary.file_name(),
            boot_script: o.boot_method == BootMethod::Script,
            boot_root_path: o.boot_method == BootMethod::RootPath,
            retries: o.retries.max(1),
        }
    }
}

/// A generated file as the README lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FileCtx {
    pub rel_path: String,
    /// Where it is installed, "" when it is not.
    pub install_to: String,
    /// The server file it copies, `none` for generated text.
    pub copy_of: Option<String>,
    /// The mode in octal, e.g. "0644".
    pub mode: String,
    pub what: String,
}

impl From<&GeneratedFile> for FileCtx {
    fn from(f: &GeneratedFile) -> Self {
        FileCtx {
            rel_path: f.rel_path.clone(),
            install_to: f
                .install_to
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            copy_of: match &f.contents {
                Contents::CopyOf(p) => Some(p.display().to_string()),
                Contents::Text(_) => None,
            },
            mode: format!("{:04o}", f.mode),
            what: f.what.clone(),
        }
    }
}
