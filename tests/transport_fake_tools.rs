//! Root tier: the real (not dry) attach paths, with fake `iscsiadm`,
//! `modprobe`, `ip` and `aoe-discover` first on PATH and fake sysfs/dev
//! trees, because this host's kernel has no initiator. The fakes replay the
//! outputs captured in tests/fixtures and log every argv, so the tests see
//! the exact command sequence, where the CHAP secret went, what the
//! cleanup undoes, and the refusals. The VM tests run the real thing.

mod common;

use netroot::engine::run::Refused;
use netroot::engine::{Ctx, RunOptions};
use netroot::transport::{self, HostPaths};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const IQN: &str = "iqn.2024-01.test.e2e:disk";
const SECRET: &str = "Sup3rS3cretPw";

fn fixture(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const FAKE_ISCSIADM: &str = r#"#!/bin/bash
S="$FAKE_STATE"
echo "iscsiadm $*" >> "$S/argv.log"
# record IQN ADDR,PORT,TPGT [IFACE]: a node record file, named after its
# iface as open-iscsi names it.
record() { mkdir -p "$FAKE_NODES/$1/$2"; printf '# BEGIN RECORD 2.1.8\nnode.name = %s\nnode.session.auth.authmethod = None\n# END RECORD\n' "$1" > "$FAKE_NODES/$1/$2/${3:-default}"; }
IFACES="$FAKE_NODES/../ifaces"
case "$*" in
  "-m iface -I "*" -o new") mkdir -p "$IFACES"; echo "iface.iscsi_ifacename = $4" > "$IFACES/$4"; exit 0;;
  "-m iface -I "*" -o update -n iface.initiatorname -v "*) echo "iface.initiatorname = ${10}" >> "$IFACES/$4"; exit 0;;
  "-m iface -I "*" -o delete") rm -f "$IFACES/$4"; exit 0;;
  "-m discovery -t st -p "*" -I "*)
    cat "$S/offered.txt"
    while read -r p iqn; do a=${p%,*}; record "$iqn" "${a%:*},${a##*:},${p##*,}" "$8"; done < "$S/offered.txt"
    exit 0;;
  "-m node -o new -T "*" -I "*) record "$6" "${8%:*},${8##*:},-1" "${10}"; exit 0;;
  "-m node -T "*" --login -I "*)
    # The name this login presents: its iface's.
    sed -n 's/^iface.initiatorname = //p' "$IFACES/$9" > "$S/presented"
    touch "$S/logged-in"; exit 0;;
  "-m session -P 3")
    if [ -e "$S/logged-in" ]; then cat "$S/session-P3.txt"; exit 0; fi
    echo "iscsiadm: No active sessions." >&2; exit 21;;
  "-m discovery -t st -p "*)
    cat "$S/offered.txt"
    while read -r p iqn; do a=${p%,*}; record "$iqn" "${a%:*},${a##*:},${p##*,}"; done < "$S/offered.txt"
    exit 0;;
  "-m node -o new -T "*) record "$6" "${8%:*},${8##*:},-1"; exit 0;;
  "-m node -o delete -T "*) rm -rf "$FAKE_NODES/$6"; exit 0;;
  *" --login") touch "$S/logged-in"; exit 0;;
  *" --logout") rm -f "$S/logged-in"; exit 0;;
  *" --op update "*) exit 0;;
  *) echo "fake iscsiadm: unexpected: $*" >&2; exit 99;;
esac
"#;

const FAKE_MODPROBE: &str = r#"#!/bin/bash
echo "modprobe $*" >> "$FAKE_STATE/argv.log"
mkdir -p "$FAKE_SYS/module/aoe"
"#;

const FAKE_IP: &str = r#"#!/bin/bash
echo "ip $*" >> "$FAKE_STATE/argv.log"
"#;

/// Answers on the second discover: the captured e0.0 appears.
const FAKE_AOE_DISCOVER: &str = r#"#!/bin/bash
echo "aoe-discover $*" >> "$FAKE_STATE/argv.log"
n=$(grep -c '^aoe-discover' "$FAKE_STATE/argv.log")
if [ "$n" -ge 2 ]; then
  mkdir -p "$FAKE_SYS/block" "$FAKE_DEV/etherd"
  cp -r "$FAKE_STATE/etherd-e0.0" "$FAKE_SYS/block/etherd!e0.0"
  touch "$FAKE_DEV/etherd/e0.0"
fi
"#;

/// One fake host for the whole test binary (PATH and the FAKE_* variables
/// are process-wide), and a lock so the scenarios run one at a time.
struct Fake {
    _dir: tempfile::TempDir,
    state: PathBuf,
    paths: HostPaths,
}

