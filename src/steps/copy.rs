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

use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::event::Event;
use crate::host::mountinfo::{self, MountEntry};
use crate::host::swaps;
use crate::plan::{FsKind, Plan, ResolvedLayout, Source};
use crate::tools::debootstrap::{self, Debootstrap};
use crate::tools::rsync::{self, Transfer, EXIT_VANISHED};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Copy;

/// Directories never copied; created empty on the target (tmp with 1777).
pub const VOLATILE_DIRS: [(&str, u32); 7] = [
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("run", 0o755),
    ("tmp", 0o1777),
    ("mnt", 0o755),
    ("media", 0o755),
];

/// Filesystem types that hold data worth copying when mounted in the source.
const DATA_FS: [&str; 10] = [
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "jfs", "reiserfs", "zfs",
];

/// Swap files named by an fstab (absolute paths, not devices).
pub fn fstab_swap_files(fstab: &str) -> Vec<String> {
    fstab
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[2] == "swap" && f[0].starts_with('/') && !f[0].starts_with("/dev/"))
                .then(|| f[0].to_string())
        })
        .collect()
}

/// `p` relative to `base` as an absolute-looking path ("/" for base itself),
/// or None when `p` is not below `base`.
fn rel_under(p: &str, base: &str) -> Option<String> {
    if base == "/" {
        return p.starts_with('/').then(|| p.to_string());
    }
    let base = base.trim_end_matches('/');
    if p == base {
        Some("/".to_string())
    } else {
        p.strip_prefix(base)
            .filter(|r| r.starts_with('/'))
            .map(str::to_string)
    }
}

/// What the copy of a source tree needs to know besides the plan.
#[derive(Debug, Clone, Default)]
pub struct CopyInputs {
    /// The source's mounts (from mountinfo), absolute host paths.
    pub host_mounts: Vec<MountEntry>,
    /// Swap files, in source-tree paths ("/swapfile").
    pub swap_files: Vec<String>,
    /// Host paths never copied (netroot's state and work dirs, the target).
    pub host_excludes: Vec<PathBuf>,
}

/// The rsync runs that copy `src_root` onto the target mounted at `root`,
/// parents before children.
pub fn transfers(
    plan: &Plan,
    layout: &ResolvedLayout,
    src_root: &Path,
    root: &Path,
    inputs: &CopyInputs,
) -> Vec<Transfer> {
    let src_s = src_root.display().to_string();
    let planned: Vec<(String, FsKind)> = layout
        .mount_order()
        .into_iter()
        .filter(|p| p.fs != Some(FsKind::Swap))
        .filter_map(|p| Some((p.mount.clone()?, p.fs?)))
        .collect();
    let volatile: Vec<String> = VOLATILE_DIRS.iter().map(|(d, _)| format!("/{d}")).collect();
    // Transfer roots, in source-tree paths.
    let mut roots: Vec<String> = planned.iter().map(|(m, _)| m.clone()).collect();
    for m in &inputs.host_mounts {
        if !DATA_FS.contains(&m.fstype.as_str()) {
            continue;
        }
        let mount_point = m.target.to_string_lossy();
        let Some(rel) = rel_under(&mount_point, &src_s) else {
            continue;
        };
        let hidden = volatile
            .iter()
            .map(String::as_str)
            .chain(inputs.host_excludes.iter().filter_map(|p| p.to_str()))
            .any(|v| rel_under(&rel, v).is_some() || rel_under(&mount_point, v).is_some());
        if rel != "/" && !hidden && !roots.contains(&rel) {
            roots.push(rel);
        }
    }
    roots.sort_by_key(|r| (if r == "/" { 0 } else { r.matches('/').count() }, r.clone()));
    // Patterns in source-tree paths, mapped into each transfer below.
    let mut anchored: Vec<String> = volatile.iter().map(|v| format!("{v}/*")).collect();
    anchored.extend(inputs.swap_files.iter().cloned());
    for p in &inputs.host_excludes {
        if let Some(r) = rel_under(&p.display().to_string(), &src_s) {
            // Below a volatile directory it is left out already.
            let covered = volatile.iter().any(|v| rel_under(&r, v).is_some());
            if r != "/" && !covered && !anchored.contains(&r) {
                anchored.push(r);
            }
        }
    }
    let mut floating = Vec::new();
    for e in &plan.copy.exclude {
        if e.starts_with('/') {
            anchored.push(e.clone());
        } else {
            floating.push(e.clone());
        }
    }
    roots
        .iter()
        .map(|t| {
            let mut excludes: Vec<String> = roots
                .iter()
                .filter(|u| *u != t)
                .filter_map(|u| rel_under(u, t))
                .collect();
            excludes.push("/lost+found".to_string());
            excludes.extend(anchored.iter().filter_map(|a| {
                if t == "/" {
                    Some(a.clone())
                } else {
                    a.strip_prefix(t.as_str())
                        .filter(|r| r.starts_with('/'))
                        .map(str::to_string)
                }
            }));
            excludes.extend(floating.iter().cloned());
            // The target filesystem the transfer lands on: the deepest planned mount above it.
            let fat = planned
                .iter()
                .filter(|(m, _)| rel_under(t, m).is_some())
                .max_by_key(|(m, _)| m.len())
                .is_some_and(|(_, fs)| *fs == FsKind::Vfat);
            Transfer {
                src: join(src_root, t),
                dst: join(root, t),
                excludes,
                fat,
                live: matches!(plan.source, Source::Live),
            }
        })
        .collect()
}

