//! The variables profile templates see, computed from the plan (and, for
//! each kernel, from the target tree), and the kernel command line.

use super::template::{render_arg, Vars};
use super::Profile;
use crate::plan::{Addressing, Chap, FsKind, IscsiConfigMode, Plan, Portal, Source, Target};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

fn set(v: &mut Vars, k: &str, val: impl Into<String>) {
    v.insert(k.to_string(), val.into());
}

/// "ibft" or "explicit".
pub fn iscsi_mode(plan: &Plan) -> &'static str {
    match plan.boot.iscsi_config {
        IscsiConfigMode::Ibft => "ibft",
        IscsiConfigMode::Explicit => "explicit",
    }
}

/// A portal's address (IPv6 without brackets) and port, as the initramfs
/// variables want them.
pub fn portal_parts(portal: &Portal) -> (String, String) {
    (portal.host().addr(), portal.port().to_string())
}

/// Netmask of a prefix length, e.g. 24 → 255.255.255.0.
pub fn netmask(prefix: u8) -> String {
    let m: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    };
    std::net::Ipv4Addr::from(m).to_string()
}

/// The boot interface the migrated system uses, if the plan says: the
/// name or MAC (lowercase) from boot.network.interface, or for a live
/// source the AoE target's interface.
pub fn boot_interface(plan: &Plan) -> Option<String> {
    let i = plan
        .boot
        .network
        .interface
        .as_ref()
        .or(match (&plan.source, &plan.target) {
            (Source::Live { .. }, Target::Aoe { interface, .. }) => interface.as_ref(),
            _ => None,
        })?;
    // A MAC is lower case already (plan::Mac).
    Some(i.to_string())
}

/// Variables from the plan. CHAP secrets are read from their files; the
/// secrets are also returned so callers can redact them.
pub fn plan_vars(plan: &Plan) -> Result<(Vars, Vec<String>)> {
    let mut v = Vars::new();
    let mut secrets = Vec::new();
    set(&mut v, "transport", plan.target.transport_name());
    set(&mut v, "iscsi_config", iscsi_mode(plan));
    let iface = boot_interface(plan);
    target_vars(&mut v, &mut secrets, plan, iface.as_deref())?;
    let hostname = plan
        .system
        .hostname
        .as_ref()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let ifname = iface.clone().filter(|i| !i.contains(':'));
    address_vars(
        &mut v,
        &plan.boot.network.address,
        &hostname,
        ifname.as_deref(),
    );
    set(&mut v, "hostname", hostname);
    nic_match_vars(&mut v, iface);
    nm_vars(&mut v, plan);
    set(&mut v, "nic_drivers", "");
    set(&mut v, "root_modules", "");
    set(&mut v, "dracut_modules", "");
    set(&mut v, "dracut_omit", "");
    set(&mut v, "kver", "");
    set(&mut v, "image", "");
    Ok((v, secrets))
}

/// The target's variables: the AoE device and interface, or the iSCSI
/// portal, name, LUN, initiator and CHAP; the other transport's are empty.
fn target_vars(
    v: &mut Vars,
    secrets: &mut Vec<String>,
    plan: &Plan,
    iface: Option<&str>,
) -> Result<()> {
    for k in [
        "aoe_device",
        "aoe_if",
        "iscsi_target_ip",
        "iscsi_target_port",
        "iscsi_target_name",
        "iscsi_lun",
        "iscsi_initiator",
        "iscsi_username",
        "iscsi_password",
        "iscsi_in_username",
        "iscsi_in_password",
        "iscsi_chap",
    ] {
        set(v, k, "");
    }
    match &plan.target {
        Target::Aoe { shelf, slot, .. } => {
            set(v, "aoe_device", format!("e{shelf}.{slot}"));
            set(v, "aoe_if", iface.unwrap_or_default());
        }
        Target::Iscsi {
            portal,
            iqn,
            lun,
            chap,
            ..
        } => {
            let (ip, port) = portal_parts(portal);
            set(v, "iscsi_target_ip", ip);
            set(v, "iscsi_target_port", port);
            set(v, "iscsi_target_name", iqn.clone());
            set(v, "iscsi_lun", lun.to_string());
            set(
                v,
                "iscsi_initiator",
                crate::plan::identity::initiator_name(plan),
            );
            if let Some(c) = chap {
                chap_vars(v, secrets, c)?;
            }
        }
    }
    Ok(())
}

