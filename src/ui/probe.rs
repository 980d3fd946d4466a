//! Facts about the machine the wizard runs on: distro, kernel, firmware,
//! mounted filesystems, NICs and local disks.
//!
//! Files are read below a root path (normally `/`) so tests can point the
//! probe at a fake tree built from tests/fixtures/; commands (`findmnt`,
//! `lsblk`, `du`) go through the runner's read-only `query` and their
//! output is parsed by pure functions.

use crate::plan::Firmware;
use crate::tools::{Cmd, Runner};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What `/etc/os-release` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsInfo {
    /// PRETTY_NAME, e.g. "Debian GNU/Linux 12 (bookworm)".
    pub pretty: String,
    /// ID, e.g. "debian".
    pub id: String,
    /// VERSION_ID, e.g. "12".
    pub version_id: String,
}

/// A mounted filesystem with its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFact {
    pub target: String,
    pub source: String,
    pub fstype: String,
    /// Bytes, when findmnt reported them.
    pub size: Option<u64>,
    pub used: Option<u64>,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    /// operstate: "up", "down", "unknown".
    pub operstate: String,
    /// Kernel driver (basename of device/driver), absent for virtual NICs.
    pub driver: Option<String>,
}

impl Nic {
    /// The link is up.
    pub fn is_up(&self) -> bool {
        self.operstate == "up"
    }
}

/// A local disk as lsblk lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFact {
    pub path: String,
    pub size: u64,
    pub model: Option<String>,
    pub tran: Option<String>,
}

/// Everything the wizard knows about this machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub os: OsInfo,
    pub kernel: String,
    pub hostname: String,
    /// UEFI when /sys/firmware/efi exists, else BIOS.
    pub firmware: Option<Firmware>,
    pub mounts: Vec<MountFact>,
    pub nics: Vec<Nic>,
    pub disks: Vec<DiskFact>,
    /// Things that could not be probed (shown, never fatal).
    pub problems: Vec<String>,
}

impl Facts {
    /// The firmware this machine booted with (BIOS when unknown).
    pub fn firmware(&self) -> Firmware {
        self.firmware.unwrap_or(Firmware::Bios)
    }
    /// The mounted root filesystem.
    pub fn root_mount(&self) -> Option<&MountFact> {
        self.mounts.iter().find(|m| m.target == "/")
    }
    /// The mounts of block-device filesystems, each filesystem once (bind
    /// mounts, shown by findmnt as `/dev/vda[/dir]`, are left out).
    pub fn local_mounts(&self) -> Vec<&MountFact> {
        let mut seen = std::collections::BTreeSet::new();
        self.mounts
            .iter()
            .filter(|m| m.source.starts_with("/dev/") && !m.source.contains('['))
            .filter(|m| seen.insert(m.source.clone()))
            .collect()
    }
    /// Bytes used by the local filesystems a live copy takes.
    pub fn used_bytes(&self) -> u64 {
        self.local_mounts().iter().filter_map(|m| m.used).sum()
    }
    /// NICs worth booting from: not loopback, with a MAC.
    pub fn boot_nics(&self) -> Vec<&Nic> {
        let mut v: Vec<&Nic> = self
            .nics
            .iter()
            .filter(|n| n.name != "lo" && n.mac != "00:00:00:00:00:00" && !n.mac.is_empty())
            .collect();
        // Physical NICs with a link first, then the rest, stable by name.
        v.sort_by_key(|n| (!n.is_up(), n.driver.is_none(), n.name.clone()));
        v
    }
}