fn fake() -> &'static Mutex<Fake> {
    static F: OnceLock<Mutex<Fake>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (n, s) in [
            ("iscsiadm", FAKE_ISCSIADM),
            ("modprobe", FAKE_MODPROBE),
            ("ip", FAKE_IP),
            ("aoe-discover", FAKE_AOE_DISCOVER),
        ] {
            let p = bin.join(n);
            std::fs::write(&p, s).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let state = dir.path().join("state");
        let paths = HostPaths {
            sys: dir.path().join("sys"),
            dev: dir.path().join("dev"),
            iscsi_nodes: dir.path().join("nodes"),
        };
        std::fs::create_dir_all(&state).unwrap();
        // The captured e0.0 attributes, staged for the fake aoe-discover.
        let e = state.join("etherd-e0.0");
        std::fs::create_dir_all(&e).unwrap();
        for line in fixture("aoe/sys-block-etherd-e0.0.txt").lines() {
            if let Some((k, v)) = line.split_once(": ") {
                if [
                    "size",
                    "mac",
                    "netif",
                    "state",
                    "payload",
                    "firmware-version",
                ]
                .contains(&k)
                {
                    std::fs::write(e.join(k), format!("{v}\n")).unwrap();
                }
            }
        }
        std::fs::create_dir_all(paths.sys.join("class/net/ens3")).unwrap();
        std::fs::write(
            paths.sys.join("class/net/ens3/address"),
            "52:54:00:12:34:56\n",
        )
        .unwrap();
        // The iSCSI guest's disk: sda, 4 GiB, no udev by-path links.
        std::fs::create_dir_all(paths.sys.join("class/block/sda/device")).unwrap();
        std::fs::write(paths.sys.join("class/block/sda/size"), "8388608\n").unwrap();
        std::fs::write(
            paths.sys.join("class/block/sda/device/vendor"),
            "IET     \n",
        )
        .unwrap();
        std::fs::write(
            paths.sys.join("class/block/sda/device/model"),
            "VIRTUAL-DISK\n",
        )
        .unwrap();
        std::fs::create_dir_all(&paths.dev).unwrap();
        std::fs::write(paths.dev.join("sda"), "").unwrap();
        std::fs::write(
            state.join("session-P3.txt"),
            fixture("iscsi/iscsiadm-session-P3.txt"),
        )
        .unwrap();
        // The NAT case: asked at 10.0.2.2, tgt announces 127.0.0.1.
        std::fs::write(
            state.join("offered.txt"),
            fixture("iscsi/discovery-sendtargets.txt"),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::env::set_var("PATH", path);
        std::env::set_var("FAKE_STATE", &state);
        std::env::set_var("FAKE_SYS", &paths.sys);
        std::env::set_var("FAKE_DEV", &paths.dev);
        std::env::set_var("FAKE_NODES", &paths.iscsi_nodes);
        std::env::set_var("NETROOT_ATTACH_TIMEOUT", "6");
        Mutex::new(Fake {
            _dir: dir,
            state,
            paths,
        })
    })
}

