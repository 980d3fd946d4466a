//! AoE: discovery (aoe-discover, aoe-stat, sysfs) and attach.
//!
//! The kernel's `aoe` driver shows each device as `/sys/block/etherd!eS.L`
//! with the attributes `mac` (the target's MAC, no colons), `netif`,
//! `payload`, `state`, `firmware-version` and `size` (512-byte sectors),
//! and creates `/dev/etherd/eS.L` (devtmpfs, no udev needed).

use super::common::{attach_timeout, need_root, wait_for, AttachEnv, HostPaths};
use crate::disk::TargetDisk;
use crate::tools::{aoe as tool, Runner};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An AoE device as the kernel knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AoeDevice {
    /// "e0.0".
    pub name: String,
    pub shelf: u16,
    pub slot: u8,
    /// /dev/etherd/e0.0.
    pub node: PathBuf,
    /// Bytes (sysfs `size` × 512).
    pub size: u64,
    /// The target's MAC, "ce:00:d7:b2:e1:7e".
    pub target_mac: Option<String>,
    /// Interface(s) the device is reached through.
    pub netif: Option<String>,
    /// "up", "down", "up,closewait", ...
    pub state: Option<String>,
    pub payload: Option<u32>,
    pub firmware_version: Option<String>,
}

impl AoeDevice {
    /// The identity shown to people and checked against the plan:
    /// "e0.0 (target MAC ce:00:d7:b2:e1:7e via ens3)".
    pub fn identity(&self) -> String {
        format!(
            "{} (target MAC {} via {})",
            self.name,
            self.target_mac.as_deref().unwrap_or("unknown"),
            self.netif.as_deref().unwrap_or("?")
        )
    }

    /// Usable: the driver says it is up (and not closing).
    pub fn is_up(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| s.split(',').next() == Some("up") && !s.contains("closewait"))
    }
}

/// "ce00d7b2e17e" → "ce:00:d7:b2:e1:7e" (already-colon forms pass through).
pub fn mac_with_colons(s: &str) -> String {
    let s = s.trim();
    if s.contains(':') || s.len() != 12 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return s.to_ascii_lowercase();
    }
    s.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Read `/sys/block/etherd!eS.L`; `None` when the kernel has no such device.
pub fn read_device(paths: &HostPaths, shelf: u16, slot: u8) -> Option<AoeDevice> {
    let name = format!("e{shelf}.{slot}");
    let dir = PathBuf::from("block").join(format!("etherd!{name}"));
    if !paths.sys.join(&dir).is_dir() {
        return None;
    }
    let attr = |a: &str| paths.read_sys(dir.join(a)).filter(|s| !s.is_empty());
    Some(AoeDevice {
        node: paths.dev.join("etherd").join(&name),
        size: attr("size")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            * 512,
        target_mac: attr("mac").map(|m| mac_with_colons(&m)),
        netif: attr("netif"),
        state: attr("state"),
        payload: attr("payload").and_then(|p| p.parse().ok()),
        firmware_version: attr("firmware-version"),
        name,
        shelf,
        slot,
    })
}

/// Every AoE device in sysfs, sorted by shelf and slot.
pub fn list_devices(paths: &HostPaths) -> Vec<AoeDevice> {
    let mut v: Vec<AoeDevice> = std::fs::read_dir(paths.sys.join("block"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let (shelf, slot) = tool::parse_name(n.strip_prefix("etherd!")?)?;
            read_device(paths, shelf, slot)
        })
        .collect();
    v.sort_by_key(|d| (d.shelf, d.slot));
    v
}

/// Resolve `target.interface` (a name or a MAC) to an interface name.
pub fn resolve_interface(paths: &HostPaths, spec: &str) -> Result<String> {
    let net = paths.sys.join("class/net");
    if net.join(spec).exists() {
        return Ok(spec.to_string());
    }
    let want = spec.to_ascii_lowercase();
    let mut names = Vec::new();
    for e in std::fs::read_dir(&net)
        .with_context(|| format!("listing network interfaces in {}", net.display()))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let mac = paths
            .read_sys(format!("class/net/{name}/address"))
            .unwrap_or_default();
        if mac.to_ascii_lowercase() == want {
            return Ok(name);
        }
        names.push(name);
    }
    names.sort();
    bail!(
        "no network interface is named or has the MAC {spec:?} (interfaces here: {})",
        names.join(", ")
    )
}

