//! Root tier: the boot half of a migration (initramfs, bootloader,
//! finalize) through `netroot migrate` of the cached Debian tree onto loop
//! images, for iSCSI and AoE × initramfs-tools and dracut. Each result is
//! attached read-only and checked with real tools: the initramfs listing
//! (transport modules, NIC driver, scripts), GRUB's boot code in the MBR
//! and core image in the bios_grub partition or MBR gap, grub.cfg's
//! `root=UUID=` and transport arguments, the provenance record and copied
//! log; then a second run must find every step done; the source tree must
//! be untouched.

mod common;

use common::{sh, Scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A manifest of the source tree that changes when any file's content or
/// metadata changes.
fn manifest(dir: &Path) -> String {
    sh(&format!(
        "cd {} && find . -printf '%p %y %s %T@ %C@ %m %U:%G %n\\n' | LC_ALL=C sort | sha256sum",
        dir.display()
    ))
}

/// The paths in an initramfs image, read with host tools (this host has
/// neither lsinitramfs nor lsinitrd): one compressed cpio archive.
/// After a finished run, a dry run and `status` read the journal alike:
/// every recorded step done, a one-line summary; a changed plan is refused
/// by both, naming the changed field and how to start over.
fn finished_run_reads_the_same_in_a_dry_run_and_status(
    pf: &str,
    envs: &[(&str, &str)],
    s: &common::Scratch,
) {
    let (code, out, err) = common::netroot(
        &["migrate", "--plan", pf, "--dry-run", "--format", "json"],
        envs,
    );
    assert_eq!(code, 0, "dry run after the run:\n{out}\n{err}");
    let r: Value = serde_json::from_str(&out).expect("JSON report");
    for st in r["steps"].as_array().unwrap() {
        if st["kind"] != "every_run" {
            assert_eq!(
                st["status"], "done",
                "a finished step is not done in the dry run: {st}"
            );
        }
    }
    let (code, out, err) = common::netroot(&["status", "--plan", pf], envs);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("finished: every step is done"), "{out}");
    let changed = s.join("changed.json");
    let text = std::fs::read_to_string(pf).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut v = v;
    v["system"]["hostname"] = Value::from("another-name");
    std::fs::write(&changed, serde_json::to_vec(&v).unwrap()).unwrap();
    let c = changed.display().to_string();
    for args in [
        vec!["migrate", "--plan", &c, "--dry-run"],
        vec!["status", "--plan", &c],
    ] {
        let (code, out, err) = common::netroot(&args, envs);
        assert_eq!(code, 3, "{args:?}:\n{out}\n{err}");
        assert!(
            err.contains("changed: system.hostname") && err.contains("to start over"),
            "{args:?}: {err}"
        );
    }
}

fn list_initramfs(img: &Path) -> String {
    let magic = std::fs::read(img).unwrap()[..6].to_vec();
    let decompress = match magic.as_slice() {
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd -dc",
        [0x1f, 0x8b, ..] => "gzip -dc",
        [0xfd, b'7', b'z', b'X', ..] => "xz -dc",
        b"070701" => "cat",
        m => panic!("{}: unknown initramfs format {m:x?}", img.display()),
    };
    sh(&format!("{decompress} {} | cpio -t --quiet", img.display()))
}

/// Run `netroot migrate` in its own process group and send the group
/// SIGINT (as Ctrl-C in a terminal does) once a process named `prog` runs.
fn interrupt_when_running(plan: &str, envs: &[(&str, &str)], prog: &str) -> (i32, String) {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(common::netroot_bin());
    c.args(["migrate", "--plan", plan, "--yes"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let pgid = child.id() as i32;
    let running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                return false;
            };
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            // Field 5 of /proc/PID/stat is the process group.
            let pg = stat
                .rsplit(") ")
                .next()
                .and_then(|r| r.split_whitespace().nth(2));
            pg == Some(&pgid.to_string()) && cmd.contains(prog)
        })
    };
    let mut seen = false;
    for _ in 0..6000 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if running() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(seen, "{prog} never ran under netroot");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Case {
    name: &'static str,
    target: String,
    table: &'static str,
    firmware: &'static str,
    parts: &'static str,
    boot: &'static str,
    /// Module names the initramfs must hold.
    modules: &'static [&'static str],
    /// File base names the initramfs must hold.
    files: &'static [&'static str],
    /// Arguments grub.cfg's entries must carry.
    args: &'static [&'static str],
    /// Files in the target and a text each must contain.
    contents: &'static [(&'static str, &'static str)],
    /// Runs killed first (NETROOT_TEST_KILL_AT values), each resumed by the next.
    kills: &'static [&'static str],
    /// The initramfs image must be readable by root only (it holds a secret).
    private_initrd: bool,
}