/// Probe the machine whose root is `root` (normally `/`).
pub fn gather(root: &Path, runner: &Runner) -> Facts {
    let mut f = Facts {
        os: parse_os_release(&read(root, "etc/os-release").unwrap_or_default()),
        kernel: read(root, "proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        hostname: read(root, "etc/hostname")
            .or_else(|| read(root, "proc/sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        firmware: Some(firmware_at(root)),
        nics: nics_at(root),
        ..Facts::default()
    };
    match runner.query(&Cmd::new("findmnt").args([
        "-J",
        "-b",
        "--real",
        "-o",
        "TARGET,SOURCE,FSTYPE,SIZE,USED",
    ])) {
        Ok(o) => match parse_findmnt(&o.stdout) {
            Ok(m) => f.mounts = m,
            Err(e) => f.problems.push(format!("findmnt: {e}")),
        },
        Err(e) => f.problems.push(format!("findmnt: {e:#}")),
    }
    match runner.query(&Cmd::new("lsblk").args([
        "-J",
        "-b",
        "-o",
        "NAME,PATH,SIZE,TYPE,MODEL,TRAN",
    ])) {
        Ok(o) => match parse_lsblk_disks(&o.stdout) {
            Ok(d) => f.disks = d,
            Err(e) => f.problems.push(format!("lsblk: {e}")),
        },
        Err(e) => f.problems.push(format!("lsblk: {e:#}")),
    }
    f
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

/// UEFI when `<root>/sys/firmware/efi` exists.
pub fn firmware_at(root: &Path) -> Firmware {
    if root.join("sys/firmware/efi").is_dir() {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// Parse /etc/os-release (shell-style KEY=value, optionally quoted).
pub fn parse_os_release(text: &str) -> OsInfo {
    let mut o = OsInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "PRETTY_NAME" => o.pretty = v,
            "ID" => o.id = v,
            "VERSION_ID" => o.version_id = v,
            _ => {}
        }
    }
    if o.pretty.is_empty() {
        o.pretty = if o.id.is_empty() {
            "unknown Linux".into()
        } else {
            format!("{} {}", o.id, o.version_id).trim().to_string()
        };
    }
    o
}

#[derive(Deserialize)]
struct FindmntOut {
    filesystems: Vec<FindmntFs>,
}

#[derive(Deserialize)]
struct FindmntFs {
    target: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    fstype: Option<String>,
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    used: Option<serde_json::Value>,
    #[serde(default)]
    children: Vec<FindmntFs>,
}

/// A byte count as findmnt/lsblk print it with -b: a number, or a string
/// of digits (older util-linux).
fn bytes(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// Parse `findmnt -J [-b] [-o ...]` (a tree) into a flat list.
pub fn parse_findmnt(json: &str) -> Result<Vec<MountFact>, String> {
    let out: FindmntOut =
        serde_json::from_str(json).map_err(|e| format!("unexpected output: {e}"))?;
    fn walk(v: &[FindmntFs], acc: &mut Vec<MountFact>) {
        for f in v {
            acc.push(MountFact {
                target: f.target.clone(),
                source: f.source.clone().unwrap_or_default(),
                fstype: f.fstype.clone().unwrap_or_default(),
                size: bytes(&f.size),
                used: bytes(&f.used),
            });
            walk(&f.children, acc);
        }
    }
    let mut acc = Vec::new();
    walk(&out.filesystems, &mut acc);
    Ok(acc)
}

#[derive(Deserialize)]
struct LsblkOut {
    blockdevices: Vec<LsblkDev>,
}

#[derive(Deserialize)]
struct LsblkDev {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    tran: Option<String>,
}

/// Parse `lsblk -J -b` and keep the disks (not partitions, ROMs, loops).
pub fn parse_lsblk_disks(json: &str) -> Result<Vec<DiskFact>, String> {
    let out: LsblkOut =
        serde_json::from_str(json).map_err(|e| format!("unexpected output: {e}"))?;
    Ok(out
        .blockdevices
        .into_iter()
        .filter(|d| d.kind.as_deref() == Some("disk"))
        .map(|d| DiskFact {
            path: d.path.unwrap_or_else(|| format!("/dev/{}", d.name)),
            size: bytes(&d.size).unwrap_or(0),
            model: d
                .model
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty()),
            tran: d.tran,
        })
        .collect())
}

/// The NICs under `<root>/sys/class/net`.
pub fn nics_at(root: &Path) -> Vec<Nic> {
    let dir = root.join("sys/class/net");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<Nic> = rd
        .flatten()
        .map(|e| {
            let p = e.path();
            let get = |f: &str| {
                std::fs::read_to_string(p.join(f))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            Nic {
                name: e.file_name().to_string_lossy().into_owned(),
                mac: get("address"),
                operstate: get("operstate"),
                driver: driver_of(&p),
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn driver_of(nic_dir: &Path) -> Option<String> {
    let link: PathBuf = std::fs::read_link(nic_dir.join("device/driver")).ok()?;
    link.file_name().map(|s| s.to_string_lossy().into_owned())
}

/// Bytes used by a directory tree (`du -sxb`), for an offline source.
pub fn tree_bytes(runner: &Runner, dir: &Path) -> Option<u64> {
    let o = runner.query(&Cmd::new("du").arg("-sxb").arg(dir)).ok()?;
    o.stdout.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(p),
        )
        .unwrap()
    }

    /// The `key: value` lines of an e2e-catdir dump.
    fn catdir(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A fake root built from the AoE guest's captured files.
    fn fake_root(case: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/os-release"),
            fixture(&format!("{case}/os-release.txt")),
        )
        .unwrap();
        std::fs::create_dir_all(r.join("proc/sys/kernel")).unwrap();
        std::fs::write(
            r.join("proc/sys/kernel/osrelease"),
            fixture(&format!("{case}/uname-r.txt")),
        )
        .unwrap();
        let nic = r.join("sys/class/net/ens3");
        std::fs::create_dir_all(nic.join("device")).unwrap();
        for (k, v) in catdir(&fixture(&format!("{case}/sys-class-net-ens3.txt"))) {
            if k == "address" || k == "operstate" {
                std::fs::write(nic.join(&k), format!("{v}\n")).unwrap();
            }
        }
        let driver = fixture(&format!("{case}/nic-drivers.txt"));
        std::os::unix::fs::symlink(driver.trim(), nic.join("device/driver")).unwrap();
        let lo = r.join("sys/class/net/lo");
        std::fs::create_dir_all(&lo).unwrap();
        std::fs::write(lo.join("address"), "00:00:00:00:00:00\n").unwrap();
        std::fs::write(lo.join("operstate"), "unknown\n").unwrap();
        d
    }

    #[test]
    fn os_release_of_the_guest() {
        let o = parse_os_release(&fixture("aoe/os-release.txt"));
        assert_eq!(o.pretty, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(o.id, "debian");
        assert_eq!(o.version_id, "12");
        assert_eq!(parse_os_release("ID=foo\n").pretty, "foo");
    }

    #[test]
    fn findmnt_root_of_the_guests() {
        let m = parse_findmnt(&fixture("aoe/findmnt-root.json")).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].target, "/");
        assert_eq!(m[0].source, "/dev/etherd/e0.0p2");
        assert_eq!(m[0].fstype, "ext4");
        assert_eq!(m[0].used, None);
        let m = parse_findmnt(&fixture("iscsi/findmnt-root.json")).unwrap();
        assert_eq!(m[0].source, "/dev/sda2");
    }

    #[test]
    fn findmnt_tree_with_sizes() {
        let j = r#"{"filesystems":[{"target":"/","source":"/dev/vda2","fstype":"ext4",
            "size":1000,"used":400,"children":[{"target":"/boot/efi","source":"/dev/vda1",
            "fstype":"vfat","size":"100","used":"7"}]}]}"#;
        let m = parse_findmnt(j).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].target, "/boot/efi");
        assert_eq!(m[1].used, Some(7));
        let f = Facts {
            mounts: m,
            ..Facts::default()
        };
        assert_eq!(f.used_bytes(), 407);
        let mut f = f;
        f.mounts.push(MountFact {
            target: "/run/netns".into(),
            source: "/dev/vda2[/run/netns]".into(),
            fstype: "ext4".into(),
            size: Some(1000),
            used: Some(400),
        });
        f.mounts.push(MountFact {
            target: "/srv".into(),
            source: "/dev/vda2".into(),
            fstype: "ext4".into(),
            size: Some(1000),
            used: Some(400),
        });
        assert_eq!(f.used_bytes(), 407, "bind mounts and repeats count once");
        assert_eq!(f.root_mount().unwrap().fstype, "ext4");
        assert!(parse_findmnt("nope").is_err());
    }

    #[test]
    fn lsblk_keeps_disks_only() {
        let d = parse_lsblk_disks(&fixture("aoe/lsblk.json")).unwrap();
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert!(paths.contains(&"/dev/etherd/e0.0"), "{paths:?}");
        assert!(!paths.contains(&"/dev/sr0"), "{paths:?}");
        let e = d.iter().find(|x| x.path == "/dev/etherd/e0.0").unwrap();
        assert_eq!(e.size, 4294967296);
        let d = parse_lsblk_disks(&fixture("local/mbr-sda-lsblk.json")).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].tran.as_deref(), Some("sata"));
    }

    #[test]
    fn files_under_a_fake_root() {
        for case in ["aoe", "iscsi"] {
            let r = fake_root(case);
            assert_eq!(firmware_at(r.path()), Firmware::Bios);
            let nics = nics_at(r.path());
            assert_eq!(nics.len(), 2);
            let f = Facts {
                nics,
                ..Facts::default()
            };
            let boot = f.boot_nics();
            assert_eq!(boot.len(), 1, "lo is not a boot NIC");
            assert_eq!(boot[0].name, "ens3");
            assert_eq!(boot[0].mac, "52:54:00:12:34:56");
            assert!(boot[0].is_up());
            assert_eq!(boot[0].driver.as_deref(), Some("virtio_net"));
            std::fs::create_dir_all(r.path().join("sys/firmware/efi")).unwrap();
            assert_eq!(firmware_at(r.path()), Firmware::Uefi);
        }
    }

    #[test]
    fn gather_reads_the_root_and_survives_missing_tools() {
        let r = fake_root("aoe");
        let f = gather(r.path(), &Runner::dry());
        assert_eq!(f.os.id, "debian");
        assert_eq!(f.kernel, fixture("aoe/uname-r.txt").trim());
        assert_eq!(f.firmware(), Firmware::Bios);
        assert_eq!(f.boot_nics()[0].name, "ens3");
    }
}
