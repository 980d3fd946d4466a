//! Shared by the `netroot server` tests: plans with CHAP secrets in a
//! scratch dir, and a tgtd on 127.0.0.1 with its own ports.
#![allow(dead_code)]

use crate::common::{netroot, Scratch};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

pub const SECRET: &str = "Sup3r-Secret-42";
pub const TSECRET: &str = "TargetSecret-77";

/// A scratch dir with an iSCSI plan (CHAP, mutual CHAP, static address,
/// firmware both) and an AoE plan (BIOS, DHCP).
pub struct Fixture {
    pub dir: Scratch,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let dir = Scratch::new(name);
        let d = dir.path.display().to_string();
        std::fs::write(dir.join("chap.secret"), format!("{SECRET}\n")).unwrap();
        std::fs::write(dir.join("tchap.secret"), format!("{TSECRET}\n")).unwrap();
        std::fs::write(
            dir.join("iscsi.json"),
            format!(
                r#"{{
  "version": 1,
  "source": {{ "type": "live" }},
  "target": {{
    "transport": "iscsi", "portal": "127.0.0.1:{port}", "iqn": "iqn.2024-01.org.example:iscsi-client", "lun": 1,
    "device": "{d}/iscsi.img", "size": "1G",
    "chap": {{ "username": "iscsi-client", "secret_file": "{d}/chap.secret",
              "target_username": "tgt-srv", "target_secret_file": "{d}/tchap.secret" }}
  }},
  "layout": {{ "table": "gpt", "firmware": "both", "partitions": [
    {{ "mount": "/boot/efi", "fs": "vfat", "size": "512M" }}, {{ "mount": "/", "fs": "ext4", "size": "rest" }} ] }},
  "boot": {{ "network": {{ "address": {{ "static": {{ "address": "192.0.2.50/24" }} }} }} }},
  "client": {{ "mac": "52:54:00:00:00:50", "initiator_name": "iqn.2024-01.org.example:client50" }},
  "system": {{ "hostname": "iscsi-client" }}
}}"#,
                port = tgt_port()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("aoe.json"),
            format!(
                r#"{{
  "version": 1,
  "source": {{ "type": "live" }},
  "target": {{ "transport": "aoe", "shelf": 0, "slot": 1, "device": "{d}/aoe.img", "size": "64M" }},
  "layout": {{ "table": "mbr", "firmware": "bios", "partitions": [ {{ "mount": "/", "fs": "xfs", "size": "rest" }} ] }},
  "client": {{ "mac": "52:54:00:AB:CD:EF" }},
  "system": {{ "hostname": "mbr-client" }}
}}"#
            ),
        )
        .unwrap();
        Fixture { dir }
    }
    pub fn p(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }
    pub fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.join(f)).unwrap_or_else(|e| panic!("reading {f}: {e}"))
    }
    pub fn mode(&self, f: &str) -> u32 {
        std::fs::metadata(self.dir.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }
    /// `netroot server` for both plans into out/; asserts success.
    pub fn generate(&self, extra: &[&str]) -> String {
        let (i, a, o) = (self.p("iscsi.json"), self.p("aoe.json"), self.p("out"));
        let mut args = vec![
            "server",
            "--plan",
            &i,
            "--plan",
            &a,
            "--out",
            &o,
            "--interface",
            "veth0",
        ];
        // The iSCSI plan's portal is loopback (the test's tgtd): clients
        // reach the server at the address docs/server.md says to pass.
        if !extra.contains(&"--server-ip") {
            args.extend_from_slice(&["--server-ip", "192.0.2.1/24"]);
        }
        args.extend_from_slice(extra);
        let (code, out, err) = netroot(&args, &[]);
        assert_eq!(code, 0, "netroot server failed:\n{out}\n{err}");
        out
    }
}

pub fn tgt_port() -> u16 {
    20000 + (std::process::id() % 20000) as u16
}

/// A tgtd on 127.0.0.1 with its own ports; killed and cleaned up on drop.
pub struct Tgtd {
    child: Child,
    pub control: String,
}

