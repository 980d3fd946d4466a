//! Typed wrapper for `losetup`: attach image files as loop devices.

use super::{Cmd, Runner};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `losetup -f -P --show [-r] IMAGE`: attach on the first free loop device
/// with partition scanning; prints the device.
pub fn attach_cmd(image: &Path, read_only: bool) -> Cmd {
    let mut c = Cmd::new("losetup").args(["-f", "-P", "--show"]);
    if read_only {
        c = c.arg("-r");
    }
    c.arg(image)
}

/// `losetup -d DEV`.
pub fn detach_cmd(dev: &Path) -> Cmd {
    Cmd::new("losetup").arg("-d").arg(dev)
}

/// `losetup -J -l -O NAME,BACK-FILE,RO`: every loop device.
pub fn list_cmd() -> Cmd {
    Cmd::new("losetup").args(["-J", "-l", "-O", "NAME,BACK-FILE,RO"])
}

/// One attached loop device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoopDev {
    pub name: PathBuf,
    #[serde(rename = "back-file", default)]
    pub back_file: Option<String>,
    #[serde(default, deserialize_with = "boolish")]
    pub ro: bool,
}

fn boolish<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_u64() == Some(1),
        serde_json::Value::String(s) => s == "1",
        _ => false,
    })
}

#[derive(Deserialize)]
struct Wrapper {
    #[serde(default)]
    loopdevices: Vec<LoopDev>,
}

/// Parse `losetup -J -l` output (empty output: no loop devices).
pub fn parse_list(json: &str) -> Result<Vec<LoopDev>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let w: Wrapper = serde_json::from_str(json).context("parsing `losetup -J` output")?;
    Ok(w.loopdevices)
}

/// The loop devices backed by `image` (compared by canonical path).
pub fn backing(runner: &Runner, image: &Path) -> Result<Vec<LoopDev>> {
    let want = std::fs::canonicalize(image).unwrap_or_else(|_| image.to_path_buf());
    let out = runner.query(&list_cmd())?;
    Ok(parse_list(&out.stdout)?
        .into_iter()
        .filter(|l| {
            // The kernel appends " (deleted)" for a removed file: that is
            // another file than one now at the same path.
            l.back_file
                .as_deref()
                .is_some_and(|b| !b.ends_with(" (deleted)") && Path::new(b) == want)
        })
        .collect())
}

/// The device node `losetup --show` printed.
pub fn parse_show(stdout: &str) -> Result<PathBuf> {
    let s = stdout.trim();
    if !s.starts_with("/dev/") {
        anyhow::bail!("losetup printed {s:?}, not a /dev node");
    }
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_argv() {
        assert_eq!(
            attach_cmd(Path::new("/x/disk.img"), true).display(),
            "losetup -f -P --show -r /x/disk.img"
        );
        assert_eq!(
            attach_cmd(Path::new("/x/disk.img"), false).display(),
            "losetup -f -P --show /x/disk.img"
        );
    }

    #[test]
    fn parses_list() {
        let j = r#"{
   "loopdevices": [
      {"name":"/dev/loop0", "back-file":"/var/tmp/a b.img", "ro":false},
      {"name":"/dev/loop1", "back-file":"/var/tmp/c.img (deleted)", "ro":true}
   ]
}"#;
        let l = parse_list(j).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].back_file.as_deref(), Some("/var/tmp/a b.img"));
        assert!(l[1].ro);
        assert!(parse_list("").unwrap().is_empty());
        assert_eq!(
            parse_show("/dev/loop3\n").unwrap(),
            PathBuf::from("/dev/loop3")
        );
        assert!(parse_show("").is_err());
    }
}
