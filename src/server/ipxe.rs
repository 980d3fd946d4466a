//! The TFTP tree: the iPXE binaries from Debian's `ipxe` package
//! (undionly.kpxe for BIOS, ipxe.efi or snponly.efi for UEFI) and one iPXE
//! script per client that sanboots its disk with retries.

use super::model::{ClientSpec, ExportSpec};
use super::{BootMethod, Contents, GeneratedFile, ServerOptions};

/// The iPXE script of one client. Holds the CHAP secrets when the plan has
/// CHAP (then it is written with mode 0600).
pub fn script(c: &ClientSpec, opts: &ServerOptions) -> String {
    let uri = c.san_uri();
    let n = opts.retries.max(1);
    let mut s = format!(
        "#!ipxe\n# netroot: boot {} from {uri} (plan {}).\n\
         # Served over TFTP as {}; generated, re-run `netroot server` instead of editing.\n",
        c.name,
        c.plan_file.display(),
        c.script_path()
    );
    let hint = match &c.export {
        ExportSpec::Iscsi(i) => {
            if let Some(iqn) = &i.initiator {
                s.push_str(&format!(
                    "# The name iPXE logs in with and leaves in the iBFT (the target's ACL allows it).\nset initiator-iqn {iqn}\n"
                ));
            }
            if let Some(ch) = &i.chap {
                s.push_str(&format!(
                    "# CHAP (secret from {}).\nset username {}\nset password {}\n",
                    ch.secret_file.display(),
                    ch.username,
                    ch.secret
                ));
                if let Some((u, p, _)) = &ch.target {
                    s.push_str(&format!(
                        "set reverse-username {u}\nset reverse-password {p}\n"
                    ));
                }
            }
            format!(
                "echo netroot: check that tgt on {}:{} exports {} at LUN {}, that its ACL allows {}, and that port {} is reachable.\n",
                i.host,
                i.port,
                i.iqn,
                i.lun,
                i.initiator.as_deref().unwrap_or("this initiator"),
                i.port
            )
        }
        ExportSpec::Aoe {
            shelf,
            slot,
            interface,
        } => {
            format!(
                "echo netroot: check that vblade exports e{shelf}.{slot} on the server's {interface} with -m {}, on the same Ethernet segment as this machine.\n",
                c.mac
            )
        }
    };
    s.push_str(&format!(
        "set netroot-uri {uri}\n\
         set netroot-try:int32 0\n\
         :netroot_retry\n\
         inc netroot-try\n\
         echo netroot: booting ${{netroot-uri}} (attempt ${{netroot-try}} of {n})\n\
         sanboot ${{netroot-uri}} ||\n\
         iseq ${{netroot-try}} {n} && goto netroot_failed ||\n\
         echo netroot: sanboot failed, retrying in 5 seconds\n\
         sleep 5\n\
         goto netroot_retry\n\
         :netroot_failed\n\
         echo\n\
         echo netroot: could not boot {} from ${{netroot-uri}} after {n} attempts.\n\
         {hint}\
         echo netroot: press a key within 60 seconds for the iPXE shell, else the machine reboots.\n\
         prompt --timeout 60000 && shell || reboot\n",
        c.name
    ));
    s
}

/// The TFTP files: binaries for the firmware the plans need, and scripts.
pub fn files(clients: &[ClientSpec], opts: &ServerOptions) -> Vec<GeneratedFile> {
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
                contents: Contents::Text(script(c, opts)),
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
    v
}
