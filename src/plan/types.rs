//! Plan format version 1: the serde types. The JSON Schema printed by
//! `netroot plan schema` is generated from these same types.

use super::size::SizeSpec;
use super::values::{Cidr, Hostname, Interface, Iqn, Mac, Portal, SecretFile};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The plan format version this netroot reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// A migration plan: what to copy, onto which network disk, laid out how,
/// and how the result boots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Plan format version. Must be 1.
    pub version: u32,
    /// Where the system to migrate comes from.
    pub source: Source,
    /// The network disk the migrated system will boot from.
    pub target: Target,
    /// Partition table and filesystems written to the target.
    pub layout: Layout,
    /// How the migrated system boots from the network disk.
    #[serde(default)]
    pub boot: Boot,
    /// The migrated machine as the server sees it.
    #[serde(default)]
    pub client: Client,
    /// Copy options.
    #[serde(default)]
    pub copy: CopyOptions,
    /// Per-client identity of the migrated system.
    #[serde(default)]
    pub system: SystemOptions,
}

/// Where the system comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// The running system (`/`), copied mount by mount with rsync.
    Live {
        /// Copy from a read-only snapshot of each source filesystem (btrfs
        /// subvolume or LVM logical volume) taken when the copy starts: a
        /// crash-consistent copy of a system that keeps writing. Refused
        /// by preflight when a filesystem the copy reads can't be
        /// snapshotted.
        #[serde(default, skip_serializing_if = "is_false")]
        snapshot: bool,
    },
    /// An offline root tree, copied with rsync.
    Directory {
        /// Absolute path of the root tree.
        path: PathBuf,
        /// As for `live`: copy from snapshots of the tree's filesystems.
        #[serde(default, skip_serializing_if = "is_false")]
        snapshot: bool,
    },
    /// A fresh system installed with debootstrap.
    Debootstrap {
        /// Suite, e.g. "bookworm".
        suite: String,
        /// Mirror URL.
        #[serde(default = "default_mirror")]
        mirror: String,
        /// debootstrap --variant (e.g. "minbase").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant: Option<String>,
        /// Extra packages to include.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        include: Vec<String>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub fn default_mirror() -> String {
    "http://deb.debian.org/debian".to_string()
}

/// The network disk. Either discovered through its transport, or, with
/// `device`, already attached on this machine (or an image file to export
/// later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "transport", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// An iSCSI LUN.
    Iscsi {
        /// Target portal, "ADDR" or "ADDR:PORT" (port 3260 by default).
        portal: Portal,
        /// Target IQN.
        iqn: Iqn,
        /// LUN of the disk. tgt puts its controller at LUN 0 and the first
        /// disk at LUN 1 (the default); LIO puts the disk at LUN 0.
        #[serde(default = "default_lun")]
        lun: u32,
        /// CHAP credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chap: Option<Chap>,
        /// Work on this block device or image file instead of logging in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<PathBuf>,
        /// Size of the image file to create when `device` is a missing file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<SizeSpec>,
    },
    /// An AoE device eSHELF.SLOT.
    Aoe {
        /// AoE shelf (major) number, 0..=65534.
        shelf: u16,
        /// AoE slot (minor) number, 0..=254.
        slot: u8,
        /// Network interface AoE runs on (name or MAC); all if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<Interface>,
        /// Work on this block device or image file instead of discovering.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<PathBuf>,
        /// Size of the image file to create when `device` is a missing file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<SizeSpec>,
    },
}

fn default_lun() -> u32 {
    1
}

/// CHAP credentials. Secrets are read from files and never appear on a
/// command line or in a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chap {
    /// CHAP user name the initiator presents.
    pub username: String,
    /// File holding the initiator's CHAP secret (12 to 16 characters).
    pub secret_file: SecretFile,
    /// Mutual CHAP: user name the target presents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_username: Option<String>,
    /// Mutual CHAP: file holding the target's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_secret_file: Option<SecretFile>,
}

/// Partition table kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
}

/// Firmware the client boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// Legacy BIOS: GPT gets a 1 MiB bios_grub partition, MBR a 1 MiB gap.
    Bios,
    /// UEFI: needs an ESP (a vfat partition mounted at /boot/efi).
    Uefi,
    /// Both: bios_grub partition and ESP.
    Both,
}

impl Firmware {
    pub fn bios(self) -> bool {
        matches!(self, Firmware::Bios | Firmware::Both)
    }
    pub fn uefi(self) -> bool {
        matches!(self, Firmware::Uefi | Firmware::Both)
    }
}

/// Filesystem kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext4,
    Xfs,
    Btrfs,
    Vfat,
    Swap,
}

impl FsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Vfat => "vfat",
            FsKind::Swap => "swap",
        }
    }
    /// Longest label the filesystem accepts.
    pub fn max_label(self) -> usize {
        match self {
            FsKind::Ext4 => 16,
            FsKind::Xfs => 12,
            FsKind::Btrfs => 255,
            FsKind::Vfat => 11,
            FsKind::Swap => 15,
        }
    }
}

/// The target's partition table and filesystems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// "gpt" or "mbr".
    pub table: TableKind,
    /// "bios", "uefi" or "both".
    pub firmware: Firmware,
    /// Partitions in disk order. The bios_grub partition is added by netroot.
    pub partitions: Vec<PartitionSpec>,
    /// Allow replacing an existing, different partition table on the target.
    #[serde(default)]
    pub wipe: bool,
}

