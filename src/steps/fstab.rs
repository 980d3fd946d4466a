//! Step `fstab`: /etc/fstab by UUID for the network disk, and this
//! client's own identity (machine-id, iSCSI initiator name, SSH host keys,
//! hostname) when the plan asks.
//!
//! Everything is computed from the source tree (which is never changed), or
//! from the target itself after debootstrap, so a dry run shows the exact
//! files and a re-run writes the same bytes. The probe is "the target's
//! files already are what would be written".

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::host::{mountinfo, swaps};
use crate::plan::Source;
use crate::system::fstab::{self, Dropped};
use crate::system::identity::{self, IdentityFile};
use crate::tools::{blkid, Cmd};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub struct Fstab;

/// The files the step writes, relative to the target root.
struct Wanted {
    files: Vec<IdentityFile>,
    dropped: Vec<Dropped>,
}

/// The tree the target's files are derived from: the source for live and
/// directory sources, the target itself after debootstrap.
fn base_tree(ctx: &Ctx) -> Option<PathBuf> {
    match &ctx.plan.source {
        Source::Live => Some(PathBuf::from("/")),
        Source::Directory { path } => Some(path.clone()),
        Source::Debootstrap { .. } => ctx.root.clone(),
    }
}

/// Specs that name the live source's local disks (mount sources of the
/// running system and their UUID/LABEL/PARTUUID), so their fstab entries
/// are dropped even when marked nofail.
fn live_old_devices(ctx: &Ctx) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut devs: BTreeSet<String> = mountinfo::mounts()
        .into_iter()
        .filter(|m| m.source.starts_with("/dev/"))
        .map(|m| m.source)
        .collect();
    devs.extend(
        swaps::active()
            .iter()
            .filter_map(|s| s.name.to_str())
            .filter(|d| d.starts_with("/dev/"))
            .map(str::to_string),
    );
    for d in devs {
        if let Ok(tags) = blkid::tags(&ctx.runner, Path::new(&d)) {
            for (k, v) in tags {
                if matches!(k.as_str(), "UUID" | "LABEL" | "PARTUUID" | "PARTLABEL") {
                    out.insert(format!("{k}={v}"));
                }
            }
        }
        out.insert(d);
    }
    out
}

fn wanted(ctx: &Ctx) -> Result<Wanted> {
    let layout = ctx.layout()?;
    let base = base_tree(ctx);
    let read = |rel: &str| -> Option<String> {
        base.as_ref()
            .and_then(|b| std::fs::read_to_string(b.join(rel)).ok())
    };
    let profile = match ctx.plan.source {
        Source::Debootstrap { .. } => crate::profile::resolve(&ctx.plan, None)?,
        _ => crate::profile::resolve(&ctx.plan, base.as_deref())?,
    };
    let old_devices = if matches!(ctx.plan.source, Source::Live) {
        live_old_devices(ctx)
    } else {
        BTreeSet::new()
    };
    let old = read("etc/fstab").unwrap_or_default();
    let (text, dropped) = fstab::rewrite(&old, layout, profile.fstab.netdev, &old_devices);
    let mut files = vec![IdentityFile {
        path: "etc/fstab".into(),
        contents: text,
        mode: 0o644,
    }];
    let has_iscsi = base.as_ref().is_some_and(|b| b.join("etc/iscsi").is_dir())
        || ctx
            .root
            .as_ref()
            .is_some_and(|r| r.join("etc/iscsi").is_dir());
    files.extend(identity::files(
        &ctx.plan,
        read("etc/hosts").as_deref(),
        has_iscsi,
    ));
    // dbus keeps its own copy of the machine id when it is not a symlink.
    if let (Some(root), Some(mid)) = (
        ctx.root.as_ref(),
        files
            .iter()
            .find(|f| f.path == Path::new("etc/machine-id"))
            .cloned(),
    ) {
        let dbus = root.join("var/lib/dbus/machine-id");
        if std::fs::symlink_metadata(&dbus).is_ok_and(|m| m.file_type().is_file()) {
            files.push(IdentityFile {
                path: "var/lib/dbus/machine-id".into(),
                contents: mid.contents,
                mode: 0o444,
            });
        }
    }
    Ok(Wanted { files, dropped })
}

fn file_is(path: &Path, f: &IdentityFile) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match (std::fs::read(path), std::fs::metadata(path)) {
        (Ok(b), Ok(m)) => b == f.contents.as_bytes() && m.permissions().mode() & 0o7777 == f.mode,
        _ => false,
    }
}

/// SSH host key types to generate in the target.
fn stale_keys(ctx: &Ctx, root: &Path) -> Vec<String> {
    if !ctx.plan.system.regenerate.ssh_host_keys {
        return Vec::new();
    }
    let src = match &ctx.plan.source {
        Source::Debootstrap { .. } => None,
        _ => base_tree(ctx),
    };
    identity::stale_ssh_keys(src.as_deref(), root)
}

impl Step for Fstab {
    fn id(&self) -> StepId {
        StepId::Fstab
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "fstab by UUID and this client's identity".to_string()
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.as_ref() else {
            return Ok(Probe::Todo("the target is not mounted".into()));
        };
        if ctx.layout.is_none() {
            return Ok(Probe::Todo("the layout is not resolved".into()));
        }
        let w = wanted(ctx)?;
        let differ: Vec<String> = w
            .files
            .iter()
            .filter(|f| !file_is(&root.join(&f.path), f))
            .map(|f| f.path.display().to_string())
            .collect();
        if !differ.is_empty() {
            return Ok(Probe::Todo(format!("to write: {}", differ.join(", "))));
        }
        let keys = stale_keys(ctx, root);
        if !keys.is_empty() {
            return Ok(Probe::Todo(format!(
                "SSH host keys to generate: {}",
                keys.join(", ")
            )));
        }
        Ok(Probe::Done(format!(
            "{} already as planned",
            w.files
                .iter()
                .map(|f| format!("/{}", f.path.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = ctx.root()?.clone();
        let w = wanted(ctx)?;
        for d in &w.dropped {
            ctx.notes
                .push(format!("fstab: dropped `{}`: {}", d.line, d.reason));
        }
        for f in &w.files {
            let p = root.join(&f.path);
            if ctx.runner.is_dry() || !file_is(&p, f) {
                ctx.runner
                    .write_file(&p, f.contents.as_bytes(), f.mode)
                    .with_context(|| format!("writing /{} in the target", f.path.display()))?;
            }
        }
        let hostname = ctx
            .plan
            .system
            .hostname
            .clone()
            .unwrap_or_else(|| "netroot".into());
        for t in stale_keys(ctx, &root) {
            let key = root.join(format!("etc/ssh/ssh_host_{t}_key"));
            let public = key.with_extension("pub");
            ctx.runner.effect(
                &format!("removing the copied SSH host key {}", key.display()),
                false,
                || {
                    for p in [&key, &public] {
                        match std::fs::remove_file(p) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(e.into())
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                },
            )?;
            ctx.runner
                .run(
                    &Cmd::new("ssh-keygen")
                        .args(["-q", "-t", &t, "-N", "", "-C"])
                        .arg(format!("root@{hostname}"))
                        .arg("-f")
                        .arg(&key),
                )
                .with_context(|| format!("generating the {t} SSH host key"))?;
        }
        Ok(())
    }
}
