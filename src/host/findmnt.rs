//! `findmnt -J` output: mounted filesystems, with their use when asked
//! for (`-b -o TARGET,SOURCE,FSTYPE,SIZE,USED`).
//!
//! Why here: the wizard sizes the copy from it, the bootloader step checks
//! what is mounted at the target, the chroot guard finds leftovers; one
//! parse of findmnt's JSON tree (tools::findmnt runs the program). JSON
//! rather than `-r`/`-n` text, since findmnt's raw output escapes bytes as
//! `\xHH`, which each caller had to undo.

use super::lsblk::num_or_str;
use serde::Deserialize;

/// A mounted filesystem with its use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MountFact {
    pub target: String,
    /// Mount source; bind mounts show as `/dev/vda2[/dir]`.
    #[serde(default, deserialize_with = "str_or_null")]
    pub source: String,
    #[serde(default, deserialize_with = "str_or_null")]
    pub fstype: String,
    /// Bytes, when findmnt reported them.
    #[serde(default, deserialize_with = "num_or_str")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "num_or_str")]
    pub used: Option<u64>,
}

fn str_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Node {
    #[serde(flatten)]
    fact: MountFact,
    #[serde(default)]
    children: Vec<Node>,
}

#[derive(Deserialize)]
struct Out {
    filesystems: Vec<Node>,
}

/// Parse `findmnt -J [-b] [-o ...]` (a tree) into a flat list, parents
/// before their children. Empty text (findmnt found nothing) is no mounts.
pub fn parse(json: &str) -> Result<Vec<MountFact>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let out: Out = serde_json::from_str(json).map_err(|e| format!("unexpected output: {e}"))?;
    fn walk(v: Vec<Node>, acc: &mut Vec<MountFact>) {
        for n in v {
            acc.push(n.fact);
            walk(n.children, acc);
        }
    }
    let mut acc = Vec::new();
    walk(out.filesystems, &mut acc);
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn findmnt_root_of_the_guests() {
        let m = parse(&fixture("aoe/findmnt-root.json")).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].target, "/");
        assert_eq!(m[0].source, "/dev/etherd/e0.0p2");
        assert_eq!(m[0].fstype, "ext4");
        assert_eq!(m[0].used, None);
        let m = parse(&fixture("iscsi/findmnt-root.json")).unwrap();
        assert_eq!(m[0].source, "/dev/sda2");
    }

    #[test]
    fn findmnt_tree_with_sizes() {
        let j = r#"{"filesystems":[{"target":"/","source":"/dev/vda2","fstype":"ext4",
            "size":1000,"used":400,"children":[{"target":"/boot/efi","source":"/dev/vda1",
            "fstype":"vfat","size":"100","used":"7"},{"target":"/x","source":null,
            "fstype":"tmpfs","size":null}]}]}"#;
        let m = parse(j).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].target, "/boot/efi");
        assert_eq!(m[1].used, Some(7));
        assert_eq!(m[0].size, Some(1000));
        assert_eq!(m[2].source, "");
        assert_eq!(m[2].size, None);
        assert!(parse("nope").is_err());
        assert_eq!(parse("\n").unwrap(), vec![]);
    }
}