/// Load the AoE initiator unless it is loaded; a clear error when the
/// kernel has none. `iflist` only takes effect when the module gets loaded
/// here.
fn load_module(runner: &Runner, paths: &HostPaths, iflist: Option<&str>) -> Result<()> {
    if paths.sys.join("module/aoe").exists() {
        if let Some(i) = iflist {
            let cur = paths
                .read_sys("module/aoe/parameters/aoe_iflist")
                .unwrap_or_default();
            if !cur.is_empty() && !cur.split_whitespace().any(|x| x == i) {
                tracing::warn!(
                    "the aoe module is loaded with aoe_iflist={cur:?}, which does not include {i}; \
                     AoE may not be seen on {i}"
                );
            }
        }
        return Ok(());
    }
    runner.run(&tool::modprobe(iflist)).map_err(|e| {
        anyhow::anyhow!(
            "modprobe aoe failed: this kernel has no AoE initiator (install a kernel with the aoe \
             module, e.g. Debian's linux-image-amd64): {e:#}"
        )
    })?;
    Ok(())
}

/// List the AoE devices this machine sees: load the initiator, send a
/// discover, wait `wait` for answers, then read aoe-stat and sysfs.
pub fn discover(
    runner: &Runner,
    paths: &HostPaths,
    interface: Option<&str>,
    wait: Duration,
) -> Result<Vec<AoeDevice>> {
    need_root("AoE discovery")?;
    let ifname = interface
        .map(|i| resolve_interface(paths, i).context("--interface"))
        .transpose()?;
    load_module(runner, paths, ifname.as_deref())?;
    if let Some(i) = &ifname {
        runner.run(&tool::link_up(i))?;
    }
    runner
        .run(&tool::discover())
        .context("sending an AoE discover")?;
    std::thread::sleep(wait);
    let mut devs = list_devices(paths);
    // aoe-stat knows the same devices; it fills in what sysfs lacks and
    // names devices whose sysfs directory went away meanwhile.
    if let Ok(out) = runner.query(&tool::stat()) {
        for s in tool::parse_stat(&out.stdout) {
            if !devs.iter().any(|d| d.name == s.name) {
                devs.push(AoeDevice {
                    node: paths.dev.join("etherd").join(&s.name),
                    size: 0,
                    target_mac: None,
                    netif: Some(s.netif),
                    state: Some(s.state),
                    payload: s.payload,
                    firmware_version: None,
                    name: s.name,
                    shelf: s.shelf,
                    slot: s.slot,
                });
            }
        }
    }
    if let Some(i) = &ifname {
        devs.retain(|d| {
            d.netif
                .as_deref()
                .is_none_or(|n| n.split(',').any(|x| x == i))
        });
    }
    devs.sort_by_key(|d| (d.shelf, d.slot));
    Ok(devs)
}

/// The text table of `netroot discover aoe`.
pub fn render_table(devs: &[AoeDevice]) -> String {
    if devs.is_empty() {
        return "no AoE targets answered (is vblade running on this Ethernet segment, and \
                does its -m list allow this machine?)\n"
            .to_string();
    }
    let mut rows = vec![[
        "DEVICE".to_string(),
        "SIZE".into(),
        "TARGET MAC".into(),
        "NETIF".into(),
        "STATE".into(),
        "NODE".into(),
    ]];
    for d in devs {
        rows.push([
            d.name.clone(),
            if d.size > 0 {
                super::common::human_size(d.size)
            } else {
                "?".into()
            },
            d.target_mac.clone().unwrap_or_else(|| "?".into()),
            d.netif.clone().unwrap_or_else(|| "?".into()),
            d.state.clone().unwrap_or_else(|| "?".into()),
            d.node.display().to_string(),
        ]);
    }
    super::common::table(&rows)
}

fn disk_of(d: &AoeDevice) -> TargetDisk {
    TargetDisk {
        node: d.node.clone(),
        size: d.size,
        identity: d.identity(),
        model: Some("AoE".into()),
        serial: d.firmware_version.clone(),
        image: None,
        attached: true,
    }
}