/// The CHAP variables (and mutual CHAP's), reading the secrets from their
/// files into `secrets`.
fn chap_vars(v: &mut Vars, secrets: &mut Vec<String>, c: &Chap) -> Result<()> {
    let pw = c.secret_file.read("target.chap.secret_file")?;
    secrets.push(pw.clone());
    let mut chap_s = format!("{}:{pw}", c.username);
    set(v, "iscsi_username", c.username.clone());
    set(v, "iscsi_password", pw);
    if let (Some(u), Some(f)) = (&c.target_username, &c.target_secret_file) {
        let tpw = f.read("target.chap.target_secret_file")?;
        secrets.push(tpw.clone());
        chap_s = format!("{chap_s}:{u}:{tpw}");
        set(v, "iscsi_in_username", u.clone());
        set(v, "iscsi_in_password", tpw);
    }
    set(v, "iscsi_chap", format!("{chap_s}@"));
    Ok(())
}

/// Addressing: the ip= form initramfs-tools (klibc) and dracut share:
/// client::gateway:netmask:hostname:interface:off
fn address_vars(v: &mut Vars, address: &Addressing, hostname: &str, ifname: Option<&str>) {
    match address {
        Addressing::Dhcp => {
            set(v, "ip_static", "");
            set(v, "ip_arg", "dhcp");
            set(v, "static_address", "");
            set(v, "static_gateway", "");
            set(v, "nd_dhcp", "yes");
        }
        Addressing::Static {
            address, gateway, ..
        } => {
            let (addr, prefix) = (address.addr(), address.prefix());
            let s = format!(
                "{addr}::{}:{}:{hostname}:{}:off",
                gateway.clone().unwrap_or_default(),
                netmask(prefix),
                ifname.unwrap_or_default()
            );
            set(v, "ip_static", s.clone());
            set(v, "ip_arg", s);
            set(v, "static_address", address.to_string());
            set(v, "static_gateway", gateway.clone().unwrap_or_default());
            set(v, "nd_dhcp", "no");
        }
    }
}

/// Network managers: match the boot NIC by name or MAC, else any ethernet.
fn nic_match_vars(v: &mut Vars, iface: Option<String>) {
    let (name, mac) = match &iface {
        Some(i) if i.contains(':') => (String::new(), i.clone()),
        Some(i) => (i.clone(), String::new()),
        None => (String::new(), String::new()),
    };
    set(
        v,
        "nd_match_any",
        if iface.is_none() { "ether" } else { "" },
    );
    set(
        v,
        "nm_match",
        if !name.is_empty() {
            format!("interface-name:{name}")
        } else if !mac.is_empty() {
            format!("mac:{mac}")
        } else {
            "type:ethernet".to_string()
        },
    );
    set(v, "nm_unmanage", if iface.is_some() { "yes" } else { "" });
    set(v, "nd_match_name", name);
    set(v, "nd_match_mac", mac);
    set(v, "iface", iface.unwrap_or_default());
}

/// NetworkManager and the boot NIC. Over iSCSI the initramfs configured
/// the NIC's address, which the root's session runs on: NM keeps it. Got by
/// DHCP, NM must manage the NIC to take that configuration over and renew
/// its lease (nm-initramfs-lease; an unmanaged or merely "external" NIC
/// runs no DHCP client, and the server would give the address away): no
/// `managed=0`, and no bound on the DHCP wait. A static address needs no
/// renewing: a named NIC stays unmanaged. Over AoE (layer 2) the initramfs
/// only sets the link up: kept as it is, NM would adopt a NIC without an
/// IPv4 address and never run DHCP, so NM manages it as usual.
fn nm_vars(v: &mut Vars, plan: &Plan) {
    let dhcp = matches!(plan.boot.network.address, Addressing::Dhcp);
    if matches!(plan.target, Target::Aoe { .. }) {
        set(v, "nm_unmanage", "");
        set(v, "nm_keep_configuration", "no");
        set(v, "nm_dhcp_handoff", "");
    } else {
        if dhcp {
            set(v, "nm_unmanage", "");
        }
        set(v, "nm_keep_configuration", "yes");
        set(v, "nm_dhcp_handoff", if dhcp { "yes" } else { "" });
    }
}

