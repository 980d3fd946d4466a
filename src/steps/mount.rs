//! Step `mount`: mount the target's filesystems under
//! `<work_dir>/<target key>/root` (root first, then the others parents
//! before children) and set `ctx.root`. Unmounted in reverse order when
//! the run ends. Swap is not mounted.

use crate::disk::probe;
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::tools::mount;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Mount;

/// Where the target root is mounted during a run.
pub fn root_dir(ctx: &Ctx) -> PathBuf {
    ctx.opts.work_dir.join(ctx.plan.target_key()).join("root")
}

/// Is `dev` already mounted at `dir` (a killed run's mount)?
fn mounted_here(dev: &Path, dir: &Path) -> bool {
    let Ok(num) = probe::dev_number(dev) else {
        return false;
    };
    mount::mounts()
        .iter()
        .any(|m| m.dev == num && m.target == dir)
}

/// Does the running kernel know the filesystem type (after autoloading)?
fn kernel_supports(fstype: &str) -> bool {
    let listed = |s: &str| {
        s.lines()
            .any(|l| l.split_whitespace().last() == Some(fstype))
    };
    match std::fs::read_to_string("/proc/filesystems") {
        // mount(8) asks the kernel to load a missing module, so only refuse
        // when there is no module directory to load it from.
        Ok(s) => listed(&s) || Path::new("/lib/modules").exists(),
        Err(_) => true,
    }
}

impl Step for Mount {
    fn id(&self) -> StepId {
        StepId::Mount
    }
    fn kind(&self) -> StepKind {
        StepKind::Session
    }
    fn describe(&self, ctx: &Ctx) -> String {
        format!(
            "mount the target's filesystems at {}",
            root_dir(ctx).display()
        )
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("done by every run".into()))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let disk = ctx.disk()?.clone();
        let layout = ctx.layout()?.clone();
        let root = root_dir(ctx);
        for p in layout.mount_order() {
            let (Some(m), Some(fs)) = (p.mount.as_deref(), p.fs) else {
                continue;
            };
            let dir = if m == "/" {
                root.clone()
            } else {
                root.join(m.trim_start_matches('/'))
            };
            let node = disk.part_node(p.number);
            let d = dir.clone();
            ctx.runner.effect(
                &format!("create the mount point {}", dir.display()),
                false,
                move || {
                    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))
                },
            )?;
            if !ctx.runner.is_dry() && mounted_here(&node, &dir) {
                tracing::info!("{} is already mounted at {}", node.display(), dir.display());
            } else {
                if !ctx.runner.is_dry() && !kernel_supports(fs.as_str()) {
                    anyhow::bail!(
                        "this kernel cannot mount {} (not in /proc/filesystems), needed for {m}; \
                         load its module (`modprobe {}`) and run again",
                        fs.as_str(),
                        fs.as_str()
                    );
                }
                ctx.runner
                    .run(&mount::mount_cmd(&node, &dir, fs.as_str()))?;
            }
            let runner = ctx.runner.clone();
            ctx.cleanup
                .push(format!("unmount {}", dir.display()), move || {
                    runner.run(&mount::umount_cmd(&dir))?;
                    Ok(())
                });
        }
        ctx.root = Some(root);
        Ok(())
    }
}