fn join(base: &Path, abs: &str) -> PathBuf {
    let r = abs.trim_start_matches('/');
    if r.is_empty() {
        base.to_path_buf()
    } else {
        base.join(r)
    }
}

/// The source tree for live and directory sources.
pub fn source_root(plan: &Plan) -> Option<PathBuf> {
    match &plan.source {
        Source::Live => Some(PathBuf::from("/")),
        Source::Directory { path } => Some(path.clone()),
        Source::Debootstrap { .. } => None,
    }
}

/// The packages a debootstrap source installs: the plan's, then the
/// profile's for the plan's transport.
fn debootstrap_packages(plan: &Plan, include: &[String]) -> Result<Vec<String>> {
    let profile = crate::profile::resolve(plan, None)?;
    let mut v = include.to_vec();
    v.extend(profile.packages_for(plan.target.transport_name()));
    Ok(v)
}

fn gather_inputs(ctx: &Ctx, src: &Path) -> CopyInputs {
    let mut inputs = CopyInputs {
        host_mounts: mountinfo::mounts(),
        ..Default::default()
    };
    if matches!(ctx.plan.source, Source::Live) {
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
    inputs.host_excludes = vec![ctx.opts.state_dir.clone(), ctx.opts.work_dir.clone()];
    if let Some(r) = &ctx.root {
        inputs.host_excludes.push(r.clone());
    }
    inputs
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

/// Directories (relative to a transfer root, with a leading `/`) whose
/// contents a transfer leaves out: its literal anchored excludes.
fn walk_skips(excludes: &[String]) -> Vec<String> {
    excludes
        .iter()
        .filter(|e| e.starts_with('/'))
        .map(|e| e.strip_suffix("/*").unwrap_or(e).to_string())
        .filter(|e| !e.contains(['*', '?', '[']))
        .collect()
}

/// Regular files below `top` (same filesystem, outside `skip`) that
/// occupy less than their size: holes to keep. Paths relative to `top`.
pub fn sparse_files(top: &Path, skip: &[String]) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(top) else {
        return Vec::new();
    };
    let dev = m.dev();
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(top.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                let shown = format!("/{}", r.display());
                if !skip.contains(&shown) {
                    stack.push(r);
                }
            } else if m.is_file() && m.len() > 0 && m.blocks() * 512 < m.len() {
                out.push(r);
            }
        }
    }
    out.sort();
    out
}

/// The two lists rsync reads (NUL-separated): anchored excludes for the
/// main run, file names for the `-S` run.
fn sparse_lists(files: &[PathBuf]) -> Result<(tempfile::NamedTempFile, tempfile::NamedTempFile)> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut excl = tempfile::Builder::new()
        .prefix("netroot-sparse-excl")
        .tempfile()?;
    let mut list = tempfile::Builder::new()
        .prefix("netroot-sparse-files")
        .tempfile()?;
    for f in files {
        excl.write_all(rsync::anchored_literal(&f.to_string_lossy()).as_bytes())?;
        excl.write_all(b"\0")?;
        list.write_all(f.as_os_str().as_bytes())?;
        list.write_all(b"\0")?;
    }
    excl.flush()?;
    list.flush()?;
    Ok((excl, list))
}