/// The kernel arguments netroot adds: the profile's for this transport,
/// the serial console, then the plan's own.
pub fn kernel_args(profile: &Profile, plan: &Plan, vars: &Vars) -> Result<Vec<String>> {
    let transport = plan.target.transport_name();
    let mode = iscsi_mode(plan);
    let mut out = Vec::new();
    for ka in profile
        .kernel_args
        .iter()
        .filter(|k| k.when.holds(transport, mode))
    {
        for a in &ka.args {
            if let Some(s) = render_arg(a, vars)
                .with_context(|| format!("profile {} kernel argument {a:?}", profile.name))?
            {
                out.push(s);
            }
        }
    }
    if let Some(c) = &plan.boot.serial_console {
        out.push(format!("console={c}"));
    }
    out.extend(plan.boot.kernel_args.iter().cloned());
    Ok(out)
}

/// Module names a kernel tree provides as loadable modules (from
/// lib/modules/KVER/modules.dep), with '-' written as '_'.
pub fn kernel_modules(root: &Path, kver: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for base in ["lib/modules", "usr/lib/modules"] {
        let dep = root.join(base).join(kver).join("modules.dep");
        if let Ok(text) = std::fs::read_to_string(&dep) {
            for line in text.lines() {
                if let Some((path, _)) = line.split_once(':') {
                    if let Some(n) = module_name(path) {
                        out.insert(n);
                    }
                }
            }
            break;
        }
    }
    out
}

pub use crate::tools::initramfs::module_name;

/// The driver of a network interface on this machine (for a live source):
/// /sys/class/net/IF/device/driver/module, IF a name or a MAC.
pub fn host_nic_driver(iface: &str) -> Option<String> {
    crate::host::nic::driver_module(Path::new("/sys"), iface)
}

/// The NIC drivers to put in the initramfs of kernel `kver`: the profile's
/// list and the live boot NIC's driver, those the kernel has as modules.
pub fn nic_drivers(profile: &Profile, plan: &Plan, root: &Path, kver: &str) -> Vec<String> {
    let have = kernel_modules(root, kver);
    let mut want: Vec<String> = profile
        .nic_drivers
        .iter()
        .map(|d| d.replace('-', "_"))
        .collect();
    if let (Source::Live { .. }, Some(i)) = (&plan.source, boot_interface(plan)) {
        if let Some(d) = host_nic_driver(&i) {
            want.insert(0, d);
        }
    }
    let mut seen = BTreeSet::new();
    want.into_iter()
        .filter(|d| have.contains(d) && seen.insert(d.clone()))
        .collect()
}

/// The other modules the initramfs of kernel `kver` must carry to reach
/// and mount the root: the profile's (always and the transport's) and the
/// filesystems of the layout's partitions that the initramfs or early boot
/// mounts (not vfat: the ESP is mounted from the real root) — those the
/// kernel has as modules (a built-in one needs nothing).
pub fn root_modules(profile: &Profile, plan: &Plan, root: &Path, kver: &str) -> Vec<String> {
    let have = kernel_modules(root, kver);
    root_modules_wanted(profile, plan)
        .into_iter()
        .filter(|d| have.contains(d))
        .collect()
}

