//! Step `initramfs`: build an initramfs that reaches the network root.
//!
//! In a chroot guard: install the profile's packages for the transport if
//! the target lacks them, write the profile's files (open-iscsi's
//! iscsi.initramfs, netroot's AoE script and hook or dracut module, the
//! NIC drivers, keep-the-network-up config for the network manager in
//! use), build the initramfs of every installed kernel, and check each
//! listing for the transport's modules, the NIC drivers and the scripts.
//! A stamp in the target (/var/lib/netroot/initramfs.json) records a hash
//! of the inputs and the verified images; the probe compares it.

use super::shared::{inspect_tree, kernels, profile_for, target_root};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::profile::template::{render, render_arg, render_cmd, Vars};
use crate::profile::{self, packages, vars, FileSpec, Profile};
use crate::system::chroot::{Chroot, ChrootOptions};
use crate::tools::initramfs as tool;
use crate::tools::Cmd;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub struct Initramfs;

const STAMP: &str = "var/lib/netroot/initramfs.json";

/// One file to write in the target.
pub(crate) struct PlannedFile {
    pub path: String,
    /// A template's rendered text (empty for a program).
    pub contents: String,
    /// A program's bytes, installed as built (profile::Source::Program).
    pub program: Option<&'static [u8]>,
    pub mode: u32,
    pub secret: bool,
}

impl PlannedFile {
    /// The bytes written to the target.
    pub fn bytes(&self) -> &[u8] {
        self.program.unwrap_or(self.contents.as_bytes())
    }
}

/// Everything the step will do, computed up front (also for the probe).
pub(crate) struct InitramfsWork {
    pub profile: Profile,
    pub vars: Vars,
    pub secrets: Vec<String>,
    pub files: Vec<PlannedFile>,
    /// (kernel, image path, build argv, modules it must carry: the NIC
    /// drivers and the root's)
    pub kernels: Vec<(String, String, Vec<String>, Vec<String>)>,
    pub inputs: String,
}

/// Append to `all` the items of `more` it lacks, in order.
fn union(all: &mut Vec<String>, more: &[String]) {
    for d in more {
        if !all.contains(d) {
            all.push(d.clone());
        }
    }
}

fn planned(spec: &FileSpec, vars: &Vars) -> Result<PlannedFile> {
    let (contents, program) = match profile::source(&spec.source)? {
        profile::Source::Text(text) => (
            render(text, vars)
                .with_context(|| format!("rendering profiles/files/{}", spec.source))?,
            None,
        ),
        profile::Source::Program(bytes) => (String::new(), Some(bytes)),
    };
    Ok(PlannedFile {
        path: spec.path.clone(),
        contents,
        program,
        mode: spec.mode,
        secret: spec.secret,
    })
}

pub(crate) fn work(ctx: &Ctx, tree: Option<&Path>) -> Result<InitramfsWork> {
    let profile = profile_for(ctx, tree)?;
    let plan = &ctx.plan;
    let transport = plan.target.transport_name();
    let mode = vars::iscsi_mode(plan);
    let (mut vars, secrets) = vars::plan_vars(plan)?;
    let kvers = tree.map(kernels).unwrap_or_default();
    let mut kernels = Vec::new();
    let mut all_drivers: Vec<String> = Vec::new();
    let mut all_root: Vec<String> = Vec::new();
    let targs = profile
        .initramfs_build
        .transport_args
        .get(transport)
        .cloned()
        .unwrap_or_default();
    for k in &kvers {
        let drivers = vars::nic_drivers(&profile, plan, tree.unwrap(), k);
        let mut kv = vars.clone();
        kv.insert("kver".into(), k.clone());
        kv.insert("image".into(), String::new());
        let image = profile.initramfs_build.image_path(&kv)?;
        kv.insert("image".into(), image.clone());
        kv.insert("nic_drivers".into(), drivers.join(" "));
        let argv = render_cmd(&profile.initramfs_build.build, &kv, &targs)?;
        let root_mods = vars::root_modules(&profile, plan, tree.unwrap(), k);
        union(&mut all_drivers, &drivers);
        union(&mut all_root, &root_mods);
        kernels.push((k.clone(), image, argv, [drivers, root_mods].concat()));
    }
    if all_drivers.is_empty() {
        all_drivers = profile.nic_drivers.clone();
    }
    if kvers.is_empty() {
        // No kernel yet (a dry run before the copy): the list unfiltered.
        all_root = vars::root_modules_wanted(&profile, plan);
    }
    vars.insert("nic_drivers".into(), all_drivers.join(" "));
    vars.insert("root_modules".into(), all_root.join(" "));
    let b = &profile.initramfs_build;
    for (k, m) in [
        ("dracut_modules", &b.dracut_modules),
        ("dracut_omit", &b.dracut_omit),
    ] {
        vars.insert(k.into(), m.get(transport).cloned().unwrap_or_default());
    }
    let mut files = Vec::new();
    for f in profile
        .files
        .iter()
        .filter(|f| f.when.holds(transport, mode))
    {
        files.push(planned(f, &vars)?);
    }
    if let Some(t) = tree {
        for m in &profile.network {
            if !m.detect.iter().any(|d| t.join(d).exists()) {
                continue;
            }
            for f in m.files.iter().filter(|f| f.when.holds(transport, mode)) {
                files.push(planned(f, &vars)?);
            }
        }
    }
    let mut h = Sha256::new();
    h.update(profile.name.as_bytes());
    for f in &files {
        h.update(format!("\0{}\0{:o}\0", f.path, f.mode));
        h.update(f.bytes());
    }
    for (k, img, argv, _) in &kernels {
        h.update(format!("\0{k}\0{img}\0{}", argv.join("\u{1}")));
    }
    let inputs = hex::encode(h.finalize());
    Ok(InitramfsWork {
        profile,
        vars,
        secrets,
        files,
        kernels,
        inputs,
    })
}

