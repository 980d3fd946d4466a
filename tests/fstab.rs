//! fstab rewriting on realistic fstabs (tier 0: pure logic).

use netroot::plan::{resolve_layout, FsKind, Layout, PartitionSpec, ResolvedLayout, SizeSpec};
use netroot::plan::{Firmware, TableKind};
use netroot::system::fstab::{rewrite, Dropped, ADDED_COMMENT};
use std::collections::BTreeSet;

const GIB: u64 = 1 << 30;

fn layout(parts: &[(Option<&str>, FsKind, &str)]) -> ResolvedLayout {
    let l = Layout {
        table: TableKind::Gpt,
        firmware: Firmware::Bios,
        partitions: parts
            .iter()
            .map(|(m, fs, size)| PartitionSpec {
                mount: m.map(str::to_string),
                fs: *fs,
                size: SizeSpec::new(size),
                label: None,
            })
            .collect(),
        wipe: false,
    };
    resolve_layout(&l, 16 * GIB, b"fstab-tests").unwrap()
}

fn root_only(fs: FsKind) -> ResolvedLayout {
    layout(&[(Some("/"), fs, "rest")])
}

fn uuid(l: &ResolvedLayout, m: Option<&str>) -> String {
    l.partitions
        .iter()
        .find(|p| p.mount.as_deref() == m && p.fs.is_some())
        .unwrap()
        .fs_uuid
        .clone()
        .unwrap()
}

fn swap_uuid(l: &ResolvedLayout) -> String {
    l.partitions
        .iter()
        .find(|p| p.fs == Some(FsKind::Swap))
        .unwrap()
        .fs_uuid
        .clone()
        .unwrap()
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

/// Rewrite, and check the result is a fixpoint.
fn rw(
    old: &str,
    l: &ResolvedLayout,
    netdev: bool,
    known: &BTreeSet<String>,
) -> (String, Vec<Dropped>) {
    let (a, d) = rewrite(old, l, netdev, known);
    let (b, d2) = rewrite(&a, l, netdev, known);
    assert_eq!(a, b, "rewriting twice changed the result");
    assert!(d2.is_empty(), "second pass dropped {d2:?}");
    (a, d)
}

fn entries(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn row(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn debian_installer_classic_with_cdrom() {
    let old = "\
# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/sda1 during installation
UUID=0d7a5f3e-6d2b-4d8e-9a4e-1b2c3d4e5f60 /               ext4    errors=remount-ro 0       1
# swap was on /dev/sda5 during installation
UUID=9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b none            swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
";
    let l = root_only(FsKind::Ext4);
    let (new, dropped) = rw(old, &l, true, &none());
    let u = uuid(&l, Some("/"));
    assert!(new.starts_with("# /etc/fstab: static file system information.\n#\n"));
    assert!(new.contains("# / was on /dev/sda1 during installation\n"));
    let e = entries(&new);
    assert_eq!(e.len(), 2, "{new}");
    assert_eq!(
        e[0],
        row(&format!("UUID={u} / ext4 errors=remount-ro,_netdev 0 1"))
    );
    // The cdrom is noauto: harmless, kept as it was.
    assert_eq!(
        e[1],
        row("/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0")
    );
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].line.starts_with("UUID=9f1e2d3c"));
    assert!(dropped[0].reason.contains("swap"));
}

#[test]
fn test_rootfs_fstab_by_device_names() {
    // The fstab of tests/support/build-rootfs.sh.
    let old = "\
# /etc/fstab: static file system information.
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
/dev/sda1       /               ext4    errors=remount-ro 0     1
/dev/sda2       none            swap    sw              0       0
proc            /proc           proc    defaults        0       0
tmpfs           /tmp            tmpfs   defaults,nosuid 0       0
";
    let l = layout(&[(Some("/"), FsKind::Ext4, "rest")]);
    let (new, dropped) = rw(old, &l, true, &none());
    let e = entries(&new);
    assert_eq!(
        e,
        vec![
            row(&format!(
                "UUID={} / ext4 errors=remount-ro,_netdev 0 1",
                uuid(&l, Some("/"))
            )),
            row("proc /proc proc defaults 0 0"),
            row("tmpfs /tmp tmpfs defaults,nosuid 0 0"),
        ]
    );
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].line,
        "/dev/sda2       none            swap    sw              0       0"
    );
}