impl Copy {
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
        let list = transfers(&ctx.plan, &layout, src, &root, &inputs);
        let mut finished: u64 = 0;
        for t in &list {
            let t = &t;
            if !t.src.is_dir() {
                tracing::info!(
                    "{} is not in the source; nothing to copy there",
                    t.src.display()
                );
                continue;
            }
            let sparse = if t.fat {
                Vec::new()
            } else {
                sparse_files(&t.src, &walk_skips(&t.excludes))
            };
            if sparse.is_empty() {
                run_rsync(ctx, &t.cmd(None), t, &mut finished)?;
            } else {
                tracing::info!(
                    "{} sparse files below {} get their own rsync -S",
                    sparse.len(),
                    t.src.display()
                );
                let (excl, files) = sparse_lists(&sparse)?;
                run_rsync(ctx, &t.cmd(Some(excl.path())), t, &mut finished)?;
                run_rsync(ctx, &t.sparse_cmd(files.path()), t, &mut finished)?;
            }
        }
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
            Source::Live => "copy the running system with rsync, filesystem by filesystem".into(),
            Source::Directory { path } => format!("copy the tree {} with rsync", path.display()),
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
        match source_root(&ctx.plan) {
            Some(src) => self.copy_tree(ctx, &src),
            None => self.debootstrap(ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{parse_plan, resolve_layout};

    fn plan(source: &str) -> Plan {
        let text = format!(
            r#"{{"version": 1, "source": {source},
              "target": {{"transport": "aoe", "shelf": 1, "slot": 0, "device": "/var/tmp/d.img", "size": "8G"}},
              "layout": {{"table": "gpt", "firmware": "both", "partitions": [
                {{"mount": "/boot/efi", "fs": "vfat", "size": "256M"}},
                {{"mount": "/boot", "fs": "ext4", "size": "512M"}},
                {{"fs": "swap", "size": "512M"}},
                {{"mount": "/", "fs": "xfs", "size": "rest"}}]}},
              "copy": {{"exclude": ["/home/*/.cache", "*.tmp"]}}}}"#
        );
        parse_plan(&text).unwrap()
    }

    const MOUNTINFO: &str = "\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:22 / /run rw shared:5 - tmpfs tmpfs rw
25 22 8:1 / /boot rw - ext4 /dev/sda1 rw
26 22 8:3 / /home rw - ext4 /dev/sda3 rw
27 22 8:4 / /mnt/usb rw - ext4 /dev/sdb1 rw
28 22 8:5 / /var/lib/docker rw - btrfs /dev/sda5 rw
29 25 8:6 / /boot/efi rw - vfat /dev/sda6 rw
30 24 7:0 / /run/netroot/target rw - xfs /dev/loop0p4 rw
31 22 0:40 / /srv/my\\040data rw - ext4 /dev/sda7 rw
";

    fn inputs() -> CopyInputs {
        CopyInputs {
            host_mounts: mountinfo::parse(MOUNTINFO),
            swap_files: vec!["/swapfile".into()],
            host_excludes: vec![
                "/var/lib/netroot".into(),
                "/run/netroot".into(),
                "/run/netroot/target".into(),
            ],
        }
    }

    #[test]
    fn fstab_swap_files_are_paths_not_devices() {
        let fstab = "# x\n/dev/sda2 none swap sw 0 0\n/var/swap none swap sw 0 0\n#/old none swap sw 0 0\nUUID=1 none swap sw 0 0\n";
        assert_eq!(fstab_swap_files(fstab), ["/var/swap"]);
    }

