//! `netroot server apply`: install the generated files on this Debian
//! server, install the packages, enable and start the services.
//!
//! Idempotent by probing: a package is installed only when dpkg says it is
//! missing, a file is written only when its contents or mode differ, a
//! service is restarted only when one of its files changed, enabled or
//! started only when systemctl says it is not. With a `root` other than `/`
//! only the files are written (below that root); packages and services are
//! left alone, so a staging tree can be prepared safely.

use super::dhcp::DHCPD_SNIPPET;
use super::files::{put_file, Contents, GeneratedFile};
use super::lio;
use super::model::{ClientSpec, ExportSpec};
use super::options::ServerOptions;
use crate::tools::{Cmd, Runner};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Which DHCP (and TFTP) server `apply` sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpServer {
    /// dnsmasq serves DHCP and TFTP.
    Dnsmasq,
    /// ISC dhcpd for DHCP, tftpd-hpa for TFTP.
    Isc,
    /// No DHCP server (you run your own); TFTP files are still written.
    None,
}

/// Which iSCSI target serves the iSCSI exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IscsiTarget {
    /// tgt (user space): /etc/tgt/conf.d, tgt.service.
    Tgt,
    /// LIO (in the kernel) through targetcli; restored at boot by
    /// rtslib-fb-targetctl.service.
    Lio,
}

/// Options of `apply`.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Install below this root ("/" for the real server).
    pub root: PathBuf,
    pub dhcp: DhcpServer,
    pub iscsi: IscsiTarget,
    /// LIO's configfs tree (normally [`lio::CONFIGFS`]).
    pub configfs: PathBuf,
}

/// What `apply` did (or would do): one line per item.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub lines: Vec<String>,
}

impl ApplyReport {
    fn note(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }
}

