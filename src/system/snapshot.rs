//! Snapshots of the source's filesystems, for a crash-consistent copy of a
//! system that keeps writing (`source.snapshot`).
//!
//! Why: rsync of a running system reads each file at a different moment; a
//! database, a journal or dpkg's state can be copied half-way through a
//! change. A read-only snapshot is one instant of a whole filesystem —
//! what the disk would hold after a power cut, which every journaling
//! filesystem and database is built to recover from. btrfs snapshots a
//! subvolume in place (`<mount point>/.netroot-snapshot`, read-only); LVM
//! snapshots a logical volume (`<lv>-netroot-snap`, mounted read-only under
//! the run's work directory). Both are dropped when the copy ends, also on
//! error; a run killed with one in place drops it at the next start and
//! takes a fresh one. Other filesystems (a vfat ESP, a plain /boot
//! partition) are copied as they are, and preflight says so; the root's
//! own filesystem must be one that can be snapshotted, or the plan is
//! refused before any write.

use crate::host::mountinfo::{self, MountEntry};
use crate::tools::lvm::{self, LogicalVolume};
use crate::tools::{btrfs, mount, Runner};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Name of the btrfs snapshot, made in the root of the subvolume it copies.
pub const BTRFS_SNAPSHOT: &str = ".netroot-snapshot";
/// Suffix of an LVM snapshot's name: `<lv>-netroot-snap`.
pub const LVM_SUFFIX: &str = "-netroot-snap";
/// Least free room per LVM snapshot for the writes made during the copy.
pub const LVM_MIN_FREE: u64 = 256 << 20;

/// How one source filesystem is snapshotted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// The btrfs subvolume whose root directory is `subvolume`.
    Btrfs { subvolume: PathBuf },
    /// An LVM logical volume mounted at `mount_point` with `fstype`.
    Lvm {
        mount_point: PathBuf,
        fstype: String,
        volume: LogicalVolume,
    },
}

impl Method {
    /// The directory the snapshot is an image of.
    pub fn origin(&self) -> &Path {
        match self {
            Method::Btrfs { subvolume } => subvolume,
            Method::Lvm { mount_point, .. } => mount_point,
        }
    }
}

/// How `path` (canonical), on the filesystem mounted as `m`, can be read
/// from a snapshot, or why it can't. On btrfs that is the subvolume
/// holding `path` — the nearest subvolume root at or above it, which need
/// not be the mount point (a tree kept in a subvolume of its own: a
/// snapshot of its parent would show it empty).
pub fn method_for(
    runner: &Runner,
    m: &MountEntry,
    path: &Path,
) -> std::result::Result<Method, String> {
    if m.fstype == "btrfs" {
        let found = path
            .ancestors()
            .take_while(|a| a.starts_with(&m.target))
            .find(|a| btrfs::is_subvolume_root(a));
        return match found {
            Some(sv) => Ok(Method::Btrfs {
                subvolume: sv.to_path_buf(),
            }),
            None => Err(format!(
                "{} is on a btrfs mount of a directory ({}), not of a subvolume",
                path.display(),
                m.target.display()
            )),
        };
    }
    if let Some(volume) = lvm::volume_of(runner, &m.source) {
        return Ok(Method::Lvm {
            mount_point: m.target.clone(),
            fstype: m.fstype.clone(),
            volume,
        });
    }
    Err(format!(
        "{} is {} on {}: neither a btrfs subvolume nor an LVM logical volume{}",
        m.target.display(),
        m.fstype,
        m.source,
        if m.source.starts_with("/dev/mapper/") || m.source.starts_with("/dev/dm-") {
            " (is lvm2 installed?)"
        } else {
            ""
        }
    ))
}

/// The method for each path of `paths` (canonical) that has one, one per
/// origin; and why each of the others is read as it is.
pub fn methods_for(
    runner: &Runner,
    paths: &[PathBuf],
    mounts: &[MountEntry],
) -> (Vec<Method>, Vec<String>) {
    let mut methods: Vec<Method> = Vec::new();
    let mut without = Vec::new();
    for p in paths {
        let Some(m) = mountinfo::holding(p, mounts) else {
            without.push(format!("{}: no mount holds it", p.display()));
            continue;
        };
        match method_for(runner, m, p) {
            Ok(method) => {
                if !methods.iter().any(|x| x.origin() == method.origin()) {
                    methods.push(method);
                }
            }
            Err(why) => without.push(why),
        }
    }
    (methods, without)
}

/// The filesystems a copy of `src_root` reads: the one holding it, then
/// each data filesystem mounted below it, leaving out the volatile
/// directories and `skip` (netroot's own state and work directories).
/// `src_root` as a canonical path.
pub fn source_filesystems(
    src_root: &Path,
    mounts: &[MountEntry],
    skip: &[PathBuf],
) -> Vec<MountEntry> {
    let mut out: Vec<MountEntry> = mountinfo::holding(src_root, mounts)
        .cloned()
        .into_iter()
        .collect();
    for m in mountinfo::data_mounts_below(src_root, mounts, skip) {
        out.retain(|o| o.target != m.target);
        out.push(m.clone());
    }
    out
}

