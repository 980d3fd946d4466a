//! Step `copy`: copy the system onto the mounted target.
//!
//! - `live` and `directory`: rsync, one run per filesystem: each mount of
//!   the plan, plus each separate filesystem the source has below it that
//!   the plan folds into its parent (a host `/home` mount copied into the
//!   target's root filesystem). Pseudo filesystems, volatile directories,
//!   `lost+found`, swap files and netroot's own state are left out; the
//!   volatile directories are created empty on the target. A re-run is
//!   incremental. The source is only read.
//! - `debootstrap`: a fresh system into the target, with the kernel, GRUB
//!   and transport packages the profile names.
//!
//! A final sync (`--resync`) runs the same copy with what the later steps
//! wrote in the target left out (`Ctx::protect`), stopping the units the
//! user named (`--stop-service`) around it.
//!
//! This file runs the step; which runs to make and what they exclude is
//! planned in [`transfers`], and sparse files are found in [`sparse`].

mod native;
mod sparse;
mod transfers;

pub use sparse::sparse_files;
pub use transfers::{fstab_swap_files, own_files_in_source, transfers, CopyInputs, VOLATILE_DIRS};

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::event::Event;
use crate::host::devnode;
use crate::host::mountinfo;
use crate::host::swaps;
use crate::plan::{Plan, Source};
use crate::profile::packages;
use crate::system::snapshot::{self, Snapshots};
use crate::tools::debootstrap::{self, Debootstrap};
use crate::tools::rsync::{self, Transfer, EXIT_VANISHED};
use crate::tools::systemctl;
use anyhow::{Context, Result};
use sparse::{sparse_lists, walk_skips};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Copy;

/// The source tree for live and directory sources.
pub fn source_root(plan: &Plan) -> Option<PathBuf> {
    plan.source.tree()
}

/// The packages a debootstrap source installs: the plan's, then the
/// profile's for the plan's transport and firmware (and a network stack:
/// a debootstrapped tree has none).
fn debootstrap_packages(plan: &Plan, include: &[String]) -> Result<Vec<String>> {
    let profile = crate::profile::resolve(plan, None)?;
    let mut v = include.to_vec();
    let wanted = packages::wanted(
        &profile,
        plan.target.transport_name(),
        plan.layout.firmware,
        None,
    );
    v.extend(wanted.into_iter().map(|w| w.name));
    Ok(v)
}

fn gather_inputs(ctx: &Ctx, src: &Path) -> CopyInputs {
    let mut inputs = CopyInputs {
        host_mounts: mountinfo::mounts(),
        ..Default::default()
    };
    if matches!(ctx.plan.source, Source::Live { .. }) {
        inputs.swap_files = swaps::files(&swaps::active())
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
    }
    if let Ok(t) = std::fs::read_to_string(src.join("etc/fstab")) {
        for f in fstab_swap_files(&t) {
            if !inputs.swap_files.contains(&f) {
                inputs.swap_files.push(f);
            }
        }
    }
    inputs.protect = ctx.protect.clone();
    inputs.host_excludes = vec![ctx.opts.state_dir.clone(), ctx.opts.work_dir.clone()];
    if let Some(r) = &ctx.root {
        inputs.host_excludes.push(r.clone());
    }
    let own = target_files(ctx);
    inputs
        .host_excludes
        .extend(own_files_in_source(src, &devnode::canonical(src), &own));
    inputs
}