/// What the step checked into the stamp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Stamp {
    inputs: String,
    images: BTreeMap<String, ImageStamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ImageStamp {
    path: String,
    size: u64,
    mtime: i64,
}

fn image_stamp(root: &Path, path: &str) -> Option<ImageStamp> {
    let m = std::fs::metadata(root.join(path.trim_start_matches('/'))).ok()?;
    Some(ImageStamp {
        path: path.to_string(),
        size: m.len(),
        mtime: m.mtime(),
    })
}

/// The required (modules, files) for this transport, plus the NIC drivers.
fn requirements(
    w: &InitramfsWork,
    transport: &str,
    mode: &str,
    drivers: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut modules: Vec<String> = drivers.to_vec();
    let mut files = Vec::new();
    for r in w
        .profile
        .requires
        .iter()
        .filter(|r| r.when.holds(transport, mode))
    {
        modules.extend(r.modules.iter().cloned());
        files.extend(r.files.iter().cloned());
    }
    (modules, files)
}

fn write_files(ctx: &Ctx, root: &Path, w: &InitramfsWork) -> Result<()> {
    for f in &w.files {
        let p = root.join(f.path.trim_start_matches('/'));
        if f.secret {
            ctx.runner
                .write_secret_file(&p, f.contents.as_bytes(), f.mode, &w.secrets)?;
        } else {
            ctx.runner.write_file(&p, f.bytes(), f.mode)?;
        }
    }
    Ok(())
}