/// The verb for a change: what was done, or in a dry run what would be.
fn did(runner: &Runner, done: &'static str) -> &'static str {
    if !runner.is_dry() {
        return done;
    }
    match done {
        "installed" => "would install",
        "wrote    " => "would write",
        "enabled  " => "would enable",
        "started  " => "would start",
        "restarted" => "would restart",
        "created  " => "would create",
        "reloaded " => "would reload",
        "configured" => "would configure",
        "saved    " => "would save",
        other => other,
    }
}

fn in_root(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn has_iscsi(clients: &[ClientSpec]) -> bool {
    clients
        .iter()
        .any(|c| matches!(c.export, ExportSpec::Iscsi(_)))
}

/// Packages the server needs for these clients.
pub fn packages(clients: &[ClientSpec], dhcp: DhcpServer, iscsi: IscsiTarget) -> Vec<&'static str> {
    let mut v = vec!["ipxe"];
    if clients
        .iter()
        .any(|c| matches!(c.export, ExportSpec::Aoe { .. }))
    {
        v.push("vblade");
    }
    if has_iscsi(clients) {
        match iscsi {
            IscsiTarget::Tgt => v.push("tgt"),
            // targetcli-fb asks the system D-Bus for tcmu-runner's
            // backstores on every start and exits 255 without a bus
            // ("g-io-error-quark: Could not connect"), yet its package does
            // not depend on dbus: a minimal server has none.
            IscsiTarget::Lio => v.extend(["targetcli-fb", "dbus"]),
        }
    }
    match dhcp {
        DhcpServer::Dnsmasq => v.push("dnsmasq"),
        DhcpServer::Isc => v.extend(["isc-dhcp-server", "tftpd-hpa"]),
        DhcpServer::None => {}
    }
    v
}

fn package_missing(runner: &Runner, pkg: &str) -> bool {
    let q = Cmd::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .ok_codes(&[0, 1]);
    match runner.query(&q) {
        Ok(o) => !o.stdout.contains("install ok installed"),
        Err(_) => true,
    }
}

/// Whether a file already holds `f`'s contents with its mode.
fn up_to_date(f: &GeneratedFile, dest: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(dest) else {
        return false;
    };
    if meta.permissions().mode() & 0o7777 != f.mode {
        return false;
    }
    let Ok(have) = std::fs::read(dest) else {
        return false;
    };
    match &f.contents {
        Contents::Text(t) => have == t.as_bytes(),
        Contents::CopyOf(src) => std::fs::read(src).map(|b| b == have).unwrap_or(false),
    }
}

fn systemctl_says(runner: &Runner, verb: &str, unit: &str, yes: &str) -> bool {
    let all: Vec<i32> = (0..=255).collect();
    runner
        .query(&Cmd::new("systemctl").args([verb, unit]).ok_codes(&all))
        .map(|o| o.stdout.trim() == yes)
        .unwrap_or(false)
}

/// Enable and start `unit`; restart it when `changed`.
fn service(runner: &Runner, rep: &mut ApplyReport, unit: &str, changed: bool) -> Result<()> {
    if !systemctl_says(runner, "is-enabled", unit, "enabled") {
        runner.run(&Cmd::new("systemctl").args(["enable", unit]))?;
        rep.note(format!("{} {unit}", did(runner, "enabled  ")));
    }
    let active = systemctl_says(runner, "is-active", unit, "active");
    if !active {
        runner.run(&Cmd::new("systemctl").args(["start", unit]))?;
        rep.note(format!("{} {unit}", did(runner, "started  ")));
    } else if changed {
        runner.run(&Cmd::new("systemctl").args(["restart", unit]))?;
        rep.note(format!(
            "{} {unit} (its configuration changed)",
            did(runner, "restarted")
        ));
    } else {
        rep.note(format!("unchanged {unit} (enabled, running)"));
    }
    Ok(())
}

/// Install the server side for `clients` on this machine (or below
/// `aopts.root`): `files` as [`super::generate`] made them from the same
/// clients and `opts`. Every change goes through `runner`, so a dry run
/// records the full list and changes nothing.
pub fn apply(
    runner: &Runner,
    clients: &[ClientSpec],
    files: &[GeneratedFile],
    opts: &ServerOptions,
    aopts: &ApplyOptions,
) -> Result<ApplyReport> {
    let mut rep = ApplyReport::default();
    let real_root = aopts.root == Path::new("/");
    if real_root && aopts.iscsi == IscsiTarget::Lio && has_iscsi(clients) {
        refuse_running_tgt(runner)?;
    }
    install_packages(runner, &mut rep, clients, aopts, real_root)?;
    let mut changed_units = install_files(runner, &mut rep, files, aopts, real_root)?;
    create_backing_files(runner, &mut rep, clients, aopts)?;
    if real_root && aopts.iscsi == IscsiTarget::Lio {
        configure_lio(runner, &mut rep, clients, aopts)?;
    }
    if aopts.dhcp == DhcpServer::Isc {
        if include_dhcpd_snippet(runner, &mut rep, aopts)? {
            changed_units.insert("isc-dhcp-server.service".to_string());
        }
        if opts.tftp_root != Path::new("/srv/tftp") {
            rep.note(format!(
                "note      tftpd-hpa serves TFTP_DIRECTORY from /etc/default/tftpd-hpa (Debian: /srv/tftp); set it to {}",
                opts.tftp_root.display()
            ));
        }
    }
    if !real_root {
        rep.note(format!(
            "skipped   services (root is {}, not /)",
            aopts.root.display()
        ));
        return Ok(rep);
    }
    start_services(runner, &mut rep, clients, aopts, &changed_units)?;
    Ok(rep)
}

/// Step 1, packages: install the missing ones (only on the real root).
fn install_packages(
    runner: &Runner,
    rep: &mut ApplyReport,
    clients: &[ClientSpec],
    aopts: &ApplyOptions,
    real_root: bool,
) -> Result<()> {
    let pkgs = packages(clients, aopts.dhcp, aopts.iscsi);
    if !real_root {
        rep.note(format!(
            "skipped   packages {} (root is {}, not /)",
            pkgs.join(" "),
            aopts.root.display()
        ));
        return Ok(());
    }
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| package_missing(runner, p))
        .collect();
    if missing.is_empty() {
        rep.note(format!("unchanged packages {} (installed)", pkgs.join(" ")));
        return Ok(());
    }
    runner
        .run(
            &Cmd::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .context("installing the server packages")?;
    rep.note(format!(
        "{} {}",
        did(runner, "installed"),
        missing.join(" ")
    ));
    Ok(())
}

/// Whether a file is the config of a server other than the chosen ones:
/// the other DHCP server, or tgt's file when LIO serves (and LIO's script
/// when tgt does).
fn not_chosen(f: &GeneratedFile, aopts: &ApplyOptions) -> bool {
    let p = f.rel_path.as_str();
    match p {
        "dhcp/dnsmasq-netroot.conf" => aopts.dhcp != DhcpServer::Dnsmasq,
        "dhcp/dhcpd-netroot.conf" => aopts.dhcp != DhcpServer::Isc,
        _ if p.starts_with("iscsi/targetcli-") => aopts.iscsi != IscsiTarget::Lio,
        _ if p.starts_with("iscsi/") => aopts.iscsi != IscsiTarget::Tgt,
        _ => false,
    }
}

/// The service that reads an installed file.
fn unit_of(f: &GeneratedFile, target: &Path) -> Option<String> {
    match f.rel_path.as_str() {
        // A drop-in (…/vblade@X.service.d/netroot.conf) belongs to its unit.
        p if p.starts_with("aoe/") && target.to_string_lossy().contains(".service.d/") => target
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".d"))
            .map(str::to_string),
        p if p.starts_with("aoe/") => Some(format!(
            "vblade@{}.service",
            super::model::systemd_escape(
                target
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
            )
        )),
        p if p.starts_with("iscsi/targetcli-") => None,
        p if p.starts_with("iscsi/") => Some("tgt.service".to_string()),
        "dhcp/dnsmasq-netroot.conf" => Some("dnsmasq.service".to_string()),
        "dhcp/dhcpd-netroot.conf" => Some("isc-dhcp-server.service".to_string()),
        _ => None,
    }
}

