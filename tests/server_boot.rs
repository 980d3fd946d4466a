//! The boot chain in QEMU through `netroot server`'s generated files.
//! Ignored by default (about a minute of TCG each):
//! `cargo test --test server_boot -- --ignored` boots the cached vm-tests
//! source image (a bookworm disk with GRUB; built by vm-tests/source.sh)
//! with QEMU's iPXE ROM until the kernel on the network disk starts.

mod common;
mod server_support;

use common::{netroot, require_root};
use server_support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn cached_boot_image() -> PathBuf {
    let dir = Path::new("/var/cache/netroot-vm");
    std::fs::read_dir(dir)
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.extension().is_some_and(|x| x == "img")
                    && p.with_extension("img.complete").exists()
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no cached source image in {}: run `bash vm-tests/run` once to build it",
                dir.display()
            )
        })
}

/// A sparse copy of the cached image (the cache stays read-only).
fn copy_image(to: &Path) {
    let st = Command::new("cp")
        .arg("--sparse=always")
        .arg(cached_boot_image())
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Run QEMU until the serial log shows the kernel starting (bounded),
/// then kill it. Returns the serial log.
fn qemu_until_kernel(pre: &[&str], net: &[&str], serial: &Path) -> String {
    let mut args: Vec<String> = pre.iter().map(|s| s.to_string()).collect();
    args.extend(
        [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "1024",
            "-smp",
            "2",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-vga",
            "std",
            "-no-reboot",
            "-boot",
            "n",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push("-serial".into());
    args.push(format!("file:{}", serial.display()));
    args.extend(net.iter().map(|s| s.to_string()));
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for _ in 0..2400 {
        log = String::from_utf8_lossy(&std::fs::read(serial).unwrap_or_default()).into_owned();
        if log.contains("Linux version") || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

#[test]
#[ignore = "boots QEMU (about a minute of TCG); run with --ignored"]
fn boot_chain_iscsi_chap_reaches_the_kernel() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-boot-iscsi");
    let port = tgt_port();
    std::fs::write(
        f.dir.join("boot.json"),
        f.read("iscsi.json")
            .replace("127.0.0.1:", "10.0.2.2:")
            .replace(
                r#""address": { "static": { "address": "192.0.2.50/24" } }"#,
                r#""address": "dhcp""#,
            ),
    )
    .unwrap();
    copy_image(&f.dir.join("iscsi.img"));
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &f.p("boot.json"),
            "--out",
            &f.p("out"),
            "--tftp-root",
            &f.p("out/tftp"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let tgtd = Tgtd::start(port);
    let st = Command::new("tgt-admin")
        .args([
            "-C",
            &tgtd.control,
            "-e",
            "-c",
            &f.p("out/iscsi/netroot-iscsi-client.conf"),
        ])
        .output()
        .unwrap();
    assert!(st.status.success());
    // Watch the session while QEMU runs: iPXE must log in with the plan's name.
    let serial = f.dir.join("serial.log");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop2, control) = (stop.clone(), tgtd.control.clone());
    let watcher = std::thread::spawn(move || {
        let mut seen = String::new();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let o = Command::new("tgtadm")
                .args([
                    "-C", &control, "--lld", "iscsi", "--mode", "target", "--op", "show",
                ])
                .output()
                .unwrap();
            let s = String::from_utf8_lossy(&o.stdout);
            if let Some(l) = s.lines().find(|l| l.trim_start().starts_with("Initiator:")) {
                seen = l.trim().to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        seen
    });
    let log = qemu_until_kernel(
        &[],
        &[
            "-netdev",
            &format!(
                "user,id=n0,tftp={},bootfile=netroot/iscsi-client.ipxe",
                f.p("out/tftp")
            ),
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:50",
        ],
        &serial,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let initiator = watcher.join().unwrap();
    assert!(
        log.contains("Linux version"),
        "the kernel on the iSCSI disk did not start:\n{log}"
    );
    assert!(
        initiator.contains("iqn.2024-01.org.example:client50"),
        "iPXE logged in as {initiator:?}, not the plan's initiator name"
    );
}

#[test]
#[ignore = "boots QEMU (about a minute of TCG); run with --ignored"]
fn boot_chain_aoe_dnsmasq_reaches_the_kernel() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-boot-aoe");
    copy_image(&f.dir.join("aoe.img"));
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &f.p("aoe.json"),
            "--out",
            &f.p("out"),
            "--interface",
            "tap0",
            "--dhcp-interface",
            "tap0",
            "--subnet",
            "10.77.0.0/24",
            "--range",
            "10.77.0.50-10.77.0.99",
            "--server-ip",
            "10.77.0.1",
            "--tftp-root",
            &f.p("out/tftp"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let ns = format!("nrsrvb{}", std::process::id());
    struct DelNs(String);
    impl Drop for DelNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip").args(args).status().unwrap().success(),
            "ip {args:?}"
        )
    };
    ip(&["netns", "add", &ns]);
    let _g = DelNs(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    ip(&["-n", &ns, "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    ip(&["-n", &ns, "addr", "add", "10.77.0.1/24", "dev", "tap0"]);
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        "fd77::1/64",
        "dev",
        "tap0",
        "nodad",
    ]);
    ip(&["-n", &ns, "link", "set", "tap0", "up"]);
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // vblade as vblade@.service runs it from the generated config.
    let conf = f.p("out/aoe/netroot-mbr-client.conf");
    let _vblade = Kill(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "sh",
                "-c",
                ". \"$1\"; exec vblade $shelf $slot $netif $filename $options",
                "sh",
                &conf,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // dnsmasq with the generated config; the extra flags keep it off the
    // host's files and send router adverts so iPXE does not wait for IPv6.
    let dlog = f.dir.join("dnsmasq.log");
    let _dnsmasq = Kill(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "dnsmasq",
                "--keep-in-foreground",
                "-C",
                &f.p("out/dhcp/dnsmasq-netroot.conf"),
            ])
            .args([
                "--no-resolv",
                "--no-hosts",
                "--port=0",
                "--user=root",
                "--dhcp-range=fd77::,ra-only",
                "--enable-ra",
                "--pid-file=",
                "--log-dhcp",
            ])
            .arg(format!("--dhcp-leasefile={}", f.p("leases")))
            .arg(format!("--log-facility={}", dlog.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let serial = f.dir.join("serial.log");
    let log = qemu_until_kernel(
        &["ip", "netns", "exec", &ns],
        &[
            "-netdev",
            "tap,id=n0,ifname=tap0,script=no,downscript=no",
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:ef",
        ],
        &serial,
    );
    let dl = std::fs::read_to_string(&dlog).unwrap_or_default();
    assert!(
        dl.contains("netroot/mbr-client.ipxe"),
        "dnsmasq did not hand iPXE its script:\n{dl}"
    );
    assert!(
        log.contains("Linux version"),
        "the kernel on the AoE disk did not start:\n{log}"
    );
}
