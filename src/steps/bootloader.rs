//! Step `bootloader`: install GRUB on the target disk, last, so a
//! half-migrated disk never boots.
//!
//! In a chroot guard whose private /dev holds the target disk, its
//! partitions and their /dev/disk/by-uuid links: write netroot's GRUB
//! settings (transport kernel arguments, serial console, no os-prober),
//! generate grub.cfg and check it says `root=UUID=<planned root>`, then
//! `grub-install --target=x86_64-efi --removable --no-nvram` into the ESP
//! (uefi/both) and `grub-install --target=i386-pc` onto the target disk
//! (bios/both: core image into the bios_grub partition or the MBR gap,
//! boot code into the MBR). The probe reads the disk itself.

use super::shared::{inspect_tree, kernels, profile_for, target_root};
use crate::disk::TargetDisk;
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::plan::{PartRole, ResolvedLayout, TableKind};
use crate::profile::{packages, vars, DefaultsMode, Profile};
use crate::system::chroot::{Chroot, ChrootOptions};
use crate::tools::{findmnt, grub};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct Bootloader;

/// Where UEFI firmware (and iPXE's sanboot) looks without NVRAM entries.
pub const REMOVABLE_EFI: &str = "EFI/BOOT/BOOTX64.EFI";

struct GrubWork {
    profile: Profile,
    args: Vec<String>,
    secrets: Vec<String>,
    defaults_path: PathBuf,
    defaults: String,
    root_uuid: String,
}

fn work(ctx: &Ctx, root: &Path, tree: Option<&Path>) -> Result<GrubWork> {
    let profile = profile_for(ctx, tree)?;
    let (v, secrets) = vars::plan_vars(&ctx.plan)?;
    let args = vars::kernel_args(&profile, &ctx.plan, &v)?;
    let defaults_path = root.join(profile.grub.defaults.trim_start_matches('/'));
    let existing = match profile.grub.defaults_mode {
        DefaultsMode::Merge => std::fs::read_to_string(&defaults_path).ok(),
        DefaultsMode::Dropin => None,
    };
    let defaults = grub::defaults_text(
        profile.grub.defaults_mode,
        &profile.grub.extra_defaults,
        existing.as_deref(),
        &args,
        ctx.plan.boot.serial_console.as_deref(),
    )?;
    let root_uuid = ctx
        .layout()?
        .root()
        .fs_uuid
        .clone()
        .context("the layout gives the root filesystem no UUID")?;
    Ok(GrubWork {
        profile,
        args,
        secrets,
        defaults_path,
        defaults,
        root_uuid,
    })
}

/// Where the core image is embedded: the bios_grub partition (GPT) or the
/// gap after the MBR.
fn embed_offset(layout: &ResolvedLayout) -> Option<u64> {
    match layout.table {
        TableKind::Gpt => layout
            .partitions
            .iter()
            .find(|p| p.role == PartRole::BiosGrub)
            .map(|p| p.start),
        TableKind::Mbr => Some(512),
    }
}

/// Why the disk does not (yet) boot with BIOS, or None.
fn bios_problem(disk: &Path, layout: &ResolvedLayout, core_img: &Path) -> Option<String> {
    let s0 = match grub::read_at(disk, 0, 512) {
        Ok(s) => s,
        Err(e) => return Some(format!("cannot read {}: {e}", disk.display())),
    };
    if !grub::has_boot_code(&s0) {
        return Some(format!(
            "the MBR of {} holds no GRUB boot code",
            disk.display()
        ));
    }
    let Ok(core) = std::fs::read(core_img) else {
        return Some(format!("{} is missing", core_img.display()));
    };
    let off = embed_offset(layout)?;
    match grub::read_at(disk, off, core.len()) {
        Ok(area) if grub::core_embedded(&area, &core) => None,
        Ok(_) => Some(format!(
            "GRUB's core image is not at byte {off} of {}",
            disk.display()
        )),
        Err(e) => Some(format!("cannot read {}: {e}", disk.display())),
    }
}

