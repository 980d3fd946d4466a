//! Per-distro knowledge, as data in profiles/ (embedded in the binary).
//! Code asks the profile; it never branches on the distro's name.
//!
//! A profile file may `inherit` another: the two JSON objects are merged
//! (keys of the child replace the parent's, objects merge recursively).
//! Files a profile installs live in profiles/files/ and are templates
//! (see [`template`]).

pub mod packages;
pub mod template;
pub mod vars;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The profile files, embedded at build time.
const PROFILES: &[(&str, &str)] = &[
    ("debian", include_str!("../../profiles/debian.json")),
    (
        "debian-dracut",
        include_str!("../../profiles/debian-dracut.json"),
    ),
    ("ubuntu", include_str!("../../profiles/ubuntu.json")),
    ("fedora", include_str!("../../profiles/fedora.json")),
];

/// The files profiles install, by their name under profiles/files/.
const FILES: &[(&str, &str)] = &[
    (
        "initramfs-tools/hook",
        include_str!("../../profiles/files/initramfs-tools/hook"),
    ),
    (
        "initramfs-tools/local-top-aoe",
        include_str!("../../profiles/files/initramfs-tools/local-top-aoe"),
    ),
    (
        "initramfs-tools/local-top-aoe-disabled",
        include_str!("../../profiles/files/initramfs-tools/local-top-aoe-disabled"),
    ),
    (
        "initramfs-tools/conf-secrets",
        include_str!("../../profiles/files/initramfs-tools/conf-secrets"),
    ),
    (
        "initramfs-tools/conf-modules",
        include_str!("../../profiles/files/initramfs-tools/conf-modules"),
    ),
    (
        "initramfs-tools/conf-resume",
        include_str!("../../profiles/files/initramfs-tools/conf-resume"),
    ),
    (
        "initramfs-tools/conf-open-iscsi-aoe",
        include_str!("../../profiles/files/initramfs-tools/conf-open-iscsi-aoe"),
    ),
    (
        "initramfs-tools/iscsi.initramfs.ibft",
        include_str!("../../profiles/files/initramfs-tools/iscsi.initramfs.ibft"),
    ),
    (
        "initramfs-tools/iscsi.initramfs.explicit",
        include_str!("../../profiles/files/initramfs-tools/iscsi.initramfs.explicit"),
    ),
    (
        "dracut/netroot.conf",
        include_str!("../../profiles/files/dracut/netroot.conf"),
    ),
    (
        "udev/62-netroot-iscsi-root.rules",
        include_str!("../../profiles/files/udev/62-netroot-iscsi-root.rules"),
    ),
    (
        "udev/61-netroot-etherd.rules",
        include_str!("../../profiles/files/udev/61-netroot-etherd.rules"),
    ),
    (
        "dracut/module-setup.sh",
        include_str!("../../profiles/files/dracut/module-setup.sh"),
    ),
    (
        "dracut/netroot-aoe-cmdline.sh",
        include_str!("../../profiles/files/dracut/netroot-aoe-cmdline.sh"),
    ),
    (
        "dracut/netroot-aoe.sh",
        include_str!("../../profiles/files/dracut/netroot-aoe.sh"),
    ),
    (
        "aoe/netroot-aoe-kick.service",
        include_str!("../../profiles/files/aoe/netroot-aoe-kick.service"),
    ),
    (
        "aoe/sysinit-wants-aoe-kick.conf",
        include_str!("../../profiles/files/aoe/sysinit-wants-aoe-kick.conf"),
    ),
    (
        "initramfs-tools/init-bottom-aoe-kick",
        include_str!("../../profiles/files/initramfs-tools/init-bottom-aoe-kick"),
    ),
    (
        "dracut/netroot-aoe-kick.sh",
        include_str!("../../profiles/files/dracut/netroot-aoe-kick.sh"),
    ),
    (
        "dracut/netroot-iscsi-setup.sh",
        include_str!("../../profiles/files/dracut/netroot-iscsi-setup.sh"),
    ),
    (
        "network/networkd.network",
        include_str!("../../profiles/files/network/networkd.network"),
    ),
    (
        "network/networkmanager.conf",
        include_str!("../../profiles/files/network/networkmanager.conf"),
    ),
    (
        "network/ifupdown-keep-up.conf",
        include_str!("../../profiles/files/network/ifupdown-keep-up.conf"),
    ),
    (
        "network/nm-initramfs-lease",
        include_str!("../../profiles/files/network/nm-initramfs-lease"),
    ),
    (
        "network/networkmanager-service.conf",
        include_str!("../../profiles/files/network/networkmanager-service.conf"),
    ),
    (
        "network/dhclient-boot-nic",
        include_str!("../../profiles/files/network/dhclient-boot-nic"),
    ),
    (
        "network/ifup-skip-iscsi-nic.conf",
        include_str!("../../profiles/files/network/ifup-skip-iscsi-nic.conf"),
    ),
    (
        "network/netroot-dhclient.service",
        include_str!("../../profiles/files/network/netroot-dhclient.service"),
    ),
    (
        "network/multi-user-wants-dhclient.conf",
        include_str!("../../profiles/files/network/multi-user-wants-dhclient.conf"),
    ),
    (
        "network/dhclient-enter-hook",
        include_str!("../../profiles/files/network/dhclient-enter-hook"),
    ),
];