/// For each LVM method of `methods`, how many snapshots share its volume
/// group, to check the room before any is taken.
fn sharing(methods: &[Method], vg: &str) -> usize {
    methods
        .iter()
        .filter(|m| matches!(m, Method::Lvm { volume, .. } if volume.vg == vg))
        .count()
}

/// Why the snapshots of `methods` can't all be taken (too little room in
/// a volume group), or Ok.
pub fn check_room(methods: &[Method]) -> std::result::Result<(), String> {
    for m in methods {
        if let Method::Lvm { volume, .. } = m {
            let n = sharing(methods, &volume.vg) as u64;
            if volume.vg_free / n < LVM_MIN_FREE {
                return Err(format!(
                    "volume group {} has {} MiB free for {n} snapshot(s): each needs room for \
                     what the system writes during the copy, at least {} MiB (free some space \
                     in {}, or copy without source.snapshot)",
                    volume.vg,
                    volume.vg_free >> 20,
                    LVM_MIN_FREE >> 20,
                    volume.vg
                ));
            }
        }
    }
    Ok(())
}

/// One snapshot taken by [`Snapshots`].
#[derive(Debug, Clone)]
struct Taken {
    /// The mount point of the source filesystem it is a snapshot of.
    origin: PathBuf,
    /// Where its tree can be read.
    read_at: PathBuf,
    kind: TakenKind,
}

#[derive(Debug, Clone)]
enum TakenKind {
    Btrfs,
    Lvm { vg: String, name: String },
}

/// The snapshots of one copy: taken when a path of their filesystem is
/// first read, dropped by [`Snapshots::release`].
pub struct Snapshots {
    /// Where LVM snapshots are mounted (below the run's work directory).
    mount_base: PathBuf,
    methods: Vec<Method>,
    taken: Vec<Taken>,
}

impl Snapshots {
    /// Snapshots of the filesystems in `methods`; LVM ones mounted below
    /// `mount_base`.
    pub fn new(mount_base: PathBuf, methods: Vec<Method>) -> Snapshots {
        Snapshots {
            mount_base,
            methods,
            taken: Vec::new(),
        }
    }

    /// Where to read the source path `src` (canonical): the same path in
    /// the snapshot of its origin, taken now if it is the first read
    /// there; `src` itself when no method covers it.
    pub fn read_path(
        &mut self,
        runner: &Runner,
        src: &Path,
        mounts: &[MountEntry],
    ) -> Result<PathBuf> {
        // The deepest origin above `src` (a subvolume inside a snapshotted
        // one has its own snapshot).
        let Some(method) = self
            .methods
            .iter()
            .filter(|m| src.starts_with(m.origin()))
            .max_by_key(|m| m.origin().components().count())
            .cloned()
        else {
            return Ok(src.to_path_buf());
        };
        let origin = method.origin().to_path_buf();
        let t = match self.taken.iter().find(|t| t.origin == origin) {
            Some(t) => t.clone(),
            None => {
                let t = self.take(runner, &method, mounts)?;
                self.taken.push(t.clone());
                t
            }
        };
        let rel = src.strip_prefix(&origin).unwrap_or(Path::new(""));
        Ok(if rel.as_os_str().is_empty() {
            t.read_at.clone()
        } else {
            t.read_at.join(rel)
        })
    }

    /// Take one snapshot, dropping first what a killed run left.
    fn take(&self, runner: &Runner, method: &Method, mounts: &[MountEntry]) -> Result<Taken> {
        match method {
            Method::Btrfs { subvolume } => {
                let at = subvolume.join(BTRFS_SNAPSHOT);
                if at.exists() {
                    runner.run(&btrfs::delete_cmd(&at)).with_context(|| {
                        format!(
                            "dropping the snapshot a killed run left at {}",
                            at.display()
                        )
                    })?;
                }
                runner
                    .run(&btrfs::snapshot_cmd(subvolume, &at))
                    .with_context(|| format!("snapshotting {}", subvolume.display()))?;
                Ok(Taken {
                    origin: subvolume.clone(),
                    read_at: at,
                    kind: TakenKind::Btrfs,
                })
            }
            Method::Lvm {
                mount_point,
                fstype,
                volume,
            } => self.take_lvm(runner, mount_point, fstype, volume, mounts),
        }
    }

