//! Plan validation: every example is valid; malformed plans are rejected
//! with the path of the field at fault.

use netroot::plan::{parse_plan, validate::validate_value};
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "version": 1,
        "source": {"type": "live"},
        "target": {"transport": "iscsi", "portal": "192.0.2.1:3260",
                   "iqn": "iqn.2024-01.org.example:c1", "lun": 1},
        "layout": {"table": "gpt", "firmware": "bios",
                   "partitions": [{"mount": "/", "fs": "ext4", "size": "rest"}]},
        "client": {"mac": "52:54:00:12:34:56"}
    })
}

fn set(v: &mut Value, ptr: &str, new: Value) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let p = if parent.is_empty() {
        &mut *v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    match p {
        Value::Object(m) => {
            if new.is_null() {
                m.remove(key);
            } else {
                m.insert(key.to_string(), new);
            }
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
        _ => panic!("bad pointer {ptr}"),
    }
}

/// (pointer to change, new value (null = remove), path the error must name, text it must contain)
fn cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    vec![
        ("/version", json!(2), "version", "not supported"),
        ("/version", Value::Null, "version", "missing"),
        ("/version", json!("1"), "version", "not supported"),
        ("/bogus", json!(true), "bogus", "unknown field"),
        (
            "/target/devise",
            json!("/dev/sdb"),
            "target.devise",
            "unknown field (not part of plan version 1) — did you mean \"device\"?",
        ),
        (
            "/layout/partitions/0/fs",
            json!("ext3"),
            "layout.partitions[0].fs",
            "\"ext3\" is not one of \"ext4\", \"xfs\", \"btrfs\", \"vfat\", \"swap\" — did you mean \"ext4\"?",
        ),
        ("/source", Value::Null, "source", "missing"),
        ("/source/type", json!("zfs"), "source.type", "not one of"),
        (
            "/source",
            json!({"type": "directory"}),
            "source.path",
            "missing",
        ),
        (
            "/source",
            json!({"type": "directory", "path": "relative/dir"}),
            "source.path",
            "absolute",
        ),
        (
            "/source",
            json!({"type": "directory", "path": "/"}),
            "source.path",
            "live",
        ),
        (
            "/source",
            json!({"type": "live", "path": "/x"}),
            "source.path",
            "unknown field",
        ),
        (
            "/source",
            json!({"type": "debootstrap", "suite": "bookworm", "mirror": "ftp://x"}),
            "source.mirror",
            "URL",
        ),
        (
            "/source",
            json!({"type": "debootstrap", "suite": "", "mirror": "http://x"}),
            "source.suite",
            "suite",
        ),
        (
            "/source",
            json!({"type": "debootstrap", "suite": "bookworm", "variant": "tiny"}),
            "source.variant",
            "variant",
        ),
        (
            "/source",
            json!({"type": "debootstrap", "suite": "bookworm", "include": ["a b"]}),
            "source.include[0]",
            "package",
        ),
        (
            "/target/transport",
            json!("nbd"),
            "target.transport",
            "not one of",
        ),
        (
            "/target/portal",
            json!("192.0.2.1:99999"),
            "target.portal",
            "not a portal",
        ),
        ("/target/portal", Value::Null, "target.portal", "missing"),
        (
            "/target/iqn",
            json!("iqn.2024.example"),
            "target.iqn",
            "iSCSI name",
        ),
        (
            "/target/iqn",
            json!("IQN.2024-01.org.example:X"),
            "target.iqn",
            "iSCSI name",
        ),
        ("/target/lun", json!(-1), "target.lun", ""),
        ("/target/lun", json!(20000), "target.lun", "out of range"),
        (
            "/target/size",
            json!("4G"),
            "target.size",
            "only meaningful",
        ),
        (
            "/target/device",
            json!("disk.img"),
            "target.device",
            "absolute",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "s.txt"}),
            "target.chap.secret_file",
            "absolute",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "/s", "target_username": "t"}),
            "target.chap",
            "mutual",
        ),
        (
            "/target/chap",
            json!({"username": "u", "password": "hunter2"}),
            "target.chap.password",
            "unknown field",
        ),
        (
            "/target",
            json!({"transport": "aoe", "shelf": 65535, "slot": 0}),
            "target.shelf",
            "broadcast",
        ),
        (
            "/target",
            json!({"transport": "aoe", "shelf": 1, "slot": 255}),
            "target.slot",
            "broadcast",
        ),
        (
            "/target",
            json!({"transport": "aoe", "shelf": 1, "slot": 300}),
            "target.slot",
            "",
        ),
        (
            "/target",
            json!({"transport": "aoe", "shelf": 1, "slot": 0, "interface": "a/b"}),
            "target.interface",
            "interface",
        ),
        (
            "/target",
            json!({"transport": "aoe", "shelf": 1}),
            "target.slot",
            "missing",
        ),
        ("/layout/table", json!("apm"), "layout.table", ""),
        ("/layout/firmware", json!("coreboot"), "layout.firmware", ""),
        (
            "/layout/partitions/0/size",
            json!("12QB"),
            "layout.partitions[0].size",
            "\"12QB\" is not a size",
        ),
        (
            "/layout/partitions/0/fs",
            json!("ntfs"),
            "layout.partitions[0].fs",
            "",
        ),
        (
            "/layout/partitions/0/mount",
            json!("relative"),
            "layout.partitions[0].mount",
            "absolute",
        ),
        (
            "/layout/partitions/0/mount",
            Value::Null,
            "layout.partitions[0].mount",
            "mount point",
        ),
        (
            "/layout/partitions/0/label",
            json!("a-label-that-is-far-too-long"),
            "layout.partitions[0].label",
            "label",
        ),
        (
            "/layout/partitions",
            json!([]),
            "layout.partitions",
            "at least one",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/home", "fs": "ext4", "size": "rest"}]),
            "layout.partitions",
            "\"/\"",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "ext4", "size": "rest"}, {"fs": "swap", "size": "1G"}]),
            "layout.partitions[0].size",
            "last partition",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "ext4", "size": "1G"}, {"mount": "/", "fs": "xfs", "size": "1G"}]),
            "layout.partitions[1].mount",
            "twice",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "ext4", "size": "1G"}, {"mount": "/swap", "fs": "swap", "size": "1G"}]),
            "layout.partitions[1].mount",
            "swap",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "vfat", "size": "rest"}]),
            "layout.partitions[0].fs",
            "vfat",
        ),
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "ext4", "size": "100K"}]),
            "layout.partitions[0].size",
            "smaller than 1M",
        ),
        (
            "/layout/firmware",
            json!("uefi"),
            "layout.partitions",
            "ESP",
        ),
        ("/layout/wipe", json!("yes"), "layout.wipe", ""),
        (
            "/boot",
            json!({"profile": "gentoo"}),
            "boot.profile",
            "not a profile",
        ),
        (
            "/boot",
            json!({"network": {"interface": "this-name-is-too-long"}}),
            "boot.network.interface",
            "interface",
        ),
        (
            "/boot",
            json!({"network": {"address": {"static": {"address": "10.0.0.1"}}}}),
            "boot.network.address.static.address",
            "PREFIX",
        ),
        (
            "/boot",
            json!({"network": {"address": "bootp"}}),
            "boot.network.address",
            "not one of",
        ),
        (
            "/boot",
            json!({"kernel_args": ["root=/dev/sda1"]}),
            "boot.kernel_args[0]",
            "root=",
        ),
        (
            "/boot",
            json!({"kernel_args": ["a b"]}),
            "boot.kernel_args[0]",
            "one argument",
        ),
        (
            "/boot",
            json!({"serial_console": "com1"}),
            "boot.serial_console",
            "serial",
        ),
        (
            "/boot",
            json!({"iscsi_config": "guess"}),
            "boot.iscsi_config",
            "",
        ),
        ("/client/mac", json!("52:54:00:12:34"), "client.mac", "MAC"),
        (
            "/client/initiator_name",
            json!("client1"),
            "client.initiator_name",
            "iSCSI name",
        ),
        (
            "/copy",
            json!({"exclude": [""]}),
            "copy.exclude[0]",
            "empty",
        ),
        (
            "/system",
            json!({"hostname": "bad_host!"}),
            "system.hostname",
            "hostname",
        ),
        (
            "/system",
            json!({"regenerate": {"host_keys": true}}),
            "system.regenerate.host_keys",
            "unknown field",
        ),
    ]
}

