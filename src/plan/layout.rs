//! Layout maths: where each partition starts and ends on a disk of a given
//! size (1 MiB alignment), and the UUIDs netroot chooses up front.

use super::size::{human, Size, MIB};
use super::types::{FsKind, Layout, PartitionSpec, TableKind};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const SECTOR: u64 = 512;
/// Space GPT needs at the end of the disk (backup header and entries).
const GPT_TAIL: u64 = 33 * SECTOR;
pub const BIOS_GRUB_SIZE: u64 = MIB;

pub const GUID_BIOS_GRUB: &str = "21686148-6449-6E6F-744E-656564454649";
pub const GUID_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const GUID_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
pub const GUID_SWAP: &str = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
pub const MBR_LINUX: u8 = 0x83;
pub const MBR_SWAP: u8 = 0x82;
pub const MBR_ESP: u8 = 0xef;

/// What a partition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartRole {
    /// GPT bios_grub partition, holds GRUB's core image.
    BiosGrub,
    /// EFI system partition.
    Esp,
    /// A filesystem (or swap) from the plan.
    Data,
}

/// One partition as it will be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedPartition {
    /// Partition number on the disk (1-based).
    pub number: u32,
    pub role: PartRole,
    /// Index into `layout.partitions` (None for bios_grub).
    pub spec_index: Option<usize>,
    pub fs: Option<FsKind>,
    pub mount: Option<String>,
    pub label: Option<String>,
    /// Start and size in bytes.
    pub start: u64,
    pub size: u64,
    /// Filesystem UUID (vfat: volume id "ABCD-1234"); None for bios_grub.
    pub fs_uuid: Option<String>,
    /// GPT partition type GUID or MBR type byte as hex.
    pub type_id: String,
    /// GPT partition GUID (unique), None on MBR.
    pub part_guid: Option<String>,
    /// MBR boot flag.
    pub bootable: bool,
}

impl ResolvedPartition {
    pub fn start_sector(&self) -> u64 {
        self.start / SECTOR
    }
    pub fn sectors(&self) -> u64 {
        self.size / SECTOR
    }
}

/// The whole table as it will be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedLayout {
    pub table: TableKind,
    pub disk_size: u64,
    /// GPT disk GUID, or MBR disk signature as 8 hex digits.
    pub disk_id: String,
    pub partitions: Vec<ResolvedPartition>,
}

impl ResolvedLayout {
    pub fn root(&self) -> &ResolvedPartition {
        self.partitions
            .iter()
            .find(|p| p.mount.as_deref() == Some("/"))
            .expect("validated plan has a root")
    }
    pub fn by_mount(&self, m: &str) -> Option<&ResolvedPartition> {
        self.partitions
            .iter()
            .find(|p| p.mount.as_deref() == Some(m))
    }
    /// Filesystems in mount order (parents before children): "/", "/boot", "/boot/efi".
    pub fn mount_order(&self) -> Vec<&ResolvedPartition> {
        let mut v: Vec<&ResolvedPartition> = self
            .partitions
            .iter()
            .filter(|p| p.mount.is_some())
            .collect();
        v.sort_by_key(|p| {
            let m = p.mount.as_deref().unwrap();
            (
                if m == "/" { 0 } else { m.matches('/').count() },
                m.to_string(),
            )
        });
        v
    }
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in &self.partitions {
            s.push_str(&format!(
                "  p{} {:>7} at {:>7}  {}{}{}\n",
                p.number,
                human(p.size),
                human(p.start),
                match p.role {
                    PartRole::BiosGrub => "bios_grub".to_string(),
                    _ => p.fs.map(|f| f.as_str().to_string()).unwrap_or_default(),
                },
                p.mount
                    .as_ref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default(),
                p.fs_uuid
                    .as_ref()
                    .map(|u| format!(" UUID={u}"))
                    .unwrap_or_default(),
            ));
        }
        s
    }
}