/// The files that are the target, canonical: the plan's image file and
/// the file behind a loop device (named by the plan or attached by
/// discover).
fn target_files(ctx: &Ctx) -> Vec<PathBuf> {
    // An attached node counts only as the device it is (a loop device's
    // file); the plan's device and an image may be files.
    let nodes = ctx
        .disk
        .iter()
        .map(|d| devnode::disk_path(&d.node))
        .filter(|d| matches!(d, devnode::DiskPath::Block { .. }));
    let named = ctx
        .disk
        .iter()
        .filter_map(|d| d.image.as_ref())
        .chain(ctx.plan.target.device())
        .map(|p| devnode::disk_path(p));
    let mut out: Vec<PathBuf> = nodes
        .chain(named)
        .filter_map(|d| d.file().map(Path::to_path_buf))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Run one rsync, turning its progress lines into byte events.
fn run_rsync(
    ctx: &mut Ctx,
    cmd: &crate::tools::Cmd,
    t: &Transfer,
    finished: &mut u64,
) -> Result<()> {
    let mut last = Instant::now() - Duration::from_secs(1);
    let mut latest = rsync::Progress {
        bytes: 0,
        percent: 0,
        rate: 0,
    };
    let base = *finished;
    let ctx_ref: &Ctx = ctx;
    let out = ctx_ref
        .runner
        .run_streaming(cmd, |line| {
            if let Some(p) = rsync::parse_progress2(line) {
                latest = p;
                if last.elapsed() >= Duration::from_millis(250) {
                    last = Instant::now();
                    ctx_ref.emit(Event::Bytes {
                        step: crate::event::StepId::Copy,
                        done: base + p.bytes,
                        total: base + p.total_estimate(),
                        rate: p.rate,
                    });
                }
            }
        })
        .with_context(|| format!("copying {} to {}", t.src.display(), t.dst.display()))?;
    *finished += latest.bytes;
    ctx.emit(Event::Bytes {
        step: crate::event::StepId::Copy,
        done: *finished,
        total: *finished,
        rate: latest.rate,
    });
    if out.code == EXIT_VANISHED {
        ctx.notes.push(format!(
            "copy: files vanished while {} was copied (rsync exit 24); normal for a running system",
            t.src.display()
        ));
    }
    Ok(())
}

impl Copy {
    /// With `source.snapshot`: the snapshots the transfers will read from
    /// (taken as each is first read); what has none is said in the notes.
    fn snapshots(
        &self,
        ctx: &mut Ctx,
        list: &[Transfer],
        inputs: &CopyInputs,
    ) -> Option<Snapshots> {
        if !ctx.plan.source.snapshot() {
            return None;
        }
        let srcs: Vec<PathBuf> = list
            .iter()
            .filter(|t| t.src.is_dir())
            .map(|t| devnode::canonical(&t.src))
            .collect();
        let (methods, without) = snapshot::methods_for(&ctx.runner, &srcs, &inputs.host_mounts);
        for w in without {
            ctx.notes.push(format!(
                "copy: {w}; it is copied as it is, not from a snapshot"
            ));
        }
        let base = ctx
            .opts
            .work_dir
            .join(ctx.plan.target_key())
            .join("snapshots");
        Some(Snapshots::new(base, methods))
    }

    /// Run each transfer, from its snapshot when there is one.
    fn run_transfers(
        &self,
        ctx: &mut Ctx,
        list: &[Transfer],
        inputs: &CopyInputs,
        mut snaps: Option<&mut Snapshots>,
    ) -> Result<()> {
        let mut finished: u64 = 0;
        for t in list {
            if !t.src.is_dir() {
                tracing::info!(
                    "{} is not in the source; nothing to copy there",
                    t.src.display()
                );
                continue;
            }
            let mut t = t.clone();
            if let Some(s) = snaps.as_deref_mut() {
                t.src = s.read_path(
                    &ctx.runner,
                    &devnode::canonical(&t.src),
                    &inputs.host_mounts,
                )?;
                t.excludes.push(snapshot::BTRFS_SNAPSHOT.to_string());
            }
            self.transfer(ctx, &t, &mut finished)?;
        }
        Ok(())
    }

    /// One transfer: with the native copier onto an empty filesystem;
    /// else with rsync, its sparse files apart (`rsync -S`), the rest in
    /// one run.
    fn transfer(&self, ctx: &mut Ctx, t: &Transfer, finished: &mut u64) -> Result<()> {
        match native::choose(t, ctx.opts.resync) {
            Ok(filter) => return native::run(ctx, t, &filter, finished),
            Err(why) => tracing::info!("{} is copied with rsync: {why}", t.src.display()),
        }
        // A dry run took no snapshot: look at the tree itself.
        let sparse = if t.fat || !t.src.is_dir() {
            Vec::new()
        } else {
            sparse_files(&t.src, &walk_skips(&t.excludes))
        };
        if sparse.is_empty() {
            return run_rsync(ctx, &t.cmd(None), t, finished);
        }
        tracing::info!(
            "{} sparse files below {} get their own rsync -S",
            sparse.len(),
            t.src.display()
        );
        let (excl, files) = sparse_lists(&sparse)?;
        run_rsync(ctx, &t.cmd(Some(excl.path())), t, finished)?;
        run_rsync(ctx, &t.sparse_cmd(files.path()), t, finished)
    }

    fn copy_tree(&self, ctx: &mut Ctx, src: &Path) -> Result<()> {
        let root = ctx.root()?.clone();
        let layout = ctx.layout()?.clone();
        if !src.join("etc").is_dir() {
            anyhow::bail!(
                "{} does not look like a root tree (no etc/): check source.path",
                src.display()
            );
        }
        let inputs = gather_inputs(ctx, src);
        let mut list = transfers(&ctx.plan, &layout, src, &root, &inputs);
        // A previous run's unfinished copy on the target: compare contents,
        // not size and time (see `Transfer::checksum`). A final sync follows
        // a finished copy, which was synced to the disk before the journal
        // recorded it: size and time can be trusted there.
        let resumed = !ctx.opts.resync && holds_files(&root);
        if resumed {
            tracing::info!(
                "{} holds files of an earlier run: rsync compares contents (--checksum)",
                root.display()
            );
        }
        for t in &mut list {
            t.checksum = resumed;
        }
        let mut snaps = self.snapshots(ctx, &list, &inputs);
        let copied = self.run_transfers(ctx, &list, &inputs, snaps.as_mut());
        // The snapshots go whatever the copy did; its error comes first.
        let released = snaps.map_or(Ok(()), |mut s| s.release(&ctx.runner));
        copied?;
        released?;
        for (d, mode) in VOLATILE_DIRS {
            let p = root.join(d);
            if std::fs::symlink_metadata(&p).is_err() {
                ctx.runner.effect(
                    &format!("creating {} (mode {mode:o})", p.display()),
                    false,
                    || {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::create_dir(&p)?;
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
                        Ok(())
                    },
                )?;
            }
        }
        Ok(())
    }

    fn debootstrap(&self, ctx: &mut Ctx) -> Result<()> {
        let Source::Debootstrap {
            suite,
            mirror,
            variant,
            include,
        } = ctx.plan.source.clone()
        else {
            unreachable!()
        };
        let root = ctx.root()?.clone();
        let packages = debootstrap_packages(&ctx.plan, &include)?;
        if debootstrap_complete(&root, &packages).is_ok() {
            ctx.notes.push(format!(
                "copy: debootstrap had already finished in {}",
                root.display()
            ));
            return Ok(());
        }
        let d = Debootstrap {
            suite,
            mirror,
            variant,
            include: packages,
            target: root.clone(),
        };
        ctx.emit(Event::Message {
            text: format!("debootstrap into {} (several minutes)", root.display()),
        });
        ctx.runner
            .run_streaming(&d.cmd(), |line| tracing::debug!("debootstrap: {line}"))
            .context(
                "installing the system with debootstrap (check source.mirror and the network)",
            )?;
        Ok(())
    }
}

/// Ok when debootstrap finished in `root` (it removes its own `debootstrap/`
/// work directory at the end) and dpkg lists every wanted package;
/// otherwise what is missing.
fn debootstrap_complete(root: &Path, packages: &[String]) -> std::result::Result<(), String> {
    if root.join("debootstrap").exists() {
        return Err(format!(
            "{} holds an unfinished debootstrap",
            root.display()
        ));
    }
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status"))
        .map_err(|_| format!("{} has no var/lib/dpkg/status", root.display()))?;
    let missing = debootstrap::missing_packages(&status, packages);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "packages not installed yet: {}",
            missing.join(", ")
        ))
    }
}