#[test]
fn base_plan_is_valid() {
    validate_value(&base()).unwrap();
}

#[test]
fn malformed_plans_are_rejected_naming_the_field() {
    let cases = cases();
    assert!(cases.len() >= 30);
    for (ptr, new, path, text) in cases {
        let mut v = base();
        set(&mut v, ptr, new.clone());
        let errs = match validate_value(&v) {
            Ok(_) => panic!("{ptr} = {new} should be rejected"),
            Err(e) => e,
        };
        let hit = errs.0.iter().find(|e| e.path == path);
        let Some(hit) = hit else {
            panic!("{ptr} = {new}: no error names {path:?}; got:\n{errs}");
        };
        assert!(
            hit.message.contains(text),
            "{ptr} = {new}: error for {path} says {:?}, expected it to mention {text:?}",
            hit.message
        );
    }
}

#[test]
fn all_errors_are_reported_together() {
    let mut v = base();
    set(&mut v, "/layout/partitions/0/size", json!("12QB"));
    set(&mut v, "/target/iqn", json!("nope"));
    set(&mut v, "/client/mac", json!("zz"));
    set(&mut v, "/bogus", json!(1));
    let e = validate_value(&v).unwrap_err();
    for p in [
        "layout.partitions[0].size",
        "target.iqn",
        "client.mac",
        "bogus",
    ] {
        assert!(e.mentions(p), "{p} missing from:\n{e}");
    }
}

