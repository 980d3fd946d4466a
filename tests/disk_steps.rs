//! Root tier: discover, preflight, partition, format and mount on loop
//! images, checked with sfdisk and blkid; re-runs, refusals and
//! kill-and-resume.

mod common;

use common::{detach_loops_below, private_mounts, require_root, sha256_file, Scratch};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;

/// A scratch dir with a plan, state and work dirs.
struct Env {
    s: Scratch,
}

impl Env {
    fn new(name: &str) -> Env {
        private_mounts();
        Env {
            s: Scratch::new(&format!("disk-{name}")),
        }
    }
    fn img(&self) -> PathBuf {
        self.s.join("disk.img")
    }
    /// Write a plan whose target is the image and return its path.
    fn plan(&self, layout: Value, size: Option<&str>) -> PathBuf {
        self.plan_with(layout, size, &self.img(), self.source())
    }
    fn source(&self) -> Value {
        let src = self.s.join("src");
        common::tiny_source(&src);
        std::fs::write(src.join("hello"), "hello\n").unwrap();
        json!({"type": "directory", "path": src})
    }
    fn plan_with(&self, layout: Value, size: Option<&str>, dev: &Path, source: Value) -> PathBuf {
        let mut target = json!({"transport": "aoe", "shelf": 7, "slot": 1, "device": dev});
        if let Some(s) = size {
            target["size"] = json!(s);
        }
        let plan = json!({"version": 1, "source": source, "target": target, "layout": layout});
        let p = self.s.join("plan.json");
        std::fs::write(&p, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
        p
    }
    fn envs(&self) -> Vec<(String, String)> {
        vec![
            (
                "NETROOT_STATE_DIR".into(),
                self.s.join("state").display().to_string(),
            ),
            (
                "NETROOT_WORK_DIR".into(),
                self.s.join("work").display().to_string(),
            ),
        ]
    }
    /// Run netroot with extra environment; returns (code, stdout, stderr).
    fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
        let envs = self.envs();
        let mut all: Vec<(&str, &str)> =
            envs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        all.extend_from_slice(extra);
        common::netroot(args, &all)
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(args, &[])
    }
    /// `migrate --yes --format json --stop-after STEP`, expecting success; the report.
    fn migrate(&self, plan: &Path, stop: &str) -> Value {
        let (code, out, err) = self.run(&[
            "migrate",
            "--plan",
            plan.to_str().unwrap(),
            "--yes",
            "--format",
            "json",
            "--stop-after",
            stop,
        ]);
        assert_eq!(code, 0, "netroot failed:\n{err}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON: {e}\n{out}"))
    }
}

fn status(report: &Value, step: &str) -> String {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap()
}

/// `sfdisk --json IMAGE` (works on the file itself).
fn sfdisk(img: &Path) -> Value {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sfdisk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["partitiontable"].clone()
}

