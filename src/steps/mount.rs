//! Step `mount`: mount the target's filesystems under
//! `<work_dir>/<target key>/root` (root first, then the others parents
//! before children) and set `ctx.root`. Unmounted in reverse order when
//! the run ends. Swap is not mounted.

use super::shared::root_dir;
use crate::disk::inspect;
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::plan::FsKind;
use crate::tools::mount;
use anyhow::{Context, Result};
use std::path::Path;

pub struct Mount;

/// Is `dev` already mounted at `dir` (a killed run's mount)? A FUSE
/// mount has its own device number; fusefat_cmd names `dev` as its source.
fn mounted_here(dev: &Path, dir: &Path) -> bool {
    let num = inspect::dev_number(dev).ok();
    let src = dev.display().to_string();
    mount::mounts().iter().any(|m| {
        m.target == dir && (Some(m.dev) == num || (m.fstype.starts_with("fuse") && m.source == src))
    })
}

/// Does the running kernel know the filesystem type (after autoloading)?
fn kernel_supports(fstype: &str) -> bool {
    if mount::kernel_has_fs(fstype) {
        return true;
    }
    // mount(8) asks the kernel to load a missing module, so only refuse
    // when there is no module directory to load it from (or no
    // /proc/filesystems to ask).
    Path::new("/lib/modules").exists() || !Path::new("/proc/filesystems").exists()
}

/// How one filesystem gets mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Kernel,
    /// fusefat, for a FAT ESP on a kernel without vfat.
    Fuse,
}

/// Pick the way to mount `fs`: FAT goes through FUSE when the kernel has
/// no vfat registered (checked in /proc/filesystems, not guessed from a
/// failed mount).
fn via(fs: FsKind) -> Via {
    if fs == FsKind::Vfat && !mount::kernel_has_fs("vfat") {
        Via::Fuse
    } else {
        Via::Kernel
    }
}

impl Step for Mount {
    fn id(&self) -> StepId {
        StepId::Mount
    }
    fn kind(&self) -> StepKind {
        StepKind::EveryRun
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
            let how = via(fs);
            if mounted_here(&node, &dir) {
                tracing::info!("{} is already mounted at {}", node.display(), dir.display());
            } else if how == Via::Fuse {
                ctx.runner
                    .run(&mount::fusefat_cmd(&node, &dir))
                    .with_context(|| {
                        format!(
                            "mounting the {m} partition {} with fusefat (this kernel has no vfat)",
                            node.display()
                        )
                    })?;
            } else {
                if !kernel_supports(fs.as_str()) {
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
            if how == Via::Fuse {
                ctx.notes.push(format!(
                    "{m} ({}) is mounted through FUSE (fusefat) because this kernel has no vfat",
                    node.display()
                ));
                ctx.cleanup
                    .push(format!("unmount {} (FUSE)", dir.display()), move || {
                        runner.run(&mount::fuse_umount_cmd(&dir))?;
                        Ok(())
                    });
            } else {
                ctx.cleanup
                    .push(format!("unmount {}", dir.display()), move || {
                        runner.run(&mount::umount_cmd(&dir))?;
                        Ok(())
                    });
            }
        }
        ctx.root = Some(root);
        Ok(())
    }
}