    #[test]
    fn live_copies_each_planned_mount_and_folded_host_mounts() {
        let p = plan(r#"{"type": "live"}"#);
        let l = resolve_layout(&p.layout, 8 << 30, b"s").unwrap();
        let t = transfers(
            &p,
            &l,
            Path::new("/"),
            Path::new("/run/netroot/target"),
            &inputs(),
        );
        let pairs: Vec<(String, String)> = t
            .iter()
            .map(|x| (x.src.display().to_string(), x.dst.display().to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("/", "/run/netroot/target"),
                ("/boot", "/run/netroot/target/boot"),
                ("/home", "/run/netroot/target/home"),
                ("/boot/efi", "/run/netroot/target/boot/efi"),
                ("/srv/my data", "/run/netroot/target/srv/my data"),
                ("/var/lib/docker", "/run/netroot/target/var/lib/docker"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let root = &t[0];
        assert!(root.live);
        assert!(!root.fat);
        for e in [
            "/boot",
            "/home",
            "/var/lib/docker",
            "/srv/my data",
            "/lost+found",
            "/proc/*",
            "/sys/*",
            "/dev/*",
            "/run/*",
            "/tmp/*",
            "/mnt/*",
            "/media/*",
            "/swapfile",
            "/var/lib/netroot",
            "/home/*/.cache",
            "*.tmp",
        ] {
            assert!(
                root.excludes.contains(&e.to_string()),
                "{e} not in {:?}",
                root.excludes
            );
        }
        // Under /run already: not named again.
        assert!(!root.excludes.iter().any(|e| e.starts_with("/run/netroot")));
        // /mnt/usb and the target itself are never copied.
        assert!(!t
            .iter()
            .any(|x| x.src.starts_with("/mnt") || x.src.starts_with("/run")));
        let boot = &t[1];
        assert_eq!(boot.excludes, ["/efi", "/lost+found", "*.tmp"]);
        let home = &t[2];
        assert!(
            home.excludes.contains(&"/*/.cache".to_string()),
            "{:?}",
            home.excludes
        );
        let efi = &t[3];
        assert!(efi.fat);
        assert!(efi.cmd(None).display().starts_with("rsync -rtD"));
        // Folded into the root (xfs) filesystem: not FAT.
        assert!(!t[5].fat);
    }

    #[test]
    fn directory_source_maps_paths_into_the_tree() {
        let p = plan(r#"{"type": "directory", "path": "/srv/tree"}"#);
        let l = resolve_layout(&p.layout, 8 << 30, b"s").unwrap();
        let mut i = inputs();
        i.host_mounts.push(MountEntry {
            target: "/srv/tree/home".into(),
            fstype: "ext4".into(),
            source: "/dev/sdc1".into(),
            ..Default::default()
        });
        i.host_mounts.push(MountEntry {
            target: "/srv/tree/proc".into(),
            fstype: "proc".into(),
            source: "proc".into(),
            ..Default::default()
        });
        i.swap_files = vec![];
        i.host_excludes.push("/srv/tree/var/lib/netroot".into());
        let t = transfers(&p, &l, Path::new("/srv/tree"), Path::new("/t"), &i);
        let srcs: Vec<String> = t.iter().map(|x| x.src.display().to_string()).collect();
        assert_eq!(
            srcs,
            [
                "/srv/tree",
                "/srv/tree/boot",
                "/srv/tree/home",
                "/srv/tree/boot/efi"
            ]
        );
        assert!(!t[0].live);
        assert!(t[0].excludes.contains(&"/var/lib/netroot".to_string()));
        assert!(t[0].excludes.contains(&"/home".to_string()));
        assert_eq!(t[0].dst, PathBuf::from("/t"));
        assert!(t[0].cmd(None).display().ends_with(" /srv/tree/ /t/"));
    }

    #[test]
    fn sparse_files_are_found_outside_skipped_dirs() {
        let d = tempfile::tempdir().unwrap();
        let mk = |rel: &str, sparse: bool| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let f = std::fs::File::create(&p).unwrap();
            if sparse {
                f.set_len(8 << 20).unwrap();
            } else {
                std::io::Write::write_all(&mut &f, &[7u8; 70000]).unwrap();
            }
        };
        mk("var/log/lastlog", true);
        mk("var/log/syslog", false);
        mk("tmp/hole", true);
        mk("a/b/c/disk.img", true);
        std::fs::write(d.path().join("empty"), b"").unwrap();
        let skips = walk_skips(&[
            "/tmp/*".to_string(),
            "*.tmp".to_string(),
            "/x[1]/*".to_string(),
        ]);
        assert_eq!(skips, ["/tmp"]);
        let found = sparse_files(d.path(), &skips);
        assert_eq!(
            found,
            [
                PathBuf::from("a/b/c/disk.img"),
                PathBuf::from("var/log/lastlog")
            ]
        );
    }

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
