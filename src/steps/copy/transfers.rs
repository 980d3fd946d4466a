//! Which rsync runs copy a source tree onto the target, and what each one
//! leaves out: one run per filesystem (each mount of the plan, plus each
//! separate data filesystem the source has below it that the plan folds
//! into its parent), with pseudo filesystems, volatile directories,
//! `lost+found`, swap files and netroot's own state excluded.
//!
//! Why apart from the step: this is pure planning over the plan, the
//! layout and the host's mount table, tested without running anything.

pub use crate::host::mountinfo::VOLATILE_DIRS;
use crate::host::mountinfo::{self, MountEntry};
use crate::plan::{FsKind, Plan, ResolvedLayout, Source};
use crate::tools::rsync::Transfer;
use std::path::{Path, PathBuf};

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

/// netroot's own target files (the plan's image file, the file behind a
/// loop device target), canonical paths, that lie inside the source tree
/// (canonical root `src_canon`), as host paths below `src_root`: they go
/// into the host excludes, so the copy never copies its own target.
pub fn own_files_in_source(src_root: &Path, src_canon: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for f in files {
        let Ok(rel) = f.strip_prefix(src_canon) else {
            continue;
        };
        let p = src_root.join(rel);
        if !rel.as_os_str().is_empty() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// What the copy of a source tree needs to know besides the plan.
#[derive(Debug, Clone, Default)]
pub struct CopyInputs {
    /// The source's mounts (from mountinfo), absolute host paths.
    pub host_mounts: Vec<MountEntry>,
    /// Swap files, in source-tree paths ("/swapfile").
    pub swap_files: Vec<String>,
    /// Host paths never copied (netroot's state and work dirs, the target
    /// mount, the target's image file).
    pub host_excludes: Vec<PathBuf>,
    /// Target-tree paths the later steps wrote, left alone by a final sync
    /// (not copied over, not deleted): `Ctx::protect`.
    pub protect: Vec<String>,
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
    let planned = planned_mounts(layout);
    let volatile: Vec<String> = VOLATILE_DIRS.iter().map(|(d, _)| format!("/{d}")).collect();
    let roots = transfer_roots(&planned, inputs, &src_s);
    let (anchored, floating) = exclude_patterns(plan, inputs, &src_s, &volatile);
    roots
        .iter()
        .map(|t| {
            let mut excludes = nested_roots(&roots, t);
            excludes.push("/lost+found".to_string());
            excludes.extend(anchored.iter().filter_map(|a| anchored_in(a, t)));
            excludes.extend(floating.iter().cloned());
            Transfer {
                src: join(src_root, t),
                dst: join(root, t),
                excludes,
                fat: lands_on_fat(&planned, t),
                live: matches!(plan.source, Source::Live { .. }),
                checksum: false,
            }
        })
        .collect()
}

/// The plan's mount points with their filesystems, swap left out, in
/// mount order.
fn planned_mounts(layout: &ResolvedLayout) -> Vec<(String, FsKind)> {
    layout
        .mount_order()
        .into_iter()
        .filter(|p| p.fs != Some(FsKind::Swap))
        .filter_map(|p| Some((p.mount.clone()?, p.fs?)))
        .collect()
}

/// Transfer roots, in source-tree paths: each planned mount, plus each
/// data filesystem mounted below the source (outside the volatile
/// directories and the host excludes); parents before children.
fn transfer_roots(planned: &[(String, FsKind)], inputs: &CopyInputs, src_s: &str) -> Vec<String> {
    let mut roots: Vec<String> = planned.iter().map(|(m, _)| m.clone()).collect();
    let below =
        mountinfo::data_mounts_below(Path::new(src_s), &inputs.host_mounts, &inputs.host_excludes);
    for m in below {
        let Some(rel) = rel_under(&m.target.to_string_lossy(), src_s) else {
            continue;
        };
        if !roots.contains(&rel) {
            roots.push(rel);
        }
    }
    roots.sort_by_key(|r| (if r == "/" { 0 } else { r.matches('/').count() }, r.clone()));
    roots
}

/// Exclude patterns in source-tree paths, mapped into each transfer
/// later: (anchored ones, floating ones).
fn exclude_patterns(
    plan: &Plan,
    inputs: &CopyInputs,
    src_s: &str,
    volatile: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut anchored: Vec<String> = volatile.iter().map(|v| format!("{v}/*")).collect();
    anchored.extend(inputs.swap_files.iter().cloned());
    for p in &inputs.host_excludes {
        if let Some(r) = rel_under(&p.display().to_string(), src_s) {
            // Below a volatile directory it is left out already.
            let covered = volatile.iter().any(|v| rel_under(&r, v).is_some());
            if r != "/" && !covered && !anchored.contains(&r) {
                anchored.push(r);
            }
        }
    }
    for p in &inputs.protect {
        if !anchored.contains(p) {
            anchored.push(p.clone());
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
    (anchored, floating)
}

/// The other roots below transfer root `t`, relative to it: each has its
/// own transfer.
fn nested_roots(roots: &[String], t: &str) -> Vec<String> {
    roots
        .iter()
        .filter(|u| *u != t)
        .filter_map(|u| rel_under(u, t))
        .collect()
}

/// Anchored pattern `a` (source-tree path) relative to transfer root `t`,
/// if it falls below it.
fn anchored_in(a: &str, t: &str) -> Option<String> {
    if t == "/" {
        Some(a.to_string())
    } else {
        a.strip_prefix(t)
            .filter(|r| r.starts_with('/'))
            .map(str::to_string)
    }
}

/// Whether the target filesystem transfer root `t` lands on (the deepest
/// planned mount above it) is FAT.
fn lands_on_fat(planned: &[(String, FsKind)], t: &str) -> bool {
    planned
        .iter()
        .filter(|(m, _)| rel_under(t, m).is_some())
        .max_by_key(|(m, _)| m.len())
        .is_some_and(|(_, fs)| *fs == FsKind::Vfat)
}

fn join(base: &Path, abs: &str) -> PathBuf {
    let r = abs.trim_start_matches('/');
    if r.is_empty() {
        base.to_path_buf()
    } else {
        base.join(r)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::mountinfo::{self, tests::MOUNTINFO};
    use crate::plan::{parse_plan, resolve_layout};

    pub(crate) fn plan(source: &str) -> Plan {
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

    fn inputs() -> CopyInputs {
        CopyInputs {
            host_mounts: mountinfo::parse(MOUNTINFO),
            swap_files: vec!["/swapfile".into()],
            host_excludes: vec![
                "/var/lib/netroot".into(),
                "/run/netroot".into(),
                "/run/netroot/target".into(),
            ],
            protect: Vec::new(),
        }
    }

    #[test]
    fn a_final_sync_leaves_what_later_steps_wrote_in_each_filesystem() {
        let p = plan(r#"{"type": "live"}"#);
        let l = resolve_layout(&p.layout, 8 << 30, b"s").unwrap();
        let mut i = inputs();
        i.protect = vec![
            "/etc/fstab".into(),
            "/boot/grub/".into(),
            "/boot/efi/EFI/BOOT/".into(),
        ];
        let t = transfers(&p, &l, Path::new("/"), Path::new("/t"), &i);
        let of = |src: &str| t.iter().find(|x| x.src == Path::new(src)).unwrap();
        assert!(of("/").excludes.contains(&"/etc/fstab".to_string()));
        assert!(of("/boot").excludes.contains(&"/grub/".to_string()));
        assert!(of("/boot/efi").excludes.contains(&"/EFI/BOOT/".to_string()));
        assert!(!of("/boot").excludes.contains(&"/etc/fstab".to_string()));
        // Without a final sync nothing of the kind is left out.
        let t = transfers(&p, &l, Path::new("/"), Path::new("/t"), &inputs());
        assert!(!t[0].excludes.contains(&"/etc/fstab".to_string()));
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
    fn the_target_image_inside_the_source_is_excluded() {
        // Live source, the image under /var/tmp (not a volatile directory).
        let p = plan(r#"{"type": "live"}"#);
        let l = resolve_layout(&p.layout, 8 << 30, b"s").unwrap();
        let mut i = inputs();
        let own = own_files_in_source(
            Path::new("/"),
            Path::new("/"),
            &["/var/tmp/d.img".into(), "/var/tmp/d.img".into()],
        );
        assert_eq!(own, [PathBuf::from("/var/tmp/d.img")]);
        i.host_excludes.extend(own);
        let t = transfers(&p, &l, Path::new("/"), Path::new("/t"), &i);
        assert!(t[0].excludes.contains(&"/var/tmp/d.img".to_string()));
        assert!(t[0]
            .cmd(None)
            .display()
            .contains("--exclude=/var/tmp/d.img"));
        // A directory source reached through a link: mapped below the
        // source as the plan names it; a file outside it is not named.
        let own = own_files_in_source(
            Path::new("/srv/tree"),
            Path::new("/data/tree"),
            &["/data/tree/var/tmp/t.img".into(), "/data/other.img".into()],
        );
        assert_eq!(own, [PathBuf::from("/srv/tree/var/tmp/t.img")]);
        let p = plan(r#"{"type": "directory", "path": "/srv/tree"}"#);
        let mut i = inputs();
        i.host_excludes.extend(own);
        let t = transfers(&p, &l, Path::new("/srv/tree"), Path::new("/t"), &i);
        assert!(t[0].excludes.contains(&"/var/tmp/t.img".to_string()));
        assert!(!t[0].excludes.iter().any(|e| e.contains("other.img")));
    }
}