impl Step for Initramfs {
    fn id(&self) -> StepId {
        StepId::Initramfs
    }
    fn kind(&self) -> StepKind {
        StepKind::Change
    }
    fn describe(&self, ctx: &Ctx) -> String {
        format!(
            "build an initramfs that attaches the {} root disk (profile {})",
            ctx.plan.target.transport_name(),
            ctx.plan.boot.profile
        )
    }
    fn probe(&self, ctx: &Ctx) -> Result<Probe> {
        let Some(root) = ctx.root.clone() else {
            return Ok(Probe::Todo("the target is not mounted yet".into()));
        };
        if !root.join("etc").is_dir() {
            return Ok(Probe::Todo("the target holds no system yet".into()));
        }
        let w = work(ctx, Some(&root))?;
        let miss = packages::missing(
            &ctx.runner,
            &root,
            &w.profile,
            &packages::wanted(
                &w.profile,
                ctx.plan.target.transport_name(),
                ctx.plan.layout.firmware,
                Some(&root),
            ),
        )?;
        if !miss.is_empty() {
            return Ok(Probe::Todo(format!(
                "the target lacks {}",
                packages::describe(&miss)
            )));
        }
        if w.kernels.is_empty() {
            return Ok(Probe::Todo("no kernel is installed in the target".into()));
        }
        let Ok(text) = std::fs::read_to_string(root.join(STAMP)) else {
            return Ok(Probe::Todo(format!("no /{STAMP} in the target")));
        };
        let Ok(stamp) = serde_json::from_str::<Stamp>(&text) else {
            return Ok(Probe::Todo(format!("/{STAMP} is unreadable")));
        };
        if stamp.inputs != w.inputs {
            return Ok(Probe::Todo(
                "the initramfs inputs changed since it was built".into(),
            ));
        }
        for (k, img, _, _) in &w.kernels {
            if stamp.images.get(k) != image_stamp(&root, img).as_ref() {
                return Ok(Probe::Todo(format!(
                    "{img} is missing or changed since it was checked"
                )));
            }
        }
        Ok(Probe::Done(format!(
            "the initramfs of {} was built from these inputs and checked",
            w.kernels
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
    /// The profile's files, the stamp and the images built here (of the
    /// kernels the target has now; a kernel the source gained since is
    /// copied and then built, as the stamp lacks it).
    fn protects(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let root = target_root(ctx)?;
        let w = work(ctx, inspect_tree(ctx, &root).as_deref())?;
        let mut out: Vec<String> = w
            .files
            .iter()
            .map(|f| format!("/{}", f.path.trim_start_matches('/')))
            .collect();
        out.push(format!("/{STAMP}"));
        out.extend(
            w.kernels
                .iter()
                .map(|(_, img, _, _)| format!("/{}", img.trim_start_matches('/'))),
        );
        Ok(out)
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        let root = target_root(ctx)?;
        let tree = inspect_tree(ctx, &root);
        let profile = profile_for(ctx, tree.as_deref())?;
        let chroot = Chroot::enter(&ctx.runner, &root, &ChrootOptions::default())?;
        // The files first: installing a package (open-iscsi, dracut) builds
        // an initramfs with them at once, and later kernel updates too.
        let before = work(ctx, tree.as_deref())?;
        write_files(ctx, &root, &before)?;
        let t0 = std::time::SystemTime::now();
        let installed = install_packages(ctx, &root, tree.as_deref(), &profile)?;
        chroot.check_interrupted()?;
        // Packages may have brought kernels or tools: plan again.
        let w = work(ctx, tree.as_deref())?;
        if w.inputs != before.inputs {
            write_files(ctx, &root, &w)?;
        }
        if w.kernels.is_empty() {
            without_kernel(ctx, &root, &profile, &w)?;
        }
        let mut stamp = Stamp {
            inputs: w.inputs.clone(),
            images: BTreeMap::new(),
        };
        for (k, img, argv, drivers) in &w.kernels {
            chroot.check_interrupted()?;
            // Installing packages above may have rebuilt it with netroot's
            // files already (their postinst triggers): then only check it.
            // Not when the files changed after the install (a kernel came
            // with it): its build ran with the files planned without it.
            let fresh = !installed.is_empty()
                && w.inputs == before.inputs
                && modified_since(&root, img, t0);
            if fresh {
                tracing::info!("{img} was rebuilt by the package install; checking it");
            } else {
                let build = Cmd::in_root(&root, &argv[0]).args(&argv[1..]);
                ctx.runner
                    .run(&build)
                    .with_context(|| format!("building the initramfs of kernel {k}"))?;
            }
            if let Some(s) = check_image(ctx, &root, &w, k, img, drivers)? {
                stamp.images.insert(k.clone(), s);
            }
        }
        ctx.runner.write_file(
            &root.join(STAMP),
            (serde_json::to_string_pretty(&stamp)? + "\n").as_bytes(),
            0o644,
        )?;
        chroot.close()
    }
}

/// Install the profile's packages for the transport the target lacks; the
/// ones installed, also noted for the report.
fn install_packages(
    ctx: &mut Ctx,
    root: &Path,
    tree: Option<&Path>,
    profile: &Profile,
) -> Result<Vec<String>> {
    let transport = ctx.plan.target.transport_name();
    let wanted = packages::wanted(profile, transport, ctx.plan.layout.firmware, tree);
    let installed = packages::ensure(&ctx.runner, root, tree, profile, &wanted)?;
    if !installed.is_empty() {
        let verb = if ctx.runner.is_dry() {
            "would install"
        } else {
            "installed"
        };
        ctx.notes.push(format!(
            "{verb} in the target: {}",
            packages::describe(&installed)
        ));
    }
    Ok(installed.into_iter().map(|w| w.name).collect())
}

/// Whether the image `img` in `root` was written at or after `t0`.
fn modified_since(root: &Path, img: &str, t0: std::time::SystemTime) -> bool {
    std::fs::metadata(root.join(img.trim_start_matches('/')))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= t0)
}

/// A target without a kernel: after the copy it cannot boot (refused); a
/// dry run copied nothing, so it only says what it would build, with a
/// placeholder kernel version.
fn without_kernel(ctx: &mut Ctx, root: &Path, profile: &Profile, w: &InitramfsWork) -> Result<()> {
    let transport = ctx.plan.target.transport_name();
    ctx.runner.check("a kernel in the target", || {
        bail!(
            "no kernel is installed in the target ({}/lib/modules/*/ with /boot/vmlinuz-*): install one (profile package {})",
            root.display(),
            profile.packages.base.first().cloned().unwrap_or_default()
        );
    })?;
    // Nothing tells yet which kernel the target will have: show
    // the commands with a placeholder.
    let mut kv = w.vars.clone();
    kv.insert("kver".into(), "KVER".into());
    kv.insert("image".into(), String::new());
    let image = w.profile.initramfs_build.image_path(&kv)?;
    kv.insert("image".into(), image.clone());
    let targs = w
        .profile
        .initramfs_build
        .transport_args
        .get(transport)
        .cloned()
        .unwrap_or_default();
    let argv = render_cmd(&w.profile.initramfs_build.build, &kv, &targs)?;
    let list = render_cmd(&w.profile.initramfs_build.list, &kv, &[])?;
    for a in [argv, list] {
        ctx.runner.run(&Cmd::in_root(root, &a[0]).args(&a[1..]))?;
    }
    ctx.notes.push(format!(
        "initramfs: KVER stands for each kernel the target will have; {image} is then listed and checked for the {transport} modules, scripts and NIC drivers"
    ));
    Ok(())
}

/// List the initramfs `img` of kernel `k` and refuse it unless it holds
/// the transport's modules, the NIC drivers and the scripts; its stamp, or
/// `None` when the build was only recorded (a dry run).
fn check_image(
    ctx: &Ctx,
    root: &Path,
    w: &InitramfsWork,
    k: &str,
    img: &str,
    drivers: &[String],
) -> Result<Option<ImageStamp>> {
    let transport = ctx.plan.target.transport_name();
    let mode = vars::iscsi_mode(&ctx.plan);
    ctx.runner.observe(|| {
        let mut kv = w.vars.clone();
        kv.insert("kver".into(), k.to_string());
        kv.insert("image".into(), img.to_string());
        let list: Vec<String> = w
            .profile
            .initramfs_build
            .list
            .iter()
            .map(|a| render_arg(a, &kv).map(Option::unwrap_or_default))
            .collect::<Result<_>>()?;
        let out = ctx
            .runner
            .query(&Cmd::in_root(root, &list[0]).args(&list[1..]))
            .with_context(|| format!("listing {img}"))?;
        let listing = tool::parse_listing(&out.stdout);
        let (mods, files) = requirements(w, transport, mode, drivers);
        let miss = tool::missing(&listing, &mods, &files);
        if !miss.is_empty() {
            bail!(
                "the initramfs {img} of kernel {k} lacks {} ({} entries listed by {}); \
                 look at the build output above, fix the target, and run again",
                miss.join(", "),
                listing.lines,
                list[0]
            );
        }
        image_stamp(root, img).with_context(|| format!("{img} was not written"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunOptions;
    use crate::event::NullSink;

    fn ctx(boot: &str, src: &Path) -> Ctx {
        let json = format!(
            r#"{{"version":1,"source":{{"type":"directory","path":"{}"}},
            "target":{{"transport":"aoe","shelf":1,"slot":2,"device":"/tmp/x.img"}},
            "layout":{{"table":"gpt","firmware":"bios","partitions":[{{"mount":"/","fs":"ext4","size":"rest"}}]}},
            "boot":{boot}}}"#,
            src.display()
        );
        Ctx::new(
            serde_json::from_str(&json).unwrap(),
            RunOptions::default(),
            std::sync::Arc::new(NullSink),
        )
    }

    /// A tree with a kernel whose modules include virtio_net and e1000e
    /// (not e1000), NetworkManager, and ifupdown configuring ens3.
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for p in [
            "etc/network",
            "usr/sbin",
            "sbin",
            "boot",
            "lib/modules/6.1.0-9-amd64",
        ] {
            std::fs::create_dir_all(r.join(p)).unwrap();
        }
        std::fs::write(r.join("etc/os-release"), "ID=debian\n").unwrap();
        std::fs::write(r.join("usr/sbin/NetworkManager"), "").unwrap();
        std::fs::write(r.join("sbin/ifup"), "").unwrap();
        std::fs::write(
            r.join("etc/network/interfaces"),
            "auto ens3\niface ens3 inet dhcp\n",
        )
        .unwrap();
        std::fs::write(r.join("boot/vmlinuz-6.1.0-9-amd64"), "").unwrap();
        std::fs::write(
            r.join("lib/modules/6.1.0-9-amd64/modules.dep"),
            "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko\n\
             kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:\n\
             kernel/drivers/block/aoe/aoe.ko:\n\
             kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn work_plans_files_drivers_and_network_config() {
        let t = tree();
        let c = ctx(r#"{"network":{"interface":"ens3"}}"#, t.path());
        let w = work(&c, Some(t.path())).unwrap();
        assert_eq!(w.profile.name, "debian");
        assert_eq!(w.kernels.len(), 1);
        let (k, img, argv, drivers) = &w.kernels[0];
        assert_eq!(k, "6.1.0-9-amd64");
        assert_eq!(img, "/boot/initrd.img-6.1.0-9-amd64");
        assert_eq!(argv, &["update-initramfs", "-c", "-k", "6.1.0-9-amd64"]);
        // Only the drivers this kernel has, in the profile's order; then
        // the transport's and the root filesystem's modules (no usbhid,
        // xhci_pci…: this kernel lacks them).
        assert_eq!(drivers, &["virtio_net", "e1000e", "aoe", "ext4"]);
        let paths: Vec<&str> = w.files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"/etc/initramfs-tools/scripts/local-top/netroot-aoe"));
        assert!(paths.contains(&"/etc/initramfs-tools/scripts/local-top/aoe"));
        assert!(!paths.contains(&"/etc/iscsi/iscsi.initramfs"));
        let hook = w
            .files
            .iter()
            .find(|f| f.path.ends_with("hooks/netroot"))
            .unwrap();
        assert!(
            hook.contents
                .contains("for m in virtio_net e1000e aoe ext4; do"),
            "{}",
            hook.contents
        );
        // A lean initramfs: nothing but what the hook adds.
        let conf = w
            .files
            .iter()
            .find(|f| f.path == "/etc/initramfs-tools/conf.d/netroot-modules")
            .unwrap();
        assert!(
            conf.contents.contains("\nMODULES=list\n"),
            "{}",
            conf.contents
        );
        // The source's RESUME (its old local swap: an LVM install's
        // conf.d/resume) is overridden, or every diskless boot waits 30 s
        // for that device (vm-tests lvm-iscsi).
        let resume = w
            .files
            .iter()
            .find(|f| f.path == "/etc/initramfs-tools/conf.d/zz-netroot-resume")
            .unwrap();
        assert!(
            resume.contents.ends_with("\nRESUME=none\n"),
            "{}",
            resume.contents
        );
        let nm = w
            .files
            .iter()
            .find(|f| f.path.contains("NetworkManager"))
            .unwrap();
        // Over AoE the initramfs sets no address: NetworkManager manages the
        // boot NIC (DHCP), never leaves it unmanaged.
        assert!(
            nm.contents
                .contains("match-device=interface-name:ens3\nkeep-configuration=no\n"),
            "{}",
            nm.contents
        );
        assert!(!nm.contents.contains("managed=0"), "{}", nm.contents);
        assert!(!paths.iter().any(|p| p.contains("systemd/network")));
        // ifupdown would take the NIC down when its units stop (shutdown).
        for unit in ["networking.service", "ifup@.service"] {
            let f = w
                .files
                .iter()
                .find(|f| f.path == format!("/etc/systemd/system/{unit}.d/90-netroot.conf"))
                .unwrap_or_else(|| panic!("no drop-in for {unit} in {paths:?}"));
            assert!(
                f.contents.contains("[Service]\nExecStop=\n"),
                "{}",
                f.contents
            );
            assert!(f.contents.contains("(aoe)"), "{}", f.contents);
        }
        // The same inputs hash the same; a change in the plan changes the hash.
        assert_eq!(work(&c, Some(t.path())).unwrap().inputs, w.inputs);
        let c2 = ctx(r#"{"network":{"interface":"ens4"}}"#, t.path());
        assert_ne!(work(&c2, Some(t.path())).unwrap().inputs, w.inputs);
    }

    #[test]
    fn requirements_include_the_nic_drivers() {
        let t = tree();
        let c = ctx("{}", t.path());
        let w = work(&c, Some(t.path())).unwrap();
        let (mods, files) = requirements(&w, "aoe", "ibft", &w.kernels[0].3);
        assert!(mods.contains(&"virtio_net".to_string()) && mods.contains(&"aoe".to_string()));
        assert!(files.contains(&"netroot-aoe".to_string()));
    }
}