impl Step for Copy {
    fn id(&self) -> StepId {
        StepId::Copy
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, ctx: &Ctx) -> String {
        match &ctx.plan.source {
            Source::Live { .. } => format!(
                "copy the running system filesystem by filesystem {}",
                copier(ctx)
            ),
            Source::Directory { path, .. } => {
                format!("copy the tree {} {}", path.display(), copier(ctx))
            }
            Source::Debootstrap { suite, .. } => format!(
                "install {suite} with debootstrap, with the kernel, GRUB and {} packages",
                ctx.plan.target.transport_name()
            ),
        }
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.as_ref() else {
            return Ok(Probe::Todo("the target is not mounted".into()));
        };
        if let Source::Debootstrap { include, .. } = &ctx.plan.source {
            if let Err(why) = debootstrap_complete(root, &debootstrap_packages(&ctx.plan, include)?)
            {
                return Ok(Probe::Todo(why));
            }
        } else if !root.join("etc/os-release").exists() && !root.join("usr/lib/os-release").exists()
        {
            return Ok(Probe::Todo(format!(
                "{} has no etc/os-release yet",
                root.display()
            )));
        }
        if !ctx.journal_says_done(StepId::Copy) {
            return Ok(Probe::Todo(
                "the journal does not record a finished copy (an interrupted copy resumes incrementally)".into(),
            ));
        }
        Ok(Probe::Done(
            "the journal records a finished copy and the target tree is complete".into(),
        ))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let Some(src) = source_root(&ctx.plan) else {
            return self.debootstrap(ctx);
        };
        // The units the user named hold still while their files are
        // copied, and run again afterwards, also when the copy failed.
        let units = ctx.opts.stop_services.clone();
        if let Err(e) = systemctl::stop(&ctx.runner, &units) {
            // Some may have stopped before one failed.
            let _ = systemctl::start(&ctx.runner, &units);
            return Err(e);
        }
        let copied = self.copy_tree(ctx, &src);
        let started = systemctl::start(&ctx.runner, &units);
        copied?;
        started
    }
}
#[cfg(test)]
mod tests {
    use super::transfers::tests::plan;
    use super::*;