/// `blkid -p` of the byte range of a partition inside the image.
fn blkid_at(img: &Path, start: u64, size: u64) -> std::collections::BTreeMap<String, String> {
    let out = Command::new("blkid")
        .args([
            "-p",
            "-o",
            "export",
            "-O",
            &start.to_string(),
            "-S",
            &size.to_string(),
        ])
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Check the image against the report's layout: the table with sfdisk, every
/// filesystem with blkid (planned TYPE and UUID).
fn check_image(img: &Path, report: &Value) {
    let layout = &report["layout"];
    let t = sfdisk(img);
    let gpt = layout["table"] == "gpt";
    assert_eq!(t["label"], if gpt { "gpt" } else { "dos" });
    let id = t["id"].as_str().unwrap().to_lowercase();
    let want_id = layout["disk_id"].as_str().unwrap().to_lowercase();
    assert_eq!(id.trim_start_matches("0x"), want_id);
    let parts = layout["partitions"].as_array().unwrap();
    let found = t["partitions"].as_array().unwrap();
    assert_eq!(found.len(), parts.len(), "{t:#}");
    for (p, f) in parts.iter().zip(found) {
        let start = p["start"].as_u64().unwrap();
        let size = p["size"].as_u64().unwrap();
        assert_eq!(f["start"].as_u64().unwrap() * 512, start, "{f}");
        assert_eq!(f["size"].as_u64().unwrap() * 512, size, "{f}");
        assert_eq!(start % MIB, 0);
        assert_eq!(
            f["type"].as_str().unwrap().to_lowercase(),
            p["type_id"].as_str().unwrap().to_lowercase()
        );
        if gpt {
            assert_eq!(
                f["uuid"].as_str().unwrap().to_lowercase(),
                p["part_guid"].as_str().unwrap().to_lowercase()
            );
        } else {
            assert_eq!(
                f["bootable"].as_bool().unwrap_or(false),
                p["bootable"].as_bool().unwrap()
            );
        }
        if let Some(fs) = p["fs"].as_str() {
            let tags = blkid_at(img, start, size);
            assert_eq!(
                tags.get("TYPE").map(String::as_str),
                Some(fs),
                "p{}: {tags:?}",
                p["number"]
            );
            assert_eq!(
                tags.get("UUID").map(|u| u.to_lowercase()),
                p["fs_uuid"].as_str().map(|u| u.to_lowercase()),
                "p{}",
                p["number"]
            );
        }
    }
}

/// sha256 of the partition table areas: the first MiB and the last 33 sectors.
fn table_bytes_sha(img: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).unwrap();
    let len = f.metadata().unwrap().len();
    let mut head = vec![0u8; MIB as usize];
    f.read_exact(&mut head).unwrap();
    let mut tail = vec![0u8; 33 * 512];
    f.seek(SeekFrom::Start(len - 33 * 512)).unwrap();
    f.read_exact(&mut tail).unwrap();
    let mut h = Sha256::new();
    h.update(&head);
    h.update(&tail);
    hex::encode(h.finalize())
}

fn bios_layout() -> Value {
    json!({"table": "gpt", "firmware": "bios", "partitions": [
        {"mount": "/boot", "fs": "ext4", "size": "64M", "label": "boot"},
        {"fs": "swap", "size": "32M"},
        {"mount": "/", "fs": "ext4", "size": "rest"}
    ]})
}

#[test]
fn gpt_bios_partition_format_mount_then_rerun_is_done() {
    if !require_root() {
        return;
    }
    let e = Env::new("bios");
    let plan = e.plan(bios_layout(), Some("512M"));
    let r = e.migrate(&plan, "mount");
    for s in ["partition", "format", "mount"] {
        assert_eq!(status(&r, s), "ran", "{s}");
    }
    check_image(&e.img(), &r);
    let parts = r["layout"]["partitions"].as_array().unwrap();
    assert_eq!(parts[0]["role"], "bios_grub");
    assert_eq!(parts[0]["start"], MIB);
    assert_eq!(parts[0]["size"], MIB);
    assert_eq!(
        blkid_at(
            &e.img(),
            parts[1]["start"].as_u64().unwrap(),
            parts[1]["size"].as_u64().unwrap()
        )["LABEL"],
        "boot"
    );
    // The run detached its loop device and unmounted everything.
    let l = Command::new("losetup")
        .arg("-j")
        .arg(e.img())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&l.stdout).trim().is_empty());

    let before = table_bytes_sha(&e.img());
    let r2 = e.migrate(&plan, "mount");
    assert_eq!(status(&r2, "partition"), "done");
    assert_eq!(status(&r2, "format"), "done");
    assert_eq!(table_bytes_sha(&e.img()), before);
    check_image(&e.img(), &r2);
}