/// The programs profiles install, by their name under profiles/files/:
/// built from C by build.rs (static, so they run from an initramfs and
/// from any target's libc), installed as they are (no template).
const PROGRAMS: &[(&str, &[u8])] = &[(
    "aoe/aoe-kick",
    include_bytes!(concat!(env!("OUT_DIR"), "/aoe-kick")),
)];

/// What a profile file is: a template, or a program installed as built.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Text(&'static str),
    Program(&'static [u8]),
}

/// A profile file (profiles/files/NAME): a template or a program.
pub fn source(name: &str) -> Result<Source> {
    if let Some((_, b)) = PROGRAMS.iter().find(|(n, _)| *n == name) {
        return Ok(Source::Program(b));
    }
    file_source(name).map(Source::Text)
}

/// The text of a profile template (profiles/files/NAME).
pub fn file_source(name: &str) -> Result<&'static str> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| anyhow!("profiles/files/{name} is not embedded in netroot"))
}

/// Which initramfs generator a distro uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitramfsTool {
    InitramfsTools,
    Dracut,
}

/// Which systems a profile serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// os-release ID values this profile serves.
    pub id: Vec<String>,
    /// os-release ID_LIKE values this profile serves.
    #[serde(default)]
    pub id_like: Vec<String>,
    /// Paths (relative to the root) that must exist, e.g. "usr/bin/dracut".
    /// Among matching profiles the one requiring most wins.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// Packages and how to query and install them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Always needed in the migrated system: kernel, initramfs tool,
    /// GRUB's common files, the tools the initramfs checks use.
    pub base: Vec<String>,
    /// Needed for an iSCSI root.
    pub iscsi: Vec<String>,
    /// Needed for an AoE root.
    pub aoe: Vec<String>,
    /// GRUB for BIOS boot (firmware "bios" or "both").
    #[serde(default)]
    pub bios: Vec<String>,
    /// GRUB for UEFI boot (firmware "uefi" or "both").
    #[serde(default)]
    pub uefi: Vec<String>,
    /// A network stack, only for a tree that has none of `network`
    /// (a debootstrapped one): a system keeps the stack it has.
    #[serde(default)]
    pub no_network_stack: Vec<String>,
    /// Query command; package names are appended. Prints "NAME installed"
    /// for each installed package.
    pub installed: Vec<String>,
    /// Refresh the package index before installing.
    pub refresh: Vec<String>,
    /// Install command; missing package names are appended.
    pub install: Vec<String>,
}

/// fstab rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FstabRules {
    /// Add `_netdev` to filesystems on the network disk.
    pub netdev: bool,
}

/// How the initramfs is built and listed. Strings are templates:
/// `@kver@`, `@image@`, `@nic_drivers@`; an element that is exactly
/// `@transport_args@` expands to the transport's argument list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitramfsBuild {
    /// Image path in the target for kernel `@kver@`.
    pub image: String,
    /// Build command (run in the target).
    pub build: Vec<String>,
    /// Listing command (run in the target), one path a line (or ls -l style).
    pub list: Vec<String>,
    /// Extra build arguments per transport.
    #[serde(default)]
    pub transport_args: BTreeMap<String, Vec<String>>,
    /// dracut modules to add, per transport (template `@dracut_modules@`).
    #[serde(default)]
    pub dracut_modules: BTreeMap<String, String>,
    /// dracut modules to leave out, per transport (`@dracut_omit@`).
    #[serde(default)]
    pub dracut_omit: BTreeMap<String, String>,
    /// Kernel modules a lean initramfs carries besides the NIC drivers and
    /// the layout's filesystems: under "always" and per transport
    /// (template `@root_modules@`, checked in every image built).
    #[serde(default)]
    pub modules: BTreeMap<String, Vec<String>>,
}