/// Step 2, files: write each installed file that differs; returns the
/// units whose files changed.
fn install_files(
    runner: &Runner,
    rep: &mut ApplyReport,
    files: &[GeneratedFile],
    aopts: &ApplyOptions,
    real_root: bool,
) -> Result<BTreeSet<String>> {
    let tftp_user = match aopts.dhcp {
        DhcpServer::Dnsmasq => Some("dnsmasq"),
        DhcpServer::Isc => Some("tftp"),
        DhcpServer::None => None,
    };
    let mut changed_units = BTreeSet::new();
    for f in files {
        let Some(target) = &f.install_to else {
            continue;
        };
        if not_chosen(f, aopts) {
            continue;
        }
        let unit = unit_of(f, target);
        let dest = in_root(&aopts.root, target);
        if up_to_date(f, &dest) {
            rep.note(format!("unchanged {}", dest.display()));
            continue;
        }
        put_file(runner, f, &dest)?;
        if !f.secrets.is_empty() && f.rel_path.starts_with("tftp/") {
            if let (Some(user), true) = (tftp_user, real_root) {
                runner.run(&Cmd::new("chown").arg(user).arg(&dest))?;
            }
        }
        rep.note(format!(
            "{} {} ({:04o})",
            did(runner, "wrote    "),
            dest.display(),
            f.mode
        ));
        if let Some(u) = unit {
            changed_units.insert(u);
        }
    }
    Ok(changed_units)
}

/// What `apply` can tell is wrong before it changes anything: an export
/// that does not exist and cannot be created (no `target.size`).
pub fn check(clients: &[ClientSpec], aopts: &ApplyOptions) -> Result<()> {
    if aopts.root != Path::new("/") {
        return Ok(());
    }
    for c in clients {
        if c.backing.starts_with("/dev") || c.backing_size.is_some() || c.backing.exists() {
            continue;
        }
        anyhow::bail!(
            "plan {}: the export {} does not exist and the plan has no target.size: set target.size (e.g. \"20G\"), create it (truncate -s 20G {}), or pass --export-device PATH",
            c.plan_file.display(),
            c.backing.display(),
            c.backing.display()
        );
    }
    Ok(())
}

