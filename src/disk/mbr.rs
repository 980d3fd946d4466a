//! Writing an MBR (DOS) table exactly as the resolved layout says (disk
//! signature, type bytes, boot flag), with the `mbrman` crate.

use crate::plan::ResolvedLayout;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Seek, Write};

/// The 4 signature bytes as stored on disk for an id printed "9ee524b0".
pub fn signature_bytes(disk_id: &str) -> Result<[u8; 4]> {
    let v = u32::from_str_radix(disk_id.trim_start_matches("0x"), 16)
        .map_err(|e| anyhow!("MBR disk id {disk_id:?} is not 8 hex digits: {e}"))?;
    Ok(v.to_le_bytes())
}

/// Write an MBR for `layout` on `dev` (primary partitions only).
pub fn write<D: Write + Seek>(dev: &mut D, layout: &ResolvedLayout) -> Result<()> {
    if layout.partitions.len() > 4 {
        bail!("an MBR holds at most 4 primary partitions");
    }
    let mut mbr = mbrman::MBR::new_from(dev, 512, signature_bytes(&layout.disk_id)?)
        .context("preparing the MBR")?;
    for p in &layout.partitions {
        let sys = u8::from_str_radix(&p.type_id, 16)
            .map_err(|e| anyhow!("MBR type {:?}: {e}", p.type_id))?;
        let too_big = || {
            anyhow!(
                "partition {} does not fit in an MBR (2 TiB limit)",
                p.number
            )
        };
        mbr[p.number as usize] = mbrman::MBRPartitionEntry {
            boot: if p.bootable {
                mbrman::BOOT_ACTIVE
            } else {
                mbrman::BOOT_INACTIVE
            },
            first_chs: mbrman::CHS::empty(),
            sys,
            last_chs: mbrman::CHS::empty(),
            starting_lba: u32::try_from(p.start_sector()).map_err(|_| too_big())?,
            sectors: u32::try_from(p.sectors()).map_err(|_| too_big())?,
        };
    }
    mbr.write_into(dev).context("writing the MBR")?;
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
            table: TableKind::Mbr,
            firmware: Firmware::Bios,
            partitions: vec![
                PartitionSpec {
                    mount: Some("/".into()),
                    fs: FsKind::Ext4,
                    size: SizeSpec::new("100M"),
                    label: None,
                },
                PartitionSpec {
                    mount: None,
                    fs: FsKind::Swap,
                    size: SizeSpec::new("rest"),
                    label: None,
                },
            ],
            wipe: false,
        };
        let r = resolve_layout(&l, 128 * MIB, b"t").unwrap();
        let mut dev = Cursor::new(vec![0u8; (128 * MIB) as usize]);
        write(&mut dev, &r).unwrap();
        let raw = dev.get_ref();
        assert_eq!(&raw[510..512], &[0x55, 0xaa]);
        assert_eq!(&raw[440..444], &signature_bytes(&r.disk_id).unwrap());
        let m = mbrman::MBR::read_from(&mut dev, 512).unwrap();
        assert_eq!(m[1].starting_lba as u64 * 512, MIB);
        assert_eq!(m[1].sys, 0x83);
        assert!(m[1].is_active());
        assert_eq!(m[2].sys, 0x82);
        assert_eq!((m[2].starting_lba + m[2].sectors) as u64 * 512, 128 * MIB);
        assert!(m[3].is_unused());
    }

    #[test]
    fn signature_is_little_endian() {
        assert_eq!(
            signature_bytes("9ee524b0").unwrap(),
            [0xb0, 0x24, 0xe5, 0x9e]
        );
    }
}