/// A condition on the plan; every given field must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// "iscsi" or "aoe".
    #[serde(default)]
    pub transport: Option<String>,
    /// "ibft" or "explicit" (iSCSI only).
    #[serde(default)]
    pub iscsi_config: Option<String>,
}

impl When {
    /// Does the condition hold for this transport and iSCSI mode?
    pub fn holds(&self, transport: &str, iscsi_config: &str) -> bool {
        self.transport.as_deref().is_none_or(|t| t == transport)
            && self
                .iscsi_config
                .as_deref()
                .is_none_or(|m| transport == "iscsi" && m == iscsi_config)
    }
}

/// A file the profile installs in the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute path in the target.
    pub path: String,
    /// Template under profiles/files/.
    pub source: String,
    /// Unix mode (decimal in JSON: 493 = 0755, 420 = 0644, 384 = 0600).
    pub mode: u32,
    /// Holds secrets: never shown in reports.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub when: When,
}

/// What the built initramfs must contain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    #[serde(default)]
    pub when: When,
    /// Kernel module names (any compression suffix).
    #[serde(default)]
    pub modules: Vec<String>,
    /// File base names.
    #[serde(default)]
    pub files: Vec<String>,
}

/// Kernel arguments (templates; see [`template`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelArgs {
    #[serde(default)]
    pub when: When,
    pub args: Vec<String>,
}

/// A network manager the migrated system may use, and how to keep the
/// boot NIC up under it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkManager {
    pub name: String,
    /// Paths (relative to the root); any present means the manager is used.
    pub detect: Vec<String>,
    /// Files to install when it is used.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// GRUB commands and paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grub {
    /// grub-install program name.
    pub install: String,
    /// Config generator with its arguments.
    pub mkconfig: Vec<String>,
    /// Generated config, e.g. /boot/grub/grub.cfg.
    pub cfg: String,
    /// --boot-directory.
    pub boot_dir: String,
    /// GRUB's directory (holds i386-pc/core.img).
    pub grub_dir: String,
    /// Where netroot's GRUB settings go.
    pub defaults: String,
    /// "dropin": a file of netroot's own, sourced after /etc/default/grub;
    /// "merge": keys edited in place in that file.
    pub defaults_mode: DefaultsMode,
    /// More settings the distro needs.
    #[serde(default)]
    pub extra_defaults: BTreeMap<String, String>,
}

pub use crate::tools::grub::DefaultsMode;

impl InitramfsBuild {
    /// The image path of kernel `kver` (`vars` holds it).
    pub fn image_path(&self, vars: &template::Vars) -> Result<String> {
        Ok(template::render_arg(&self.image, vars)?.unwrap_or_default())
    }
}

/// A distro profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub description: String,
    #[serde(rename = "match")]
    pub matches: Match,
    pub initramfs: InitramfsTool,
    pub packages: Packages,
    pub fstab: FstabRules,
    pub initramfs_build: InitramfsBuild,
    /// Files installed in the target (initramfs hooks, scripts, config).
    pub files: Vec<FileSpec>,
    /// What the initramfs must contain, checked after each build.
    pub requires: Vec<Requirement>,
    /// Kernel arguments per transport.
    pub kernel_args: Vec<KernelArgs>,
    /// NIC drivers always put in the initramfs (those the kernel has).
    pub nic_drivers: Vec<String>,
    /// Network managers and how to keep the boot NIC up under each.
    pub network: Vec<NetworkManager>,
    pub grub: Grub,
}

impl Profile {
    /// The network managers of `network` the tree at `root` uses.
    pub fn network_stacks(&self, root: &Path) -> Vec<&NetworkManager> {
        self.network
            .iter()
            .filter(|m| m.detect.iter().any(|d| root.join(d).exists()))
            .collect()
    }
}

