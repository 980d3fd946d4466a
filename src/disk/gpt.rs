//! Writing a GPT exactly as the resolved layout says (disk GUID, partition
//! GUIDs, type GUIDs, names), with the `gpt` crate.

use crate::plan::{PartRole, ResolvedLayout, ResolvedPartition};
use anyhow::{anyhow, Context, Result};
use gpt::disk::LogicalBlockSize;
use gpt::partition::Partition;
use gpt::DiskDevice;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The GPT partition name netroot gives a partition.
pub fn part_name(p: &ResolvedPartition) -> String {
    match p.role {
        PartRole::BiosGrub => "bios_grub".to_string(),
        PartRole::Esp => "EFI System".to_string(),
        PartRole::Data => match (p.mount.as_deref(), &p.label) {
            (_, Some(l)) => l.clone(),
            (Some("/"), None) => "root".to_string(),
            (Some(m), None) => m.trim_start_matches('/').replace('/', "-"),
            (None, None) => "swap".to_string(),
        },
    }
}

fn parse_uuid(s: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| anyhow!("{what} {s:?} is not a GUID: {e}"))
}

/// Write a protective MBR and a GPT (primary and backup) for `layout` on
/// `dev`, replacing whatever table was there.
pub fn write<D: DiskDevice>(dev: &mut D, layout: &ResolvedLayout) -> Result<()> {
    let sectors = layout.disk_size / 512;
    let pmbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(sectors.saturating_sub(1)).unwrap_or(u32::MAX),
    );
    pmbr.overwrite_lba0(dev)
        .context("writing the protective MBR")?;
    let mut parts = BTreeMap::new();
    for p in &layout.partitions {
        let type_guid = parse_uuid(&p.type_id, "partition type")?;
        let part_guid = parse_uuid(p.part_guid.as_deref().unwrap_or_default(), "partition GUID")?;
        parts.insert(
            p.number,
            Partition {
                part_type_guid: gpt::partition_types::Type::from(type_guid),
                part_guid,
                first_lba: p.start_sector(),
                last_lba: p.start_sector() + p.sectors() - 1,
                flags: 0,
                name: part_name(p),
            },
        );
    }
    let disk_guid = parse_uuid(&layout.disk_id, "disk GUID")?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(&mut *dev, Some(disk_guid))
        .context("preparing the GPT headers")?;
    disk.update_partitions(parts)
        .context("placing the partitions in the GPT")?;
    disk.write().context("writing the GPT")?;
    dev.flush().context("flushing the partition table")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::size::{SizeSpec, MIB};
    use crate::plan::{resolve_layout, Firmware, FsKind, Layout, PartitionSpec, TableKind};
    use std::io::Cursor;

    #[test]
    fn written_table_reads_back_as_planned() {
        let l = Layout {
            table: TableKind::Gpt,
            firmware: Firmware::Both,
            partitions: vec![
                PartitionSpec {
                    mount: Some("/boot/efi".into()),
                    fs: FsKind::Vfat,
                    size: SizeSpec::new("64M"),
                    label: None,
                },
                PartitionSpec {
                    mount: Some("/".into()),
                    fs: FsKind::Ext4,
                    size: SizeSpec::new("rest"),
                    label: None,
                },
            ],
            wipe: false,
        };
        let r = resolve_layout(&l, 128 * MIB, b"t").unwrap();
        let mut dev = Cursor::new(vec![0u8; (128 * MIB) as usize]);
        write(&mut dev, &r).unwrap();
        let disk = gpt::GptConfig::new()
            .writable(false)
            .open_from_device(&mut dev)
            .unwrap();
        assert_eq!(disk.guid().to_string(), r.disk_id);
        let ps = disk.partitions();
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[&1].first_lba, MIB / 512);
        assert_eq!(ps[&1].name, "bios_grub");
        assert_eq!(
            ps[&2].part_type_guid.guid.to_string().to_uppercase(),
            crate::plan::layout::GUID_ESP
        );
        assert_eq!(
            ps[&3].part_guid.to_string(),
            r.partitions[2].part_guid.clone().unwrap()
        );
        assert_eq!(
            (ps[&3].last_lba + 1) * 512,
            r.partitions[2].start + r.partitions[2].size
        );
    }
}
