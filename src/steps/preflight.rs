//! Step `preflight`: refuse, before any write, a target that is the disk
//! of the running root, is mounted, used as swap or held by dm/md, is too
//! small for the source, or is not the disk the plan names.
//!
//! The facts are gathered first ([`gather`]); the checks are a pure
//! function over them ([`check`]) so they are unit-tested. What is allowed
//! but risky ([`warnings`]: swap on an AoE disk) is said, not refused.

use crate::disk::inspect::{self, DiskNodes};
use crate::engine::{Ctx, Probe, Step, StepId, StepKind};
use crate::event::Event;
use crate::outcome::Refused;
use crate::plan::size::{human, MIB};
use crate::plan::{FsKind, PartRole, Plan, ResolvedLayout, Source, Target};
use crate::system::snapshot;
use crate::tools::mount::{self, MountEntry};
use crate::tools::{du, losetup};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub struct Preflight;

/// Fixed part of the free-space margin on top of 10 % of the source.
pub const MARGIN_FIXED: u64 = 256 * MIB;

/// Estimated bytes of a fresh debootstrap: minbase ≈ 400 MiB, the default
/// variant ≈ 700 MiB, plus 40 MiB per extra package (a kernel and GRUB
/// are installed later too, so this errs on the large side).
pub fn debootstrap_estimate(variant: Option<&str>, include: usize) -> u64 {
    let base = match variant {
        Some("minbase") => 400 * MIB,
        _ => 700 * MIB,
    };
    base + include as u64 * 40 * MIB
}

/// Bytes the target's filesystems must hold for `used` bytes of source.
pub fn needed(used: u64) -> u64 {
    used + used / 10 + MARGIN_FIXED
}

/// Bytes of filesystem space the layout gives (swap and bios_grub excluded).
pub fn capacity(layout: &ResolvedLayout) -> u64 {
    layout
        .partitions
        .iter()
        .filter(|p| p.role != PartRole::BiosGrub && p.fs != Some(FsKind::Swap))
        .map(|p| p.size)
        .sum()
}

/// What the plan may do but should know: swap on an AoE disk can deadlock
/// the machine under memory pressure — writing a page out to swap needs
/// memory for the AoE frame, and the aoe driver cannot draw on the
/// kernel's reserves (iSCSI's socket can: swap over iSCSI is supported).
pub fn warnings(plan: &Plan) -> Vec<String> {
    let swap_on_aoe = matches!(plan.target, Target::Aoe { .. })
        && plan.layout.partitions.iter().any(|p| p.fs == FsKind::Swap);
    if !swap_on_aoe {
        return Vec::new();
    }
    vec![
        "layout.partitions has swap on an AoE disk: under memory pressure the machine can \
         hang (paging out needs memory the aoe driver cannot take from the kernel's reserves). \
         For a machine that may run short of memory leave swap out of the layout and use zram \
         (zram-tools) or use iSCSI; see boot.md in /usr/share/doc/netroot/"
            .to_string(),
    ]
}

/// Everything preflight decides on.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// The target as named to people ("/dev/loop3 (image file …)").
    pub target: String,
    /// The target disk and every other attachment of the same image.
    pub disks: Vec<DiskNodes>,
    pub mounts: Vec<MountEntry>,
    /// Block devices used as swap.
    pub swaps: Vec<(u64, u64)>,
    /// Kernel names of the devices holding the running root.
    pub root_devices: BTreeSet<String>,
    /// Mount points below this directory are netroot's own (a killed run's).
    pub own_mounts: Option<PathBuf>,
    /// Size found, and size the plan's target.size asks for.
    pub disk_size: u64,
    pub planned_size: Option<u64>,
    /// Identity the plan names and identity the transport found (network disks).
    pub planned_identity: Option<String>,
    pub found_identity: Option<String>,
    /// Bytes the source uses, and what was measured.
    pub source_used: Option<u64>,
    pub source_what: String,
    /// Filesystem bytes of the layout.
    pub capacity: u64,
    /// With `source.snapshot`: what the snapshots would be.
    pub snapshot: Option<SnapshotFindings>,
}