/// Step 2b, disks: a missing backing file is created sparse with the
/// plan's `target.size` (the client migrates onto it over the network; a
/// tgt or vblade export of a missing file fails to start). A block device
/// or an existing file is never touched.
fn create_backing_files(
    runner: &Runner,
    rep: &mut ApplyReport,
    clients: &[ClientSpec],
    aopts: &ApplyOptions,
) -> Result<()> {
    for c in clients {
        let dest = in_root(&aopts.root, &c.backing);
        if c.backing.starts_with("/dev") || dest.exists() {
            continue;
        }
        let Some(bytes) = c.backing_size else {
            if aopts.root != Path::new("/") {
                rep.note(format!(
                    "missing   {} (no target.size to create it with; create it before the services start)",
                    dest.display()
                ));
                continue;
            }
            anyhow::bail!(
                "plan {}: the export {} does not exist and the plan has no target.size: set target.size (e.g. \"20G\") or create it (truncate -s 20G {})",
                c.plan_file.display(),
                c.backing.display(),
                c.backing.display()
            );
        };
        if let Some(dir) = dest.parent() {
            runner.run(&Cmd::new("mkdir").args(["-p", "-m", "0700"]).arg(dir))?;
        }
        runner.run(
            &Cmd::new("truncate")
                .args(["-s", &bytes.to_string()])
                .arg(&dest),
        )?;
        rep.note(format!(
            "{} {} ({} bytes, sparse)",
            did(runner, "created  "),
            dest.display(),
            bytes
        ));
    }
    Ok(())
}

/// Make /etc/dhcp/dhcpd.conf include the snippet; whether it changed.
fn include_dhcpd_snippet(
    runner: &Runner,
    rep: &mut ApplyReport,
    aopts: &ApplyOptions,
) -> Result<bool> {
    let conf = in_root(&aopts.root, Path::new("/etc/dhcp/dhcpd.conf"));
    let include = format!("include \"{DHCPD_SNIPPET}\";");
    let have = std::fs::read_to_string(&conf).unwrap_or_default();
    if have.lines().any(|l| l.trim() == include) {
        rep.note(format!(
            "unchanged {} (includes {DHCPD_SNIPPET})",
            conf.display()
        ));
        return Ok(false);
    }
    let mut new = have.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&format!("# Added by netroot server apply.\n{include}\n"));
    runner.write_file(&conf, new.as_bytes(), 0o644)?;
    rep.note(format!(
        "{} {} (+ {include})",
        did(runner, "wrote    "),
        conf.display()
    ));
    Ok(true)
}

/// Step 3, services: enable and start each, restart those whose files
/// changed.
fn start_services(
    runner: &Runner,
    rep: &mut ApplyReport,
    clients: &[ClientSpec],
    aopts: &ApplyOptions,
    changed_units: &BTreeSet<String>,
) -> Result<()> {
    let mut units: Vec<String> = Vec::new();
    for c in clients {
        if matches!(c.export, ExportSpec::Aoe { .. }) {
            units.push(c.vblade_unit());
        }
    }
    if has_iscsi(clients) {
        units.push(match aopts.iscsi {
            IscsiTarget::Tgt => "tgt.service".into(),
            IscsiTarget::Lio => lio::RESTORE_UNIT.into(),
        });
    }
    match aopts.dhcp {
        DhcpServer::Dnsmasq => units.push("dnsmasq.service".into()),
        DhcpServer::Isc => {
            units.extend(["isc-dhcp-server.service".into(), "tftpd-hpa.service".into()])
        }
        DhcpServer::None => {}
    }
    // systemd reads a unit's drop-ins and its SourcePath (vblade's
    // /etc/vblade.conf.d file) at load time: without a reload a changed
    // one is refused ("changed on disk").
    if !changed_units.is_empty() {
        runner.run(&Cmd::new("systemctl").arg("daemon-reload"))?;
        rep.note(format!(
            "{} systemd (daemon-reload: unit configuration changed)",
            did(runner, "reloaded ")
        ));
    }
    for u in &units {
        service(runner, rep, u, changed_units.contains(u))?;
    }
    Ok(())
}

