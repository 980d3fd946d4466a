//! The disk export: vblade for AoE (command line and Debian's
//! `/etc/vblade.conf.d` for `vblade@.service`), tgt for iSCSI
//! (`targets.conf` block and the same as tgtadm commands) and a targetcli
//! (LIO) script.

use super::model::{ClientSpec, ExportSpec, IscsiExport};
use super::{GeneratedFile, ServerOptions};
use crate::tools::cmd::shell_quote;

/// The vblade instance name (`vblade@NAME.service`, `/etc/vblade.conf.d/NAME.conf`).
pub fn vblade_instance(c: &ClientSpec) -> String {
    format!("netroot-{}", c.name)
}

/// An initiator-address ACL entry that matches no initiator (see [`tgt_conf`]).
pub const TGT_NO_ADDRESS: &str = "0.0.0.0/32";

/// The tgt config file name in /etc/tgt/conf.d.
pub fn tgt_conf_name(c: &ClientSpec) -> String {
    format!("netroot-{}.conf", c.name)
}

/// vblade's argv: `-m MAC` restricts the export to the client.
pub fn vblade_argv(c: &ClientSpec) -> Option<Vec<String>> {
    let ExportSpec::Aoe {
        shelf,
        slot,
        interface,
    } = &c.export
    else {
        return None;
    };
    Some(vec![
        "vblade".into(),
        "-m".into(),
        c.mac.clone(),
        shelf.to_string(),
        slot.to_string(),
        interface.clone(),
        c.backing.display().to_string(),
    ])
}

/// The export files of one client.
pub fn files(c: &ClientSpec, _opts: &ServerOptions) -> Vec<GeneratedFile> {
    match &c.export {
        ExportSpec::Aoe { .. } => aoe_files(c),
        ExportSpec::Iscsi(i) => iscsi_files(c, i),
    }
}

fn header(c: &ClientSpec, what: &str) -> String {
    format!(
        "# netroot: {what} for client {} (plan {}).\n# Generated; re-run `netroot server` instead of editing.\n",
        c.name,
        c.plan_file.display()
    )
}

fn aoe_files(c: &ClientSpec) -> Vec<GeneratedFile> {
    let ExportSpec::Aoe {
        shelf,
        slot,
        interface,
    } = &c.export
    else {
        return Vec::new();
    };
    let inst = vblade_instance(c);
    let conf = format!(
        "{}# vblade-persistence(5): read by vblade@{inst}.service (package vblade).\n\
         # -m: only the client's MAC may use the disk (AoE has no other access control).\n\
         shelf={shelf}\nslot={slot}\nnetif={interface}\nfilename={}\noptions='-m {}'\n",
        header(c, &format!("AoE export e{shelf}.{slot}")),
        c.backing.display(),
        c.mac
    );
    let argv = vblade_argv(c).unwrap_or_default();
    let run = format!(
        "#!/bin/sh\n{}# Runs the export in the foreground (vblade needs CAP_NET_RAW: run as root).\n\
         # For a permanent export use /etc/vblade.conf.d/{inst}.conf and vblade@{inst}.service.\n\
         exec {}\n",
        header(c, &format!("AoE export e{shelf}.{slot}")),
        argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    );
    vec![
        GeneratedFile::text(
            format!("aoe/{inst}.conf"),
            format!("vblade config for vblade@{inst}.service (AoE e{shelf}.{slot})"),
            conf,
        )
        .to(format!("/etc/vblade.conf.d/{inst}.conf")),
        GeneratedFile::text(
            format!("aoe/run-vblade-{}.sh", c.name),
            "the same export as one vblade command (foreground)",
            run,
        )
        .mode(0o755),
    ]
}