#[test]
fn broken_json_is_reported() {
    let e = parse_plan("{\"version\": 1,").unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
}

#[test]
fn every_example_plan_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            parse_plan(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    for name in [
        "iscsi-gpt-bios",
        "aoe-gpt-bios",
        "aoe-mbr",
        "iscsi-uefi",
        "debootstrap-image",
    ] {
        assert!(
            dir.join(format!("{name}.json")).exists(),
            "docs/examples/{name}.json missing"
        );
    }
    assert!(n >= 5);
}

#[test]
fn schema_is_generated_from_the_types() {
    let s = netroot::plan::schema::plan_schema_value();
    assert_eq!(s["additionalProperties"], json!(false));
    let props = s["properties"].as_object().unwrap();
    for k in [
        "version", "source", "target", "layout", "boot", "client", "copy", "system",
    ] {
        assert!(props.contains_key(k), "schema lacks {k}");
    }
}

/// Typed values (issue #12): each bad value is a plan error naming its
/// field, including the characters that would break generated configs.
#[test]
fn bad_typed_values_are_rejected_naming_the_field() {
    let cases = typed_cases();
    for (ptr, new, path, text) in cases {
        let mut v = base();
        set(&mut v, ptr, new.clone());
        let errs = validate_value(&v).expect_err(&format!("{ptr} = {new} should be rejected"));
        let hit = errs.0.iter().find(|e| e.path == path);
        let Some(hit) = hit else {
            panic!("{ptr} = {new}: no error names {path:?}; got:\n{errs}");
        };
        assert!(
            hit.message.contains(text),
            "{ptr} = {new}: error for {path} says {:?}, expected {text:?}",
            hit.message
        );
    }
}

/// Typed values a parser refuses: (pointer, value, path, text).
fn typed_cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    vec![
        (
            "/target/portal",
            json!("999.1.1.1:3260"),
            "target.portal",
            "not a portal",
        ),
        (
            "/target/portal",
            json!("192.0.2.1:0"),
            "target.portal",
            "not a portal",
        ),
        ("/target/portal", json!(""), "target.portal", "not a portal"),
        (
            "/target/portal",
            json!("a\"b:3260"),
            "target.portal",
            "not a portal",
        ),
        (
            "/target/iqn",
            json!("iqn.2024-01.org.example:a\"b"),
            "target.iqn",
            "iSCSI name",
        ),
        (
            "/target/iqn",
            json!("iqn.2024-01.org.example:a;b"),
            "target.iqn",
            "iSCSI name",
        ),
        (
            "/target/chap",
            json!({"username": "u'x", "secret_file": "/s"}),
            "target.chap.username",
            "quotes",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "/s", "target_username": "t$",
                   "target_secret_file": "/t"}),
            "target.chap.target_username",
            "quotes",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "/s", "target_username": "t",
                   "target_secret_file": "t"}),
            "target.chap.target_secret_file",
            "absolute",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "/a b"}),
            "target.chap.secret_file",
            "blanks",
        ),
        (
            "/client/initiator_name",
            json!("iqn.2024-01.org.example:c'1"),
            "client.initiator_name",
            "iSCSI name",
        ),
        (
            "/client/mac",
            json!("52:54:00:12:34:5g"),
            "client.mac",
            "MAC",
        ),
        (
            "/system",
            json!({"hostname": "a\"b"}),
            "system.hostname",
            "hostname",
        ),
        (
            "/boot",
            json!({"network": {"interface": "eth\"0"}}),
            "boot.network.interface",
            "interface",
        ),
        (
            "/boot",
            json!({"network": {"address": {"static": {"address": "10.0.0.1/33"}}}}),
            "boot.network.address.static.address",
            "PREFIX",
        ),
        (
            "/boot",
            json!({"kernel_args": ["a=\"b\""]}),
            "boot.kernel_args[0]",
            "quotes",
        ),
        (
            "/boot",
            json!({"serial_console": "ttyS0;reboot"}),
            "boot.serial_console",
            "serial",
        ),
        (
            "/layout/partitions/0/mount",
            json!("/a'b"),
            "layout.partitions[0].mount",
            "absolute",
        ),
    ]
}

