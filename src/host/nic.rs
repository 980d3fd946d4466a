//! Network interfaces as sysfs shows them (`<sys>/class/net/IF/...`).
//!
//! Why here: the wizard lists NICs to boot from and the initramfs needs the
//! live boot NIC's driver module; both read the same sysfs files. Every
//! function takes the sysfs root (normally `/sys`) so tests build a fake
//! tree from the captured guest files.

use std::path::Path;

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    /// `address`, e.g. "52:54:00:12:34:56" (empty when unreadable).
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

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Basename of the symlink at `p`.
fn link_name(p: &Path) -> Option<String> {
    let l = std::fs::read_link(p).ok()?;
    Some(l.file_name()?.to_string_lossy().into_owned())
}

/// The NICs under `<sys>/class/net`, by name.
pub fn list(sys: &Path) -> Vec<Nic> {
    let Ok(rd) = std::fs::read_dir(sys.join("class/net")) else {
        return Vec::new();
    };
    let mut v: Vec<Nic> = rd
        .flatten()
        .map(|e| {
            let p = e.path();
            Nic {
                name: e.file_name().to_string_lossy().into_owned(),
                mac: read_trim(&p.join("address")),
                operstate: read_trim(&p.join("operstate")),
                driver: link_name(&p.join("device/driver")),
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The interface `iface` names: itself, or the NIC with that MAC when it
/// contains a colon.
pub fn find(sys: &Path, iface: &str) -> Option<String> {
    if !iface.contains(':') {
        return Some(iface.to_string());
    }
    list(sys)
        .into_iter()
        .find(|n| n.mac.eq_ignore_ascii_case(iface))
        .map(|n| n.name)
}

/// The kernel module behind `iface` (a name or a MAC): basename of
/// device/driver/module, with `-` as `_` the way modprobe lists it.
pub fn driver_module(sys: &Path, iface: &str) -> Option<String> {
    let name = find(sys, iface)?;
    let m = link_name(
        &sys.join("class/net")
            .join(name)
            .join("device/driver/module"),
    )?;
    Some(m.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    /// A fake /sys from a guest's `e2e-catdir /sys/class/net/ens3` and
    /// `readlink .../device/driver`, plus lo and a driver module link.
    fn fake_sys(case: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let net = d.path().join("class/net");
        let nic = net.join("ens3");
        std::fs::create_dir_all(nic.join("device")).unwrap();
        for line in fixture(&format!("{case}/sys-class-net-ens3.txt")).lines() {
            if let Some((k @ ("address" | "operstate"), v)) = line.split_once(": ") {
                std::fs::write(nic.join(k), format!("{v}\n")).unwrap();
            }
        }
        // The driver link is relative to device/: ../../../../bus/virtio/drivers/virtio_net.
        let driver = fixture(&format!("{case}/nic-drivers.txt"));
        let drv_dir = d.path().join("bus/virtio/drivers/virtio_net");
        std::fs::create_dir_all(&drv_dir).unwrap();
        std::fs::create_dir_all(d.path().join("module/virtio-net")).unwrap();
        std::os::unix::fs::symlink("../../../../module/virtio-net", drv_dir.join("module"))
            .unwrap();
        std::os::unix::fs::symlink(driver.trim(), nic.join("device/driver")).unwrap();
        std::fs::create_dir_all(net.join("lo")).unwrap();
        std::fs::write(net.join("lo/address"), "00:00:00:00:00:00\n").unwrap();
        std::fs::write(net.join("lo/operstate"), "unknown\n").unwrap();
        d
    }

    #[test]
    fn nics_of_the_guests() {
        for case in ["aoe", "iscsi"] {
            let s = fake_sys(case);
            let nics = list(s.path());
            assert_eq!(nics.len(), 2);
            assert_eq!(nics[0].name, "ens3");
            assert_eq!(nics[0].mac, "52:54:00:12:34:56");
            assert!(nics[0].is_up());
            assert_eq!(nics[0].driver.as_deref(), Some("virtio_net"));
            assert_eq!(nics[1].name, "lo");
            assert_eq!(nics[1].driver, None);
            assert!(!nics[1].is_up());
        }
    }

    #[test]
    fn driver_module_by_name_or_mac() {
        let s = fake_sys("aoe");
        assert_eq!(
            driver_module(s.path(), "ens3").as_deref(),
            Some("virtio_net")
        );
        assert_eq!(
            driver_module(s.path(), "52:54:00:12:34:56").as_deref(),
            Some("virtio_net")
        );
        assert_eq!(find(s.path(), "52:54:00:12:34:56").as_deref(), Some("ens3"));
        assert_eq!(driver_module(s.path(), "lo"), None);
        assert_eq!(driver_module(s.path(), "aa:bb:cc:dd:ee:ff"), None);
        assert!(list(&s.path().join("nothing")).is_empty());
    }
}
