//! Root tier: `netroot discover aoe` errors on a machine without an AoE
//! initiator (this host's kernel has none; a fake `modprobe` first on PATH
//! fails the way the real one does, so the test does not depend on it).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn discover_aoe_without_initiator_says_so() {
    if !common::require_root() {
        return;
    }
    if std::path::Path::new("/sys/module/aoe").exists() {
        eprintln!("skipping: the aoe module is loaded here, so netroot does not run modprobe");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let modprobe = t.path().join("modprobe");
    std::fs::write(
        &modprobe,
        "#!/bin/sh\necho \"modprobe: FATAL: Module aoe not found in directory /lib/modules/$(uname -r)\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&modprobe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", t.path().display(), std::env::var("PATH").unwrap());
    let out = Command::new(common::netroot_bin())
        .args(["discover", "aoe", "--format", "json"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("modprobe aoe failed: this kernel has no AoE initiator")
            && stderr.contains("Module aoe not found"),
        "{stderr}"
    );
    // --format json: the error as data on stdout too.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 1, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this kernel has no AoE initiator"),
        "{v}"
    );

    let out = Command::new(common::netroot_bin())
        .args(["discover", "aoe", "--interface", "no-such-if0"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("--interface: no network interface is named or has the MAC \"no-such-if0\""),
        "{stderr}"
    );
}