/// The modules of [`root_modules`] before asking any kernel.
pub fn root_modules_wanted(profile: &Profile, plan: &Plan) -> Vec<String> {
    let m = &profile.initramfs_build.modules;
    let mut want: Vec<String> = ["always", plan.target.transport_name()]
        .iter()
        .flat_map(|k| m.get(*k).cloned().unwrap_or_default())
        .collect();
    for p in &plan.layout.partitions {
        if !matches!(p.fs, FsKind::Vfat | FsKind::Swap) {
            want.push(p.fs.as_str().to_string());
        }
    }
    let mut seen = BTreeSet::new();
    want.into_iter()
        .map(|d| d.replace('-', "_"))
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Plan {
        serde_json::from_str(json).unwrap()
    }

    const AOE: &str = r#"{"version":1,"source":{"type":"directory","path":"/x"},
        "target":{"transport":"aoe","shelf":3,"slot":1,"device":"/tmp/d.img"},
        "layout":{"table":"gpt","firmware":"bios","partitions":[{"mount":"/","fs":"ext4","size":"rest"}]},
        "boot":{"network":{"interface":"52:54:00:AB:CD:EF"},"serial_console":"ttyS0,115200n8"}}"#;

    #[test]
    fn portals() {
        let split_portal = |s: &str| portal_parts(&s.parse().unwrap());
        assert_eq!(split_portal("10.0.0.1"), ("10.0.0.1".into(), "3260".into()));
        assert_eq!(
            split_portal("10.0.0.1:3261"),
            ("10.0.0.1".into(), "3261".into())
        );
        assert_eq!(
            split_portal("[fd00::1]:3262"),
            ("fd00::1".into(), "3262".into())
        );
        assert_eq!(netmask(24), "255.255.255.0");
        assert_eq!(netmask(0), "0.0.0.0");
    }

    #[test]
    fn aoe_args_name_the_device_and_interface() {
        let p = plan(AOE);
        let prof = super::super::load("debian").unwrap();
        let (v, _) = plan_vars(&p).unwrap();
        let args = kernel_args(&prof, &p, &v).unwrap();
        assert_eq!(
            args,
            vec![
                "netroot.aoe=e3.1",
                "netroot.aoe_if=52:54:00:ab:cd:ef",
                // A server reboot must not fail the root for good.
                "aoe.aoe_deadsecs=86400",
                "console=ttyS0,115200n8"
            ]
        );
        assert_eq!(v["nm_match"], "mac:52:54:00:ab:cd:ef");
        // No address from the initramfs over AoE: NM must run DHCP.
        assert_eq!(v["nm_unmanage"], "");
        assert_eq!(v["nm_keep_configuration"], "no");
    }

    #[test]
    fn iscsi_args_per_tool_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("s");
        std::fs::write(&secret, "verysecret123\n").unwrap();
        let json = format!(
            r#"{{"version":1,"source":{{"type":"live"}},
            "target":{{"transport":"iscsi","portal":"192.0.2.1","iqn":"iqn.2024-01.org.example:c1","lun":1,
              "chap":{{"username":"u1","secret_file":"{}"}}}},
            "layout":{{"table":"gpt","firmware":"bios","partitions":[{{"mount":"/","fs":"ext4","size":"rest"}}]}},
            "boot":{{"iscsi_config":"explicit","network":{{"interface":"ens3","address":{{"static":{{"address":"192.0.2.50/24","gateway":"192.0.2.254"}}}}}}}},
            "system":{{"hostname":"c1"}}}}"#,
            secret.display()
        );
        let p = plan(&json);
        let (v, secrets) = plan_vars(&p).unwrap();
        assert_eq!(secrets, vec!["verysecret123"]);
        let deb = kernel_args(&super::super::load("debian").unwrap(), &p, &v).unwrap();
        assert_eq!(
            deb,
            vec!["ip=192.0.2.50::192.0.2.254:255.255.255.0:c1:ens3:off"]
        );
        let dr = kernel_args(&super::super::load("debian-dracut").unwrap(), &p, &v).unwrap();
        assert_eq!(
            dr[0],
            "netroot=iscsi:u1:verysecret123@192.0.2.1::3260:1:iqn.2024-01.org.example:c1"
        );
        assert!(dr.contains(&"rd.neednet=1".to_string()));
        let mut p2 = p.clone();
        p2.boot.iscsi_config = IscsiConfigMode::Ibft;
        let dr = kernel_args(&super::super::load("debian-dracut").unwrap(), &p2, &v).unwrap();
        assert!(dr.contains(&"rd.iscsi.firmware=1".to_string()));
        // The address from DHCP or the plan's static one, not from the
        // iBFT: dracut's rd.iscsi.ibft renames the NIC ibft0, and the
        // booted system's network configuration names the NIC.
        assert!(dr.contains(&"ip=192.0.2.50::192.0.2.254:255.255.255.0:c1:ens3:off".to_string()));
        assert!(!dr.iter().any(|a| a.starts_with("rd.iscsi.ibft")));
        assert!(kernel_args(&super::super::load("debian").unwrap(), &p2, &v)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn nm_renews_an_iscsi_dhcp_lease_and_leaves_a_static_address() {
        let json = r#"{"version":1,"source":{"type":"directory","path":"/x"},
            "target":{"transport":"iscsi","portal":"192.0.2.1","iqn":"iqn.2024-01.org.example:c1","lun":1},
            "layout":{"table":"gpt","firmware":"bios","partitions":[{"mount":"/","fs":"ext4","size":"rest"}]},
            "boot":{"network":{"interface":"ens3"}},
            "system":{"hostname":"c1"}}"#;
        let mut p = plan(json);
        let (v, _) = plan_vars(&p).unwrap();
        // DHCP: NM manages the named NIC to take the lease over and renew it.
        assert_eq!(v["nm_unmanage"], "");
        assert_eq!(v["nm_keep_configuration"], "yes");
        assert_eq!(v["nm_dhcp_handoff"], "yes");
        let nm = |v: &Vars| {
            let t = super::super::file_source("network/networkmanager.conf").unwrap();
            super::super::template::render(t, v).unwrap()
        };
        let conf = nm(&v);
        assert!(!conf.contains("managed=0"), "{conf}");
        assert!(
            conf.contains("[connection-netroot-boot]\nmatch-device=interface-name:ens3\nipv4.dhcp-timeout=2147483647\nipv4.dhcp-client-id=mac\n"),
            "{conf}"
        );
        // The takeover's mark and the ifupdown DHCP client: over iSCSI only.
        let deb = super::super::load("debian").unwrap();
        for (stack, file) in [
            ("NetworkManager", "/usr/lib/netroot/nm-initramfs-lease"),
            ("ifupdown", "/usr/lib/netroot/dhclient-boot-nic"),
            ("ifupdown", "/etc/dhcp/dhclient-enter-hooks.d/netroot"),
            (
                "ifupdown",
                "/etc/systemd/system/ifup@.service.d/91-netroot-iscsi.conf",
            ),
        ] {
            let m = deb.network.iter().find(|m| m.name == stack).unwrap();
            let f = m.files.iter().find(|f| f.path == file).unwrap();
            assert!(f.when.holds("iscsi", "ibft") && !f.when.holds("aoe", "ibft"));
        }
        p.boot.network.address = Addressing::Static {
            address: "192.0.2.50/24".parse().unwrap(),
            gateway: None,
            dns: Vec::new(),
        };
        let (v, _) = plan_vars(&p).unwrap();
        // Static: nothing to renew, the named NIC stays unmanaged.
        assert_eq!(v["nm_unmanage"], "yes");
        assert_eq!(v["nm_dhcp_handoff"], "");
        let conf = nm(&v);
        assert!(
            conf.contains("managed=0\nkeep-configuration=yes\n"),
            "{conf}"
        );
        assert!(!conf.contains("[connection-"), "{conf}");
    }

    #[test]
    fn every_profile_file_renders() {
        let (v, _) = plan_vars(&plan(AOE)).unwrap();
        for n in super::super::known_names() {
            let p = super::super::load(n).unwrap();
            for f in p
                .files
                .iter()
                .chain(p.network.iter().flat_map(|m| m.files.iter()))
            {
                let t = match super::super::source(&f.source).unwrap() {
                    super::super::Source::Text(t) => t,
                    super::super::Source::Program(_) => continue,
                };
                super::super::template::render(t, &v)
                    .unwrap_or_else(|e| panic!("{n}: {}: {e:#}", f.source));
            }
            for a in p
                .initramfs_build
                .build
                .iter()
                .chain(&p.initramfs_build.list)
            {
                if a != "@transport_args@" {
                    render_arg(a, &v).unwrap();
                }
            }
        }
    }

    #[test]
    fn module_names() {
        assert_eq!(
            module_name("kernel/drivers/net/virtio_net.ko"),
            Some("virtio_net".into())
        );
        assert_eq!(module_name("a/b/8139too.ko.xz"), Some("8139too".into()));
        assert_eq!(
            module_name("a/b/mlx5-core.ko.zst"),
            Some("mlx5_core".into())
        );
    }
}
