//! Facts about the machine the wizard runs on: distro, kernel, firmware,
//! mounted filesystems, NICs and local disks.
//!
//! Files are read below a root path (normally `/`) so tests can point the
//! facts at a fake tree built from tests/fixtures/; the parsing is done by
//! [`crate::host`], the commands (`findmnt`, `lsblk`, `du`) run through
//! their wrappers in [`crate::tools`] with the runner's read-only `query`.

use crate::host::lsblk::BlockDev;
use crate::host::{nic, os_release};
use crate::plan::Firmware;
use crate::tools::{du, findmnt, lsblk, Runner};
use std::path::Path;

pub use crate::host::findmnt::MountFact;
pub use crate::host::nic::Nic;
pub use crate::host::os_release::{parse as parse_os_release, OsRelease};

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
    pub os: OsRelease,
    pub kernel: String,
    pub hostname: String,
    /// UEFI when /sys/firmware/efi exists, else BIOS.
    pub firmware: Option<Firmware>,
    pub mounts: Vec<MountFact>,
    pub nics: Vec<Nic>,
    pub disks: Vec<DiskFact>,
    /// The serial console the running kernel writes to (`console=ttyS0,…`
    /// in /proc/cmdline): kept for a live copy, so the migrated system
    /// still talks on the console the person migrates it from.
    pub serial_console: Option<String>,
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
        os: os_release::read_tree(root).unwrap_or_else(|| os_release::parse("")),
        kernel: read(root, "proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        hostname: read(root, "etc/hostname")
            .or_else(|| read(root, "proc/sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        firmware: Some(firmware_at(root)),
        nics: nics_at(root),
        serial_console: read(root, "proc/cmdline").and_then(|c| serial_console_of(&c)),
        ..Facts::default()
    };
    match findmnt::real_mounts(runner) {
        Ok(m) => f.mounts = m,
        Err(e) => f.problems.push(format!("findmnt: {e:#}")),
    }
    match lsblk::all(runner) {
        Ok(d) => f.disks = disk_facts(&d),
        Err(e) => f.problems.push(format!("lsblk: {e:#}")),
    }
    f
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

/// The last serial `console=` of a kernel command line (the kernel's
/// /dev/console is the last one given), e.g. `ttyS0,115200n8`.
pub fn serial_console_of(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .filter_map(|a| a.strip_prefix("console="))
        .rfind(|c| {
            let dev = c.split(',').next().unwrap_or("");
            ["ttyS", "ttyAMA", "hvc"]
                .iter()
                .any(|p| dev.len() > p.len() && dev.starts_with(p))
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == ',')
        })
        .map(str::to_string)
}

/// UEFI when `<root>/sys/firmware/efi` exists.
pub fn firmware_at(root: &Path) -> Firmware {
    if root.join("sys/firmware/efi").is_dir() {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// The disks (not partitions, ROMs, loops) among lsblk's devices.
pub fn disk_facts(devs: &[BlockDev]) -> Vec<DiskFact> {
    devs.iter()
        .filter(|d| d.dev_type.as_deref() == Some("disk"))
        .map(|d| DiskFact {
            path: d.path.clone().unwrap_or_else(|| format!("/dev/{}", d.name)),
            size: d.size.unwrap_or(0),
            model: d
                .model
                .as_ref()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty()),
            tran: d.tran.clone(),
        })
        .collect()
}

/// The NICs under `<root>/sys/class/net`.
pub fn nics_at(root: &Path) -> Vec<Nic> {
    nic::list(&root.join("sys"))
}

/// Bytes used by a directory tree (`du`), for an offline source.
pub fn tree_bytes(runner: &Runner, dir: &Path) -> Option<u64> {
    du::used_bytes(runner, dir).ok()
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
    fn findmnt_tree_with_sizes() {
        let j = r#"{"filesystems":[{"target":"/","source":"/dev/vda2","fstype":"ext4",
            "size":1000,"used":400,"children":[{"target":"/boot/efi","source":"/dev/vda1",
            "fstype":"vfat","size":"100","used":"7"}]}]}"#;
        let m = crate::host::findmnt::parse(j).unwrap();
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
    }

    #[test]
    fn lsblk_keeps_disks_only() {
        let lsblk = |p: &str| disk_facts(&crate::host::lsblk::parse(&fixture(p)).unwrap());
        let d = lsblk("aoe/lsblk.json");
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert!(paths.contains(&"/dev/etherd/e0.0"), "{paths:?}");
        assert!(!paths.contains(&"/dev/sr0"), "{paths:?}");
        let e = d.iter().find(|x| x.path == "/dev/etherd/e0.0").unwrap();
        assert_eq!(e.size, 4294967296);
        let d = lsblk("local/mbr-sda-lsblk.json");
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
        assert_eq!(f.serial_console, None, "no /proc/cmdline in the tree");
        std::fs::write(
            r.path().join("proc/cmdline"),
            "BOOT_IMAGE=/boot/vmlinuz root=UUID=1 ro console=tty0 console=ttyS0,115200n8\n",
        )
        .unwrap();
        let f = gather(r.path(), &Runner::dry());
        assert_eq!(f.serial_console.as_deref(), Some("ttyS0,115200n8"));
    }

    #[test]
    fn the_last_serial_console_of_the_command_line() {
        for (cmdline, want) in [
            ("root=/dev/sda1 ro quiet", None),
            ("console=tty0", None),
            ("console=ttyS1 console=tty0", Some("ttyS1")),
            (
                "console=ttyS0,9600 console=ttyS1,115200n8",
                Some("ttyS1,115200n8"),
            ),
            ("console=ttyAMA0,115200", Some("ttyAMA0,115200")),
            ("console=hvc0", Some("hvc0")),
            ("console=ttyS", None),
            ("console=ttyS0;reboot", None),
        ] {
            assert_eq!(serial_console_of(cmdline).as_deref(), want, "{cmdline}");
        }
    }
}