impl Step for Bootloader {
    fn id(&self) -> StepId {
        StepId::Bootloader
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, ctx: &Ctx) -> String {
        let fw = ctx.plan.layout.firmware;
        let mut what = Vec::new();
        if fw.uefi() {
            what.push("GRUB for UEFI into the ESP");
        }
        if fw.bios() {
            what.push("GRUB for BIOS onto the target disk");
        }
        format!(
            "generate grub.cfg (root=UUID), install {}",
            what.join(" and ")
        )
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.clone() else {
            return Ok(Probe::Todo("the target is not mounted yet".into()));
        };
        if !root.join("etc").is_dir() {
            return Ok(Probe::Todo("the target holds no system yet".into()));
        }
        let (Some(disk), Some(layout)) = (&ctx.disk, &ctx.layout) else {
            return Ok(Probe::Todo("the target disk is not attached".into()));
        };
        let w = work(ctx, &root, Some(&root))?;
        if std::fs::read_to_string(&w.defaults_path).ok().as_deref() != Some(w.defaults.as_str()) {
            return Ok(Probe::Todo(format!(
                "{} is not netroot's",
                w.profile.grub.defaults
            )));
        }
        let cfg_path = root.join(w.profile.grub.cfg.trim_start_matches('/'));
        let Ok(cfg) = std::fs::read_to_string(&cfg_path) else {
            return Ok(Probe::Todo(format!("there is no {}", w.profile.grub.cfg)));
        };
        let problems = grub::cfg_problems(&cfg, &w.root_uuid, &w.args);
        if !problems.is_empty() {
            return Ok(Probe::Todo(format!(
                "{}: {}",
                w.profile.grub.cfg,
                problems.join("; ")
            )));
        }
        // A final sync leaves grub.cfg alone: a kernel the source removed
        // since must not stay in it, one it gained must be in it.
        let listed = grub::cfg_kernel_files(&cfg);
        if let Some(k) = listed.iter().find(|k| !root.join("boot").join(k).is_file()) {
            return Ok(Probe::Todo(format!(
                "{} boots /boot/{k}, which the target does not have",
                w.profile.grub.cfg
            )));
        }
        if let Some(k) = installed_kernels(&root)
            .into_iter()
            .find(|k| !listed.contains(k))
        {
            return Ok(Probe::Todo(format!(
                "{} has no entry for /boot/{k}",
                w.profile.grub.cfg
            )));
        }
        let fw = ctx.plan.layout.firmware;
        if fw.uefi() && !root.join("boot/efi").join(REMOVABLE_EFI).is_file() {
            return Ok(Probe::Todo(format!(
                "there is no /boot/efi/{REMOVABLE_EFI}"
            )));
        }
        if fw.bios() {
            let core = root
                .join(w.profile.grub.grub_dir.trim_start_matches('/'))
                .join("i386-pc/core.img");
            if let Some(p) = bios_problem(&disk.node, layout, &core) {
                return Ok(Probe::Todo(p));
            }
        }
        Ok(Probe::Done(format!(
            "GRUB is on {} and grub.cfg boots root=UUID={}",
            disk.node.display(),
            w.root_uuid
        )))
    }
    /// GRUB's directory (grub.cfg, the modules and core image installed
    /// here), netroot's settings drop-in and the removable UEFI loader.
    /// Merged settings (a profile without a drop-in) are the source's file
    /// changed: copied again, and the probe finds them not netroot's.
    fn protects(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let root = target_root(ctx)?;
        let profile = profile_for(ctx, inspect_tree(ctx, &root).as_deref())?;
        let g = &profile.grub;
        let mut out = vec![format!("{}/", g.grub_dir.trim_end_matches('/'))];
        if !g
            .cfg
            .starts_with(&format!("{}/", g.grub_dir.trim_end_matches('/')))
        {
            out.push(g.cfg.clone());
        }
        if g.defaults_mode == DefaultsMode::Dropin {
            out.push(g.defaults.clone());
        }
        if ctx.plan.layout.firmware.uefi() {
            out.push(format!(
                "/boot/efi/{}/",
                Path::new(REMOVABLE_EFI)
                    .parent()
                    .unwrap_or(Path::new("EFI/BOOT"))
                    .display()
            ));
        }
        Ok(out)
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = target_root(ctx)?;
        let tree = inspect_tree(ctx, &root);
        let w = work(ctx, &root, tree.as_deref())?;
        let disk = ctx.disk()?.clone();
        let layout = ctx.layout()?.clone();
        check_root_on_target(ctx, &root, &disk, &layout)?;
        let opts = chroot_options(&disk, &layout, ctx.plan.layout.firmware.uefi());
        let chroot = Chroot::enter(&ctx.runner, &root, &opts)?;
        let profile = &w.profile;
        packages::ensure(
            &ctx.runner,
            &root,
            tree.as_deref(),
            profile,
            &packages::wanted(
                profile,
                ctx.plan.target.transport_name(),
                ctx.plan.layout.firmware,
                Some(&root),
            ),
        )?;
        chroot.check_interrupted()?;
        write_settings(ctx, &root, &w)?;
        generate_cfg(ctx, &chroot, &root, &w)?;
        chroot.check_interrupted()?;
        install_grub(ctx, &chroot, &root, &w, &disk)?;
        chroot.close()
    }
}

/// The kernels in the target's /boot that grub-mkconfig lists, as file
/// names (`vmlinuz-VERSION`): those with their modules installed.
fn installed_kernels(root: &Path) -> Vec<String> {
    kernels(root)
        .into_iter()
        .map(|k| format!("vmlinuz-{k}"))
        .filter(|f| root.join("boot").join(f).is_file())
        .collect()
}