/// The tgt `<target>` block. Holds the CHAP secrets when the plan has CHAP.
pub fn tgt_conf(c: &ClientSpec, i: &IscsiExport) -> String {
    let mut s = header(c, "iSCSI export (tgt)");
    s.push_str(
        "# tgt puts its controller at LUN 0; the disk is at the LUN below (iPXE's\n\
         # iscsi: URI names it). Loaded by tgt.service (tgt-admin -e).\n",
    );
    s.push_str(&format!("<target {}>\n", i.iqn));
    s.push_str(&format!(
        "    <backing-store {}>\n        lun {}\n    </backing-store>\n",
        c.backing.display(),
        i.lun
    ));
    // tgt admits a login when its address OR its initiator name is listed,
    // and tgt-admin adds "ALL" when no address is listed. So: by name, with
    // an address entry that matches nobody; by address only without a name.
    match (&i.initiator, c.ip) {
        (Some(n), _) => s.push_str(&format!(
            "    # Only this initiator name (iPXE presents it: the script sets initiator-iqn).\n\
             \x20   # tgt admits an address OR a name match and tgt-admin adds ALL when no\n\
             \x20   # address is listed: 0.0.0.0/32 matches nobody, so the name decides.\n\
             \x20   initiator-name {n}\n    initiator-address {TGT_NO_ADDRESS}\n"
        )),
        (None, Some(ip)) => s.push_str(&format!(
            "    # No client.initiator_name in the plan: only the client's address.\n    initiator-address {ip}\n"
        )),
        (None, None) => {
            s.push_str("    # No client.initiator_name and no static address: any initiator may log in.\n")
        }
    }
    if let Some(ch) = &i.chap {
        s.push_str(&format!("    incominguser {} {}\n", ch.username, ch.secret));
        if let Some((u, p, _)) = &ch.target {
            s.push_str(&format!("    outgoinguser {u} {p}\n"));
        }
    }
    s.push_str("</target>\n");
    s
}

fn tgtadm_script(c: &ClientSpec, i: &IscsiExport) -> String {
    let q = |p: &std::path::Path| shell_quote(&p.display().to_string());
    let mut s = format!(
        "#!/bin/sh\n{}",
        header(c, "iSCSI export as tgtadm commands")
    );
    s.push_str(
        "# The same as the targets.conf block, for a running tgtd (not persistent).\n\
         # TID: a free target id (default 1). TGT_CONTROL_PORT: tgtd's -C port.\n\
         set -eu\nTID=${TID:-1}\n\
         tgtadm() { command tgtadm ${TGT_CONTROL_PORT:+-C \"$TGT_CONTROL_PORT\"} \"$@\"; }\n",
    );
    s.push_str(&format!(
        "tgtadm --lld iscsi --mode target --op new --tid \"$TID\" --targetname {}\n",
        i.iqn
    ));
    s.push_str(&format!(
        "tgtadm --lld iscsi --mode logicalunit --op new --tid \"$TID\" --lun {} --backing-store {}\n",
        i.lun,
        q(&c.backing)
    ));
    if let Some(n) = &i.initiator {
        s.push_str(&format!(
            "tgtadm --lld iscsi --mode target --op bind --tid \"$TID\" --initiator-name {n}\n"
        ));
    }
    let addr =
        c.ip.map(|ip| ip.to_string())
            .unwrap_or_else(|| "ALL".into());
    s.push_str(&format!(
        "tgtadm --lld iscsi --mode target --op bind --tid \"$TID\" --initiator-address {addr}\n"
    ));
    if let Some(ch) = &i.chap {
        s.push_str(&format!(
            "# CHAP: the secret is read from {} now; it is never stored in this script.\n",
            ch.secret_file.display()
        ));
        s.push_str(&format!(
            "tgtadm --lld iscsi --mode account --op new --user {} --password \"$(head -n1 {})\"\n",
            ch.username,
            q(&ch.secret_file)
        ));
        s.push_str(&format!(
            "tgtadm --lld iscsi --mode account --op bind --tid \"$TID\" --user {}\n",
            ch.username
        ));
        if let Some((u, _, f)) = &ch.target {
            s.push_str(&format!(
                "tgtadm --lld iscsi --mode account --op new --user {u} --password \"$(head -n1 {})\"\n",
                q(f)
            ));
            s.push_str(&format!(
                "tgtadm --lld iscsi --mode account --op bind --tid \"$TID\" --user {u} --outgoing\n"
            ));
        }
    }
    s
}

