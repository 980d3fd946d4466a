//! Root tier: a dry run changes no byte of the target image, writes no
//! journal, and its report lists the destructive actions.

mod common;

use common::{private_mounts, require_root, sha256_file, Scratch};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write_plan(s: &Scratch, img: &Path, layout: serde_json::Value) -> PathBuf {
    let src = s.join("src");
    common::tiny_source(&src);
    std::fs::write(src.join("hello"), "hello\n").unwrap();
    let plan = json!({
        "version": 1,
        "source": {"type": "directory", "path": src},
        "target": {"transport": "iscsi", "portal": "127.0.0.1", "iqn": "iqn.2024-01.test.netroot:dry",
                   "device": img, "size": "512M"},
        "layout": layout,
    });
    let p = s.join("plan.json");
    std::fs::write(&p, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    p
}

fn layout() -> serde_json::Value {
    json!({"table": "gpt", "firmware": "bios", "partitions": [
        {"fs": "swap", "size": "64M"},
        {"mount": "/", "fs": "ext4", "size": "rest"}
    ]})
}

fn run(s: &Scratch, args: &[&str]) -> (i32, String, String) {
    let state = s.join("state").display().to_string();
    let work = s.join("work").display().to_string();
    common::netroot(
        args,
        &[
            ("NETROOT_STATE_DIR", state.as_str()),
            ("NETROOT_WORK_DIR", work.as_str()),
        ],
    )
}

fn no_journal(s: &Scratch) {
    let state = s.join("state");
    let files: Vec<_> = std::fs::read_dir(&state)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "a dry run wrote {files:?}");
}

fn not_attached(img: &Path) {
    let out = Command::new("losetup").arg("-j").arg(img).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "the dry run left a loop device"
    );
}