fn derive(seed: &[u8], what: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(b"\0");
    h.update(what.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b
}

/// A random-looking but reproducible version-4 UUID from the seed.
pub fn derived_uuid(seed: &[u8], what: &str) -> String {
    let mut b = derive(seed, what);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// A reproducible vfat volume id, "ABCD-1234".
pub fn derived_vfat_id(seed: &[u8], what: &str) -> String {
    let b = derive(seed, what);
    format!("{:02X}{:02X}-{:02X}{:02X}", b[0], b[1], b[2], b[3])
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(MIB) * MIB
}
fn align_down(x: u64) -> u64 {
    x / MIB * MIB
}

/// Place the plan's partitions on a disk of `disk_size` bytes.
pub fn resolve_layout(
    layout: &Layout,
    disk_size: u64,
    seed: &[u8],
) -> Result<ResolvedLayout, String> {
    let end_limit = match layout.table {
        TableKind::Gpt => align_down(disk_size.saturating_sub(GPT_TAIL)),
        TableKind::Mbr => align_down(disk_size),
    };
    let mut parts = Vec::new();
    let mut cursor = MIB;
    let mut number = 1;
    if layout.table == TableKind::Gpt && layout.firmware.bios() {
        parts.push(bios_grub_partition(number, cursor, seed));
        cursor += BIOS_GRUB_SIZE;
        number += 1;
    }
    let has_boot = layout
        .partitions
        .iter()
        .any(|p| p.mount.as_deref() == Some("/boot"));
    for (i, spec) in layout.partitions.iter().enumerate() {
        let (start, size) = place(spec, i, cursor, end_limit, disk_size)?;
        let esp = spec.mount.as_deref() == Some("/boot/efi");
        let role = if esp { PartRole::Esp } else { PartRole::Data };
        let (type_id, part_guid) = partition_type(layout.table, role, spec.fs, seed, i);
        let boot_mount = if has_boot { "/boot" } else { "/" };
        parts.push(ResolvedPartition {
            number,
            role,
            spec_index: Some(i),
            fs: Some(spec.fs),
            mount: spec.mount.clone(),
            label: spec.label.clone(),
            start,
            size,
            fs_uuid: Some(fs_uuid(spec.fs, seed, i)),
            type_id,
            part_guid,
            bootable: layout.table == TableKind::Mbr && spec.mount.as_deref() == Some(boot_mount),
        });
        cursor = start + size;
        number += 1;
    }
    Ok(ResolvedLayout {
        table: layout.table,
        disk_size,
        disk_id: disk_id(layout.table, seed),
        partitions: parts,
    })
}

/// GPT's bios_grub partition for BIOS boot, at `start`.
fn bios_grub_partition(number: u32, start: u64, seed: &[u8]) -> ResolvedPartition {
    ResolvedPartition {
        number,
        role: PartRole::BiosGrub,
        spec_index: None,
        fs: None,
        mount: None,
        label: None,
        start,
        size: BIOS_GRUB_SIZE,
        fs_uuid: None,
        type_id: GUID_BIOS_GRUB.to_string(),
        part_guid: Some(derived_uuid(seed, "part-bios_grub")),
        bootable: false,
    }
}

/// Start and size of the plan's partition `i` placed at `cursor`, or why it
/// does not fit before `end_limit`.
fn place(
    spec: &PartitionSpec,
    i: usize,
    cursor: u64,
    end_limit: u64,
    disk_size: u64,
) -> Result<(u64, u64), String> {
    let start = align_up(cursor);
    let size = match spec.size.get() {
        Size::Bytes(b) => align_up(b),
        Size::Rest => end_limit.saturating_sub(start),
    };
    if size < MIB || start + size > end_limit {
        return Err(format!(
            "the layout needs more than the disk's {}: partition {} ({}) would end at {}",
            human(disk_size),
            i,
            spec.mount.as_deref().unwrap_or("swap"),
            human(start + size.max(MIB))
        ));
    }
    Ok((start, size))
}

/// The filesystem UUID (a volume id for vfat) of the plan's partition `i`.
fn fs_uuid(fs: FsKind, seed: &[u8], i: usize) -> String {
    if fs == FsKind::Vfat {
        derived_vfat_id(seed, &format!("fs-{i}"))
    } else {
        derived_uuid(seed, &format!("fs-{i}"))
    }
}

/// The partition type (a GPT GUID or an MBR type byte in hex) and, on GPT,
/// the partition's own GUID.
fn partition_type(
    table: TableKind,
    role: PartRole,
    fs: FsKind,
    seed: &[u8],
    i: usize,
) -> (String, Option<String>) {
    match table {
        TableKind::Gpt => (
            match (role, fs) {
                (PartRole::Esp, _) => GUID_ESP,
                (_, FsKind::Swap) => GUID_SWAP,
                _ => GUID_LINUX,
            }
            .to_string(),
            Some(derived_uuid(seed, &format!("part-{i}"))),
        ),
        TableKind::Mbr => (
            format!(
                "{:02x}",
                match (role, fs) {
                    (PartRole::Esp, _) => MBR_ESP,
                    (_, FsKind::Swap) => MBR_SWAP,
                    _ => MBR_LINUX,
                }
            ),
            None,
        ),
    }
}

/// The disk's identity: a GPT disk GUID or an MBR disk id.
fn disk_id(table: TableKind, seed: &[u8]) -> String {
    match table {
        TableKind::Gpt => derived_uuid(seed, "disk"),
        TableKind::Mbr => {
            let b = derive(seed, "disk");
            format!("{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
        }
    }
}

/// Bytes the layout needs at least (every fixed size, 1 MiB for "rest").
pub fn minimum_disk_size(layout: &Layout) -> u64 {
    let mut total = MIB + GPT_TAIL + MIB;
    if layout.table == TableKind::Gpt && layout.firmware.bios() {
        total += BIOS_GRUB_SIZE;
    }
    for p in &layout.partitions {
        total += match p.size.get() {
            Size::Bytes(b) => align_up(b),
            Size::Rest => MIB,
        };
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::size::{SizeSpec, GIB};
    use crate::plan::types::{Firmware, PartitionSpec};

    fn part(mount: Option<&str>, fs: FsKind, size: &str) -> PartitionSpec {
        PartitionSpec {
            mount: mount.map(str::to_string),
            fs,
            size: SizeSpec::new(size),
            label: None,
        }
    }

    fn layout(table: TableKind, fw: Firmware, parts: Vec<PartitionSpec>) -> Layout {
        Layout {
            table,
            firmware: fw,
            partitions: parts,
            wipe: false,
        }
    }

    #[test]
    fn gpt_bios_puts_bios_grub_first_and_fills_rest() {
        let l = layout(
            TableKind::Gpt,
            Firmware::Bios,
            vec![part(Some("/"), FsKind::Ext4, "rest")],
        );
        let r = resolve_layout(&l, 4 * GIB, b"seed").unwrap();
        assert_eq!(r.partitions.len(), 2);
        assert_eq!(r.partitions[0].role, PartRole::BiosGrub);
        assert_eq!(r.partitions[0].start, MIB);
        assert_eq!(r.partitions[0].size, MIB);
        assert_eq!(r.partitions[1].start, 2 * MIB);
        // GPT backup needs 33 sectors; the end is aligned down to 1 MiB.
        assert_eq!(r.partitions[1].start + r.partitions[1].size, 4 * GIB - MIB);
        assert_eq!(r.partitions[1].number, 2);
        assert!(r
            .partitions
            .iter()
            .all(|p| p.start % MIB == 0 && p.size % MIB == 0));
    }

    #[test]
    fn mbr_leaves_one_mib_gap_and_uses_whole_disk() {
        let l = layout(
            TableKind::Mbr,
            Firmware::Bios,
            vec![
                part(Some("/"), FsKind::Ext4, "3G"),
                part(None, FsKind::Swap, "rest"),
            ],
        );
        let r = resolve_layout(&l, 4 * GIB, b"seed").unwrap();
        assert_eq!(r.partitions[0].start, MIB);
        assert_eq!(r.partitions[0].number, 1);
        assert!(r.partitions[0].bootable);
        assert_eq!(r.partitions[0].type_id, "83");
        assert_eq!(r.partitions[1].type_id, "82");
        assert_eq!(r.partitions[1].start + r.partitions[1].size, 4 * GIB);
        assert_eq!(r.disk_id.len(), 8);
    }

    #[test]
    fn uefi_esp_and_both() {
        let l = layout(
            TableKind::Gpt,
            Firmware::Both,
            vec![
                part(Some("/boot/efi"), FsKind::Vfat, "256M"),
                part(Some("/"), FsKind::Xfs, "rest"),
            ],
        );
        let r = resolve_layout(&l, 2 * GIB, b"x").unwrap();
        assert_eq!(r.partitions.len(), 3);
        assert_eq!(r.partitions[1].role, PartRole::Esp);
        assert_eq!(r.partitions[1].type_id, GUID_ESP);
        assert_eq!(r.partitions[1].size, 256 * MIB);
        let vfat = r.partitions[1].fs_uuid.clone().unwrap();
        assert_eq!(vfat.len(), 9);
        assert_eq!(&vfat[4..5], "-");
        assert_eq!(r.root().number, 3);
        let order: Vec<_> = r
            .mount_order()
            .iter()
            .map(|p| p.mount.clone().unwrap())
            .collect();
        assert_eq!(order, vec!["/", "/boot/efi"]);
    }

    #[test]
    fn too_small_disk_is_an_error() {
        let l = layout(
            TableKind::Gpt,
            Firmware::Bios,
            vec![part(Some("/"), FsKind::Ext4, "10G")],
        );
        let e = resolve_layout(&l, GIB, b"s").unwrap_err();
        assert!(e.contains("more than the disk"), "{e}");
        assert!(minimum_disk_size(&l) > 10 * GIB);
    }

    #[test]
    fn uuids_are_reproducible_and_distinct() {
        let l = layout(
            TableKind::Gpt,
            Firmware::Bios,
            vec![
                part(Some("/boot"), FsKind::Ext4, "512M"),
                part(Some("/"), FsKind::Ext4, "rest"),
            ],
        );
        let a = resolve_layout(&l, 4 * GIB, b"one").unwrap();
        let b = resolve_layout(&l, 4 * GIB, b"one").unwrap();
        let c = resolve_layout(&l, 4 * GIB, b"two").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.partitions[1].fs_uuid, c.partitions[1].fs_uuid);
        assert_ne!(a.partitions[1].fs_uuid, a.partitions[2].fs_uuid);
        let u = a.partitions[2].fs_uuid.clone().unwrap();
        assert_eq!(uuid::Uuid::parse_str(&u).unwrap().get_version_num(), 4);
    }

    #[test]
    fn unaligned_sizes_round_up_to_mib() {
        let l = layout(
            TableKind::Mbr,
            Firmware::Bios,
            vec![part(Some("/"), FsKind::Ext4, "1000K")],
        );
        let r = resolve_layout(&l, GIB, b"s").unwrap();
        assert_eq!(r.partitions[0].size, MIB);
    }
}
