//! Step `discover`: find and attach the target disk, read its size, model
//! and serial, and place the layout on it.
//!
//! With `target.device` the plan names a block device (used as is) or an
//! image file (created sparse at `target.size` when missing, loop-attached
//! with partition scanning, detached at the end). Otherwise the transport
//! attaches the network disk. A dry run attaches an existing image
//! read-only so the later probes read its real table, and reports a
//! placeholder for an image that does not exist yet.

use super::shared::{self, planned_size};
use crate::disk::{inspect, kernel, TargetDisk};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::event::Event;
use crate::outcome::Refused;
use crate::plan::resolve_layout;
use crate::plan::size::human;
use crate::tools::{losetup, lsblk};
use crate::transport::HostPaths;
use anyhow::{anyhow, Context, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

pub struct Discover;

impl Step for Discover {
    fn id(&self) -> StepId {
        StepId::Discover
    }
    fn kind(&self) -> StepKind {
        StepKind::EveryRun
    }
    fn describe(&self, ctx: &Ctx) -> String {
        match ctx.plan.target.device() {
            Some(d) => format!("use {} as the target disk", d.display()),
            None => format!(
                "attach the {} disk {}",
                ctx.plan.target.transport_name(),
                ctx.plan.target.identity()
            ),
        }
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("done by every run".into()))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let disk = match ctx.plan.target.device().cloned() {
            Some(dev) => local_device(ctx, &dev)?,
            None => shared::attach_with(ctx, &HostPaths::default())?,
        };
        if disk.attached && !ctx.runner.is_dry() {
            ctx.lock_attached(&disk.node)?;
        }
        if disk.attached && disk.image.is_some() {
            // Let the kernel see the partitions already in the image, so the
            // probes and preflight look at the real ones. (Block devices are
            // left alone until preflight has passed; the partition step
            // syncs them.)
            kernel::sync_partitions(&ctx.runner, &disk.node, |n| disk.part_node(n))
                .with_context(|| format!("reading the partitions of {}", disk.node.display()))?;
        }
        let seed = ctx.plan.layout_seed();
        // A dry run of a network disk that is not attached does not know its
        // size: place the layout on a nominal disk just large enough, and say so.
        let size_for_layout = if !disk.attached && disk.size == 0 {
            let nominal = crate::plan::layout::minimum_disk_size(&ctx.plan.layout)
                .max(crate::plan::size::GIB * 8);
            ctx.notes.push(format!(
                "the target's size is unknown until it is attached: the layout is shown on a nominal {} disk; \"rest\" takes whatever the real disk has",
                human(nominal)
            ));
            nominal
        } else {
            disk.size
        };
        let layout = resolve_layout(&ctx.plan.layout, size_for_layout, &seed).map_err(|e| {
            Refused(format!(
                "{e}; use a bigger target or smaller partitions in layout.partitions"
            ))
        })?;
        let mut text = format!(
            "target disk {} ({}), {}",
            disk.node.display(),
            disk.identity,
            human(disk.size)
        );
        if let Some(m) = &disk.model {
            text.push_str(&format!(", model {m}"));
        }
        if let Some(s) = &disk.serial {
            text.push_str(&format!(", serial {s}"));
        }
        if !disk.attached {
            text.push_str(" (not attached in a dry run)");
        }
        tracing::info!("{text}");
        ctx.emit(Event::Message { text });
        ctx.disk = Some(disk);
        ctx.layout = Some(layout);
        Ok(())
    }
}