fn wait_for(node: &str) {
    for _ in 0..100 {
        if Path::new(node).exists() {
            return;
        }
        let _ = Command::new("partx")
            .args(["-u", node.rsplit_once('p').unwrap().0])
            .status();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{node} did not appear");
}

/// The image attached read-only with its filesystems mounted; undone on drop.
struct Attached {
    loopdev: String,
    mounts: Vec<PathBuf>,
}

impl Attached {
    fn new(img: &Path, layout: &Value, mnt: &Path) -> Attached {
        let loopdev = sh(&format!("losetup -f -P -r --show {}", img.display()))
            .trim()
            .to_string();
        let mut parts: Vec<&Value> = layout["partitions"].as_array().unwrap().iter().collect();
        for p in &parts {
            wait_for(&format!("{loopdev}p{}", p["number"]));
        }
        parts.retain(|p| p["mount"].is_string() && p["fs"] != "vfat");
        parts.sort_by_key(|p| p["mount"].as_str().unwrap().len());
        let mut mounts = Vec::new();
        for p in parts {
            let dir = mnt.join(p["mount"].as_str().unwrap().trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            sh(&format!(
                "mount -o ro {loopdev}p{} {}",
                p["number"],
                dir.display()
            ));
            mounts.push(dir);
        }
        Attached { loopdev, mounts }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg(m).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.loopdev]).status();
    }
}