#[test]
fn ubuntu_uefi_with_swapfile() {
    let old = "\
# /etc/fstab: static file system information.
UUID=3b8e5c1a-2f4d-4e6b-8a9c-7d0e1f2a3b4c /               ext4    errors=remount-ro 0       1
# /boot/efi was on /dev/nvme0n1p1 during installation
UUID=1A2B-3C4D  /boot/efi       vfat    umask=0077      0       1
/swapfile                                 none            swap    sw              0       0
";
    let l = layout(&[
        (Some("/boot/efi"), FsKind::Vfat, "256M"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let (new, dropped) = rw(old, &l, true, &none());
    let efi = uuid(&l, Some("/boot/efi"));
    assert!(efi.len() == 9 && efi.contains('-'), "vfat id {efi}");
    let e = entries(&new);
    assert_eq!(
        e[0],
        row(&format!(
            "UUID={} / ext4 errors=remount-ro,_netdev 0 1",
            uuid(&l, Some("/"))
        ))
    );
    assert_eq!(
        e[1],
        row(&format!("UUID={efi} /boot/efi vfat umask=0077,_netdev 0 1"))
    );
    assert_eq!(e.len(), 2);
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].line.starts_with("/swapfile"));
    assert!(dropped[0].reason.contains("swap file"));
}

#[test]
fn labels_and_a_separate_home_folded_into_root() {
    let old = "\
LABEL=rootfs  /      ext4  defaults,noatime  0 1
LABEL=boot    /boot  ext2  defaults          0 2
LABEL=home    /home  ext4  defaults          0 2
LABEL=swap    swap   swap  defaults          0 0
";
    let l = layout(&[
        (Some("/boot"), FsKind::Ext4, "512M"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let (new, dropped) = rw(old, &l, false, &none());
    let e = entries(&new);
    assert_eq!(
        e,
        vec![
            row(&format!(
                "UUID={} / ext4 defaults,noatime 0 1",
                uuid(&l, Some("/"))
            )),
            // ext2 → ext4: the old options do not carry over.
            row(&format!(
                "UUID={} /boot ext4 defaults 0 2",
                uuid(&l, Some("/boot"))
            )),
        ]
    );
    let lines: Vec<&str> = dropped.iter().map(|d| d.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "LABEL=home    /home  ext4  defaults          0 2",
            "LABEL=swap    swap   swap  defaults          0 0"
        ]
    );
    assert!(dropped[0].reason.contains("nofail"), "says how to keep it");
}

#[test]
fn partuuid_boot_root_with_planned_swap() {
    // Raspberry Pi OS style, plus a swap partition.
    let old = "\
proc            /proc           proc    defaults          0       0
PARTUUID=6c586e13-01  /boot           vfat    defaults          0       2
PARTUUID=6c586e13-02  /               ext4    defaults,noatime  0       1
PARTUUID=6c586e13-03  none            swap    sw                0       0
# a swapfile is not a swap partition, don't use swapon|off for that
";
    let l = layout(&[
        (Some("/boot"), FsKind::Vfat, "256M"),
        (None, FsKind::Swap, "1G"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let (new, dropped) = rw(old, &l, true, &none());
    assert!(dropped.is_empty(), "{dropped:?}");
    let e = entries(&new);
    assert_eq!(
        e,
        vec![
            row("proc /proc proc defaults 0 0"),
            row(&format!(
                "UUID={} /boot vfat defaults,_netdev 0 2",
                uuid(&l, Some("/boot"))
            )),
            row(&format!(
                "UUID={} / ext4 defaults,noatime,_netdev 0 1",
                uuid(&l, Some("/"))
            )),
            row(&format!("UUID={} none swap sw 0 0", swap_uuid(&l))),
        ]
    );
    assert!(new.ends_with("swapon|off for that\n"));
}

#[test]
fn bind_mounts_tmpfs_and_network_filesystems_are_kept() {
    let old = "\
/dev/vda1 / ext4 defaults 0 1
/srv/data/www   /var/www   none   bind   0 0
/dev/shm        /run/shm   none   rbind  0 0
tmpfs           /var/tmp   tmpfs  size=1G,mode=1777 0 0
nas:/export/home /home     nfs4   _netdev,auto 0 0
//nas/media     /mnt/media cifs   credentials=/etc/cifs.cred,uid=1000 0 0
";
    let l = root_only(FsKind::Ext4);
    let (new, dropped) = rw(old, &l, true, &none());
    assert!(dropped.is_empty(), "{dropped:?}");
    let e = entries(&new);
    assert_eq!(e.len(), 6);
    assert_eq!(
        e[0],
        row(&format!(
            "UUID={} / ext4 defaults,_netdev 0 1",
            uuid(&l, Some("/"))
        ))
    );
    for (i, l) in old.lines().enumerate().skip(1) {
        assert_eq!(new.lines().nth(i), Some(l), "line {i} kept verbatim");
    }
}

#[test]
fn nofail_and_noauto_disks_kept_unless_known_to_be_the_old_disk() {
    let old = "\
UUID=aaaaaaaa-0000-0000-0000-000000000001 / xfs defaults 0 0
UUID=aaaaaaaa-0000-0000-0000-000000000002 /data ext4 defaults,nofail 0 2
/dev/sdb1 /mnt/usb vfat noauto,user 0 0
/dev/sda3 /srv ext4 nofail,x-systemd.device-timeout=5 0 2
/dev/disk/by-id/ata-X-part4 /scratch ext4 defaults 0 2
";
    let l = root_only(FsKind::Xfs);
    let known: BTreeSet<String> = ["/dev/sda3".to_string()].into();
    let (new, dropped) = rw(old, &l, true, &known);
    let e = entries(&new);
    assert_eq!(
        e[0],
        row(&format!(
            "UUID={} / xfs defaults,_netdev 0 0",
            uuid(&l, Some("/"))
        ))
    );
    assert_eq!(
        e[1],
        row("UUID=aaaaaaaa-0000-0000-0000-000000000002 /data ext4 defaults,nofail 0 2")
    );
    assert_eq!(e[2], row("/dev/sdb1 /mnt/usb vfat noauto,user 0 0"));
    assert_eq!(e.len(), 3);
    assert_eq!(dropped.len(), 2);
    assert!(
        dropped[0].line.starts_with("/dev/sda3") && dropped[0].reason.contains("old local disk")
    );
    assert!(dropped[1].line.starts_with("/dev/disk/by-id/"));
}

#[test]
fn ext4_to_xfs_resets_ext4_only_options() {
    let old = "/dev/sda1 / ext4 errors=remount-ro,commit=60 0 1\n";
    let l = root_only(FsKind::Xfs);
    let (new, _) = rw(old, &l, true, &none());
    assert_eq!(
        entries(&new),
        vec![row(&format!(
            "UUID={} / xfs defaults,_netdev 0 1",
            uuid(&l, Some("/"))
        ))]
    );
}

#[test]
fn debootstrap_unconfigured_fstab_gets_every_planned_entry() {
    let old = "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n";
    let l = layout(&[
        (Some("/boot/efi"), FsKind::Vfat, "256M"),
        (Some("/boot"), FsKind::Ext4, "512M"),
        (None, FsKind::Swap, "512M"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let (new, dropped) = rw(old, &l, true, &none());
    assert!(dropped.is_empty());
    let expect = format!(
        "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n\n{ADDED_COMMENT}\n\
         UUID={}\t/\text4\terrors=remount-ro,_netdev\t0\t1\n\
         UUID={}\t/boot\text4\tdefaults,_netdev\t0\t2\n\
         UUID={}\t/boot/efi\tvfat\tumask=0077,_netdev\t0\t1\n\
         UUID={}\tnone\tswap\tsw\t0\t0\n",
        uuid(&l, Some("/")),
        uuid(&l, Some("/boot")),
        uuid(&l, Some("/boot/efi")),
        swap_uuid(&l)
    );
    assert_eq!(new, expect);
    // And from nothing at all.
    let (new, _) = rw("", &l, false, &none());
    assert!(new.starts_with(ADDED_COMMENT));
    assert_eq!(entries(&new).len(), 4);
}

#[test]
fn duplicates_trailing_slashes_and_missing_fields() {
    let old = "\
/dev/sda1 / ext4
/dev/sda9 / ext4 defaults 0 1
/dev/sda2 /boot/ ext4 defaults 0 2
garbage-line
";
    let l = layout(&[
        (Some("/boot"), FsKind::Ext4, "512M"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let (new, dropped) = rw(old, &l, true, &none());
    let e = entries(&new);
    assert_eq!(
        e[0],
        row(&format!(
            "UUID={} / ext4 defaults,_netdev 0 0",
            uuid(&l, Some("/"))
        ))
    );
    assert_eq!(
        e[1],
        row(&format!(
            "UUID={} /boot ext4 defaults,_netdev 0 2",
            uuid(&l, Some("/boot"))
        ))
    );
    assert_eq!(e[2], row("garbage-line"), "unparsable lines are left alone");
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].reason.contains("second entry for /"));
}

#[test]
fn escaped_mount_points_and_no_final_newline() {
    let old = "UUID=x / btrfs subvol=@,compress=zstd 0 0\nUUID=x /home btrfs subvol=@home 0 0\n/dev/sdc1 /media/My\\040Disk ntfs-3g nofail 0 0";
    let l = root_only(FsKind::Btrfs);
    let (new, dropped) = rw(old, &l, true, &none());
    let e = entries(&new);
    assert_eq!(
        e[0],
        row(&format!(
            "UUID={} / btrfs subvol=@,compress=zstd,_netdev 0 0",
            uuid(&l, Some("/"))
        ))
    );
    assert_eq!(e[1], row("/dev/sdc1 /media/My\\040Disk ntfs-3g nofail 0 0"));
    assert!(new.ends_with('\n'));
    assert_eq!(
        dropped.len(),
        1,
        "the old @home subvolume entry is on the old disk"
    );
}

#[test]
fn already_rewritten_fstab_is_unchanged_byte_for_byte() {
    let l = layout(&[
        (None, FsKind::Swap, "1G"),
        (Some("/"), FsKind::Ext4, "rest"),
    ]);
    let old = format!(
        "# mine\nUUID={}  /  ext4  errors=remount-ro,_netdev  0  1\nUUID={} none swap sw 0 0\n",
        uuid(&l, Some("/")),
        swap_uuid(&l)
    );
    let (new, dropped) = rw(&old, &l, true, &none());
    assert_eq!(new, old);
    assert!(dropped.is_empty());
}