    #[test]
    fn debootstrap_completion_needs_every_package_and_no_work_dir() {
        let d = tempfile::tempdir().unwrap();
        let pk = vec!["kmod".to_string()];
        assert!(debootstrap_complete(d.path(), &pk).is_err());
        std::fs::create_dir_all(d.path().join("var/lib/dpkg")).unwrap();
        std::fs::write(
            d.path().join("var/lib/dpkg/status"),
            "Package: kmod\nStatus: install ok installed\n",
        )
        .unwrap();
        assert!(debootstrap_complete(d.path(), &pk).is_ok());
        std::fs::create_dir(d.path().join("debootstrap")).unwrap();
        assert!(debootstrap_complete(d.path(), &pk)
            .unwrap_err()
            .contains("unfinished"));
        let p = plan(r#"{"type": "debootstrap", "suite": "bookworm", "include": ["vim"]}"#);
        let pk = debootstrap_packages(&p, &["vim".into()]).unwrap();
        assert_eq!(pk[0], "vim");
        assert!(pk.contains(&"linux-image-amd64".to_string()));
        assert!(pk.contains(&"aoetools".to_string()));
        assert!(!pk.contains(&"open-iscsi".to_string()));
    }
}

/// Which copier the copy uses, and why (the FAT filesystems of a layout
/// always take rsync).
fn copier(ctx: &Ctx) -> &'static str {
    if ctx.opts.resync {
        "with rsync (a final sync: what changed, deletions)"
    } else if ctx.root.as_ref().is_some_and(|r| holds_files(r)) {
        "with rsync --checksum (the target holds an earlier run's files)"
    } else {
        "with netroot's parallel copier (a first copy onto empty filesystems; FAT ones with rsync)"
    }
}

/// Whether a target root holds an earlier, unfinished copy: any file,
/// link or node below it, other than in `lost+found` (empty directories are
/// the mount points of the layout's other filesystems).
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != "lost+found")
                .any(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => holds_files(&e.path()),
                    _ => true,
                })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod resume_tests {
    use super::holds_files;

    #[test]
    fn an_earlier_copy_is_seen_but_not_empty_mount_points() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("lost+found")).unwrap();
        std::fs::create_dir_all(r.join("boot/lost+found")).unwrap();
        std::fs::create_dir_all(r.join("boot/efi")).unwrap();
        assert!(!holds_files(r));
        std::fs::create_dir_all(r.join("boot/efi/EFI")).unwrap();
        assert!(!holds_files(r));
        std::fs::write(r.join("boot/efi/EFI/grubx64.efi"), "").unwrap();
        assert!(holds_files(r));
        std::fs::remove_dir_all(r.join("boot")).unwrap();
        std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
        assert!(holds_files(r));
    }
}