/// Never the source disk: the mounted root must be a partition of the target.
fn check_root_on_target(
    ctx: &Ctx,
    root: &Path,
    disk: &TargetDisk,
    layout: &ResolvedLayout,
) -> Result<()> {
    let parts: Vec<PathBuf> = layout
        .partitions
        .iter()
        .map(|p| disk.part_node(p.number))
        .collect();
    ctx.runner.check("that the root is mounted from the target", || {
        let src = findmnt::source_at(&ctx.runner, root)?.unwrap_or_default();
        if !parts.iter().any(|p| Path::new(&src) == p) {
            bail!(
                "{} is mounted from {src:?}, not from a partition of the target {}: refusing to install GRUB",
                root.display(),
                disk.node.display()
            );
        }
        Ok(())
    })
}

/// The chroot's private /dev: the target disk, its partitions and their
/// by-uuid links (and efivars for UEFI).
fn chroot_options(disk: &TargetDisk, layout: &ResolvedLayout, efivars: bool) -> ChrootOptions {
    let mut opts = ChrootOptions {
        devices: vec![disk.node.clone()],
        by_uuid: Vec::new(),
        efivars,
    };
    for p in &layout.partitions {
        let node = disk.part_node(p.number);
        opts.devices.push(node.clone());
        if let Some(u) = &p.fs_uuid {
            opts.by_uuid.push((u.clone(), node));
        }
    }
    opts
}

/// Write netroot's GRUB settings and make sure GRUB's directory exists.
fn write_settings(ctx: &Ctx, root: &Path, w: &GrubWork) -> Result<()> {
    // A dracut CHAP secret is on the kernel command line: keep the
    // settings file private (grub.cfg and /proc/cmdline still show it).
    let mode = if w.secrets.is_empty() { 0o644 } else { 0o600 };
    ctx.runner
        .write_secret_file(&w.defaults_path, w.defaults.as_bytes(), mode, &w.secrets)?;
    let grub_dir = root.join(w.profile.grub.grub_dir.trim_start_matches('/'));
    if !grub_dir.is_dir() {
        let g = grub_dir.clone();
        ctx.runner.effect(
            &format!("create directory {}", grub_dir.display()),
            false,
            move || std::fs::create_dir_all(&g).map_err(Into::into),
        )?;
    }
    Ok(())
}

/// Generate grub.cfg in the chroot and check it boots the planned root
/// with netroot's kernel arguments.
fn generate_cfg(ctx: &Ctx, chroot: &Chroot, root: &Path, w: &GrubWork) -> Result<()> {
    let profile = &w.profile;
    let mk = &profile.grub.mkconfig;
    ctx.runner
        .run(&chroot.cmd(&mk[0]).args(&mk[1..]))
        .context("generating grub.cfg in the target")?;
    ctx.runner.check("the generated grub.cfg", || {
        let cfg_path = root.join(profile.grub.cfg.trim_start_matches('/'));
        let cfg = std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("reading {}", cfg_path.display()))?;
        let problems = grub::cfg_problems(&cfg, &w.root_uuid, &w.args);
        if !problems.is_empty() {
            bail!(
                "{} is wrong: {} (is the root filesystem's UUID the planned {}? grub-mkconfig \
                 falls back to a device path when /dev/disk/by-uuid lacks it)",
                profile.grub.cfg,
                problems.join("; "),
                w.root_uuid
            );
        }
        Ok(())
    })
}

/// grub-install for each firmware the plan boots: into the ESP (UEFI,
/// removable path, no NVRAM) and onto the target disk (BIOS).
fn install_grub(
    ctx: &Ctx,
    chroot: &Chroot,
    root: &Path,
    w: &GrubWork,
    disk: &TargetDisk,
) -> Result<()> {
    let profile = &w.profile;
    let fw = ctx.plan.layout.firmware;
    let boot_dir = format!("--boot-directory={}", profile.grub.boot_dir);
    if fw.uefi() {
        let esp = root.join("boot/efi");
        ctx.runner.check("that the ESP is mounted", || {
            if findmnt::source_at(&ctx.runner, &esp)?.is_none() {
                bail!(
                    "the ESP is not mounted at {}: the mount step should have mounted /boot/efi",
                    esp.display()
                );
            }
            Ok(())
        })?;
        ctx.runner
            .run(&chroot.cmd(&profile.grub.install).args([
                "--target=x86_64-efi",
                "--efi-directory=/boot/efi",
                &boot_dir,
                "--removable",
                "--no-nvram",
            ]))
            .context("installing GRUB for UEFI into the ESP")?;
    }
    if fw.bios() {
        ctx.runner
            .run(
                &chroot
                    .cmd(&profile.grub.install)
                    .args(["--target=i386-pc", &boot_dir])
                    .arg(&disk.node),
            )
            .with_context(|| format!("installing GRUB for BIOS on {}", disk.node.display()))?;
    }
    Ok(())
}
