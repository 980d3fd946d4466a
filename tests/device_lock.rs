//! Root tier: one run at a time per target device, whatever the plans call
//! it; and the copy never copies its own target image.
//!
//! - Two plans (other file names, other state and work dirs) name the same
//!   image, one through `dir/../dir/`, one through a symlink. Run 1 is a real
//!   `netroot migrate`, stopped by its own test hook (SIGSTOP) after the
//!   first write of `partition`, holding its locks. Run 2 must be refused
//!   (exit 3) naming run 1's PID and plan, before writing anything; so is
//!   a third plan naming the loop device run 1 attached.
//! - A directory source holding the plan's own target image under
//!   var/tmp: the dry run's rsync excludes it, the copied tree lacks it.

mod common;
mod data_support;

use common::Scratch;
use netroot::plan::{parse_plan, resolve_layout};
use std::path::Path;
use std::process::{Command, Stdio};

fn plan_text(src: &Path, img: &Path) -> String {
    common::dir_plan(src, img, "lock", "1G", false)
}

fn migrate_args(s: &Scratch, plan: &str, n: &str, stop_after: &str, dry: bool) -> Vec<String> {
    let mut v: Vec<String> = ["migrate", "--plan", plan, "--stop-after", stop_after]
        .map(String::from)
        .to_vec();
    v.push(if dry { "--dry-run" } else { "--yes" }.into());
    for (flag, dir) in [("--state-dir", "state"), ("--work-dir", "work")] {
        v.push(flag.into());
        v.push(s.join(&format!("{dir}{n}")).display().to_string());
    }
    v
}

#[test]
fn a_second_plan_naming_the_same_image_is_refused() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("lock-two-plans");
    common::tiny_source(&s.join("src"));
    std::fs::create_dir(s.join("imgs")).unwrap();
    std::os::unix::fs::symlink(s.join("imgs"), s.join("link")).unwrap();
    let one = s.join("one.json");
    let two = s.join("two.json");
    std::fs::write(
        &one,
        plan_text(&s.join("src"), &s.join("imgs/../imgs/t.img")),
    )
    .unwrap();
    std::fs::write(&two, plan_text(&s.join("src"), &s.join("link/t.img"))).unwrap();
    let locks = s.join("locks").display().to_string();
    let log = s.join("run1.log");
    let mut run1 = Command::new(common::netroot_bin())
        .args(migrate_args(
            &s,
            one.to_str().unwrap(),
            "1",
            "finalize",
            false,
        ))
        .env("NETROOT_TEST_STOP_AT", "partition:1")
        .env("NETROOT_LOCK_DIR", &locks)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    common::wait_stopped(&mut run1, &log);
    let img = s.join("imgs/t.img");
    let before = common::sha256_file(&img);
    let args = migrate_args(&s, two.to_str().unwrap(), "2", "copy", false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = common::netroot(&args, &[("NETROOT_LOCK_DIR", &locks)]);
    let wrote_journal = s.join("state2").exists();
    // A third plan naming run 1's loop device: the same device.
    let out = Command::new("losetup")
        .args(["-n", "-O", "NAME", "-j"])
        .arg(&img)
        .output()
        .unwrap();
    let node = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        node.starts_with("/dev/loop"),
        "run 1 attached no loop device"
    );
    let three = s.join("three.json");
    std::fs::write(&three, plan_text(&s.join("src"), Path::new(&node))).unwrap();
    let a3 = migrate_args(&s, three.to_str().unwrap(), "3", "copy", false);
    let a3: Vec<&str> = a3.iter().map(String::as_str).collect();
    let (code3, _, err3) = common::netroot(&a3, &[("NETROOT_LOCK_DIR", &locks)]);
    // A dry run takes no lock but says who holds it.
    let mut dry = args.clone();
    dry.retain(|a| *a != "--yes");
    dry.push("--dry-run");
    let (dcode, dout, derr) = common::netroot(&dry, &[("NETROOT_LOCK_DIR", &locks)]);
    let _ = run1.kill();
    let _ = run1.wait();
    assert_eq!(code, 3, "run 2 was not refused:\n{err}");
    assert!(err.contains(&format!("PID {}", run1.id())), "{err}");
    assert!(err.contains("one.json"), "{err}");
    assert!(err.contains("t.img"), "{err}");
    assert_eq!(common::sha256_file(&img), before, "run 2 changed the image");
    assert!(!wrote_journal, "run 2 wrote its journal");
    assert_eq!(
        code3, 3,
        "a plan naming the loop device was not refused:\n{err3}"
    );
    assert!(err3.contains(&format!("PID {}", run1.id())), "{err3}");
    assert_eq!(dcode, 0, "{derr}");
    assert!(dout.contains(&format!("PID {}", run1.id())), "{dout}");
}

#[test]
fn the_copy_leaves_out_its_own_target_image() {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new("lock-own-image");
    let src = s.join("src");
    common::tiny_source(&src);
    std::fs::create_dir_all(src.join("var/tmp")).unwrap();
    let img = src.join("var/tmp/target.img");
    let text = plan_text(&src, &img);
    let plan_file = s.join("plan.json");
    std::fs::write(&plan_file, &text).unwrap();
    let envs = [("NETROOT_LOCK_DIR", s.join("locks").display().to_string())];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pf = plan_file.display().to_string();
    let args = migrate_args(&s, &pf, "", "copy", false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The dry run (before the image exists) shows the exclusion.
    let mut dry: Vec<&str> = args.clone();
    dry.retain(|a| *a != "--yes");
    dry.push("--dry-run");
    let (code, out, err) = common::netroot(&dry, &envs);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--exclude=/var/tmp/target.img"), "{out}");
    let (code, _, err) = common::netroot(&args, &envs);
    assert_eq!(code, 0, "{err}");
    let plan = parse_plan(&text).unwrap();
    let layout = resolve_layout(&plan.layout, 1 << 30, &plan.layout_seed()).unwrap();
    let m = data_support::Mounted::new(&img, &layout, &s.join("mnt"));
    assert!(m.mnt.join("usr/bin/hello").exists(), "the copy did not run");
    assert!(m.mnt.join("var/tmp").is_dir());
    assert!(
        !m.mnt.join("var/tmp/target.img").exists(),
        "the target image was copied into itself"
    );
}