impl Fake {
    fn reset(&self) {
        let _ = std::fs::remove_file(self.state.join("argv.log"));
        let _ = std::fs::remove_file(self.state.join("logged-in"));
        let _ = std::fs::remove_file(self.state.join("presented"));
        let _ = std::fs::remove_dir_all(self.paths.iscsi_nodes.with_file_name("ifaces"));
        let _ = std::fs::remove_dir_all(&self.paths.iscsi_nodes);
        let _ = std::fs::remove_dir_all(self.paths.sys.join("block"));
        let _ = std::fs::remove_dir_all(self.paths.sys.join("module"));
        let _ = std::fs::remove_dir_all(self.paths.dev.join("etherd"));
    }
    fn argv(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn ctx(target: serde_json::Value, dir: &Path) -> Ctx {
    let plan = serde_json::from_value(serde_json::json!({
        "version": 1,
        "source": {"type": "live"},
        "target": target,
        "layout": {"table": "gpt", "firmware": "bios",
                   "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]}
    }))
    .unwrap();
    let opts = RunOptions {
        state_dir: dir.join("netroot-state"),
        work_dir: dir.join("netroot-work"),
        ..RunOptions::default()
    };
    Ctx::new(plan, opts, Arc::new(netroot::ui::progress::NullSink))
}

fn chap_target(dir: &Path, lun: u32, iqn: &str) -> serde_json::Value {
    let secret = dir.join("chap.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    serde_json::json!({"transport": "iscsi", "portal": "10.0.2.2", "iqn": iqn, "lun": lun,
        "chap": {"username": "client1", "secret_file": secret}})
}

#[test]
fn iscsi_login_with_chap_finds_the_disk_and_cleans_up() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    let t = tempfile::tempdir().unwrap();
    let mut c = ctx(chap_target(t.path(), 1, IQN), t.path());
    let disk = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
    assert!(disk.attached);
    assert_eq!(disk.node, f.paths.dev.join("sda"));
    assert_eq!(disk.size, 4 << 30);
    assert_eq!(disk.identity, format!("{IQN} lun 1 at 10.0.2.2:3260"));
    assert_eq!(disk.model.as_deref(), Some("IET VIRTUAL-DISK"));
    let q = format!("iscsiadm -m node -T {IQN} -p 10.0.2.2:3260");
    // The plan's initiator name (derived: the plan names none), the one
    // `netroot server`'s ACL admits, through netroot's own iface.
    let name = netroot::plan::identity::initiator_name(&c.plan);
    assert_eq!(
        f.argv(),
        vec![
            "iscsiadm -m session -P 3".to_string(),
            "iscsiadm -m iface -I netroot -o new".into(),
            format!("iscsiadm -m iface -I netroot -o update -n iface.initiatorname -v {name}"),
            "iscsiadm -m discovery -t st -p 10.0.2.2:3260 -I netroot".into(),
            format!("iscsiadm -m node -o new -T {IQN} -p 10.0.2.2:3260 -I netroot"),
            format!("{q} --op update -n node.session.auth.authmethod -v CHAP"),
            format!("{q} --op update -n node.session.auth.username -v client1"),
            format!("{q} --op update -n node.session.timeo.replacement_timeout -v 120"),
            format!("{q} --login -I netroot"),
            "iscsiadm -m session -P 3".into(),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(f.state.join("presented"))
            .unwrap()
            .trim(),
        name,
        "the login presents the plan's initiator name"
    );
    // The secret went into the record netroot made for the plan's portal,
    // mode 0600, and never onto an argv.
    let rec = f
        .paths
        .iscsi_nodes
        .join(IQN)
        .join("10.0.2.2,3260,-1/netroot");
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(
        text.contains(&format!(
            "node.session.auth.password = {SECRET}\n# END RECORD"
        )),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let other = f
        .paths
        .iscsi_nodes
        .join(IQN)
        .join("127.0.0.1,3260,1/netroot");
    assert!(!std::fs::read_to_string(other).unwrap().contains(SECRET));
    let report = format!("{:?}", c.runner.take_actions());
    assert!(!report.contains(SECRET), "{report}");
    assert!(!f.argv().join("\n").contains(SECRET));

    // The end of the run logs out and forgets the record this run made.
    assert_eq!(c.cleanup.len(), 1);
    assert!(c.cleanup.run_all().is_empty());
    let argv = f.argv();
    assert_eq!(
        &argv[argv.len() - 3..],
        &[
            format!("{q} --logout"),
            format!("iscsiadm -m node -o delete -T {IQN} -p 10.0.2.2:3260"),
            "iscsiadm -m iface -I netroot -o delete".to_string(),
        ]
    );
    assert!(!f
        .paths
        .iscsi_nodes
        .with_file_name("ifaces")
        .join("netroot")
        .exists());
    assert!(!f.paths.iscsi_nodes.join(IQN).exists());
    assert!(!transport::iscsi::session_marker(&c.opts.state_dir, IQN, "10.0.2.2:3260").exists());
}

#[test]
fn iscsi_session_of_a_killed_run_is_logged_out_by_the_resumed_run() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    let t = tempfile::tempdir().unwrap();
    let c = {
        let mut c = ctx(chap_target(t.path(), 1, IQN), t.path());
        netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
        c
    };
    let marker = transport::iscsi::session_marker(&c.opts.state_dir, IQN, "10.0.2.2:3260");
    assert!(marker.exists());
    // Killed: no cleanup ran.
    std::mem::forget(c);
    let mut c = ctx(chap_target(t.path(), 1, IQN), t.path());
    let n = f.argv().len();
    let disk = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
    assert_eq!(disk.node, f.paths.dev.join("sda"));
    assert_eq!(f.argv()[n..], ["iscsiadm -m session -P 3"]);
    assert_eq!(c.cleanup.len(), 1);
    assert!(c.cleanup.run_all().is_empty());
    assert!(!f.state.join("logged-in").exists());
    assert!(!marker.exists());
}

#[test]
fn iscsi_existing_session_is_used_and_never_logged_out() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    std::fs::write(f.state.join("logged-in"), "").unwrap();
    let t = tempfile::tempdir().unwrap();
    let mut c = ctx(chap_target(t.path(), 1, IQN), t.path());
    let disk = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
    assert_eq!(disk.node, f.paths.dev.join("sda"));
    assert_eq!(f.argv(), vec!["iscsiadm -m session -P 3"]);
    assert!(c.cleanup.is_empty());
}

#[test]
fn iscsi_refusals_name_what_is_there() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    let t = tempfile::tempdir().unwrap();
    let mut c = ctx(
        chap_target(t.path(), 1, "iqn.2024-01.test.e2e:other"),
        t.path(),
    );
    let e = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap_err();
    assert!(e.downcast_ref::<Refused>().is_some(), "{e:#}");
    assert!(e.to_string().contains(&format!("it offers: {IQN}")), "{e}");
    assert!(!f.argv().iter().any(|a| a.contains("--login")));

