//! The disk export: vblade for AoE (command line and Debian's
//! `/etc/vblade.conf.d` for `vblade@.service`), tgt for iSCSI
//! (`targets.conf` block and the same as tgtadm commands) and a targetcli
//! (LIO) script. The texts are the templates `profiles/server/vblade.conf.j2`,
//! `vblade-unit.conf.j2` (a drop-in ordering vblade after its NIC),
//! `run-vblade.sh.j2`, `targets.conf.j2`, `tgtadm.sh.j2` and `targetcli.sh.j2`.

use super::context::ClientCtx;
use super::files::GeneratedFile;
use super::model::{ClientSpec, ExportSpec, IscsiExport};
use super::options::ServerOptions;
use super::templates::render;
use anyhow::Result;
use serde::Serialize;

/// An initiator-address ACL entry that matches no initiator (see [`tgt_conf`]).
pub const TGT_NO_ADDRESS: &str = "0.0.0.0/32";

/// What the export templates see.
#[derive(Serialize)]
struct ExportCtx {
    c: ClientCtx,
    /// [`TGT_NO_ADDRESS`].
    no_address: &'static str,
}

fn render_for(template: &str, c: &ClientSpec) -> Result<String> {
    render(
        template,
        ExportCtx {
            c: c.into(),
            no_address: TGT_NO_ADDRESS,
        },
    )
}

/// The export files of one client.
pub fn files(c: &ClientSpec, _opts: &ServerOptions) -> Result<Vec<GeneratedFile>> {
    match &c.export {
        ExportSpec::Aoe { shelf, slot, .. } => aoe_files(c, *shelf, *slot),
        ExportSpec::Iscsi(i) => iscsi_files(c, i),
    }
}

fn aoe_files(c: &ClientSpec, shelf: u16, slot: u8) -> Result<Vec<GeneratedFile>> {
    let inst = c.vblade_instance();
    let unit = c.vblade_unit();
    Ok(vec![
        GeneratedFile::text(
            format!("aoe/{inst}.conf"),
            format!("vblade config for {unit} (AoE e{shelf}.{slot})"),
            render_for("vblade.conf.j2", c)?,
        )
        .to(format!("/etc/vblade.conf.d/{inst}.conf")),
        GeneratedFile::text(
            format!("aoe/{inst}.service.d-netroot.conf"),
            format!("systemd drop-in: {unit} starts once its NIC is up"),
            render_for("vblade-unit.conf.j2", c)?,
        )
        .to(format!("/etc/systemd/system/{unit}.d/netroot.conf")),
        GeneratedFile::text(
            format!("aoe/run-vblade-{}.sh", c.name),
            "the same export as one vblade command (foreground)",
            render_for("run-vblade.sh.j2", c)?,
        )
        .mode(0o755),
    ])
}

/// The tgt `<target>` block. Holds the CHAP secrets when the plan has CHAP.
pub fn tgt_conf(c: &ClientSpec) -> Result<String> {
    render_for("targets.conf.j2", c)
}

fn iscsi_files(c: &ClientSpec, i: &IscsiExport) -> Result<Vec<GeneratedFile>> {
    let conf_name = c.tgt_conf_name();
    let mut conf = GeneratedFile::text(
        format!("iscsi/{conf_name}"),
        format!("tgt target {} (LUN {})", i.iqn, i.lun),
        tgt_conf(c)?,
    )
    .to(format!("/etc/tgt/conf.d/{conf_name}"));
    if i.chap.is_some() {
        conf.mode = 0o600;
        conf.secrets = c.secrets();
    }
    Ok(vec![
        conf,
        GeneratedFile::text(
            format!("iscsi/tgtadm-{}.sh", c.name),
            "the same tgt target as tgtadm commands",
            render_for("tgtadm.sh.j2", c)?,
        )
        .mode(0o755),
        GeneratedFile::text(
            format!("iscsi/targetcli-{}.sh", c.name),
            "the same export for LIO (targetcli), instead of tgt",
            render_for("targetcli.sh.j2", c)?,
        )
        .mode(0o700)
        .to(super::lio::script_path(c)),
    ])
}
