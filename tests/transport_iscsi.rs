//! Root tier: `netroot discover iscsi` against a real tgtd on 127.0.0.1.
//!
//! This host has no iSCSI initiator (no iscsi_tcp module), so iscsiadm's
//! discovery fails with status 12 and netroot falls back to its own
//! SendTargets session; on a host with the module iscsiadm answers. Either
//! way the listing must show exactly what tgtd offers this initiator.
//! Login needs an initiator: the VM tests exercise it inside a guest.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A tgtd of our own: its own management socket (-C) and portal port, so
/// it cannot collide with other tgtds on the machine. Torn down by PID.
struct Tgtd {
    child: Child,
    control: String,
    port: u16,
    tids: Vec<u32>,
}

impl Tgtd {
    fn start() -> Tgtd {
        // Tests in this binary run in parallel: one tgtd each.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let pid = std::process::id();
        let port = 20000 + ((pid * 4 + n) % 20000) as u16;
        let control = (1000 + (pid * 4 + n) % 30000).to_string();
        let child = Command::new("tgtd")
            .args(["-f", "-C", &control, "--iscsi"])
            .arg(format!("portal=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tgtd (Debian package tgt)");
        let t = Tgtd {
            child,
            control,
            port,
            tids: Vec::new(),
        };
        // tgtd is ready when its management socket answers.
        for _ in 0..100 {
            if t.tgtadm_ok(&["--op", "show", "--mode", "target"]) {
                return t;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("tgtd did not answer on control port {}", t.control);
    }

    fn tgtadm_ok(&self, args: &[&str]) -> bool {
        Command::new("tgtadm")
            .args(["-C", &self.control, "--lld", "iscsi"])
            .args(args)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn tgtadm(&self, args: &[&str]) {
        assert!(self.tgtadm_ok(args), "tgtadm {args:?} failed");
    }

    /// A target `tid` with a sparse disk at LUN 1, open to `initiators`
    /// ("ALL" or an address).
    fn target(&mut self, tid: u32, iqn: &str, image: &Path, size: u64, initiators: &str) {
        let f = std::fs::File::create(image).unwrap();
        f.set_len(size).unwrap();
        let t = tid.to_string();
        self.tgtadm(&["--op", "new", "--mode", "target", "--tid", &t, "-T", iqn]);
        self.tids.push(tid);
        self.tgtadm(&[
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            &t,
            "--lun",
            "1",
            "-b",
            image.to_str().unwrap(),
        ]);
        self.tgtadm(&[
            "--op", "bind", "--mode", "target", "--tid", &t, "-I", initiators,
        ]);
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        for tid in &self.tids {
            let t = tid.to_string();
            self.tgtadm_ok(&["--op", "delete", "--force", "--mode", "target", "--tid", &t]);
        }
        let _ = Command::new("tgtadm")
            .args(["-C", &self.control, "--op", "delete", "--mode", "system"])
            .stderr(Stdio::null())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for s in ["", ".lock"] {
            let _ = std::fs::remove_file(format!("/var/run/tgtd/socket.{}{s}", self.control));
        }
    }
}

fn netroot(args: &[&str]) -> std::process::Output {
    Command::new(common::netroot_bin())
        .args(args)
        .output()
        .expect("running netroot")
}

/// The node database must not change: listing is read-only.
fn iscsi_db_snapshot() -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                out.push(e.path());
                walk(&e.path(), out);
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new("/etc/iscsi"), &mut v);
    v.sort();
    v
}

#[test]
fn discover_iscsi_lists_what_tgtd_offers_this_initiator() {
    if !common::require_root() {
        return;
    }
    let scratch = common::Scratch::new("transport-iscsi");
    let mut tgt = Tgtd::start();
    let open = "iqn.2024-01.test.netroot:open";
    let closed = "iqn.2024-01.test.netroot:closed";
    tgt.target(1, open, &scratch.join("open.img"), 64 << 20, "ALL");
    // Only for an initiator at 192.0.2.99: tgtd must not offer it to us.
    tgt.target(
        2,
        closed,
        &scratch.join("closed.img"),
        32 << 20,
        "192.0.2.99",
    );
    let portal = format!("127.0.0.1:{}", tgt.port);
    let before = iscsi_db_snapshot();

    let out = netroot(&["discover", "iscsi", "--portal", &portal, "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "netroot failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["transport"], "iscsi");
    assert_eq!(v["portal"], portal.as_str());
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{v:#}");
    assert_eq!(targets[0]["iqn"], open);
    assert_eq!(targets[0]["portal"], portal.as_str());
    assert_eq!(targets[0]["tpgt"], 1);
    assert!(targets[0]["luns"].as_array().unwrap().is_empty());
    let method = v["method"].as_str().unwrap();
    assert!(method == "iscsiadm" || method == "sendtargets", "{method}");

    let out = netroot(&["discover", "iscsi", "--portal", &portal]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("IQN"), "{text}");
    assert!(
        lines[1].starts_with(open) && lines[1].contains(&portal),
        "{text}"
    );
    assert!(!text.contains(closed), "{text}");

    assert_eq!(iscsi_db_snapshot(), before, "discover changed /etc/iscsi");
}

#[test]
fn discover_iscsi_at_a_dead_portal_fails_clearly() {
    if !common::require_root() {
        return;
    }
    // Port 9 (discard) on loopback: nothing listens there.
    let out = netroot(&["discover", "iscsi", "--portal", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sendtargets discovery at 127.0.0.1:9"),
        "{stderr}"
    );
    // A value that does not parse is bad input, as docs/cli.md's exit-code
    // table says: 2, nothing touched.
    let out = netroot(&["discover", "iscsi", "--portal", "127.0.0.1:notaport"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--portal") && stderr.contains("not a portal"),
        "{stderr}"
    );
}

/// A dry run asks the portal (read-only) whether it offers the plan's IQN:
/// refused (exit 3) when not, naming what it offers; planned otherwise.
#[test]
fn dry_run_migrate_checks_the_iqn_is_offered() {
    if !common::require_root() {
        return;
    }
    let scratch = common::Scratch::new("transport-iscsi-dry");
    let mut tgt = Tgtd::start();
    let iqn = "iqn.2024-01.test.netroot:dry";
    tgt.target(1, iqn, &scratch.join("disk.img"), 64 << 20, "ALL");
    std::fs::create_dir_all(scratch.join("root/etc")).unwrap();
    std::fs::write(scratch.join("root/etc/hostname"), "src\n").unwrap();
    std::fs::write(scratch.join("root/etc/os-release"), "ID=debian\n").unwrap();
    let portal = format!("127.0.0.1:{}", tgt.port);
    let plan = |iqn: &str| {
        let p = scratch.join(&format!("plan-{}.json", iqn.rsplit(':').next().unwrap()));
        let v = serde_json::json!({
            "version": 1,
            "source": {"type": "directory", "path": scratch.join("root")},
            "target": {"transport": "iscsi", "portal": portal, "iqn": iqn, "lun": 1},
            "layout": {"table": "gpt", "firmware": "bios",
                       "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]}
        });
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        p
    };
    let state = scratch.join("state");
    let before = iscsi_db_snapshot();

    let bad = plan("iqn.2024-01.test.netroot:nope");
    let out = netroot(&[
        "migrate",
        "--plan",
        bad.to_str().unwrap(),
        "--dry-run",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the portal {portal} does not offer iqn.2024-01.test.netroot:nope (target.iqn); it offers: {iqn}"
        )),
        "{stderr}"
    );

    let good = plan(iqn);
    let out = netroot(&[
        "migrate",
        "--plan",
        good.to_str().unwrap(),
        "--dry-run",
        "--stop-after",
        "discover",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("$ iscsiadm -m discovery -t st -p {portal}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("$ iscsiadm -m node -T {iqn} -p {portal} --login")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{portal} offers {iqn}")),
        "{stdout}"
    );
    assert_eq!(iscsi_db_snapshot(), before, "a dry run changed /etc/iscsi");
}

/// The migration presents the plan's initiator name — the one `netroot
/// server`'s ACL admits — not this machine's: a target whose ACL names
/// only that (derived) name is offered to a dry run, and one that names
/// another initiator is not.
#[test]
fn dry_run_presents_the_plans_initiator_name() {
    if !common::require_root() {
        return;
    }
    let scratch = common::Scratch::new("transport-iscsi-name");
    let mut tgt = Tgtd::start();
    std::fs::create_dir_all(scratch.join("root/etc")).unwrap();
    std::fs::write(scratch.join("root/etc/hostname"), "src\n").unwrap();
    std::fs::write(scratch.join("root/etc/os-release"), "ID=debian\n").unwrap();
    let portal = format!("127.0.0.1:{}", tgt.port);
    let plan_for = |iqn: &str| {
        let v = serde_json::json!({
            "version": 1,
            "source": {"type": "directory", "path": scratch.join("root")},
            "target": {"transport": "iscsi", "portal": portal, "iqn": iqn, "lun": 1},
            "layout": {"table": "gpt", "firmware": "bios",
                       "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]}
        });
        let p = scratch.join(&format!("plan-{}.json", iqn.rsplit(':').next().unwrap()));
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let name = netroot::plan::identity::initiator_name(&serde_json::from_value(v).unwrap());
        (p, name)
    };
    let mine = "iqn.2024-01.test.netroot:mine";
    let theirs = "iqn.2024-01.test.netroot:theirs";
    let (p_mine, name) = plan_for(mine);
    let (p_theirs, _) = plan_for(theirs);
    for (tid, iqn, who) in [
        (1, mine, name.as_str()),
        (2, theirs, "iqn.2024-01.org.example:someone-else"),
    ] {
        let t = tid.to_string();
        let img = scratch.join(&format!("{tid}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        tgt.tgtadm(&["--op", "new", "--mode", "target", "--tid", &t, "-T", iqn]);
        tgt.tids.push(tid);
        tgt.tgtadm(&[
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            &t,
            "--lun",
            "1",
            "-b",
            img.to_str().unwrap(),
        ]);
        tgt.tgtadm(&[
            "--op",
            "bind",
            "--mode",
            "target",
            "--tid",
            &t,
            "--initiator-name",
            who,
        ]);
    }
    let state = scratch.join("state");
    let run = |p: &Path| {
        netroot(&[
            "migrate",
            "--plan",
            p.to_str().unwrap(),
            "--dry-run",
            "--stop-after",
            "discover",
            "--state-dir",
            state.to_str().unwrap(),
        ])
    };
    let out = run(&p_mine);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{portal} offers {mine}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("iface.initiatorname -v {name}")),
        "the run would log in with the plan's name:\n{stdout}"
    );
    let out = run(&p_theirs);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