fn run_case(c: &Case) {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let src = common::rootfs();
    let before = manifest(&src);
    let s = Scratch::new(c.name);
    let img = s.join("disk.img");
    let plan = format!(
        r#"{{"version": 1,
  "source": {{"type": "directory", "path": "{}"}},
  "target": {},
  "layout": {{"table": "{}", "firmware": "{}", "partitions": [{}]}},
  "boot": {},
  "system": {{"hostname": "bootclient"}}
}}"#,
        src.display(),
        c.target.replace("IMG", &img.display().to_string()),
        c.table,
        c.firmware,
        c.parts,
        c.boot
    );
    let secret = s.join("chap.secret");
    std::fs::write(&secret, "chapsecret4242\n").unwrap();
    let plan = plan.replace("SECRET", &secret.display().to_string());
    let plan_file = s.join("plan.json");
    std::fs::write(&plan_file, &plan).unwrap();
    let state = s.join("state").display().to_string();
    let work = s.join("work").display().to_string();
    let log = s.join("run.log").display().to_string();
    let envs = [
        ("NETROOT_STATE_DIR", state.as_str()),
        ("NETROOT_WORK_DIR", work.as_str()),
    ];
    let pf = plan_file.display().to_string();

    // The dry run shows the chroot, the initramfs build and GRUB.
    let (code, out, err) = common::netroot(
        &["migrate", "--plan", &pf, "--dry-run", "--format", "json"],
        &envs,
    );
    assert_eq!(code, 0, "dry run failed:\n{out}\n{err}");
    assert!(
        out.contains("netroot-dev"),
        "the dry run does not show the private /dev:\n{out}"
    );
    assert!(
        out.contains("grub-install"),
        "the dry run does not show grub-install:\n{out}"
    );
    assert!(!img.exists(), "the dry run created the image");
    assert!(
        !out.contains("chapsecret4242"),
        "the dry run shows the CHAP secret"
    );

    for k in c.kills {
        if let Some(prog) = k.strip_prefix("SIGINT:") {
            let (code, err) = interrupt_when_running(&pf, &envs, prog);
            assert_ne!(code, 0, "the run interrupted in {prog} succeeded:\n{err}");
            assert!(
                err.contains("interrupted") || err.contains("signal"),
                "{err}"
            );
            let mounts = sh("findmnt -rn -o TARGET");
            assert!(
                !mounts.contains(&work),
                "an interrupted run left mounts:\n{mounts}"
            );
            assert!(
                sh(&format!("losetup -j {}", img.display()))
                    .trim()
                    .is_empty(),
                "loop device left attached"
            );
            continue;
        }
        let mut e = envs.to_vec();
        e.push(("NETROOT_TEST_KILL_AT", k));
        let (code, out, err) = common::netroot(&["migrate", "--plan", &pf, "--yes"], &e);
        assert_ne!(
            code, 0,
            "the run to kill at {k} was not killed:\n{out}\n{err}"
        );
    }
    let (code, out, err) = common::netroot(
        &[
            "migrate",
            "--plan",
            &pf,
            "--yes",
            "--format",
            "json",
            "--log-file",
            &log,
        ],
        &envs,
    );
    assert_eq!(code, 0, "migrate failed:\n{out}\n{err}");
    assert!(
        !out.contains("chapsecret4242"),
        "the report shows the CHAP secret"
    );
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    finished_run_reads_the_same_in_a_dry_run_and_status(&pf, &envs, &s);
    let layout = report["layout"].clone();
    let root_uuid = layout["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mount"] == "/")
        .unwrap()["fs_uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let mnt = s.join("inspect");
    {
        let a = Attached::new(&img, &layout, &mnt);
        // The root filesystem really has the planned UUID.
        let root_part = layout["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["mount"] == "/")
            .unwrap()["number"]
            .clone();
        let blk = sh(&format!("blkid -s UUID -o value {}p{root_part}", a.loopdev));
        assert_eq!(blk.trim(), root_uuid);

        // The initramfs of the kernel holds the transport, the NIC driver, the scripts.
        let kver = std::fs::read_dir(mnt.join("lib/modules"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .into_owned();
        let image = mnt.join(format!("boot/initrd.img-{kver}"));
        if c.private_initrd {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&image).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is mode {mode:o}", image.display());
        }
        let listing = list_initramfs(&image);
        let names: Vec<&str> = listing
            .lines()
            .map(|l| l.rsplit('/').next().unwrap())
            .collect();
        for m in c.modules.iter().chain(&["virtio_net", "e1000"]) {
            assert!(
                names
                    .iter()
                    .any(|n| n.strip_prefix(m).is_some_and(|r| r.starts_with(".ko"))),
                "module {m} is not in {}",
                image.display()
            );
        }
        for f in c.files {
            assert!(names.contains(f), "{f} is not in {}", image.display());
        }
        if c.boot.contains(r#""profile": "debian""#) {
            // Lean (MODULES=list): the root's pieces, not every driver
            // (MODULES=most carries ~750 modules, usb-storage and nouveau
            // among them).
            let kos = names.iter().filter(|n| n.contains(".ko")).count();
            let has = |m: &str| names.iter().any(|n| n.starts_with(&format!("{m}.ko")));
            let mut wanted = vec!["ext4", "usbhid"];
            if c.modules.contains(&"iscsi_tcp") {
                wanted.push("sd_mod");
            }
            for m in wanted {
                assert!(has(m), "module {m} is not in {}", image.display());
            }
            for m in ["usb-storage", "nouveau", "btrfs"] {
                assert!(
                    !has(m),
                    "{m} is in the lean {} ({kos} modules)",
                    image.display()
                );
            }
            if c.modules.contains(&"aoe") {
                // A root on AoE carries no iSCSI (open-iscsi's hook told so).
                for m in ["iscsi_tcp", "cxgb4i", "cxgb4"] {
                    assert!(!has(m), "{m} is in the AoE {}", image.display());
                }
                assert!(
                    !names.contains(&"iscsistart"),
                    "iscsistart is in the AoE {}",
                    image.display()
                );
            }
            assert!(kos < 250, "{} holds {kos} modules", image.display());
            eprintln!(
                "{}: {kos} modules, {} bytes",
                image.display(),
                std::fs::metadata(&image).unwrap().len()
            );
        }

        // GRUB: boot code in the MBR, core image where it belongs.
        let head = sh(&format!(
            "dd if={} bs=512 count=1 status=none | od -An -c | tr -d ' \\n'",
            img.display()
        ));
        assert!(
            head.contains("GRUB") && head.contains("Geom"),
            "no GRUB boot code in the MBR: {head}"
        );
        let sig = sh(&format!(
            "dd if={} bs=1 skip=510 count=2 status=none | od -An -tx1",
            img.display()
        ));
        assert_eq!(sig.split_whitespace().collect::<Vec<_>>(), ["55", "aa"]);
        let core = mnt.join("boot/grub/i386-pc/core.img");
        let core_len = std::fs::metadata(&core).expect("core.img").len();
        let embed = if c.table == "gpt" {
            let t: Value =
                serde_json::from_str(&sh(&format!("sfdisk -J {}", img.display()))).unwrap();
            let p = t["partitiontable"]["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["type"] == "21686148-6449-6E6F-744E-656564454649")
                .expect("a bios_grub partition")
                .clone();
            p["start"].as_u64().unwrap() * 512
        } else {
            512
        };
        let on_disk = sh(&format!(
            "dd if={} bs=512 skip={} count={} status=none iflag=skip_bytes,count_bytes | tail -c +1025 | sha256sum",
            img.display(),
            embed,
            core_len
        ));
        let in_file = sh(&format!("tail -c +1025 {} | sha256sum", core.display()));
        assert_eq!(
            on_disk, in_file,
            "GRUB's core image is not embedded at byte {embed}"
        );

        // grub.cfg boots the planned root with the transport's arguments.
        let cfg = std::fs::read_to_string(mnt.join("boot/grub/grub.cfg")).unwrap();
        let linux: Vec<&str> = cfg
            .lines()
            .filter(|l| l.trim_start().starts_with("linux"))
            .collect();
        assert!(!linux.is_empty(), "{cfg}");
        for l in &linux {
            assert!(l.contains(&format!("root=UUID={root_uuid}")), "{l}");
            for a in c.args {
                assert!(l.split_whitespace().any(|w| w == *a), "{l} lacks {a}");
            }
        }
        assert!(!cfg.contains("root=/dev/"), "{cfg}");
        for (path, text) in c.contents {
            let b = std::fs::read(mnt.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            // A program (aoe-kick) is searched as bytes and never printed.
            let found = b.windows(text.len()).any(|w| w == text.as_bytes());
            match String::from_utf8(b) {
                Ok(t) => assert!(found, "{path} lacks {text:?}:\n{t}"),
                Err(_) => assert!(found, "{path} (a program) lacks {text:?}"),
            }
        }
        // No chroot leftovers.
        assert!(
            !mnt.join("usr/sbin/policy-rc.d").exists(),
            "policy-rc.d left behind"
        );
        assert_eq!(
            std::fs::read_dir(mnt.join("dev")).unwrap().count(),
            0,
            "/dev not empty"
        );

        // Finalize: provenance and the log.
        let prov: Value = serde_json::from_str(
            &std::fs::read_to_string(mnt.join("var/lib/netroot/provenance.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(prov["plan_digest"], report["plan_digest"]);
        assert!(mnt.join("var/log/netroot/migrate.log").is_file());
    }
    // Nothing of the run is still mounted or attached.
    let mounts = sh("findmnt -rn -o TARGET");
    assert!(!mounts.contains(&work), "still mounted:\n{mounts}");

    // Again: every step is done and nothing changes.
    let (code, out, err) = common::netroot(
        &["migrate", "--plan", &pf, "--yes", "--format", "json"],
        &envs,
    );
    assert_eq!(code, 0, "second run failed:\n{out}\n{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    for st in again["steps"].as_array().unwrap() {
        let id = st["step"].as_str().unwrap();
        if ["initramfs", "bootloader", "finalize"].contains(&id) {
            assert_eq!(
                st["status"], "done",
                "{id} was not done on the second run: {st}"
            );
        }
    }
    assert_eq!(manifest(&src), before, "the source tree changed");
}

const ISCSI_TARGET: &str = r#"{"transport": "iscsi", "portal": "10.0.2.2", "iqn": "iqn.2024-01.test.netroot:boot", "lun": 1, "device": "IMG", "size": "3G"}"#;
const AOE_TARGET: &str =
    r#"{"transport": "aoe", "shelf": 0, "slot": 0, "device": "IMG", "size": "3G"}"#;

#[test]
fn iscsi_initramfs_tools_gpt_bios() {
    run_case(&Case {
        name: "boot-iscsi-itools",
        target: ISCSI_TARGET.to_string(),
        table: "gpt",
        firmware: "bios",
        parts: r#"{"mount": "/", "fs": "ext4", "size": "rest"}"#,
        boot: r#"{"profile": "debian", "serial_console": "ttyS0,115200n8", "iscsi_config": "ibft"}"#,
        modules: &["iscsi_tcp", "iscsi_ibft"],
        files: &["iscsistart", "iscsi.initramfs", "initiatorname.iscsi"],
        args: &["console=ttyS0,115200n8"],
        private_initrd: false,
        kills: &["SIGINT:mkinitramfs"],
        contents: &[
            ("etc/iscsi/iscsi.initramfs", "ISCSI_AUTO=true"),
            ("etc/default/grub.d/netroot.cfg", "GRUB_TERMINAL=\"serial\""),
            ("boot/grub/grub.cfg", "serial --unit=0 --speed=115200"),
            // ifupdown leaves the iSCSI boot NIC to the initramfs: netroot
            // renews its DHCP lease and never lets dhclient remove it.
            (
                "etc/systemd/system/netroot-dhclient.service",
                "ExecStart=/usr/lib/netroot/dhclient-boot-nic",
            ),
            ("usr/lib/netroot/dhclient-boot-nic", "exec dhclient -4 -d"),
            (
                "etc/dhcp/dhclient-enter-hooks.d/netroot",
                "/usr/lib/netroot/dhclient-boot-nic nic",
            ),
            // ifup never starts its own (DUID) dhclient for that NIC.
            (
                "etc/systemd/system/ifup@.service.d/91-netroot-iscsi.conf",
                "ExecCondition=/usr/lib/netroot/dhclient-boot-nic skip-ifup %I",
            ),
        ],
    });
}

#[test]
fn aoe_initramfs_tools_mbr() {
    run_case(&Case {
        name: "boot-aoe-itools",
        target: AOE_TARGET.to_string(),
        table: "mbr",
        firmware: "bios",
        parts: r#"{"mount": "/boot", "fs": "ext4", "size": "300M"}, {"mount": "/", "fs": "ext4", "size": "rest"}"#,
        boot: r#"{"profile": "auto", "network": {"interface": "ens3"}}"#,
        modules: &["aoe"],
        files: &[
            "netroot-aoe",
            "aoe-discover",
            "aoe-stat",
            "ip",
            "netroot-aoe-kick",
            "aoe-kick",
        ],
        args: &["netroot.aoe=e0.0", "netroot.aoe_if=ens3"],
        private_initrd: false,
        kills: &["initramfs:12", "bootloader:11", "finalize:0"],
        contents: &[
            (
                "etc/initramfs-tools/scripts/local-top/aoe",
                "netroot-aoe does the work",
            ),
            ("etc/udev/rules.d/61-netroot-etherd.rules", "disk/by-uuid"),
            // The kicker: netroot's static program (its usage text).
            ("usr/lib/netroot/aoe-kick", "usage: aoe-kick"),
            (
                "etc/initramfs-tools/scripts/init-bottom/netroot-aoe-kick",
                "/usr/lib/netroot/aoe-kick --memory",
            ),
            (
                "etc/systemd/system/sysinit.target.d/netroot-aoe-kick.conf",
                "Wants=netroot-aoe-kick.service",
            ),
            (
                "etc/systemd/system/netroot-aoe-kick.service",
                "ExecStart=/usr/lib/netroot/aoe-kick",
            ),
            (
                "etc/systemd/system/ifup@.service.d/90-netroot.conf",
                "[Service]\nExecStop=\n",
            ),
            (
                "etc/systemd/system/networking.service.d/90-netroot.conf",
                "[Service]\nExecStop=\n",
            ),
        ],
    });
}

#[test]
fn iscsi_dracut_gpt_bios_explicit_chap() {
    run_case(&Case {
        name: "boot-iscsi-dracut",
        target: r#"{"transport": "iscsi", "portal": "10.0.2.2:3260", "iqn": "iqn.2024-01.test.netroot:dracut", "lun": 1,
                    "chap": {"username": "client1", "secret_file": "SECRET"}, "device": "IMG", "size": "3G"}"#
            .to_string(),
        table: "gpt",
        firmware: "bios",
        parts: r#"{"mount": "/", "fs": "ext4", "size": "rest"}"#,
        boot: r#"{"profile": "debian-dracut", "iscsi_config": "explicit", "serial_console": "ttyS0,115200n8"}"#,
        modules: &["iscsi_tcp", "iscsi_ibft"],
        // netroot-iscsid.conf: the initramfs' iscsid.service without
        // Debian's startup-checks.sh, which dracut does not copy (iscsid
        // never started: vm-tests dracut-iscsi).
        files: &[
            "iscsiroot",
            "iscsiadm",
            "iscsid",
            "dhclient",
            "netroot-iscsid.conf",
        ],
        args: &[
            "netroot=iscsi:client1:chapsecret4242@10.0.2.2::3260:1:iqn.2024-01.test.netroot:dracut",
            "ip=dhcp",
            "rd.neednet=1",
            "console=ttyS0,115200n8",
        ],
        private_initrd: false,
        kills: &[],
        contents: &[
            ("usr/lib/dracut/modules.d/95netroot-aoe/module-setup.sh", "netroot-aoe"),
            (
                "usr/lib/dracut/modules.d/95netroot-iscsi/module-setup.sh",
                "'ExecStartPre='",
            ),
            ("etc/dracut.conf.d/90-netroot.conf", "netroot-iscsi"),
        ],
    });
}

#[test]
fn aoe_dracut_gpt_bios() {
    run_case(&Case {
        name: "boot-aoe-dracut",
        target: AOE_TARGET.replace("\"slot\": 0", "\"slot\": 3"),
        table: "gpt",
        firmware: "bios",
        parts: r#"{"mount": "/", "fs": "ext4", "size": "rest"}"#,
        boot: r#"{"profile": "debian-dracut", "network": {"interface": "52:54:00:12:34:56"}}"#,
        modules: &["aoe"],
        files: &[
            "netroot-aoe.sh",
            // The NIC's name as the booted system knows it (vm-tests
            // dracut-aoe: without it the NIC stayed eth0).
            "99-default.link",
            "90-netroot-aoe-cmdline.sh",
            "aoe-discover",
            "ip",
            "61-netroot-etherd.rules",
            "90-netroot-aoe-kick.sh",
            "aoe-kick",
        ],
        args: &["netroot.aoe=e0.3", "netroot.aoe_if=52:54:00:12:34:56"],
        private_initrd: false,
        kills: &[],
        // udev names AoE devices "etherd/eS.SpP" ('!' becomes '/'): a rule
        // on "etherd!*" never matches.
        contents: &[
            (
                "etc/udev/rules.d/61-netroot-etherd.rules",
                "KERNEL==\"etherd*\"",
            ),
            (
                "etc/udev/rules.d/61-netroot-etherd.rules",
                "disk/by-partuuid",
            ),
            // The early kick loop survives systemd's switch-root kill
            // (vm-tests kernel-upgrade-dracut-aoe stalled there).
            (
                "usr/lib/dracut/modules.d/95netroot-aoe/netroot-aoe-kick.sh",
                "exec -a @netroot-aoe-kick /usr/lib/netroot/aoe-kick --memory",
            ),
            ("usr/lib/netroot/aoe-kick", "usage: aoe-kick"),
        ],
    });
}

#[test]
fn iscsi_initramfs_tools_explicit_chap_static() {
    run_case(&Case {
        name: "boot-iscsi-explicit",
        target: r#"{"transport": "iscsi", "portal": "10.0.2.2:3261", "iqn": "iqn.2024-01.test.netroot:explicit", "lun": 1,
                    "chap": {"username": "client2", "secret_file": "SECRET"}, "device": "IMG", "size": "3G"}"#
            .to_string(),
        table: "mbr",
        firmware: "bios",
        parts: r#"{"mount": "/", "fs": "ext4", "size": "rest"}"#,
        boot: r#"{"profile": "debian", "iscsi_config": "explicit",
                  "network": {"interface": "ens3", "address": {"static": {"address": "10.0.2.15/24", "gateway": "10.0.2.2"}}}}"#,
        modules: &["iscsi_tcp"],
        files: &["iscsistart", "iscsi.initramfs"],
        args: &["ip=10.0.2.15::10.0.2.2:255.255.255.0:bootclient:ens3:off"],
        private_initrd: true,
        kills: &[],
        contents: &[
            ("etc/iscsi/iscsi.initramfs", "ISCSI_TARGET_NAME='iqn.2024-01.test.netroot:explicit'"),
            ("etc/iscsi/iscsi.initramfs", "ISCSI_TARGET_PORT='3261'"),
            ("etc/iscsi/iscsi.initramfs", "ISCSI_PASSWORD='chapsecret4242'"),
            ("etc/initramfs-tools/conf.d/netroot-secrets", "UMASK=0077"),
        ],
    });
}