/// Whether the source can be copied from snapshots (`source.snapshot`).
#[derive(Debug, Clone, Default)]
pub struct SnapshotFindings {
    /// Why the filesystem holding the source root can't be snapshotted.
    pub root_refused: Option<String>,
    /// Why a volume group lacks room for its snapshots.
    pub room: Option<String>,
    /// The other filesystems the copy reads as they are, and why.
    pub without: Vec<String>,
}

/// Every reason to refuse, empty when the target may be written.
pub fn check(f: &Findings) -> Vec<String> {
    let mut why = Vec::new();
    for d in &f.disks {
        for (name, _) in &d.devs {
            if f.root_devices.contains(name) {
                why.push(format!(
                    "{} holds the running system's root filesystem ({name}); \
                     netroot never writes to the disk it runs from",
                    f.target
                ));
                break;
            }
        }
        for (name, dev) in &d.devs {
            for m in f.mounts.iter().filter(|m| m.dev == *dev) {
                let own = f
                    .own_mounts
                    .as_ref()
                    .is_some_and(|o| m.target.starts_with(o));
                if !own {
                    why.push(format!(
                        "{name} is mounted at {}; unmount it first",
                        m.target.display()
                    ));
                }
            }
            if f.swaps.contains(dev) {
                why.push(format!(
                    "{name} is in use as swap; run `swapoff /dev/{name}` first"
                ));
            }
        }
        for h in &d.holders {
            why.push(format!(
                "{h} (device-mapper, RAID or LVM); stop that device first"
            ));
        }
    }
    if let Some(p) = f.planned_size {
        if p != f.disk_size {
            why.push(format!(
                "identity mismatch: target.size is {} but {} is {}; check target.device, \
                 or fix target.size",
                human(p),
                f.target,
                human(f.disk_size)
            ));
        }
    }
    if let (Some(p), Some(found)) = (&f.planned_identity, &f.found_identity) {
        if found != p && !found.starts_with(&format!("{p} ")) {
            why.push(format!(
                "identity mismatch: the plan names {p} but the attached disk is {found}"
            ));
        }
    }
    if let Some(sn) = &f.snapshot {
        if let Some(r) = &sn.root_refused {
            why.push(format!(
                "source.snapshot: {r}, so the copy can't read it from a snapshot; \
                 copy without source.snapshot (then stop the services that write, or use \
                 `--resync` for a final sync), or move the system onto btrfs or LVM"
            ));
        }
        if let Some(r) = &sn.room {
            why.push(format!("source.snapshot: {r}"));
        }
    }
    if let Some(used) = f.source_used {
        if f.capacity < needed(used) {
            why.push(format!(
                "{} is too small: {} uses {}, which needs {} of filesystems with margin \
                 (10 % + {}), but the layout gives {}; use a bigger target",
                f.target,
                f.source_what,
                human(used),
                human(needed(used)),
                human(MARGIN_FIXED),
                human(f.capacity)
            ));
        }
    }
    why
}

fn used_bytes(path: &Path) -> Result<u64> {
    let s =
        nix::sys::statvfs::statvfs(path).with_context(|| format!("statvfs {}", path.display()))?;
    Ok((s.blocks() as u64).saturating_sub(s.blocks_free() as u64) * s.fragment_size() as u64)
}

/// Bytes the plan's source uses (live: the mounts that will be copied;
/// directory: `du -sx`; debootstrap: an estimate).
fn source_used(ctx: &Ctx, layout: &ResolvedLayout) -> Result<(u64, String)> {
    match &ctx.plan.source {
        Source::Live { .. } => {
            let mounts = mount::mounts();
            let mut total = used_bytes(Path::new("/"))?;
            let mut what = vec!["/".to_string()];
            for p in layout.mount_order() {
                let m = p.mount.as_deref().unwrap_or("/");
                if m != "/" && mounts.iter().any(|x| x.target == Path::new(m)) {
                    total += used_bytes(Path::new(m))?;
                    what.push(m.to_string());
                }
            }
            Ok((total, format!("the running system ({})", what.join(", "))))
        }
        Source::Directory { path, .. } => {
            let n = du::used_bytes(&ctx.runner, path)?;
            Ok((n, format!("the root tree {}", path.display())))
        }
        Source::Debootstrap {
            variant, include, ..
        } => Ok((
            debootstrap_estimate(variant.as_deref(), include.len()),
            "a fresh debootstrap (estimated)".to_string(),
        )),
    }
}

