//! Unit tests of the device lock's keys and of the lock itself.

use super::*;
use crate::plan::parse_plan;

fn plan_on(device: &Path) -> Plan {
    parse_plan(&format!(
        r#"{{"version":1,"source":{{"type":"live"}},
           "target":{{"transport":"aoe","shelf":1,"slot":2,"device":"{}","size":"1G"}},
           "layout":{{"table":"gpt","firmware":"bios",
                      "partitions":[{{"mount":"/","fs":"ext4","size":"rest"}}]}}}}"#,
        device.display()
    ))
    .unwrap()
}

fn keys(p: &Path) -> Vec<String> {
    device_keys(&plan_on(p).target)
        .into_iter()
        .map(|k| k.key)
        .collect()
}

#[test]
fn a_symlink_and_dotdot_name_the_same_image() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let img = dir.join("t.img");
    // Not created yet: the canonical path is the key.
    let missing = keys(&img);
    assert_eq!(missing.len(), 1);
    assert_eq!(keys(&dir.join("../dir/t.img")), missing);
    std::fs::write(&img, b"x").unwrap();
    std::os::unix::fs::symlink(&img, d.path().join("link.img")).unwrap();
    let k = keys(&img);
    assert_eq!(k.len(), 2, "{k:?}");
    assert!(k.iter().any(|k| k.starts_with("file-")), "{k:?}");
    assert!(k.contains(&missing[0]), "the path key stays: {k:?}");
    assert_eq!(keys(&d.path().join("link.img")), k);
    assert_eq!(keys(&dir.join("../dir/t.img")), k);
    // A hard link is the same file under another path.
    std::fs::hard_link(&img, d.path().join("hard.img")).unwrap();
    let h = keys(&d.path().join("hard.img"));
    assert!(h.iter().any(|x| x.starts_with("file-") && k.contains(x)));
    // Another file is another device.
    std::fs::write(dir.join("other.img"), b"y").unwrap();
    let o = keys(&dir.join("other.img"));
    assert!(o.iter().all(|x| !k.contains(x)), "{o:?} {k:?}");
}

#[test]
fn network_disks_are_keyed_by_their_identity() {
    let p = parse_plan(
        r#"{"version":1,"source":{"type":"live"},
           "target":{"transport":"iscsi","portal":"10.0.0.1","iqn":"iqn.2024-01.x.y:disk","lun":3},
           "layout":{"table":"gpt","firmware":"bios",
                     "partitions":[{"mount":"/","fs":"ext4","size":"rest"}]}}"#,
    )
    .unwrap();
    let k = device_keys(&p.target);
    assert_eq!(k[0].key, "iscsi-iqn.2024-01.x.y:disk-lun3");
    let mut a = plan_on(Path::new("/x"));
    a.target = Target::Aoe {
        shelf: 7,
        slot: 1,
        interface: None,
        device: None,
        size: None,
    };
    assert_eq!(device_keys(&a.target)[0].key, "aoe-e7.1");
}

#[test]
fn a_second_holder_is_refused_naming_the_first() {
    let d = tempfile::tempdir().unwrap();
    let locks = d.path().join("locks");
    let img = d.path().join("t.img");
    std::fs::write(&img, b"x").unwrap();
    let p = plan_on(&img);
    let plan_file = d.path().join("one.json");
    let held = acquire(&locks, &p, Some(&plan_file)).unwrap();
    let other = plan_on(&d.path().join("./t.img"));
    let e = acquire(&locks, &other, None).unwrap_err();
    assert!(e.downcast_ref::<Refused>().is_some());
    let m = e.to_string();
    assert!(m.contains(&format!("PID {}", std::process::id())), "{m}");
    assert!(m.contains("one.json"), "{m}");
    assert!(m.contains("t.img"), "{m}");
    let seen = held_by_other(&locks, &other).unwrap();
    assert!(seen.contains("another netroot run"), "{seen}");
    drop(held);
    assert!(held_by_other(&locks, &other).is_none());
    acquire(&locks, &other, None).unwrap();
}

#[test]
fn the_attached_node_is_locked_too() {
    let d = tempfile::tempdir().unwrap();
    let locks = d.path().join("locks");
    let (a, b) = (d.path().join("a.img"), d.path().join("b.img"));
    std::fs::write(&a, b"x").unwrap();
    std::fs::write(&b, b"y").unwrap();
    let mut held = acquire(&locks, &plan_on(&a), None).unwrap();
    // Stands in for the node discover attached (a loop device on a).
    held.extend_to(&b).unwrap();
    held.extend_to(&b).unwrap();
    let e = acquire(&locks, &plan_on(&b), None).unwrap_err();
    assert!(e.to_string().contains("b.img"), "{e}");
}