/// Attach eSHELF.SLOT: load the initiator (restricted to `interface` when
/// given), bring the interface up, send discovers until the device node
/// exists, and return it with its size and the target's MAC.
pub fn attach(
    env: &mut AttachEnv,
    paths: &HostPaths,
    shelf: u16,
    slot: u8,
    interface: Option<&str>,
) -> Result<TargetDisk> {
    let name = format!("e{shelf}.{slot}");
    let node = paths.dev.join("etherd").join(&name);
    let ready = |paths: &HostPaths| -> Option<AoeDevice> {
        read_device(paths, shelf, slot).filter(|d| d.is_up() && d.node.exists())
    };
    if let Some(d) = ready(paths) {
        tracing::info!("AoE {} is already attached at {}", name, node.display());
        keep_moving(env, &d.node);
        return Ok(disk_of(&d));
    }
    let ifname = interface
        .map(|i| resolve_interface(paths, i).context("target.interface"))
        .transpose()?;
    env.runner
        .check("running as root", || need_root("attaching an AoE target"))?;
    load_module(env.runner, paths, ifname.as_deref())?;
    if let Some(i) = &ifname {
        env.runner
            .run(&tool::link_up(i))
            .with_context(|| format!("bringing up {i} for AoE"))?;
    }
    let timeout = attach_timeout();
    let runner = env.runner.clone();
    let found = env.runner.observe(|| {
        wait_for(
            timeout,
            Duration::from_millis(250),
            Duration::from_secs(2),
            || runner.run(&tool::discover()).map(|_| ()),
            || Ok(ready(paths)),
        )
    })?;
    let Some(found) = found else {
        // The module load was only recorded: so is the discover, and the
        // disk is the plan's, not yet here.
        return planned_disk(env, name, node);
    };
    match found {
        Some(d) => {
            keep_moving(env, &d.node);
            Ok(disk_of(&d))
        }
        None => Err(not_attached(
            paths,
            shelf,
            slot,
            &node,
            ifname.as_deref(),
            timeout,
        )),
    }
}

/// Read the attached disk every 2 s until the run ends, so the aoe
/// driver's parked requests go out (see [`super::aoe_kick`]).
fn keep_moving(env: &mut AttachEnv, node: &Path) {
    let kick = super::aoe_kick::Kick::start(node);
    env.cleanup.push(
        format!("stop reading {} every 2 s", node.display()),
        move || {
            kick.stop();
            Ok(())
        },
    );
}

/// What a dry run reports for an attach it only recorded: the discover is
/// recorded too, and the disk is the plan's.
fn planned_disk(env: &mut AttachEnv, name: String, node: PathBuf) -> Result<TargetDisk> {
    env.runner.run(&tool::discover())?;
    env.notes.push(format!(
        "dry run: AoE {name} is not attached; the run would send aoe-discover and wait for {}",
        node.display()
    ));
    Ok(TargetDisk {
        node,
        size: env.planned_size,
        identity: name,
        model: None,
        serial: None,
        image: None,
        attached: false,
    })
}

