//! Step `identity`: this client's own identity in the target when the plan
//! asks — hostname (and its /etc/hosts line), machine-id (and dbus's copy),
//! iSCSI initiator name, new SSH host keys — so a migrated machine is not a
//! clone of its source.
//!
//! The files are computed from the source tree (which is never changed), or
//! from the target itself after debootstrap, so a dry run shows the exact
//! files and a re-run writes the same bytes. The probe is "the target's
//! files already are what would be written and no copied SSH host key is
//! left to replace".

use super::shared::{base_tree, files_as_planned, files_to_write, write_files};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::plan::Source;
use crate::system::identity::{self, IdentityFile};
use crate::tools::Cmd;
use anyhow::{Context, Result};
use std::path::Path;

pub struct Identity;

fn wanted(ctx: &Ctx) -> Result<Vec<IdentityFile>> {
    let base = base_tree(ctx);
    let read = |rel: &str| -> Option<String> {
        base.as_ref()
            .and_then(|b| std::fs::read_to_string(b.join(rel)).ok())
    };
    let mut files = Vec::new();
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
    Ok(files)
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

impl Step for Identity {
    fn id(&self) -> StepId {
        StepId::Identity
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "this client's identity (hostname, machine-id, initiator name, SSH host keys) as the plan asks".to_string()
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.as_ref() else {
            return Ok(Probe::Todo("the target is not mounted".into()));
        };
        let files = wanted(ctx)?;
        if let Some(todo) = files_to_write(root, &files) {
            return Ok(todo);
        }
        let keys = stale_keys(ctx, root);
        if !keys.is_empty() {
            return Ok(Probe::Todo(format!(
                "SSH host keys to generate: {}",
                keys.join(", ")
            )));
        }
        if files.is_empty() {
            return Ok(Probe::Done("the plan keeps the source's identity".into()));
        }
        Ok(files_as_planned(&files))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = ctx.root()?.clone();
        write_files(&ctx.runner, &root, &wanted(ctx)?)?;
        let hostname = ctx
            .plan
            .system
            .hostname
            .as_ref()
            .map_or_else(|| "netroot".into(), |h| h.to_string());
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
    fn protects(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let mut out: Vec<String> = wanted(ctx)?
            .iter()
            .map(|f| format!("/{}", f.path.display()))
            .collect();
        if ctx.plan.system.regenerate.ssh_host_keys {
            // The keys generated here, not the source's.
            out.push("/etc/ssh/ssh_host_*_key".into());
            out.push("/etc/ssh/ssh_host_*_key.pub".into());
        }
        Ok(out)
    }
}