#[test]
fn gpt_uefi_esp_vfat_and_xfs_root() {
    if !require_root() {
        return;
    }
    let e = Env::new("uefi");
    let plan = e.plan(
        json!({"table": "gpt", "firmware": "uefi", "partitions": [
            {"mount": "/boot/efi", "fs": "vfat", "size": "64M", "label": "EFI"},
            {"mount": "/", "fs": "xfs", "size": "rest"}
        ]}),
        Some("1G"),
    );
    // This host's kernel has no vfat, so stop before mounting.
    let r = e.migrate(&plan, "format");
    check_image(&e.img(), &r);
    let p = &r["layout"]["partitions"];
    assert_eq!(p[0]["role"], "esp");
    assert_eq!(p[0]["type_id"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(p[0]["start"], MIB);
    let uuid = p[0]["fs_uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 9, "vfat volume id {uuid}");
}

#[test]
fn gpt_both_bios_grub_esp_and_btrfs() {
    if !require_root() {
        return;
    }
    let e = Env::new("both");
    let plan = e.plan(
        json!({"table": "gpt", "firmware": "both", "partitions": [
            {"mount": "/boot/efi", "fs": "vfat", "size": "64M"},
            {"mount": "/", "fs": "btrfs", "size": "rest", "label": "root"}
        ]}),
        Some("1G"),
    );
    let r = e.migrate(&plan, "format");
    check_image(&e.img(), &r);
    let p = r["layout"]["partitions"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[0]["role"], "bios_grub");
    assert_eq!(p[0]["size"], MIB);
    assert_eq!(p[1]["role"], "esp");
    assert_eq!(p[2]["fs"], "btrfs");
}

#[test]
fn mbr_with_gap_boot_flag_and_swap() {
    if !require_root() {
        return;
    }
    let e = Env::new("mbr");
    let plan = e.plan(
        json!({"table": "mbr", "firmware": "bios", "partitions": [
            {"mount": "/", "fs": "ext4", "size": "768M"},
            {"fs": "swap", "size": "rest"}
        ]}),
        Some("1G"),
    );
    let r = e.migrate(&plan, "mount");
    check_image(&e.img(), &r);
    let t = sfdisk(&e.img());
    let p = t["partitions"].as_array().unwrap();
    assert_eq!(p[0]["start"], 2048, "1 MiB gap before the first partition");
    assert_eq!(p[0]["type"], "83");
    assert_eq!(p[0]["bootable"], true);
    assert_eq!(p[1]["type"], "82");
    assert_eq!(
        (p[1]["start"].as_u64().unwrap() + p[1]["size"].as_u64().unwrap()) * 512,
        1 << 30
    );
    let r2 = e.migrate(&plan, "mount");
    assert_eq!(status(&r2, "partition"), "done");
    assert_eq!(status(&r2, "format"), "done");
}

#[test]
fn different_table_is_refused_without_wipe_and_replaced_with_it() {
    if !require_root() {
        return;
    }
    let e = Env::new("wipe");
    // Somebody else's disk: an MBR with one partition.
    let f = std::fs::File::create(e.img()).unwrap();
    f.set_len(512 * MIB).unwrap();
    drop(f);
    let mut c = Command::new("sfdisk")
        .arg("-q")
        .arg(e.img())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(b"label: dos\n,100M,83\n")
        .unwrap();
    assert!(c.wait().unwrap().success());
    let sha = sha256_file(&e.img());

    let mut layout = bios_layout();
    let plan = e.plan(layout.clone(), None);
    let (code, out, err) = e.run(&[
        "migrate",
        "--plan",
        plan.to_str().unwrap(),
        "--yes",
        "--stop-after",
        "mount",
    ]);
    assert_eq!(code, 3, "{err}\n{out}");
    assert!(err.contains("has a different partition table"), "{err}");
    assert!(err.contains("set layout.wipe to true"), "{err}");
    assert_eq!(
        sha256_file(&e.img()),
        sha,
        "the refused run changed the image"
    );

    layout["wipe"] = json!(true);
    let plan = e.plan(layout, None);
    // The refused run's journal belongs to the old plan.
    std::fs::remove_dir_all(e.s.join("state")).unwrap();
    let r = e.migrate(&plan, "mount");
    assert_eq!(status(&r, "partition"), "ran");
    check_image(&e.img(), &r);
}

/// Run expecting a refusal (exit 3) whose message contains `what`, and the
/// image unchanged.
fn expect_refusal(e: &Env, plan: &Path, what: &str, yes: bool) {
    let sha = e.img().exists().then(|| sha256_file(&e.img()));
    let mut args = vec![
        "migrate",
        "--plan",
        plan.to_str().unwrap(),
        "--stop-after",
        "mount",
    ];
    if yes {
        args.push("--yes");
    }
    let (code, out, err) = e.run(&args);
    assert_eq!(code, 3, "expected a refusal:\n{err}\n{out}");
    assert!(err.contains(what), "expected {what:?} in:\n{err}");
    if let Some(sha) = sha {
        assert_eq!(
            sha256_file(&e.img()),
            sha,
            "the refused run changed the image"
        );
    }
}

#[test]
fn preflight_refuses_a_mounted_target() {
    if !require_root() {
        return;
    }
    let e = Env::new("mounted");
    let plan = e.plan(bios_layout(), Some("512M"));
    e.migrate(&plan, "format");
    // Attach and mount the root read-only (so the mount writes nothing).
    let out = Command::new("losetup")
        .args(["-f", "-P", "--show"])
        .arg(e.img())
        .output()
        .unwrap();
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let _ = Command::new("partx").args(["-a", &dev]).status();
    let mnt = e.s.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-o", "ro", "-t", "ext4", &format!("{dev}p4")])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success());
    expect_refusal(
        &e,
        &plan,
        &format!("{}p4 is mounted at {}", &dev[5..], mnt.display()),
        true,
    );
    Command::new("umount").arg(&mnt).status().unwrap();
    detach_loops_below(&e.s.path);
}

#[test]
fn preflight_refuses_a_too_small_target() {
    if !require_root() {
        return;
    }
    let e = Env::new("small");
    let src = e.s.join("big-src");
    common::tiny_source(&src);
    let st = Command::new("fallocate")
        .args(["-l", "300M"])
        .arg(src.join("data"))
        .status()
        .unwrap();
    assert!(st.success());
    let f = std::fs::File::create(e.img()).unwrap();
    f.set_len(256 * MIB).unwrap();
    drop(f);
    let plan = e.plan_with(
        json!({"table": "gpt", "firmware": "bios", "partitions": [
            {"mount": "/", "fs": "ext4", "size": "rest"}]}),
        Some("256M"),
        &e.img(),
        json!({"type": "directory", "path": src}),
    );
    expect_refusal(&e, &plan, "is too small", true);
}

#[test]
fn preflight_refuses_an_identity_mismatch() {
    if !require_root() {
        return;
    }
    let e = Env::new("identity");
    let f = std::fs::File::create(e.img()).unwrap();
    f.set_len(256 * MIB).unwrap();
    drop(f);
    let plan = e.plan(bios_layout(), Some("512M"));
    expect_refusal(&e, &plan, "identity mismatch: target.size is 512M", true);
}

#[test]
fn preflight_refuses_the_running_roots_disk() {
    if !require_root() {
        return;
    }
    let e = Env::new("rootdisk");
    let out = Command::new("findmnt")
        .args(["-n", "-o", "SOURCE", "/"])
        .output()
        .unwrap();
    let src = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pk = Command::new("lsblk")
        .args(["-n", "-d", "-o", "PKNAME", &src])
        .output()
        .unwrap();
    let pk = String::from_utf8_lossy(&pk.stdout).trim().to_string();
    let disk = if pk.is_empty() {
        src
    } else {
        format!("/dev/{pk}")
    };
    assert!(disk.starts_with("/dev/"), "root disk {disk}");
    let plan = e.plan_with(
        json!({"table": "gpt", "firmware": "bios", "partitions": [
            {"mount": "/", "fs": "ext4", "size": "rest"}]}),
        None,
        Path::new(&disk),
        e.source(),
    );
    // Without --yes and without wipe: even a broken preflight could not
    // write here; the message proves preflight is what refused.
    expect_refusal(
        &e,
        &plan,
        "holds the running system's root filesystem",
        false,
    );
}

/// Kill netroot inside `step` after its n-th change, resume, and compare
/// with an uninterrupted run.
#[test]
fn killed_in_partition_or_format_then_resumed_matches_uninterrupted() {
    if !require_root() {
        return;
    }
    let e = Env::new("kill");
    let plan = e.plan(bios_layout(), Some("512M"));
    let reference = e.migrate(&plan, "mount");
    let ref_table = sfdisk(&e.img());
    // Changes: partition = wipefs, write table, kernel sync;
    // format = wipefs+mkfs for p2, p3, p4.
    for kill in [
        "partition:1",
        "partition:2",
        "format:1",
        "format:2",
        "format:4",
        "format:6",
    ] {
        detach_loops_below(&e.s.path);
        std::fs::remove_file(e.img()).unwrap();
        let _ = std::fs::remove_dir_all(e.s.join("state"));
        let (code, _, err) = e.run_env(
            &[
                "migrate",
                "--plan",
                plan.to_str().unwrap(),
                "--yes",
                "--stop-after",
                "mount",
            ],
            &[("NETROOT_TEST_KILL_AT", kill)],
        );
        assert_eq!(code, -1, "{kill}: netroot was not killed:\n{err}");
        let r = e.migrate(&plan, "mount");
        assert_eq!(sfdisk(&e.img()), ref_table, "{kill}");
        check_image(&e.img(), &reference);
        check_image(&e.img(), &r);
        let r2 = e.migrate(&plan, "mount");
        assert_eq!(status(&r2, "partition"), "done", "{kill}");
        assert_eq!(status(&r2, "format"), "done", "{kill}");
    }
}

/// A run killed right after mounting the root leaves it mounted; the next
/// run accepts its own mount, reuses it, and unmounts at the end.
#[test]
fn a_killed_runs_mount_is_reused_and_released() {
    if !require_root() {
        return;
    }
    let e = Env::new("remount");
    let plan = e.plan(bios_layout(), Some("512M"));
    e.migrate(&plan, "format");
    // mount: create the root mount point (1), mount it (2).
    let (code, _, err) = e.run_env(
        &[
            "migrate",
            "--plan",
            plan.to_str().unwrap(),
            "--yes",
            "--stop-after",
            "mount",
        ],
        &[("NETROOT_TEST_KILL_AT", "mount:2")],
    );
    assert_eq!(code, -1, "netroot was not killed:\n{err}");
    let mounted = || {
        let out = Command::new("findmnt")
            .args(["-rn", "-o", "TARGET"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(e.s.path.to_str().unwrap()))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mounted().len(),
        1,
        "the killed run's mount: {:?}",
        mounted()
    );
    let r = e.migrate(&plan, "mount");
    assert_eq!(status(&r, "mount"), "ran");
    let step = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "mount")
        .unwrap();
    let mounts: Vec<_> = step["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["argv"][0] == "mount" && a["argv"][4].as_str().unwrap().ends_with("/root"))
        .collect();
    assert!(
        mounts.is_empty(),
        "mounted again over the killed run's mount: {mounts:?}"
    );
    assert!(mounted().is_empty(), "left mounted: {:?}", mounted());
}

#[test]
fn a_partition_as_target_device_is_refused() {
    if !require_root() {
        return;
    }
    let e = Env::new("partdev");
    let plan = e.plan(bios_layout(), Some("512M"));
    e.migrate(&plan, "partition");
    let out = Command::new("losetup")
        .args(["-f", "-P", "--show"])
        .arg(e.img())
        .output()
        .unwrap();
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let _ = Command::new("partx").args(["-a", &dev]).status();
    let part = PathBuf::from(format!("{dev}p4"));
    let plan = e.plan_with(bios_layout(), None, &part, e.source());
    std::fs::remove_dir_all(e.s.join("state")).unwrap();
    let sha = sha256_file(&e.img());
    expect_refusal(&e, &plan, "is a partition; name the whole disk", true);
    assert_eq!(sha256_file(&e.img()), sha);
    detach_loops_below(&e.s.path);
}

#[test]
fn a_layout_that_does_not_fit_is_refused_before_any_write() {
    if !require_root() {
        return;
    }
    let e = Env::new("nofit");
    let f = std::fs::File::create(e.img()).unwrap();
    f.set_len(256 * MIB).unwrap();
    drop(f);
    let plan = e.plan(
        json!({"table": "mbr", "firmware": "bios", "partitions": [
            {"mount": "/", "fs": "ext4", "size": "300M"}]}),
        None,
    );
    expect_refusal(
        &e,
        &plan,
        "the layout needs more than the disk's 256M",
        true,
    );
}