fn raw(name: &str) -> Result<serde_json::Value> {
    let text = PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| anyhow!("no profile {name:?} (known: {})", known_names().join(", ")))?;
    let mut v: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("profiles/{name}.json is invalid"))?;
    if let Some(parent) = v
        .as_object_mut()
        .and_then(|o| o.remove("inherit"))
        .and_then(|p| p.as_str().map(str::to_string))
    {
        if parent == name {
            bail!("profiles/{name}.json inherits itself");
        }
        let mut base = raw(&parent)?;
        merge(&mut base, v);
        return Ok(base);
    }
    Ok(v)
}

/// Merge `over` into `base`: objects recursively, everything else replaced.
fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_object() && v.is_object() => merge(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn all() -> Result<BTreeMap<String, Profile>> {
    let mut m = BTreeMap::new();
    for (name, _) in PROFILES {
        m.insert(name.to_string(), load(name)?);
    }
    Ok(m)
}

/// Profile names a plan may name (besides "auto").
pub fn known_names() -> Vec<&'static str> {
    crate::plan::BUILTIN_PROFILES.to_vec()
}

pub fn is_known_name(n: &str) -> bool {
    known_names().contains(&n)
}

/// Load a profile by name.
pub fn load(name: &str) -> Result<Profile> {
    let v = raw(name)?;
    let p: Profile =
        serde_json::from_value(v).with_context(|| format!("profiles/{name}.json is invalid"))?;
    if p.name != name {
        bail!("profiles/{name}.json says its name is {:?}", p.name);
    }
    Ok(p)
}

/// Detect the profile of the tree at `root` from its os-release (and, among
/// profiles for the same distro, the tools installed, e.g. dracut).
pub fn detect(root: &Path) -> Result<Profile> {
    let os = crate::host::os_release::read_tree(root).ok_or_else(|| {
        anyhow!(
            "{} has no etc/os-release: set boot.profile in the plan",
            root.display()
        )
    })?;
    let (id, like) = (os.id, os.id_like);
    let profiles = all()?;
    let has_all = |p: &Profile| {
        p.matches
            .requires
            .iter()
            .all(|r| root.join(r.trim_start_matches('/')).exists())
    };
    let best = |pred: &dyn Fn(&Profile) -> bool| {
        profiles
            .values()
            .filter(|p| pred(p) && has_all(p))
            .max_by_key(|p| p.matches.requires.len())
            .cloned()
    };
    best(&|p| p.matches.id.contains(&id))
        .or_else(|| {
            like.iter().find_map(|l| {
                best(&|p| p.matches.id_like.contains(l) || p.matches.id.contains(l))
            })
        })
        .ok_or_else(|| {
            anyhow!(
                "no profile for os-release ID={id:?} ID_LIKE={like:?}: set boot.profile (known: {})",
                known_names().join(", ")
            )
        })
}

/// The profile for a plan: the named one, or detected from `root` for "auto".
pub fn resolve(plan: &crate::plan::Plan, root: Option<&Path>) -> Result<Profile> {
    if plan.boot.profile != "auto" {
        return load(&plan.boot.profile);
    }
    match (&plan.source, root) {
        (crate::plan::Source::Debootstrap { .. }, None) => load("debian"),
        (_, Some(r)) => detect(r),
        (crate::plan::Source::Live { .. }, None) => detect(Path::new("/")),
        (crate::plan::Source::Directory { path, .. }, None) => detect(path),
    }
}

#[cfg(test)]
mod tests {

    /// The embedded aoe-kick: a static x86-64/ELF executable (no program
    /// interpreter), since it runs from the initramfs and any target.
    #[test]
    fn programs_are_static_executables() {
        for (name, b) in PROGRAMS {
            assert_eq!(&b[..4], b"\x7fELF", "{name}");
            let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
            let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
            let (size, count) = (u16_at(0x36), u16_at(0x38));
            assert!(count > 0, "{name}: no program headers");
            for i in 0..count {
                let at = phoff + i * size;
                let kind = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
                assert_ne!(kind, 3, "{name}: has a program interpreter (PT_INTERP)");
            }
        }
    }

