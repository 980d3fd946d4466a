//! The command line: help, exit codes, plan commands.

mod common;
use common::netroot;

#[test]
fn help_teaches_and_lists_every_command() {
    let (code, out, _) = netroot(&["--help"], &[]);
    assert_eq!(code, 0);
    for w in [
        "migrate",
        "plan",
        "status",
        "discover",
        "server",
        "wizard",
        "Exit codes",
        "--dry-run",
    ] {
        assert!(out.contains(w), "--help lacks {w}:\n{out}");
    }
    let (code, out, _) = netroot(&["migrate", "--help"], &[]);
    assert_eq!(code, 0);
    for w in ["--plan", "--dry-run", "--yes", "--format", "--stop-after"] {
        assert!(out.contains(w), "migrate --help lacks {w}");
    }
}

#[test]
fn invalid_plan_exits_2_naming_fields() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p.json");
    std::fs::write(&p, r#"{"version":1,"source":{"type":"live"},"target":{"transport":"aoe","shelf":1,"slot":0},"layout":{"table":"gpt","firmware":"bios","partitions":[{"mount":"/","fs":"ext4","size":"12QB"}]}}"#).unwrap();
    let (code, _, err) = netroot(&["plan", "validate", p.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("layout.partitions[0].size: \"12QB\" is not a size"),
        "{err}"
    );
    let (code, _, err) = netroot(
        &["migrate", "--plan", p.to_str().unwrap(), "--dry-run"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn plan_version_is_checked_first() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p.json");
    std::fs::write(&p, r#"{"version":7,"whatever":true}"#).unwrap();
    let (code, _, err) = netroot(&["plan", "validate", p.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("version: 7 is not supported"), "{err}");
    assert!(
        !err.contains("whatever"),
        "only the version is reported: {err}"
    );
}

#[test]
fn schema_is_json() {
    let (code, out, _) = netroot(&["plan", "schema"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["$defs"].is_object());
}

#[test]
fn status_of_an_untouched_target_is_all_pending() {
    let d = tempfile::tempdir().unwrap();
    let plan = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/aoe-mbr.json");
    let (code, out, err) = netroot(
        &[
            "status",
            "--plan",
            plan,
            "--state-dir",
            d.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // A summary first; every recorded step pending, and the three that
    // every run repeats (discover, preflight, mount) say so.
    assert!(out.starts_with("no journal yet"), "{out}");
    assert_eq!(
        out.matches("pending").count(),
        netroot::engine::StepId::ALL.len() - 3,
        "{out}"
    );
    assert_eq!(out.matches("every run").count(), 3, "{out}");
}

/// docs/cli.md's exit-code table on the user's path: bad input is 2
/// whatever the command (a plan file that is not there, a value that does
/// not parse, a fact `netroot server` needs), a refusal 3.
#[test]
fn exit_codes_follow_the_documented_table() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples");
    let aoe = format!("{examples}/aoe-gpt-bios.json");
    for (args, want) in [
        (vec!["plan", "validate", "/nonexistent/plan.json"], 2),
        (
            vec!["migrate", "--plan", "/nonexistent/plan.json", "--dry-run"],
            2,
        ),
        (vec!["status", "--plan", "/nonexistent/plan.json"], 2),
        (vec!["discover", "iscsi", "--portal", "127.0.0.1:99999"], 2),
        (
            vec!["server", "--plan", &aoe, "--out", "/nonexistent/srv"],
            2,
        ),
        (vec!["server", "apply", "--plan", &aoe, "--dry-run"], 2),
        (vec!["migrate", "--bogus-option"], 2),
    ] {
        let (code, out, err) = netroot(&args, &[]);
        assert_eq!(code, want, "netroot {}:\n{out}{err}", args.join(" "));
        assert!(
            err.starts_with("netroot") || err.starts_with("error"),
            "netroot {}: {err}",
            args.join(" ")
        );
    }
}

/// A report whose reader went away (`| head`) ends the command quietly,
/// as shell tools do: no panic, no exit 101.
#[test]
fn a_closed_stdout_is_no_panic() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::netroot_bin())
        .args(["plan", "schema"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `--plan` works on `plan validate` as on every other command.
#[test]
fn plan_validate_takes_plan_like_every_command() {
    let ex = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/iscsi-gpt-bios.json"
    );
    let (code, out, err) = netroot(&["plan", "validate", "--plan", ex], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid plan"), "{out}");
    let (code, out, err) = netroot(&["plan", "validate", ex], &[]);
    assert_eq!(code, 0, "{out}{err}");
}

/// What `netroot server` needs of a plan is checked by `plan validate
/// --for server`, before the user runs the server side.
#[test]
fn plan_validate_for_server_names_what_the_server_needs() {
    let ex = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/debootstrap-image.json"
    );
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex).unwrap()).unwrap();
    let (code, _, err) = netroot(&["plan", "validate", "--for", "server", ex], &[]);
    assert_eq!(code, 0, "the shipped demo plan serves: {err}");
    plan.as_object_mut().unwrap().remove("client");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nomac.json");
    std::fs::write(&f, plan.to_string()).unwrap();
    let f = f.to_str().unwrap();
    let (code, out, err) = netroot(&["plan", "validate", f], &[]);
    assert_eq!(
        code, 0,
        "without --for server a plan needs no MAC: {out}{err}"
    );
    let (code, _, err) = netroot(&["plan", "validate", "--for", "server", f], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("client.mac is missing"), "{err}");
}

/// `--format json` on every command that reports: its answer and its
/// errors are JSON on stdout, with the documented exit code inside.
#[test]
fn format_json_answers_and_errors_as_data() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples");
    let aoe = format!("{examples}/aoe-gpt-bios.json");
    let (code, out, err) = netroot(&["plan", "validate", &aoe, "--format", "json"], &[]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true, "{out}");
    // Field errors as a list, every one with its path.
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.json");
    std::fs::write(&bad, r#"{"version":1,"source":{"type":"live"},"target":{"transport":"aoe","shelf":1,"slot":0,"intreface":"x"},"layout":{"table":"gpt","firmware":"bios","partitions":[{"mount":"/","fs":"ext3","size":"12QB"}]}}"#).unwrap();
    let (code, out, _) = netroot(
        &[
            "plan",
            "validate",
            bad.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let paths: Vec<&str> = v["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for want in [
        "target.intreface",
        "layout.partitions[0].fs",
        "layout.partitions[0].size",
    ] {
        assert!(paths.contains(&want), "{want} missing: {out}");
    }
    // Every failing command of the exit-code table, with --format json.
    for (args, want) in [
        (vec!["plan", "validate", "/nonexistent/plan.json"], 2),
        (
            vec!["migrate", "--plan", "/nonexistent/plan.json", "--dry-run"],
            2,
        ),
        (vec!["status", "--plan", "/nonexistent/plan.json"], 2),
        (vec!["discover", "iscsi", "--portal", "127.0.0.1:99999"], 2),
        (
            vec!["server", "--plan", &aoe, "--out", "/nonexistent/srv"],
            2,
        ),
        (vec!["server", "apply", "--plan", &aoe, "--dry-run"], 2),
    ] {
        let mut a = args.clone();
        a.extend(["--format", "json"]);
        let (code, out, err) = netroot(&a, &[]);
        assert_eq!(code, want, "netroot {}:\n{out}{err}", a.join(" "));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("netroot {}: stdout is no JSON ({e}):\n{out}", a.join(" ")));
        assert_eq!(v["error"]["exit_code"], want, "{out}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 10, "{out}");
    }
    // server's files as data.
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &aoe,
            "--out",
            d.path().join("srv").to_str().unwrap(),
            "--server-ip",
            "192.0.2.1/24",
            "--interface",
            "eth1",
            "--export-device",
            "/srv/netroot/a.img",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["files"].as_array().unwrap().len() >= 3, "{out}");
    assert!(
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "write_file"),
        "{out}"
    );
}

/// The event stream's schema is published like the plan's.
#[test]
fn events_schema_is_json_and_names_the_version() {
    let (code, out, _) = netroot(&["plan", "schema", "--events"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = v.to_string();
    for w in ["\"v\"", "\"ts\"", "step_end", "duration_ms", "exit_code"] {
        assert!(text.contains(w), "the schema lacks {w}: {out}");
    }
}

/// Every option of every command says what it does in `--help`.
#[test]
fn every_option_is_described() {
    fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} --{}", a.get_id()));
            }
        }
        for s in c.get_subcommands() {
            if s.get_name() != "help" {
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&netroot::cli::command(), "netroot", &mut missing);
    assert!(missing.is_empty(), "options without help: {missing:?}");
}