fn local_device(ctx: &mut Ctx, dev: &Path) -> Result<TargetDisk> {
    let md = std::fs::metadata(dev);
    match md {
        Ok(m) if m.file_type().is_block_device() => block_device(ctx, dev),
        Ok(m) if m.is_file() => image_file(ctx, dev),
        Ok(_) => Err(anyhow!(
            "target.device {} is neither a block device nor an image file",
            dev.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => image_file(ctx, dev),
        Err(e) => Err(anyhow!("target.device {}: {e}", dev.display())),
    }
}

fn block_device(ctx: &mut Ctx, dev: &Path) -> Result<TargetDisk> {
    if inspect::sysfs_dir(dev)?.join("partition").exists() {
        return Err(Refused(format!(
            "target.device {} is a partition; name the whole disk (netroot writes its own \
             partition table)",
            dev.display()
        ))
        .into());
    }
    let size = inspect::block_size(dev)?;
    let info = lsblk::device(&ctx.runner, dev).ok();
    let nonempty = |s: Option<String>| s.map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
    Ok(TargetDisk {
        node: dev.to_path_buf(),
        size,
        identity: format!("block device {}", dev.display()),
        model: nonempty(info.as_ref().and_then(|i| i.model.clone())),
        serial: nonempty(info.as_ref().and_then(|i| i.serial.clone())),
        image: None,
        attached: true,
    })
}

fn image_file(ctx: &mut Ctx, image: &Path) -> Result<TargetDisk> {
    if !image.exists() {
        let size = planned_size(ctx)?.ok_or_else(|| {
            anyhow!(
                "target.device {} does not exist; set target.size to create it as an image file",
                image.display()
            )
        })?;
        create_image(ctx, image, size)?;
        if !image.exists() {
            // Only recorded (a dry run): the attach is recorded too, and the
            // disk is the plan's, not yet on any device.
            let cmd = losetup::attach_cmd(image, false);
            ctx.runner.run(&cmd)?;
            return Ok(TargetDisk {
                node: PathBuf::from("/dev/loopN"),
                size,
                identity: format!("image file {}", image.display()),
                model: None,
                serial: None,
                image: Some(image.to_path_buf()),
                attached: false,
            });
        }
    }
    let size = std::fs::metadata(image)
        .with_context(|| format!("reading {}", image.display()))?
        .len();
    let node = loop_device(ctx, image)?;
    Ok(TargetDisk {
        node,
        size,
        identity: format!("image file {}", image.display()),
        model: None,
        serial: None,
        image: Some(image.to_path_buf()),
        attached: true,
    })
}

/// Create `image` as a sparse file of `size` bytes (and its directory).
fn create_image(ctx: &Ctx, image: &Path, size: u64) -> Result<()> {
    let path = image.to_path_buf();
    ctx.runner.effect(
        &format!(
            "create the sparse image file {} ({})",
            image.display(),
            human(size)
        ),
        false,
        move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            f.set_len(size)
                .with_context(|| format!("sizing {}", path.display()))?;
            f.sync_all()?;
            Ok(())
        },
    )?;
    Ok(())
}

/// The loop device backed by `image`: one already attached read-write (a
/// killed run's, or one mounted by someone: preflight then refuses), else
/// a new one, detached at the end of the run.
fn loop_device(ctx: &mut Ctx, image: &Path) -> Result<PathBuf> {
    let existing = losetup::backing(&ctx.runner, image)?;
    if let Some(n) = existing.iter().find(|l| !l.ro).map(|l| l.name.clone()) {
        tracing::info!("{} is already attached as {}", image.display(), n.display());
        return Ok(n);
    }
    // A dry run records the attach the real run does, and really
    // attaches read-only (no byte of the image changes) so that the
    // probes read the image's real table.
    let out = ctx.runner.run_or_stand_in(
        &losetup::attach_cmd(image, false),
        &losetup::attach_cmd(image, true),
    )?;
    let node = losetup::parse_show(&out.stdout)
        .with_context(|| format!("attaching {}", image.display()))?;
    let runner = ctx.runner.clone();
    let n = node.clone();
    ctx.cleanup
        .push(format!("detach {}", node.display()), move || {
            runner.undo(&losetup::detach_cmd(&n))?;
            Ok(())
        });
    Ok(node)
}