/// The error for a device that did not come up within `timeout`: what the
/// device's state is, if it exists, and which AoE devices were seen.
fn not_attached(
    paths: &HostPaths,
    shelf: u16,
    slot: u8,
    node: &Path,
    ifname: Option<&str>,
    timeout: Duration,
) -> anyhow::Error {
    let seen = list_devices(paths);
    let seen = if seen.is_empty() {
        "none".to_string()
    } else {
        seen.iter()
            .map(|d| format!("{} ({})", d.name, d.state.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let state = read_device(paths, shelf, slot)
        .and_then(|d| d.state)
        .map(|s| format!(" (it exists but its state is {s:?})"))
        .unwrap_or_default();
    anyhow!(
        "timed out after {} s waiting for {}{state} on {}: is vblade exporting shelf {shelf} \
         slot {slot} on the same Ethernet segment, and does its -m list allow this machine's \
         MAC? AoE devices seen: {seen}. Set NETROOT_ATTACH_TIMEOUT to wait longer",
        timeout.as_secs(),
        node.display(),
        ifname
            .map(|i| format!("interface {i}"))
            .unwrap_or_else(|| "any interface".into()),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// Turn an `e2e-catdir` dump ("name: content", continuation lines
    /// unprefixed) into files in `dir`.
    pub fn unpack_catdir(dump: &str, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let mut cur: Option<(String, String)> = None;
        let flush = |c: &mut Option<(String, String)>| {
            if let Some((n, v)) = c.take() {
                std::fs::write(dir.join(n), v).unwrap();
            }
        };
        for line in dump.lines() {
            let is_attr = line.split_once(": ").is_some_and(|(n, _)| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }) || (line.ends_with(':') && !line.contains(' '));
            if is_attr {
                flush(&mut cur);
                let (n, v) = line.split_once(':').unwrap();
                cur = Some((
                    n.to_string(),
                    format!("{}\n", v.strip_prefix(' ').unwrap_or(v)),
                ));
            } else if let Some((_, v)) = cur.as_mut() {
                v.push_str(line);
                v.push('\n');
            }
        }
        flush(&mut cur);
    }

    /// The text of a captured fixture (tests/fixtures/P); the iSCSI tests
    /// read theirs with it too.
    pub fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    /// A fake /sys and /dev holding the captured e0.0.
    pub fn fake_host() -> (tempfile::TempDir, HostPaths) {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            sys: t.path().join("sys"),
            dev: t.path().join("dev"),
            iscsi_nodes: t.path().join("etc/iscsi/nodes"),
        };
        unpack_catdir(
            &fixture("aoe/sys-block-etherd-e0.0.txt"),
            &paths.sys.join("block/etherd!e0.0"),
        );
        std::fs::create_dir_all(paths.sys.join("class/net/ens3")).unwrap();
        std::fs::write(
            paths.sys.join("class/net/ens3/address"),
            "52:54:00:12:34:56\n",
        )
        .unwrap();
        std::fs::create_dir_all(paths.dev.join("etherd")).unwrap();
        std::fs::write(paths.dev.join("etherd/e0.0"), "").unwrap();
        (t, paths)
    }

    #[test]
    fn reads_the_captured_sysfs_tree() {
        let (_t, paths) = fake_host();
        let d = read_device(&paths, 0, 0).expect("e0.0 in the fake sysfs");
        assert_eq!(d.size, 8388608 * 512);
        assert_eq!(d.size, 4294967296);
        assert_eq!(d.target_mac.as_deref(), Some("ce:00:d7:b2:e1:7e"));
        assert_eq!(d.netif.as_deref(), Some("ens3"));
        assert_eq!(d.payload, Some(1024));
        assert_eq!(d.firmware_version.as_deref(), Some("0x4019"));
        assert!(d.is_up());
        assert_eq!(d.node, paths.dev.join("etherd/e0.0"));
        assert_eq!(d.identity(), "e0.0 (target MAC ce:00:d7:b2:e1:7e via ens3)");
        assert!(read_device(&paths, 0, 1).is_none());
        let all = list_devices(&paths);
        assert_eq!(all, vec![d]);
        // The multi-line uevent attribute came through whole.
        let ue = paths.read_sys("block/etherd!e0.0/uevent").unwrap();
        assert!(ue.contains("DEVNAME=etherd/e0.0"), "{ue}");
    }

    #[test]
    fn states() {
        let (_t, paths) = fake_host();
        let mut d = read_device(&paths, 0, 0).unwrap();
        for (s, up) in [("up", true), ("down", false), ("up,closewait", false)] {
            d.state = Some(s.into());
            assert_eq!(d.is_up(), up, "{s}");
        }
    }

    #[test]
    fn interfaces_by_name_or_mac() {
        let (_t, paths) = fake_host();
        assert_eq!(resolve_interface(&paths, "ens3").unwrap(), "ens3");
        assert_eq!(
            resolve_interface(&paths, "52:54:00:12:34:56").unwrap(),
            "ens3"
        );
        assert_eq!(
            resolve_interface(&paths, "52:54:00:12:34:56".to_uppercase().as_str()).unwrap(),
            "ens3"
        );
        let e = resolve_interface(&paths, "eth9").unwrap_err().to_string();
        assert!(
            e.contains("\"eth9\"") && e.contains("interfaces here: ens3"),
            "{e}"
        );
    }

    #[test]
    fn table() {
        let (_t, paths) = fake_host();
        let t = render_table(&list_devices(&paths));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("DEVICE  SIZE     TARGET MAC"), "{t}");
        assert!(
            lines[1].starts_with("e0.0    4.0 GiB  ce:00:d7:b2:e1:7e  ens3   up"),
            "{t}"
        );
        assert!(render_table(&[]).starts_with("no AoE targets answered"));
    }

    #[test]
    fn macs() {
        assert_eq!(mac_with_colons("ce00d7b2e17e"), "ce:00:d7:b2:e1:7e");
        assert_eq!(mac_with_colons("CE:00:D7:B2:E1:7E"), "ce:00:d7:b2:e1:7e");
    }
}