/// A bad typed value does not hide the other errors of its section.
#[test]
fn typed_and_meaning_errors_of_one_section_are_reported_together() {
    let mut v = base();
    set(&mut v, "/target/portal", json!("192.0.2.1:99999"));
    set(&mut v, "/target/lun", json!(20000));
    let e = validate_value(&v).unwrap_err();
    assert!(
        e.mentions("target.portal") && e.mentions("target.lun"),
        "{e}"
    );
}

#[test]
fn bare_ipv6_portal_is_normalised() {
    let mut v = base();
    set(&mut v, "/target/portal", json!("fd00::1"));
    let plan = validate_value(&v).unwrap();
    let netroot::plan::Target::Iscsi { portal, .. } = &plan.target else {
        panic!("not iscsi")
    };
    assert_eq!(portal.to_string(), "[fd00::1]:3260");
    assert_eq!(portal.port(), netroot::plan::ISCSI_DEFAULT_PORT);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["target"]["portal"], json!("[fd00::1]:3260"));
}

/// serialise → parse gives the same plan for every shipped example.
#[test]
fn example_plans_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let plan = parse_plan(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let again =
            parse_plan(&plan.canonical_json()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(again, plan, "{}", p.display());
        assert_eq!(again.canonical_json(), plan.canonical_json());
    }
}

#[test]
fn a_key_given_twice_is_refused_with_its_path() {
    let text = base()
        .to_string()
        .replacen("\"lun\":1", "\"lun\":1,\"lun\":2", 1);
    assert!(text.contains("\"lun\":1,\"lun\":2"), "{text}");
    let e = parse_plan(&text).unwrap_err();
    assert!(e.mentions("target.lun"), "{e}");
    assert!(e.to_string().contains("given twice"), "{e}");
    // The same plan written once is fine.
    parse_plan(&base().to_string()).unwrap();
}

mod common;

/// Plans only this machine can refuse (`plan validate` and `migrate` check
/// them before any write): (pointer, value, path, text). `{D}` in a string
/// is the scratch directory.
fn machine_cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    vec![
        (
            "/source",
            json!({"type": "directory", "path": "/nonexistent/netroot-tree"}),
            "source.path",
            "must exist",
        ),
        (
            "/source",
            json!({"type": "directory", "path": "{D}/plain-file"}),
            "source.path",
            "not a directory",
        ),
        // A directory, but no system's root: the copy could never finish.
        (
            "/source",
            json!({"type": "directory", "path": "{D}/not-a-root"}),
            "source.path",
            "no etc/os-release",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "{D}/missing.secret"}),
            "target.chap.secret_file",
            "No such file",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "{D}/short.secret"}),
            "target.chap.secret_file",
            "12 to 16",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "{D}/blank.secret"}),
            "target.chap.secret_file",
            "blank",
        ),
        (
            "/target/chap",
            json!({"username": "u", "secret_file": "{D}/good.secret",
                   "target_username": "t", "target_secret_file": "{D}/missing.secret"}),
            "target.chap.target_secret_file",
            "No such file",
        ),
        // The layout must fit the image: 8G of partitions on 64M.
        (
            "/layout/partitions",
            json!([{"mount": "/", "fs": "ext4", "size": "8G"}]),
            "layout.partitions",
            "more than the disk",
        ),
        // 1GB is 10^9 bytes (util-linux), less than a 1G (2^30) partition.
        (
            "/target/size",
            json!("1GB"),
            "layout.partitions",
            "more than the disk",
        ),
        (
            "/boot",
            json!({"serial_console": "ttyS0;reboot"}),
            "boot.serial_console",
            "serial console",
        ),
    ]
}

