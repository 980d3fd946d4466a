//! Root tier: the bootloader step for `firmware: both` on a GPT loop image
//! prepared by hand. This host's kernel has no vfat, so the ESP (a real FAT
//! filesystem made by mkfs.vfat) is mounted with fusefat (read-write, its
//! source named after the partition node so grub-install sees a FAT
//! partition). Checked: EFI/BOOT/BOOTX64.EFI in the ESP (read back after a
//! remount), GRUB's boot code in the MBR and core image in the bios_grub
//! partition, grub.cfg's root=UUID, and a probe that says done.

mod common;

use common::{sh, Scratch};
use netroot::disk::TargetDisk;
use netroot::engine::{Ctx, Probe, RunOptions, Step};
use netroot::plan::{parse_plan, resolve_layout, FsKind, PartRole};
use netroot::steps::bootloader::Bootloader;
use netroot::ui::progress::NullSink;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Undo in reverse whatever was set up, also when an assertion fails.
struct Undo(Vec<String>);
impl Drop for Undo {
    fn drop(&mut self) {
        for c in self.0.iter().rev() {
            let _ = Command::new("bash").args(["-c", c]).status();
        }
    }
}

#[test]
fn uefi_and_bios_on_one_gpt_disk() {
    if !common::require_root() {
        return;
    }
    assert!(
        have("fusefat"),
        "this test needs fusefat (apt-get install fusefat; see .ci/deps)"
    );
    common::private_mounts();
    let src = common::rootfs();
    let s = Scratch::new("boot-uefi");
    let img = s.join("disk.img");
    let size: u64 = 3 << 30;
    let plan_text = format!(
        r#"{{"version": 1, "source": {{"type": "directory", "path": "{}"}},
  "target": {{"transport": "iscsi", "portal": "10.0.2.2", "iqn": "iqn.2024-01.test.netroot:uefi", "device": "{}", "size": "3G"}},
  "layout": {{"table": "gpt", "firmware": "both", "partitions": [
      {{"mount": "/boot/efi", "fs": "vfat", "size": "100M"}}, {{"mount": "/", "fs": "ext4", "size": "rest"}}]}},
  "boot": {{"profile": "debian", "serial_console": "ttyS0,115200n8"}}}}"#,
        src.display(),
        img.display()
    );
    let plan = parse_plan(&plan_text).unwrap();
    let layout = resolve_layout(&plan.layout, size, b"boot-uefi-test").unwrap();
    sh(&format!("truncate -s {size} {}", img.display()));
    netroot::steps::partition::write_table(&img, &layout).unwrap();
    let loopdev = sh(&format!("losetup -f -P --show {}", img.display()))
        .trim()
        .to_string();
    let mut undo = Undo(vec![format!("losetup -d {loopdev}")]);
    let esp = layout
        .partitions
        .iter()
        .find(|p| p.role == PartRole::Esp)
        .unwrap();
    let rootp = layout.root();
    let node = |n: u32| format!("{loopdev}p{n}");
    for p in &layout.partitions {
        for _ in 0..100 {
            if Path::new(&node(p.number)).exists() {
                break;
            }
            let _ = Command::new("partx").args(["-u", &loopdev]).status();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert_eq!(esp.fs, Some(FsKind::Vfat));
    let vid = esp.fs_uuid.clone().unwrap().replace('-', "");
    sh(&format!(
        "mkfs.vfat -i {vid} {} >/dev/null",
        node(esp.number)
    ));
    let root_uuid = rootp.fs_uuid.clone().unwrap();
    sh(&format!(
        "mkfs.ext4 -q -F -U {root_uuid} {}",
        node(rootp.number)
    ));
    let root = s.join("root");
    std::fs::create_dir_all(&root).unwrap();
    sh(&format!("mount {} {}", node(rootp.number), root.display()));
    undo.0.push(format!("umount -R {}", root.display()));
    sh(&format!(
        "rsync -aHAX {}/ {}/",
        src.display(),
        root.display()
    ));
    let efi = root.join("boot/efi");
    std::fs::create_dir_all(&efi).unwrap();
    let fuse = |n: &str| {
        sh(&format!("fusefat -o rw+,fsname={n} {n} {}", efi.display()));
    };
    fuse(&node(esp.number));
    undo.0.push(format!("fusermount -u {}", efi.display()));

    let opts = RunOptions {
        state_dir: s.join("state"),
        work_dir: s.join("work"),
        ..RunOptions::default()
    };
    let mut ctx = Ctx::new(plan, opts, Arc::new(NullSink));
    ctx.disk = Some(TargetDisk {
        node: loopdev.clone().into(),
        size,
        identity: img.display().to_string(),
        model: None,
        serial: None,
        image: Some(img.clone()),
        attached: true,
    });
    ctx.layout = Some(layout.clone());
    ctx.root = Some(root.clone());
    let step = Bootloader;
    assert!(matches!(step.probe(&ctx).unwrap(), Probe::Todo(_)));
    step.apply(&mut ctx).unwrap();
    match step.probe(&ctx).unwrap() {
        Probe::Done(_) => {}
        Probe::Todo(why) => panic!("the bootloader probe says: {why}"),
    }

    // The ESP, read back after a remount: the removable-media path.
    sh(&format!("fusermount -u {}", efi.display()));
    fuse(&node(esp.number));
    let bootx64 = std::fs::read(efi.join("EFI/BOOT/BOOTX64.EFI")).expect("EFI/BOOT/BOOTX64.EFI");
    assert_eq!(&bootx64[..2], b"MZ", "BOOTX64.EFI is not a PE image");
    // BIOS: boot code in the MBR, core image in the bios_grub partition.
    let head = sh(&format!(
        "dd if={loopdev} bs=512 count=1 status=none | od -An -c | tr -d ' \\n'"
    ));
    assert!(
        head.contains("GRUB") && head.contains("Geom"),
        "no GRUB boot code in the MBR"
    );
    let bios_grub = layout
        .partitions
        .iter()
        .find(|p| p.role == PartRole::BiosGrub)
        .unwrap();
    let core = root.join("boot/grub/i386-pc/core.img");
    let core_len = std::fs::metadata(&core).unwrap().len();
    let on_disk = sh(&format!(
        "dd if={loopdev} bs=512 skip={} count={core_len} status=none iflag=skip_bytes,count_bytes | tail -c +1025 | sha256sum",
        bios_grub.start
    ));
    assert_eq!(
        on_disk,
        sh(&format!("tail -c +1025 {} | sha256sum", core.display()))
    );
    let cfg = std::fs::read_to_string(root.join("boot/grub/grub.cfg")).unwrap();
    assert!(cfg.contains(&format!("root=UUID={root_uuid}")), "{cfg}");
    assert!(!cfg.contains("root=/dev/"), "{cfg}");
    // The source is untouched by construction (copied), and no chroot mount is left.
    let mounts = sh("findmnt -rn -o TARGET");
    for d in ["dev", "proc", "sys", "run"] {
        let m = root.join(d).display().to_string();
        assert!(!mounts.lines().any(|l| l == m), "{m} is still mounted");
    }
    drop(undo);
}