#[test]
fn dry_run_on_an_existing_image_changes_nothing_and_lists_destructive_actions() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-existing");
    let img = s.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(512 << 20).unwrap();
    drop(f);
    let plan = write_plan(&s, &img, layout());
    let sha = sha256_file(&img);
    let (code, out, err) = run(
        &s,
        &[
            "migrate",
            "--plan",
            plan.to_str().unwrap(),
            "--dry-run",
            "--stop-after",
            "mount",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(sha256_file(&img), sha, "the dry run changed the image");
    no_journal(&s);
    not_attached(&img);
    assert!(out.contains("DRY RUN"), "{out}");
    assert!(out.contains("DESTRUCTIVE"), "{out}");
    assert!(out.contains("! $ wipefs -a /dev/loop"), "{out}");
    assert!(out.contains("! * write the GPT table"), "{out}");
    assert!(out.contains("! $ mkfs.ext4 -F -q -U"), "{out}");
    assert!(out.contains("! $ mkswap -f -U"), "{out}");
    assert!(
        out.contains("destructive actions (marked !) would destroy data"),
        "{out}"
    );
}

#[test]
fn dry_run_with_a_missing_image_creates_nothing() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-missing");
    let img = s.join("new/disk.img");
    let plan = write_plan(&s, &img, layout());
    let (code, out, err) = run(
        &s,
        &[
            "migrate",
            "--plan",
            plan.to_str().unwrap(),
            "--dry-run",
            "--stop-after",
            "mount",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!img.exists(), "the dry run created the image");
    no_journal(&s);
    assert!(out.contains("create the sparse image file"), "{out}");
    assert!(out.contains("/dev/loopN (attached at run time)"), "{out}");
    assert!(out.contains("! $ mkfs.ext4"), "{out}");
}

#[test]
fn dry_run_after_a_real_run_reports_done_and_changes_nothing() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-done");
    let img = s.join("disk.img");
    let plan = write_plan(&s, &img, layout());
    let p = plan.to_str().unwrap();
    let (code, out, err) = run(
        &s,
        &["migrate", "--plan", p, "--yes", "--stop-after", "format"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let journal = std::fs::read_dir(s.join("state")).unwrap().count();
    let sha = sha256_file(&img);
    let (code, out, err) = run(
        &s,
        &[
            "migrate",
            "--plan",
            p,
            "--dry-run",
            "--format",
            "json",
            "--stop-after",
            "mount",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(sha256_file(&img), sha, "the dry run changed the image");
    assert_eq!(std::fs::read_dir(s.join("state")).unwrap().count(), journal);
    not_attached(&img);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    for st in r["steps"].as_array().unwrap() {
        if st["step"] == "partition" || st["step"] == "format" {
            assert_eq!(st["status"], "done", "{st}");
            assert!(st["actions"].as_array().unwrap().is_empty(), "{st}");
        }
    }
}

#[test]
fn whole_plan_dry_run_of_a_root_tree_changes_nothing() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-whole");
    let img = s.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(1536 << 20).unwrap();
    drop(f);
    let plan = json!({
        "version": 1,
        "source": {"type": "directory", "path": common::rootfs()},
        "target": {"transport": "aoe", "shelf": 3, "slot": 2, "device": img},
        "layout": layout(),
    });
    let p = s.join("plan.json");
    std::fs::write(&p, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let sha = sha256_file(&img);
    let (code, out, err) = run(&s, &["migrate", "--plan", p.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(sha256_file(&img), sha, "the dry run changed the image");
    no_journal(&s);
    not_attached(&img);
    assert!(!out.contains("not reached"), "{out}");
    assert!(out.contains("! $ mkfs.ext4"), "{out}");
}

#[test]
fn dry_run_without_a_kernel_yet_shows_the_initramfs_commands_with_a_placeholder() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-kver");
    let img = s.join("disk.img");
    // A debootstrap source: which kernel the target will have is not known
    // before the run installs it.
    let plan = json!({
        "version": 1,
        "source": {"type": "debootstrap", "suite": "bookworm", "mirror": "http://deb.debian.org/debian"},
        "target": {"transport": "aoe", "shelf": 3, "slot": 1, "device": img, "size": "2G"},
        "layout": {"table": "gpt", "firmware": "bios", "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]},
        "boot": {"profile": "debian"},
    });
    let p = s.join("plan.json");
    std::fs::write(&p, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let (code, out, err) = run(&s, &["migrate", "--plan", p.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!img.exists(), "the dry run created the image");
    no_journal(&s);
    assert!(out.contains("$ debootstrap"), "{out}");
    assert!(out.contains("update-initramfs -c -k KVER"), "{out}");
    assert!(out.contains("lsinitramfs /boot/initrd.img-KVER"), "{out}");
    assert!(out.contains("KVER stands for each kernel"), "{out}");
}

/// The JSON lines of `text` that are events (stderr also carries the
/// human warnings).
fn events(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `--progress json`: a start event, each step framed with its duration, an
/// end event; on stderr (or the fd given), never mixed into the report on
/// stdout. A failure ends the stream with the error and the exit code.
#[test]
fn progress_json_is_a_versioned_stream_beside_the_report() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-events");
    let img = s.join("new/disk.img");
    let plan = write_plan(&s, &img, layout());
    let p = plan.to_str().unwrap();
    let (code, out, err) = run(
        &s,
        &[
            "migrate",
            "--plan",
            p,
            "--dry-run",
            "--stop-after",
            "mount",
            "--progress",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!out.contains("\"event\""), "events on stdout:\n{out}");
    assert!(
        out.contains("! $ mkfs.ext4"),
        "the report is on stdout:\n{out}"
    );
    let ev = events(&err);
    assert!(ev.iter().all(|e| e["v"] == 1 && e["ts"].is_u64()), "{err}");
    assert_eq!(ev.first().unwrap()["event"], "start", "{err}");
    assert_eq!(ev.first().unwrap()["dry_run"], true, "{err}");
    let end = ev.last().unwrap();
    assert_eq!(
        (&end["event"], &end["status"], &end["exit_code"]),
        (&"end".into(), &"ok".into(), &0.into()),
        "{err}"
    );
    let starts = ev.iter().filter(|e| e["event"] == "step_start").count();
    let ends: Vec<_> = ev.iter().filter(|e| e["event"] == "step_end").collect();
    assert_eq!(starts, 5, "discover … mount: {err}");
    assert_eq!(ends.len(), 5, "{err}");
    assert!(ends.iter().all(|e| e["duration_ms"].is_u64()), "{err}");
    assert!(
        ends.iter().any(|e| e["status"] == "would_run"),
        "a dry run of a new image has steps to run: {err}"
    );
    // The same stream on a file descriptor the shell opened; stderr keeps
    // none of it.
    let file = s.join("run.jsonl");
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec {} migrate --plan {p} --dry-run --stop-after mount --progress-fd 3 3>{}",
            common::netroot_bin().display(),
            file.display()
        ))
        .env("NETROOT_STATE_DIR", s.join("state"))
        .env("NETROOT_WORK_DIR", s.join("work"))
        .output()
        .unwrap();
    let err2 = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err2}");
    assert!(events(&err2).is_empty(), "events on stderr: {err2}");
    let fd_ev = events(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(fd_ev.len(), ev.len(), "{fd_ev:?}");
    // A fd that is not open: bad input, before anything.
    let (code, _, err) = run(
        &s,
        &["migrate", "--plan", p, "--dry-run", "--progress-fd", "9"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--progress-fd 9"), "{err}");
    // A failure: the end event carries it, and --format json puts it on
    // stdout as data.
    let (code, out, err) = run(
        &s,
        &[
            "migrate",
            "--plan",
            "/nonexistent/plan.json",
            "--dry-run",
            "--progress",
            "json",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let end = events(&err).pop().unwrap();
    assert_eq!(end["status"], "failed", "{err}");
    assert_eq!(end["exit_code"], 2, "{err}");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/plan.json"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["exit_code"], 2, "{out}");
    no_journal(&s);
}

/// The exit-code table of `netroot --help` and docs/cli.md, walked on one
/// plan: 0 for a dry run that reports, 1 for a step that fails, 2 for bad
/// input, 3 for a destructive step without --yes (refused before it
/// writes a byte). Each code is also in the `end` event.
#[test]
fn the_exit_code_table_holds_on_a_real_plan() {
    if !require_root() {
        return;
    }
    private_mounts();
    let s = Scratch::new("dry-exit-codes");
    let img = s.join("disk.img");
    let plan = write_plan(&s, &img, layout());
    let p = plan.to_str().unwrap();
    let bad = s.join("bad.json");
    std::fs::write(&bad, "{\"version\": 1}").unwrap();
    let b = bad.to_str().unwrap();
    for (args, want) in [
        // The tree has no etc/: the copy step fails (1), in a dry run too.
        (
            vec!["migrate", "--plan", p, "--dry-run", "--stop-after", "mount"],
            0,
        ),
        (vec!["migrate", "--plan", p, "--dry-run"], 1),
        (vec!["migrate", "--plan", b, "--dry-run"], 2),
        (vec!["migrate", "--plan", p], 3),
    ] {
        let mut a = args.clone();
        a.extend(["--progress", "json"]);
        let (code, out, err) = run(&s, &a);
        assert_eq!(code, want, "netroot {}:\n{out}{err}", a.join(" "));
        let end = events(&err).pop().unwrap_or_default();
        assert_eq!(end["exit_code"], want, "{err}");
    }
    // The refused run wrote nothing on the image (created sparse: all
    // zeros) and left it detached.
    not_attached(&img);
    let bytes = std::fs::read(&img).unwrap();
    assert!(
        bytes.iter().all(|&b| b == 0),
        "the refused run wrote to the image"
    );
}