/// With `source.snapshot`: can each filesystem the copy reads be
/// snapshotted, and is there room?
fn snapshot_findings(ctx: &Ctx, mounts: &[MountEntry]) -> Option<SnapshotFindings> {
    if !ctx.plan.source.snapshot() {
        return None;
    }
    let src = crate::host::devnode::canonical(&ctx.plan.source.tree()?);
    let skip = [ctx.opts.state_dir.clone(), ctx.opts.work_dir.clone()];
    let mut paths = vec![src.clone()];
    paths.extend(
        snapshot::source_filesystems(&src, mounts, &skip)
            .into_iter()
            .map(|m| m.target)
            .filter(|t| t.starts_with(&src) && *t != src),
    );
    let (methods, without) = snapshot::methods_for(&ctx.runner, &paths, mounts);
    let root_refused = match crate::host::mountinfo::holding(&src, mounts) {
        None => Some(format!("no mount holds {}", src.display())),
        Some(m) => snapshot::method_for(&ctx.runner, m, &src).err(),
    };
    Some(SnapshotFindings {
        without: without
            .into_iter()
            .filter(|w| Some(w) != root_refused.as_ref())
            .collect(),
        root_refused,
        room: snapshot::check_room(&methods).err(),
    })
}

/// Gather the facts about the target and the host.
pub fn gather(ctx: &Ctx) -> Result<Findings> {
    let disk = ctx.disk()?;
    let layout = ctx.layout()?;
    let mut f = Findings {
        target: format!("{} ({})", disk.node.display(), disk.identity),
        mounts: mount::mounts(),
        swaps: inspect::swap_devices(),
        root_devices: inspect::root_devices(),
        own_mounts: Some(ctx.opts.work_dir.join(ctx.plan.target_key())),
        disk_size: disk.size,
        planned_size: super::shared::planned_size(ctx)?,
        capacity: capacity(layout),
        ..Default::default()
    };
    if disk.attached {
        f.disks.push(inspect::disk_nodes(&disk.node)?);
        if let Some(img) = &disk.image {
            for l in losetup::backing(&ctx.runner, img)? {
                if l.name != disk.node {
                    f.disks.push(inspect::disk_nodes(&l.name)?);
                }
            }
        }
    }
    if ctx.plan.target.device().is_none() {
        f.planned_identity = Some(ctx.plan.target.identity());
        f.found_identity = Some(disk.identity.clone());
    }
    let (used, what) = source_used(ctx, layout)?;
    f.source_what = what;
    f.snapshot = snapshot_findings(ctx, &f.mounts);
    // A dry run of a network disk that is not attached cannot know its size;
    // the size check runs for real once it is attached.
    if disk.attached || disk.size > 0 {
        f.source_used = Some(used);
    }
    Ok(f)
}

impl Step for Preflight {
    fn id(&self) -> StepId {
        StepId::Preflight
    }
    fn kind(&self) -> StepKind {
        StepKind::EveryRun
    }
    fn describe(&self, _ctx: &Ctx) -> String {
        "check that the target is safe to write and big enough".to_string()
    }
    fn probe(&self, _ctx: &Ctx) -> Result<Probe> {
        Ok(Probe::Todo("done by every run".into()))
    }
    fn apply(&self, ctx: &mut Ctx) -> Result<()> {
        for w in warnings(&ctx.plan) {
            tracing::warn!("{w}");
            ctx.notes.push(w);
        }
        let f = gather(ctx)?;
        for w in f.snapshot.iter().flat_map(|s| &s.without) {
            let w = format!("source.snapshot: {w}; it is copied as it is, not from a snapshot");
            tracing::warn!("{w}");
            ctx.notes.push(w);
        }
        let why = check(&f);
        if !why.is_empty() {
            return Err(Refused(format!(
                "refusing to touch {}:\n  - {}",
                f.target,
                why.join("\n  - ")
            ))
            .into());
        }
        let text = match f.source_used {
            Some(used) => format!(
                "preflight ok: {} is not in use; {} uses {}, the layout gives {}",
                f.target,
                f.source_what,
                human(used),
                human(f.capacity)
            ),
            None => {
                let t = format!(
                    "preflight: {} is not attached in a dry run; whether it is free and big enough is checked when it is",
                    f.target
                );
                ctx.notes.push(t.clone());
                t
            }
        };
        tracing::info!("{text}");
        ctx.emit(Event::Message { text });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Findings {
        Findings {
            target: "/dev/loop3 (image file /x.img)".into(),
            disks: vec![DiskNodes {
                kname: "loop3".into(),
                devs: vec![
                    ("loop3".into(), (7, 3)),
                    ("loop3p1".into(), (259, 0)),
                    ("loop3p2".into(), (259, 1)),
                ],
                holders: vec![],
            }],
            root_devices: ["vda".to_string()].into(),
            disk_size: 4 << 30,
            source_used: Some(1 << 30),
            source_what: "the root tree /src".into(),
            capacity: 3 << 30,
            ..Default::default()
        }
    }

    #[test]
    fn a_free_big_enough_target_passes() {
        assert!(check(&facts()).is_empty());
    }

    #[test]
    fn running_root_disk_is_refused() {
        let mut f = facts();
        f.root_devices.insert("loop3p2".into());
        let why = check(&f);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("running system's root"), "{why:?}");
    }