    /// The embedded aoe-kick, written to DIR as an executable.
    fn kick_exe(dir: &Path) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("aoe-kick");
        let Source::Program(b) = source("aoe/aoe-kick").unwrap() else {
            panic!("aoe/aoe-kick is not a program")
        };
        std::fs::write(&exe, b).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    /// Run the embedded aoe-kick with ARGS: its status and stderr.
    fn run_kick(dir: &Path, args: &[&str]) -> (i32, String) {
        let out = std::process::Command::new(kick_exe(dir))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn aoe_kick_reads_direct_and_names_what_is_wrong() {
        // One direct read of a file on a filesystem with O_DIRECT (not tmpfs).
        let d = tempfile::tempdir_in("/var/tmp").unwrap();
        let disk = d.path().join("disk");
        std::fs::write(&disk, vec![1u8; 8192]).unwrap();
        let node = disk.to_str().unwrap();
        let dir = d.path();
        let (rc, err) = run_kick(dir, &["e7.1"]);
        assert!(rc == 1 && err.contains("/dev/etherd/e7.1"), "{rc} {err}");
        let (rc, err) = run_kick(dir, &["--memory", "e7.1", "/nonexistent/disk"]);
        assert!(
            rc == 1 && err.contains("opening /nonexistent/disk"),
            "{rc} {err}"
        );
        for bad in ["../sda", "e7", "e7.1x", "e70000.1", "sda"] {
            let (rc, err) = run_kick(dir, &[bad]);
            assert!(
                rc == 2 && err.contains("not an AoE disk name"),
                "{bad}: {rc} {err}"
            );
        }
        let (rc, err) = run_kick(dir, &["--frob"]);
        assert!(rc == 2 && err.contains("usage:"), "{rc} {err}");
        // --memory runs until stopped, with the node open.
        let exe = kick_exe(dir);
        let mut child = std::process::Command::new(&exe)
            .args(["--memory", "e7.1", node])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let running = child.try_wait().unwrap().is_none();
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .map(|r| {
                r.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .map(|p| p.display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(running, "aoe-kick --memory exited");
        assert!(fds.iter().any(|f| f == node), "{fds:?}");
    }

    use super::*;

    #[test]
    fn the_embedded_profiles_are_exactly_the_plans_names() {
        let mut embedded: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
        let mut named = crate::plan::BUILTIN_PROFILES.to_vec();
        embedded.sort();
        named.sort();
        assert_eq!(embedded, named);
        for n in named {
            load(n).unwrap();
        }
    }

    #[test]
    fn every_profile_parses_and_its_files_exist() {
        for n in known_names() {
            let p = load(n).unwrap();
            let all_files = p
                .files
                .iter()
                .chain(p.network.iter().flat_map(|m| m.files.iter()));
            for f in all_files {
                source(&f.source).unwrap();
                assert!(f.path.starts_with('/'), "{n}: {}", f.path);
            }
        }
    }

    #[test]
    fn inheritance_overrides_and_keeps() {
        let d = load("debian-dracut").unwrap();
        assert_eq!(d.initramfs, InitramfsTool::Dracut);
        assert!(d.packages.base.contains(&"dracut".to_string()));
        // Inherited from debian.
        assert_eq!(d.grub.install, "grub-install");
        assert!(d.fstab.netdev);
        let f = load("fedora").unwrap();
        assert_eq!(f.grub.install, "grub2-install");
        assert_eq!(f.initramfs, InitramfsTool::Dracut);
    }

    #[test]
    fn when_conditions() {
        let w = When {
            transport: Some("iscsi".into()),
            iscsi_config: Some("ibft".into()),
        };
        assert!(w.holds("iscsi", "ibft"));
        assert!(!w.holds("iscsi", "explicit"));
        assert!(!w.holds("aoe", "ibft"));
        assert!(When::default().holds("aoe", "ibft"));
    }

    #[test]
    fn detection_prefers_the_profile_whose_tools_exist() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/os-release"), "ID=debian\n").unwrap();
        assert_eq!(detect(d.path()).unwrap().name, "debian");
        std::fs::create_dir_all(d.path().join("usr/bin")).unwrap();
        std::fs::write(d.path().join("usr/bin/dracut"), "").unwrap();
        assert_eq!(detect(d.path()).unwrap().name, "debian-dracut");
        std::fs::write(
            d.path().join("etc/os-release"),
            "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
        )
        .unwrap();
        assert_eq!(detect(d.path()).unwrap().name, "ubuntu");
        std::fs::write(d.path().join("etc/os-release"), "ID=rocky\n").unwrap();
        assert_eq!(detect(d.path()).unwrap().name, "fedora");
    }
}