/// One partition and its filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Mount point ("/", "/boot", "/boot/efi", ...). Absent for swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// Filesystem: ext4, xfs, btrfs, vfat or swap.
    pub fs: FsKind,
    /// Size: "512M", "20G", or "rest" (last partition only).
    pub size: SizeSpec,
    /// Filesystem label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Boot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// Distro profile from profiles/: "auto" detects it from the copied
    /// system's /etc/os-release.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The network the initramfs brings up to reach the disk.
    #[serde(default)]
    pub network: BootNetwork,
    /// Extra kernel command-line arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_args: Vec<String>,
    /// Serial console for GRUB and the kernel, e.g. "ttyS0,115200n8".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_console: Option<String>,
    /// How the iSCSI initramfs finds its target: "ibft" reads the table
    /// iPXE leaves (survives a changed target address), "explicit" names the
    /// target in the initramfs.
    #[serde(default)]
    pub iscsi_config: IscsiConfigMode,
}

impl Default for Boot {
    fn default() -> Self {
        Boot {
            profile: default_profile(),
            network: BootNetwork::default(),
            kernel_args: Vec::new(),
            serial_console: None,
            iscsi_config: IscsiConfigMode::default(),
        }
    }
}

/// The distro profiles built into netroot (profiles/*.json), the names a
/// plan's `boot.profile` may use besides "auto". The profile module holds
/// their contents and checks in a test that it has exactly these.
pub const BUILTIN_PROFILES: [&str; 4] = ["debian", "debian-dracut", "ubuntu", "fedora"];

fn default_profile() -> String {
    "auto".to_string()
}

/// How the initramfs finds its iSCSI target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IscsiConfigMode {
    /// From the iBFT that iPXE's sanboot leaves in memory.
    #[default]
    Ibft,
    /// From the plan's portal, IQN and LUN, written into the initramfs.
    Explicit,
}

/// The network the initramfs brings up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootNetwork {
    /// Boot interface: a name ("ens3") or a MAC address. Default: the
    /// first interface with a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<Interface>,
    /// "dhcp" (default) or a static address.
    #[serde(default)]
    pub address: Addressing,
}

/// Addressing of the boot interface.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Addressing {
    #[default]
    Dhcp,
    Static {
        /// Address with prefix length, e.g. "192.0.2.10/24".
        address: Cidr,
        /// Default gateway.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gateway: Option<String>,
        /// DNS servers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dns: Vec<String>,
    },
}

/// The migrated machine as the server sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// MAC address of the client's boot NIC (used for AoE and DHCP ACLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// iSCSI initiator name of the migrated system; generated if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_name: Option<Iqn>,
}

/// Copy options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyOptions {
    /// Extra rsync exclude patterns (relative to the source root, e.g. "/home/*/.cache").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// Per-client identity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemOptions {
    /// Hostname of the migrated system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<Hostname>,
    /// What to regenerate so the copy does not share identity with its source.
    #[serde(default)]
    pub regenerate: Regenerate,
}

/// Identity regenerated in the migrated system.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Regenerate {
    /// A new /etc/machine-id.
    #[serde(default)]
    pub machine_id: bool,
    /// A new /etc/iscsi/initiatorname.iscsi (the plan's client.initiator_name if set).
    #[serde(default)]
    pub initiator_name: bool,
    /// New SSH host keys.
    #[serde(default)]
    pub ssh_host_keys: bool,
}

impl Target {
    pub fn device(&self) -> Option<&PathBuf> {
        match self {
            Target::Iscsi { device, .. } | Target::Aoe { device, .. } => device.as_ref(),
        }
    }
    pub fn size(&self) -> Option<&SizeSpec> {
        match self {
            Target::Iscsi { size, .. } | Target::Aoe { size, .. } => size.as_ref(),
        }
    }
    pub fn transport_name(&self) -> &'static str {
        match self {
            Target::Iscsi { .. } => "iscsi",
            Target::Aoe { .. } => "aoe",
        }
    }
    /// The identity a person types to confirm: "e11.0" or the IQN (with LUN).
    pub fn identity(&self) -> String {
        match self {
            Target::Iscsi { iqn, lun, .. } => format!("{iqn} lun {lun}"),
            Target::Aoe { shelf, slot, .. } => format!("e{shelf}.{slot}"),
        }
    }
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Live { snapshot } => {
                format!("the running system (/){}", snapshot_note(*snapshot))
            }
            Source::Directory { path, snapshot } => {
                format!(
                    "the root tree {}{}",
                    path.display(),
                    snapshot_note(*snapshot)
                )
            }
            Source::Debootstrap { suite, mirror, .. } => {
                format!("a fresh Debian-family {suite} from {mirror} (debootstrap)")
            }
        }
    }

    /// Whether the copy reads from snapshots of the source's filesystems.
    pub fn snapshot(&self) -> bool {
        match self {
            Source::Live { snapshot } | Source::Directory { snapshot, .. } => *snapshot,
            Source::Debootstrap { .. } => false,
        }
    }

    /// The tree a live or directory source copies (`/` or `path`); None
    /// for debootstrap, which has none.
    pub fn tree(&self) -> Option<PathBuf> {
        match self {
            Source::Live { .. } => Some(PathBuf::from("/")),
            Source::Directory { path, .. } => Some(path.clone()),
            Source::Debootstrap { .. } => None,
        }
    }

    /// The running system, copied as it is (no snapshot).
    pub fn live() -> Source {
        Source::Live { snapshot: false }
    }

    /// The tree at `path`, copied as it is (no snapshot).
    pub fn directory(path: impl Into<PathBuf>) -> Source {
        Source::Directory {
            path: path.into(),
            snapshot: false,
        }
    }
}

fn snapshot_note(snapshot: bool) -> &'static str {
    if snapshot {
        ", from snapshots"
    } else {
        ""
    }
}