fn targetcli_script(c: &ClientSpec, i: &IscsiExport) -> String {
    let q = |p: &std::path::Path| shell_quote(&p.display().to_string());
    let bs = if c.backing.starts_with("/dev") {
        "block"
    } else {
        "fileio"
    };
    let store = format!("netroot-{}", c.name);
    let tpg = format!("/iscsi/{}/tpg1", i.iqn);
    let mut s = format!(
        "#!/bin/sh\n{}",
        header(c, "iSCSI export for LIO (targetcli)")
    );
    s.push_str(&format!(
        "# Use this instead of tgt, not with it (both listen on port 3260).\n\
         # The LUN number is given explicitly ({}) so iPXE's URI stays the same.\nset -eu\n",
        i.lun
    ));
    s.push_str(&format!(
        "targetcli /backstores/{bs} create name={store} {}={}\n",
        if bs == "block" { "dev" } else { "file_or_dev" },
        q(&c.backing)
    ));
    s.push_str(&format!("targetcli /iscsi create {}\n", i.iqn));
    s.push_str(&format!(
        "targetcli {tpg}/luns create /backstores/{bs}/{store} lun={}\n",
        i.lun
    ));
    match &i.initiator {
        Some(n) => {
            s.push_str(&format!("targetcli {tpg}/acls create {n}\n"));
            if let Some(ch) = &i.chap {
                s.push_str(&format!(
                    "# CHAP: the secret is read from {} now; it is never stored in this script.\n",
                    ch.secret_file.display()
                ));
                s.push_str(&format!(
                    "targetcli {tpg}/acls/{n} set auth userid={} password=\"$(head -n1 {})\"\n",
                    ch.username,
                    q(&ch.secret_file)
                ));
                if let Some((u, _, f)) = &ch.target {
                    s.push_str(&format!(
                        "targetcli {tpg}/acls/{n} set auth mutual_userid={u} mutual_password=\"$(head -n1 {})\"\n",
                        q(f)
                    ));
                }
            }
        }
        None => s.push_str(&format!(
            "targetcli {tpg} set attribute generate_node_acls=1 demo_mode_write_protect=0\n"
        )),
    }
    if let Some(ip) = c.ip {
        s.push_str(&format!(
            "# LIO has no address ACL; restrict {ip} with a firewall if you need it.\n"
        ));
    }
    if i.port != 3260 {
        s.push_str(&format!(
            "targetcli {tpg}/portals delete 0.0.0.0 3260 || true\ntargetcli {tpg}/portals create 0.0.0.0 {}\n",
            i.port
        ));
    }
    s.push_str("targetcli saveconfig\n");
    s
}

fn iscsi_files(c: &ClientSpec, i: &IscsiExport) -> Vec<GeneratedFile> {
    let conf_name = tgt_conf_name(c);
    let mut conf = GeneratedFile::text(
        format!("iscsi/{conf_name}"),
        format!("tgt target {} (LUN {})", i.iqn, i.lun),
        tgt_conf(c, i),
    )
    .to(format!("/etc/tgt/conf.d/{conf_name}"));
    if i.chap.is_some() {
        conf.mode = 0o600;
        conf.secrets = c.secrets();
    }
    vec![
        conf,
        GeneratedFile::text(
            format!("iscsi/tgtadm-{}.sh", c.name),
            "the same tgt target as tgtadm commands",
            tgtadm_script(c, i),
        )
        .mode(0o755),
        GeneratedFile::text(
            format!("iscsi/targetcli-{}.sh", c.name),
            "the same export for LIO (targetcli), instead of tgt",
            targetcli_script(c, i),
        )
        .mode(0o755),
    ]
}