impl Tgtd {
    pub fn start(port: u16) -> Tgtd {
        // tgtd accepts control ports up to 32767.
        let control = (1000 + std::process::id() % 30000).to_string();
        let log = std::env::temp_dir().join(format!("netroot-test-tgtd-{control}.log"));
        let child = Command::new("tgtd")
            .args([
                "-f",
                "-C",
                &control,
                "--iscsi",
                &format!("portal=127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting tgtd");
        let mut t = Tgtd { child, control };
        // Wait until its control socket answers (bounded; the machine is shared).
        for _ in 0..600 {
            if t.adm(&["--mode", "sys", "--op", "show"]).status.success() {
                return t;
            }
            if let Some(st) = t.child.try_wait().unwrap() {
                panic!(
                    "tgtd exited at start ({st}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "tgtd did not answer on control port {} within 60 s",
            t.control
        );
    }
    pub fn adm(&self, args: &[&str]) -> std::process::Output {
        Command::new("tgtadm")
            .args(["-C", &self.control])
            .args(args)
            .output()
            .unwrap()
    }
    pub fn show(&self) -> String {
        let o = self.adm(&["--lld", "iscsi", "--mode", "target", "--op", "show"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn delete_all(&self) {
        let s = self.show();
        for l in s.lines() {
            if let Some(rest) = l.strip_prefix("Target ") {
                let tid = rest.split(':').next().unwrap().to_string();
                self.adm(&[
                    "--lld", "iscsi", "--mode", "target", "--op", "delete", "--force", "--tid",
                    &tid,
                ]);
            }
        }
        for u in ["iscsi-client", "tgt-srv"] {
            self.adm(&[
                "--lld", "iscsi", "--mode", "account", "--op", "delete", "--user", u,
            ]);
        }
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        self.delete_all();
        self.adm(&["--mode", "sys", "--op", "delete"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for f in ["", ".lock"] {
            let _ = std::fs::remove_file(format!("/var/run/tgtd/socket.{}{f}", self.control));
        }
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("netroot-test-tgtd-{}.log", self.control)),
        );
    }
}

/// Send an iSCSI login request (security stage) as `initiator` and return
/// the response's (status class, status detail): (0, 0) = go on to CHAP,
/// (2, 3) = refused by the ACL.
pub fn iscsi_login_status(port: u16, initiator: &str, target: &str) -> (u8, u8) {
    use std::io::{Read, Write};
    let mut data = Vec::new();
    for (k, v) in [
        ("InitiatorName", initiator),
        ("TargetName", target),
        ("SessionType", "Normal"),
        ("AuthMethod", "CHAP,None"),
    ] {
        data.extend_from_slice(format!("{k}={v}").as_bytes());
        data.push(0);
    }
    let len = data.len();
    while data.len() % 4 != 0 {
        data.push(0);
    }
    let mut hdr = [0u8; 48];
    hdr[0] = 0x43; // immediate login request
    hdr[5..8].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    hdr[8..14].copy_from_slice(&[0x40, 0, 0, 0x12, 0x34, 0]); // ISID
    hdr[19] = 1; // ITT
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&hdr).unwrap();
    s.write_all(&data).unwrap();
    let mut r = [0u8; 48];
    s.read_exact(&mut r).unwrap();
    (r[36], r[37])
}

pub fn check_tgt_acl_by_login() {
    let t = "iqn.2024-01.org.example:iscsi-client";
    assert_eq!(
        iscsi_login_status(tgt_port(), "iqn.2024-01.org.example:client50", t),
        (0, 0),
        "the client's name is refused"
    );
    assert_eq!(
        iscsi_login_status(tgt_port(), "iqn.2010-04.org.ipxe:intruder", t),
        (2, 3),
        "another name is admitted"
    );
}

pub fn check_tgt_target(show: &str, image: &str) {
    assert!(
        show.contains("Target 1: iqn.2024-01.org.example:iscsi-client"),
        "{show}"
    );
    let lun1 = show
        .split("LUN: 1")
        .nth(1)
        .unwrap_or_else(|| panic!("no LUN 1:\n{show}"));
    assert!(lun1.contains("Type: disk"), "{show}");
    assert!(
        lun1.contains(&format!("Backing store path: {image}")),
        "{show}"
    );
    let acl = show.split("ACL information:").nth(1).expect("ACL section");
    assert!(acl.contains("iqn.2024-01.org.example:client50"), "{show}");
    assert!(!acl.contains("ALL"), "ACL admits every address:\n{show}");
    assert!(
        show.contains("iscsi-client") && show.contains("tgt-srv (outgoing)"),
        "{show}"
    );
    assert!(!show.contains(SECRET));
}