    fn take_lvm(
        &self,
        runner: &Runner,
        mount_point: &Path,
        fstype: &str,
        volume: &LogicalVolume,
        mounts: &[MountEntry],
    ) -> Result<Taken> {
        let name = format!("{}{LVM_SUFFIX}", volume.lv);
        let dir = self.mount_base.join(&name);
        if mounts.iter().any(|m| m.target == dir) {
            runner.run(&mount::umount_cmd(&dir))?;
        }
        if lvm::exists(runner, &volume.vg, &name) {
            runner
                .run(&lvm::remove_cmd(&volume.vg, &name))
                .with_context(|| {
                    format!(
                        "dropping the snapshot {}/{name} a killed run left",
                        volume.vg
                    )
                })?;
        }
        // Earlier snapshots of this group took their share already.
        let done = self
            .taken
            .iter()
            .filter(|t| matches!(&t.kind, TakenKind::Lvm { vg, .. } if *vg == volume.vg))
            .count();
        let left = sharing(&self.methods, &volume.vg)
            .saturating_sub(done)
            .max(1);
        runner
            .run(&lvm::snapshot_cmd(volume, &name, (100 / left) as u32))
            .with_context(|| {
                format!("snapshotting {} ({})", volume.path(), mount_point.display())
            })?;
        runner.effect(&format!("creating {}", dir.display()), false, || {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))
        })?;
        // xfs refuses a second mount of the same filesystem UUID.
        let opts = if fstype == "xfs" { "ro,nouuid" } else { "ro" };
        runner.run(
            &mount::mount_cmd(&lvm::device(&volume.vg, &name), &dir, fstype).args(["-o", opts]),
        )?;
        Ok(Taken {
            origin: mount_point.to_path_buf(),
            read_at: dir,
            kind: TakenKind::Lvm {
                vg: volume.vg.clone(),
                name,
            },
        })
    }

    /// Drop every snapshot taken, newest first; every one is tried, the
    /// first error is returned.
    pub fn release(&mut self, runner: &Runner) -> Result<()> {
        let mut first: Option<anyhow::Error> = None;
        while let Some(t) = self.taken.pop() {
            let r = match &t.kind {
                TakenKind::Btrfs => runner.run(&btrfs::delete_cmd(&t.read_at)).map(|_| ()),
                TakenKind::Lvm { vg, name } => runner
                    .run(&mount::umount_cmd(&t.read_at))
                    .and_then(|_| runner.run(&lvm::remove_cmd(vg, name)))
                    .map(|_| ()),
            };
            if let Err(e) = r {
                let e = e.context(format!("dropping the snapshot at {}", t.read_at.display()));
                tracing::warn!("{e:#}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(target: &str, fstype: &str, source: &str) -> MountEntry {
        MountEntry {
            dev: (0, 0),
            target: target.into(),
            fstype: fstype.into(),
            source: source.into(),
        }
    }

    #[test]
    fn the_filesystems_a_copy_reads() {
        let mounts = vec![
            m("/", "ext4", "/dev/mapper/vg0-root"),
            m("/proc", "proc", "proc"),
            m("/boot/efi", "vfat", "/dev/sda1"),
            m("/home", "xfs", "/dev/mapper/vg0-home"),
            m("/tmp", "tmpfs", "tmpfs"),
            m("/mnt/usb", "ext4", "/dev/sdb1"),
            m("/var/lib/netroot", "ext4", "/dev/sdc1"),
        ];
        let got: Vec<String> = source_filesystems(
            Path::new("/"),
            &mounts,
            &[PathBuf::from("/var/lib/netroot")],
        )
        .iter()
        .map(|m| m.target.display().to_string())
        .collect();
        assert_eq!(got, vec!["/", "/boot/efi", "/home"]);
        // A directory source: the filesystem holding it, and what is below.
        let got: Vec<String> = source_filesystems(Path::new("/home/roots/deb"), &mounts, &[])
            .iter()
            .map(|m| m.target.display().to_string())
            .collect();
        assert_eq!(got, vec!["/home"]);
    }

    #[test]
    fn room_is_checked_per_volume_group() {
        let lv = |vg: &str, lv: &str, free: u64| Method::Lvm {
            mount_point: format!("/{lv}").into(),
            fstype: "ext4".into(),
            volume: LogicalVolume {
                vg: vg.into(),
                lv: lv.into(),
                size: 8 << 30,
                vg_free: free,
            },
        };
        assert!(check_room(&[lv("vg0", "root", 1 << 30), lv("vg0", "home", 1 << 30)]).is_ok());
        let e =
            check_room(&[lv("vg0", "root", 400 << 20), lv("vg0", "home", 400 << 20)]).unwrap_err();
        assert!(e.contains("vg0 has 400 MiB free for 2 snapshot(s)"), "{e}");
        assert!(check_room(&[lv("vg0", "root", 400 << 20), lv("vg1", "home", 400 << 20)]).is_ok());
    }

    #[test]
    fn a_plain_partition_has_no_method() {
        let e = method_for(
            &Runner::dry(),
            &m("/boot", "ext4", "/dev/sda2"),
            Path::new("/boot"),
        )
        .unwrap_err();
        assert!(e.contains("/boot is ext4 on /dev/sda2: neither"), "{e}");
        let e = method_for(
            &Runner::dry(),
            &m("/nonexistent-netroot", "btrfs", "/dev/sdb"),
            Path::new("/nonexistent-netroot/x"),
        )
        .unwrap_err();
        assert!(e.contains("not of a subvolume"), "{e}");
    }
}
