//! The TFTP tree: the iPXE binaries from Debian's `ipxe` package
//! (undionly.kpxe for BIOS, ipxe.efi or snponly.efi for UEFI) and one iPXE
//! script per client that sanboots its disk with retries (the template
//! `profiles/server/boot.ipxe.j2`).

use super::context::{ClientCtx, OptionsCtx};
use super::files::{Contents, GeneratedFile};
use super::model::ClientSpec;
use super::options::{BootMethod, ServerOptions};
use super::templates::render;
use anyhow::Result;
use serde::Serialize;

/// What the iPXE script template sees.
#[derive(Serialize)]
struct ScriptCtx {
    c: ClientCtx,
    opts: OptionsCtx,
}

/// The iPXE script of one client (`profiles/server/boot.ipxe.j2`). Holds
/// the CHAP secrets when the plan has CHAP (then it is written with mode
/// 0600).
pub fn script(c: &ClientSpec, opts: &ServerOptions) -> Result<String> {
    render(
        "boot.ipxe.j2",
        ScriptCtx {
            c: c.into(),
            opts: opts.into(),
        },
    )
}

/// The TFTP files: binaries for the firmware the plans need, and scripts.
pub fn files(clients: &[ClientSpec], opts: &ServerOptions) -> Result<Vec<GeneratedFile>> {
    let mut v = Vec::new();
    let root = &opts.tftp_root;
    let mut bins = Vec::new();
    if clients.iter().any(|c| c.firmware.bios()) {
        bins.push((
            "undionly.kpxe",
            "iPXE for BIOS PXE (chainloaded by the firmware)",
        ));
    }
    if clients.iter().any(|c| c.firmware.uefi()) {
        bins.push((
            opts.efi_binary.file_name(),
            "iPXE for UEFI PXE (chainloaded by the firmware)",
        ));
    }
    for (b, what) in bins {
        v.push(GeneratedFile {
            rel_path: format!("tftp/{b}"),
            install_to: Some(root.join(b)),
            contents: Contents::CopyOf(opts.ipxe_dir.join(b)),
            mode: 0o644,
            secrets: Vec::new(),
            what: what.to_string(),
        });
    }
    if opts.boot_method == BootMethod::Script {
        for c in clients {
            let secrets = c.secrets();
            v.push(GeneratedFile {
                rel_path: format!("tftp/{}", c.script_path()),
                install_to: Some(root.join(c.script_path())),
                contents: Contents::Text(script(c, opts)?),
                mode: if secrets.is_empty() { 0o644 } else { 0o600 },
                what: format!(
                    "iPXE script of {}: sanboot {} with retries",
                    c.name,
                    c.san_uri()
                ),
                secrets,
            });
        }
    }
    Ok(v)
}