    f.reset();
    let mut c = ctx(chap_target(t.path(), 2, IQN), t.path());
    let e = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap_err();
    assert!(e.downcast_ref::<Refused>().is_some(), "{e:#}");
    assert!(
        e.to_string()
            .contains("has no LUN 2 (target.lun); its LUNs: 0 (no disk), 1 (sda)"),
        "{e}"
    );
    // Logged in for nothing: the cleanup logs out again.
    assert!(c.cleanup.run_all().is_empty());
    assert!(!f.state.join("logged-in").exists());

    // The plan says 8G, the LUN has 4 GiB.
    f.reset();
    let mut target = chap_target(t.path(), 1, IQN);
    target["size"] = "8G".into();
    let mut c = ctx(target, t.path());
    let e = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap_err();
    assert!(e.downcast_ref::<Refused>().is_some(), "{e:#}");
    assert!(e.to_string().contains("target.size is 8G"), "{e}");
}

#[test]
fn aoe_attach_discovers_until_the_device_appears() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    let t = tempfile::tempdir().unwrap();
    let target = serde_json::json!({"transport": "aoe", "shelf": 0, "slot": 0,
        "interface": "52:54:00:12:34:56", "size": "4G"});
    let mut c = ctx(target.clone(), t.path());
    let disk = netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
    assert!(disk.attached);
    assert_eq!(disk.node, f.paths.dev.join("etherd/e0.0"));
    assert_eq!(disk.size, 4 << 30);
    assert_eq!(
        disk.identity,
        "e0.0 (target MAC ce:00:d7:b2:e1:7e via ens3)"
    );
    assert_eq!(
        f.argv(),
        vec![
            "modprobe aoe aoe_iflist=ens3",
            "ip link set dev ens3 up",
            "aoe-discover ",
            "aoe-discover ",
        ]
    );
    // AoE has nothing to log out of: the one undo item stops netroot's
    // reads that keep the aoe driver's parked requests moving.
    assert_eq!(c.cleanup.len(), 1);

    // Run again: attached already, nothing is run.
    let before = f.argv().len();
    let mut c = ctx(target, t.path());
    netroot::steps::shared::attach_with(&mut c, &f.paths).unwrap();
    assert_eq!(f.argv().len(), before);
    assert_eq!(c.cleanup.len(), 1, "an attached disk is kept moving too");

    // A device nobody exports: a bounded wait, then an error naming it.
    let mut c = ctx(
        serde_json::json!({"transport": "aoe", "shelf": 9, "slot": 9, "interface": "ens3"}),
        t.path(),
    );
    let e = netroot::steps::shared::attach_with(&mut c, &f.paths)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("timed out after 6 s waiting for")
            && e.contains("etherd/e9.9")
            && e.contains("interface ens3")
            && e.contains("AoE devices seen: e0.0 (up)"),
        "{e}"
    );
}

/// After a failed step the engine asks whether the target is still
/// there: a logged-in session is fine; one whose connection dropped
/// (tgtd stopped) is named with what to check.
#[test]
fn a_target_that_stopped_answering_is_named() {
    if !common::require_root() {
        return;
    }
    let f = fake().lock().unwrap_or_else(|e| e.into_inner());
    f.reset();
    let t = tempfile::tempdir().unwrap();
    let c = ctx(
        serde_json::json!({"transport": "iscsi", "portal": "10.0.2.2", "iqn": IQN, "lun": 1}),
        t.path(),
    );
    let p3 = f.state.join("session-P3.txt");
    let good = std::fs::read_to_string(&p3).unwrap();
    std::fs::write(f.state.join("logged-in"), "").unwrap();
    let lost = || transport::health::lost_target(&c.runner, &f.paths, &c.plan.target);
    assert_eq!(lost(), None);
    std::fs::write(
        &p3,
        good.replace(
            "Connection State: LOGGED IN",
            "Connection State: TRANSPORT WAIT",
        )
        .replace("Session State: LOGGED_IN", "Session State: FAILED"),
    )
    .unwrap();
    let m = lost();
    std::fs::write(&p3, &good).unwrap();
    let m = m.expect("a FAILED session is a lost target");
    assert!(
        m.contains(&format!("{IQN} at 10.0.2.2:3260 stopped answering")),
        "{m}"
    );
    assert!(m.contains("check that the server 10.0.2.2 is up"), "{m}");
    f.reset();
}