/// LIO and tgt both listen on port 3260: LIO is not set up next to a
/// running tgt.
fn refuse_running_tgt(runner: &Runner) -> Result<()> {
    if systemctl_says(runner, "is-active", "tgt.service", "active") {
        anyhow::bail!("tgt is running on this server and holds iSCSI's port 3260, so LIO cannot serve there: stop it (systemctl disable --now tgt) or use --iscsi-target tgt");
    }
    Ok(())
}

/// Step 2c, LIO: each iSCSI export that LIO does not already serve as
/// planned is (re)created by its installed targetcli script, checked in
/// configfs, and saved for `rtslib-fb-targetctl.service` to restore at
/// boot.
/// The system bus targetcli talks to.
const DBUS_UNIT: &str = "dbus.service";

fn configure_lio(
    runner: &Runner,
    rep: &mut ApplyReport,
    clients: &[ClientSpec],
    aopts: &ApplyOptions,
) -> Result<()> {
    let saved = || std::fs::read_to_string(lio::SAVED_CONFIG).unwrap_or_default();
    for c in clients {
        let ExportSpec::Iscsi(i) = &c.export else {
            continue;
        };
        let secrets = c.secrets();
        let with_secrets = |mut cmd: Cmd| {
            for s in &secrets {
                cmd = cmd.secret(s.clone());
            }
            cmd
        };
        let what = format!(
            "LIO target {} (LUN {} on {})",
            i.iqn,
            i.lun,
            c.backing.display()
        );
        let diffs = lio::differences(&aopts.configfs, c, i);
        if diffs.is_empty() {
            if lio::saved_has(&saved(), &i.iqn) {
                rep.note(format!("unchanged {what}"));
            } else {
                runner.run(&with_secrets(Cmd::new("targetcli").arg("saveconfig")))?;
                rep.note(format!(
                    "{} {what} in {}",
                    did(runner, "saved    "),
                    lio::SAVED_CONFIG
                ));
            }
            continue;
        }
        // targetcli cannot start without the system bus (see packages()).
        if !systemctl_says(runner, "is-active", DBUS_UNIT, "active") {
            runner.run(&Cmd::new("systemctl").args(["start", DBUS_UNIT]))?;
            rep.note(format!(
                "{} {DBUS_UNIT} (targetcli needs the system bus)",
                did(runner, "started  ")
            ));
        }
        // What is there under these names is replaced, not patched: the
        // script creates the whole export.
        if lio::tpg_dir(&aopts.configfs, i).exists() {
            runner.run(&Cmd::new("targetcli").args(["/iscsi", "delete"]).arg(&i.iqn))?;
        }
        for so in lio::backstores(&aopts.configfs, &c.vblade_instance()) {
            let kind = match so
                .parent()
                .and_then(|h| h.file_name())
                .and_then(|n| n.to_str())
            {
                Some(h) if h.starts_with("iblock") => "block",
                _ => "fileio",
            };
            runner.run(
                &Cmd::new("targetcli")
                    .arg(format!("/backstores/{kind}"))
                    .arg("delete")
                    .arg(c.vblade_instance()),
            )?;
        }
        let script = in_root(&aopts.root, &lio::script_path(c));
        runner
            .run(&with_secrets(Cmd::new("sh").arg("-e").arg(&script)))
            .with_context(|| format!("running {} (targetcli)", script.display()))?;
        if !runner.is_dry() {
            let left = lio::differences(&aopts.configfs, c, i);
            if !left.is_empty() {
                anyhow::bail!(
                    "{} ran, but LIO does not serve {} as planned: {} (targetcli's output above says why)",
                    script.display(),
                    i.iqn,
                    left.join("; ")
                );
            }
        }
        rep.note(format!(
            "{} {what} ({})",
            did(runner, "configured"),
            diffs.join("; ")
        ));
    }
    Ok(())
}