    #[test]
    fn mounted_swap_and_held_partitions_are_refused() {
        let mut f = facts();
        f.mounts = mount::parse_mountinfo("50 1 259:1 / /mnt/x rw - ext4 /dev/loop3p2 rw\n");
        f.swaps = vec![(259, 0)];
        f.disks[0].holders = vec!["loop3p2 is held by dm-0".into()];
        let why = check(&f).join("\n");
        assert!(why.contains("loop3p2 is mounted at /mnt/x"), "{why}");
        assert!(why.contains("loop3p1 is in use as swap"), "{why}");
        assert!(why.contains("held by dm-0"), "{why}");
    }

    #[test]
    fn own_leftover_mounts_are_not_refused() {
        let mut f = facts();
        f.mounts =
            mount::parse_mountinfo("50 1 259:1 / /run/netroot/t/root rw - ext4 /dev/loop3p2 rw\n");
        f.own_mounts = Some(PathBuf::from("/run/netroot/t"));
        assert!(check(&f).is_empty());
    }

    #[test]
    fn too_small_names_the_numbers() {
        let mut f = facts();
        f.capacity = 1 << 30;
        let why = check(&f);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("too small"), "{why:?}");
        assert!(why[0].contains("uses 1G"), "{why:?}");
        assert_eq!(needed(1 << 30), (1 << 30) + (1 << 30) / 10 + MARGIN_FIXED);
    }

    #[test]
    fn identity_mismatches() {
        let mut f = facts();
        f.planned_size = Some(2 << 30);
        let why = check(&f);
        assert!(why[0].contains("target.size is 2G"), "{why:?}");
        let mut f = facts();
        f.planned_identity = Some("e11.0".into());
        f.found_identity = Some("e11.1".into());
        assert!(check(&f)[0].contains("the plan names e11.0"));
        f.found_identity = Some("e11.0".into());
        assert!(check(&f).is_empty());
    }

    #[test]
    fn swap_on_aoe_is_warned_about_not_on_iscsi() {
        let plan = |target: &str, swap: bool| -> Plan {
            let extra = if swap {
                r#",{"fs":"swap","size":"1G"}"#
            } else {
                ""
            };
            serde_json::from_str(&format!(
                r#"{{"version":1,"source":{{"type":"live"}},"target":{target},
                "layout":{{"table":"gpt","firmware":"bios","partitions":[{{"mount":"/","fs":"ext4","size":"rest"}}{extra}]}}}}"#
            ))
            .unwrap()
        };
        let aoe = r#"{"transport":"aoe","shelf":1,"slot":2}"#;
        let iscsi = r#"{"transport":"iscsi","portal":"192.0.2.1","iqn":"iqn.2024-01.org.example:x","lun":1}"#;
        let w = warnings(&plan(aoe, true));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("swap on an AoE disk") && w[0].contains("zram"),
            "{w:?}"
        );
        assert!(warnings(&plan(aoe, false)).is_empty());
        assert!(warnings(&plan(iscsi, true)).is_empty());
    }

    #[test]
    fn debootstrap_estimates() {
        assert!(debootstrap_estimate(Some("minbase"), 0) < debootstrap_estimate(None, 0));
        assert_eq!(
            debootstrap_estimate(None, 2) - debootstrap_estimate(None, 0),
            80 * MIB
        );
    }
}