fn fill(v: &mut Value, dir: &str) {
    match v {
        Value::String(s) => *s = s.replace("{D}", dir),
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, dir)),
        Value::Object(m) => m.values_mut().for_each(|x| fill(x, dir)),
        _ => {}
    }
}

/// The corpus on the user's path: every malformed plan is refused by
/// `netroot plan validate` and by `netroot migrate --yes` with exit 2 and a
/// message naming its field, and the image the plan names is not touched.
#[test]
fn the_malformed_plan_corpus_is_refused_by_the_cli_and_touches_nothing() {
    let scratch = common::Scratch::new("plan-corpus");
    let d = scratch.path.display().to_string();
    std::fs::write(scratch.join("plain-file"), "").unwrap();
    std::fs::create_dir_all(scratch.join("not-a-root/etc")).unwrap();
    std::fs::write(scratch.join("short.secret"), "abc\n").unwrap();
    std::fs::write(scratch.join("blank.secret"), "has a blank 1\n").unwrap();
    std::fs::write(scratch.join("good.secret"), "Sup3r-Secret-42\n").unwrap();
    let image = scratch.join("disk.img");
    std::fs::write(&image, vec![0x5a; 1 << 20]).unwrap();
    let stamp = |p: &std::path::Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.len(), m.modified().unwrap(), std::fs::read(p).unwrap())
    };
    let before = stamp(&image);
    let mut all = cases();
    all.extend(typed_cases());
    all.extend(machine_cases());
    let mut n = 0;
    for (i, (ptr, new, path, text)) in all.into_iter().enumerate() {
        let mut v = base();
        let mut new = new.clone();
        fill(&mut new, &d);
        set(&mut v, ptr, new.clone());
        // The plan names the image (unless the case is about the target's
        // device or size itself).
        if let Some(t) = v.get_mut("target").and_then(|t| t.as_object_mut()) {
            if !t.contains_key("device") && ptr != "/target/size" && ptr != "/target/device" {
                t.insert("device".into(), json!(image));
                t.insert("size".into(), json!("64M"));
            } else if ptr == "/target/size" && path == "layout.partitions" {
                t.insert("device".into(), json!(image));
                v["layout"]["partitions"] = json!([{"mount": "/", "fs": "ext4", "size": "1G"}]);
            }
        }
        let file = scratch.join(&format!("case-{i}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let f = file.display().to_string();
        let state = scratch.join("state").display().to_string();
        for args in [
            vec!["plan", "validate", f.as_str()],
            vec!["migrate", "--plan", &f, "--yes", "--state-dir", &state],
        ] {
            let (code, out, err) = common::netroot(&args, &[]);
            assert_eq!(
                code,
                2,
                "{ptr} = {new}: `netroot {}` exited {code}:\n{out}{err}",
                args.join(" ")
            );
            assert!(
                err.contains(path) && err.contains(text),
                "{ptr} = {new}: `netroot {}` does not name {path:?} with {text:?}:\n{err}",
                args.join(" ")
            );
        }
        assert!(stamp(&image) == before, "{ptr} = {new}: the image changed");
        n += 1;
    }
    // A key given twice (serde would keep the last one silently).
    let dup = scratch.join("dup.json");
    let mut text = serde_json::to_string_pretty(&base()).unwrap();
    text = text.replacen("\"lun\": 1", "\"lun\": 1, \"lun\": 2", 1);
    std::fs::write(&dup, text).unwrap();
    let (code, _, err) = common::netroot(&["plan", "validate", &dup.display().to_string()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("target.lun") && err.contains("twice"), "{err}");
    n += 1;
    assert!(n >= 80, "the corpus has {n} plans");
    assert!(
        !scratch.join("state").exists()
            || std::fs::read_dir(scratch.join("state"))
                .unwrap()
                .next()
                .is_none(),
        "a refused run wrote state"
    );
}
