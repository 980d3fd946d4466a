//! The wizard's answers and what is made of them: the answer types, their
//! defaults (image path and size, IQNs, portal), the pure [`build_plan`],
//! the identity the person must type, and the next steps printed at the end.

use crate::plan::size::GIB;
use crate::plan::{
    Addressing, Boot, BootNetwork, Chap, Client, CopyOptions, Firmware, FsKind, Interface, Layout,
    Mac, PartitionSpec, Plan, Regenerate, SizeSpec, Source, SystemOptions, TableKind, Target,
    PLAN_VERSION,
};
use crate::ui::machine::Facts;
use std::path::{Path, PathBuf};

/// Options of `netroot wizard`.
#[derive(Debug, Clone)]
pub struct WizardOptions {
    /// Where plan.json, the log and the server files go.
    pub out: PathBuf,
    /// The log file of the run.
    pub log_file: Option<PathBuf>,
    /// Stop after this step (hidden `--stop-after`).
    pub stop_after: Option<crate::engine::StepId>,
}

/// Where the system comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAnswer {
    /// The running system.
    Live,
    /// An offline root tree.
    Directory(PathBuf),
}

/// The network disk as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportAnswer {
    Iscsi {
        portal: String,
        iqn: String,
        lun: u32,
        chap: Option<ChapAnswer>,
    },
    Aoe {
        shelf: u16,
        slot: u8,
        interface: Option<String>,
    },
}

/// CHAP: the user name and the file the secret was saved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapAnswer {
    pub username: String,
    pub secret_file: PathBuf,
}

/// An image file on this machine, exported by the server later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAnswer {
    pub path: PathBuf,
    /// Size of the file to create, e.g. "4G".
    pub size: String,
}

/// Table and firmware, offered together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutChoice {
    pub table: TableKind,
    pub firmware: Firmware,
}

impl LayoutChoice {
    /// The choices offered, in order.
    pub const ALL: [LayoutChoice; 4] = [
        LayoutChoice {
            table: TableKind::Gpt,
            firmware: Firmware::Bios,
        },
        LayoutChoice {
            table: TableKind::Gpt,
            firmware: Firmware::Uefi,
        },
        LayoutChoice {
            table: TableKind::Gpt,
            firmware: Firmware::Both,
        },
        LayoutChoice {
            table: TableKind::Mbr,
            firmware: Firmware::Bios,
        },
    ];
    /// The natural layout for a machine booted with `fw`.
    pub fn for_firmware(fw: Firmware) -> LayoutChoice {
        LayoutChoice {
            table: TableKind::Gpt,
            firmware: fw,
        }
    }
    /// One line for the menu.
    pub fn describe(self) -> &'static str {
        match (self.table, self.firmware) {
            (TableKind::Gpt, Firmware::Bios) => "GPT for BIOS (bios_grub partition + root)",
            (TableKind::Gpt, Firmware::Uefi) => "GPT for UEFI (EFI system partition + root)",
            (TableKind::Gpt, Firmware::Both) => "GPT for BIOS and UEFI (bios_grub + ESP + root)",
            (TableKind::Mbr, _) => "MBR for BIOS (root only)",
        }
    }
}

/// A boot interface picked from the probed NICs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootNic {
    pub name: String,
    pub mac: String,
}

/// Everything the wizard asks. [`Answers::defaults`] is what pressing
/// Enter through every question gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub source: SourceAnswer,
    pub transport: TransportAnswer,
    /// Work on an image file instead of attaching the network disk.
    pub image: Option<ImageAnswer>,
    pub layout: LayoutChoice,
    pub fs: FsKind,
    pub hostname: Option<String>,
    /// None: the initramfs uses the first interface with a link.
    pub boot_nic: Option<BootNic>,
    /// The migrated system's serial console (`boot.serial_console`): the
    /// running kernel's for a live copy, none for a directory tree.
    pub serial_console: Option<String>,
}

/// The filesystems offered for the root.
pub const ROOT_FILESYSTEMS: [FsKind; 3] = [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs];

/// A default image file name in `out`.
pub fn default_image_path(out: &Path) -> PathBuf {
    out.join("netroot-disk.img")
}

/// The size to offer for an image: the used bytes with a quarter and 1 GiB
/// of headroom, rounded up to whole GiB, at least 2 GiB.
pub fn default_image_size(used: u64) -> String {
    let want = used + used / 4 + GIB;
    let gib = want.div_ceil(GIB).max(2);
    format!("{gib}G")
}

/// A hostname made safe for an IQN (lower case, letters, digits, dashes).
fn iqn_name(host: &str) -> String {
    let s: String = host
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "client".into()
    } else {
        s
    }
}

/// The IQN offered for a client called `host`.
pub fn default_iqn(host: &str) -> String {
    format!("iqn.2024-01.org.netroot:{}", iqn_name(host))
}

/// The initiator name given to a client called `host`.
pub fn default_initiator(host: &str) -> String {
    format!("iqn.2024-01.org.netroot:{}-initiator", iqn_name(host))
}

/// The portal offered when nothing better is known: the server's address
/// goes into the server files and, with `iscsi_config: ibft`, nowhere on
/// the client.
pub const DEFAULT_PORTAL: &str = "192.0.2.1:3260";

impl Answers {
    /// The answers pressing Enter everywhere gives on a machine with
    /// `facts`: copy the running system into an image file in `out`,
    /// exported over iSCSI later, laid out for this machine's firmware.
    pub fn defaults(facts: &Facts, out: &Path) -> Answers {
        let hostname =
            Some(facts.hostname.clone()).filter(|h| crate::plan::validate::is_valid_hostname(h));
        let host = hostname.clone().unwrap_or_else(|| "client".into());
        Answers {
            source: SourceAnswer::Live,
            transport: TransportAnswer::Iscsi {
                portal: DEFAULT_PORTAL.into(),
                iqn: default_iqn(&host),
                lun: 1,
                chap: None,
            },
            image: Some(ImageAnswer {
                path: default_image_path(out),
                size: default_image_size(facts.used_bytes()),
            }),
            layout: LayoutChoice::for_firmware(facts.firmware()),
            fs: facts
                .root_mount()
                .and_then(|m| ROOT_FILESYSTEMS.iter().find(|f| f.as_str() == m.fstype))
                .copied()
                .unwrap_or(FsKind::Ext4),
            hostname,
            boot_nic: facts.boot_nics().first().map(|n| BootNic {
                name: n.name.clone(),
                mac: n.mac.clone(),
            }),
            serial_console: facts.serial_console.clone(),
        }
    }
}

/// An answer as a typed plan value; the error names the answer.
fn typed<T: std::str::FromStr<Err = String>>(what: &str, s: &str) -> Result<T, String> {
    s.parse().map_err(|e| format!("{what}: {e}"))
}

/// Build the plan the answers describe. Pure: the result is validated by
/// the caller (and, for the defaults, by the tests). An answer that is not
/// a valid plan value (the questions check them, so a bug) is an error.
pub fn build_plan(a: &Answers) -> Result<Plan, String> {
    let target = build_target(a)?;
    let iscsi = matches!(a.transport, TransportAnswer::Iscsi { .. });
    let host = a.hostname.clone().unwrap_or_else(|| "client".into());
    let partitions = build_partitions(a);
    let nic_mac = a
        .boot_nic
        .as_ref()
        .map(|n| typed::<Mac>("boot NIC MAC", &n.mac))
        .transpose()?;
    Ok(Plan {
        version: PLAN_VERSION,
        source: match &a.source {
            SourceAnswer::Live => Source::live(),
            SourceAnswer::Directory(p) => Source::directory(p.clone()),
        },
        target,
        layout: Layout {
            table: a.layout.table,
            firmware: a.layout.firmware,
            partitions,
            // The person typed the target's identity after reading the dry
            // run: that is the consent to replace what is there.
            wipe: true,
        },
        boot: Boot {
            network: BootNetwork {
                interface: nic_mac.clone().map(Interface::Mac),
                address: Addressing::Dhcp,
            },
            serial_console: a.serial_console.clone(),
            ..Boot::default()
        },
        client: Client {
            mac: nic_mac,
            initiator_name: iscsi
                .then(|| typed("initiator name", &default_initiator(&host)))
                .transpose()?,
        },
        copy: CopyOptions::default(),
        system: SystemOptions {
            hostname: a
                .hostname
                .as_deref()
                .map(|h| typed("hostname", h))
                .transpose()?,
            regenerate: Regenerate {
                // The migrated system presents the name the server's ACL
                // allows (the server files are generated from this plan).
                initiator_name: iscsi,
                ..Regenerate::default()
            },
        },
    })
}

/// The target the answers name: a network disk, or an image file on it.
fn build_target(a: &Answers) -> Result<Target, String> {
    let (device, size) = match &a.image {
        Some(i) => (Some(i.path.clone()), Some(typed("image size", &i.size)?)),
        None => (None, None),
    };
    Ok(match &a.transport {
        TransportAnswer::Iscsi {
            portal,
            iqn,
            lun,
            chap,
        } => Target::Iscsi {
            portal: typed("portal", portal)?,
            iqn: typed("IQN", iqn)?,
            lun: *lun,
            chap: match chap {
                None => None,
                Some(c) => Some(Chap {
                    username: c.username.clone(),
                    secret_file: typed("CHAP secret file", &c.secret_file.to_string_lossy())?,
                    target_username: None,
                    target_secret_file: None,
                }),
            },
            device,
            size,
        },
        TransportAnswer::Aoe {
            shelf,
            slot,
            interface,
        } => Target::Aoe {
            shelf: *shelf,
            slot: *slot,
            interface: interface
                .as_deref()
                .map(|i| typed("AoE interface", i))
                .transpose()?,
            device,
            size,
        },
    })
}

/// The partitions: an ESP for UEFI, then the root filling the rest.
fn build_partitions(a: &Answers) -> Vec<PartitionSpec> {
    let mut partitions = Vec::new();
    if a.layout.firmware.uefi() {
        partitions.push(PartitionSpec {
            mount: Some("/boot/efi".into()),
            fs: FsKind::Vfat,
            size: SizeSpec::new("512M"),
            label: Some("ESP".into()),
        });
    }
    partitions.push(PartitionSpec {
        mount: Some("/".into()),
        fs: a.fs,
        size: SizeSpec::new("rest"),
        label: Some("netroot".into()),
    });
    partitions
}

/// What the person must type to confirm: the image path for an image
/// target, else the IQN or `eSHELF.SLOT`.
pub fn confirm_identity(plan: &Plan) -> String {
    if let Some(d) = plan.target.device() {
        return d.display().to_string();
    }
    match &plan.target {
        Target::Iscsi { iqn, .. } => iqn.to_string(),
        Target::Aoe { shelf, slot, .. } => format!("e{shelf}.{slot}"),
    }
}

/// Whether `typed` confirms `plan`'s target (exact, surrounding blanks
/// ignored).
pub fn identity_confirmed(plan: &Plan, typed: &str) -> bool {
    typed.trim() == confirm_identity(plan)
}

/// Parse "eS.L" (or "S.L") into shelf and slot.
pub fn parse_aoe_id(s: &str) -> Result<(u16, u8), String> {
    let t = s.trim();
    let body = t.strip_prefix('e').unwrap_or(t);
    let bad = || format!("{s:?} is not an AoE address (eSHELF.SLOT, e.g. e0.1)");
    let (a, b) = body.split_once('.').ok_or_else(bad)?;
    let shelf: u16 = a.parse().map_err(|_| bad())?;
    let slot: u8 = b.parse().map_err(|_| bad())?;
    if shelf == u16::MAX || slot == u8::MAX {
        return Err(format!("{s:?} is AoE's broadcast address"));
    }
    Ok((shelf, slot))
}

/// What to do next, on the server and in the client's firmware.
pub fn next_steps(plan: &Plan, plan_path: &Path, server_dir: Option<&Path>) -> String {
    let mut s = String::from("What to do next\n\nOn the server:\n");
    let plan_s = plan_path.display();
    if let Some(img) = plan.target.device().filter(|d| !d.starts_with("/dev/")) {
        s.push_str(&format!(
            "  1. copy the image {} to the server (keep it sparse: `cp --sparse=always` or `rsync -S`)\n",
            img.display()
        ));
    } else {
        s.push_str("  1. the disk is already on the server\n");
    }
    match server_dir {
        Some(d) => s.push_str(&format!(
            "  2. the server files (export, DHCP, TFTP, iPXE script) are in {}; README.txt there says\n     \
             where each goes. Or, on a Debian server: netroot server apply --plan plan.json\n",
            d.display()
        )),
        None => s.push_str(&format!(
            "  2. write the server files: netroot server --plan {plan_s} --out DIR (or, on a Debian\n     \
             server: netroot server apply --plan {plan_s})\n"
        )),
    }
    match &plan.target {
        Target::Iscsi { portal, iqn, lun, .. } => s.push_str(&format!(
            "     (the export: iSCSI {iqn} LUN {lun} at {portal}; edit target.portal in the plan if the server has another address)\n"
        )),
        Target::Aoe { shelf, slot, .. } => s.push_str(&format!(
            "     (the export: AoE e{shelf}.{slot}, e.g. vblade {shelf} {slot} IFACE IMAGE)\n"
        )),
    }
    s.push_str("\nIn this machine's firmware (BIOS/UEFI setup):\n");
    let nic = plan
        .client
        .mac
        .as_ref()
        .map(|m| format!("the NIC with MAC {m}"))
        .unwrap_or_else(|| "the boot NIC".into());
    s.push_str(&format!(
        "  3. enable network (PXE) boot on {nic} and put it first in the boot order\n"
    ));
    s.push_str(
        "  4. reboot: PXE loads iPXE, iPXE sanboots the network disk, GRUB and the\n     \
         initramfs on it attach the disk and mount the root. The local disk is left as it was.\n",
    );
    s.push_str(&format!(
        "\nTo check or redo any step later: netroot status --plan {plan_s}; netroot migrate --plan {plan_s} --yes\n"
    ));
    s
}

/// Bytes as "1.5G" for the screens.
pub fn human(b: u64) -> String {
    crate::plan::size::human(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::size::MIB;
    use crate::plan::validate_plan;
    use crate::ui::machine::{MountFact, Nic};

    fn facts() -> Facts {
        Facts {
            hostname: "client1".into(),
            firmware: Some(Firmware::Bios),
            mounts: vec![MountFact {
                target: "/".into(),
                source: "/dev/sda2".into(),
                fstype: "ext4".into(),
                size: Some(8 * GIB),
                used: Some(3 * GIB),
            }],
            nics: vec![
                Nic {
                    name: "lo".into(),
                    mac: "00:00:00:00:00:00".into(),
                    operstate: "unknown".into(),
                    driver: None,
                },
                Nic {
                    name: "ens3".into(),
                    mac: "52:54:00:12:34:56".into(),
                    operstate: "up".into(),
                    driver: Some("virtio_net".into()),
                },
            ],
            ..Facts::default()
        }
    }

    #[test]
    fn all_defaults_give_a_valid_plan() {
        let a = Answers::defaults(&facts(), Path::new("/var/tmp/out"));
        let p = build_plan(&a).unwrap();
        validate_plan(&p).unwrap();
        assert_eq!(p.source, Source::live());
        assert_eq!(
            p.target.device().unwrap(),
            Path::new("/var/tmp/out/netroot-disk.img")
        );
        assert_eq!(p.target.size().unwrap().as_str(), "5G");
        assert_eq!(p.layout.firmware, Firmware::Bios);
        assert_eq!(p.layout.partitions.len(), 1);
        assert_eq!(p.client.mac.as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(p.system.hostname.as_deref(), Some("client1"));
        assert_eq!(confirm_identity(&p), "/var/tmp/out/netroot-disk.img");
        assert_eq!(
            p.client.initiator_name.as_deref(),
            Some("iqn.2024-01.org.netroot:client1-initiator")
        );
        assert!(p.system.regenerate.initiator_name);
        assert_eq!(p.boot.serial_console, None, "no serial console here");
    }

    #[test]
    fn a_live_copy_keeps_the_running_serial_console() {
        let f = Facts {
            serial_console: Some("ttyS0,115200n8".into()),
            ..facts()
        };
        let p = build_plan(&Answers::defaults(&f, Path::new("/x"))).unwrap();
        validate_plan(&p).unwrap();
        assert_eq!(p.boot.serial_console.as_deref(), Some("ttyS0,115200n8"));
    }

    #[test]
    fn defaults_survive_a_bare_machine() {
        let f = Facts::default();
        let a = Answers::defaults(&f, Path::new("/x"));
        assert_eq!(a.boot_nic, None);
        assert_eq!(a.hostname, None);
        validate_plan(&build_plan(&a).unwrap()).unwrap();
    }

    #[test]
    fn every_choice_gives_a_valid_plan() {
        let base = Answers::defaults(&facts(), Path::new("/o"));
        for layout in LayoutChoice::ALL {
            for fs in ROOT_FILESYSTEMS {
                for image in [true, false] {
                    for aoe in [true, false] {
                        let mut a = base.clone();
                        a.layout = layout;
                        a.fs = fs;
                        a.source = SourceAnswer::Directory("/srv/root".into());
                        if !image {
                            a.image = None;
                        }
                        if aoe {
                            a.transport = TransportAnswer::Aoe {
                                shelf: 11,
                                slot: 0,
                                interface: Some("ens3".into()),
                            };
                        }
                        let p = build_plan(&a).unwrap();
                        validate_plan(&p).unwrap_or_else(|e| panic!("{a:?}: {e}"));
                        assert_eq!(p.layout.firmware.uefi(), p.layout.partitions.len() == 2);
                        if !image {
                            let id = confirm_identity(&p);
                            assert_eq!(
                                id,
                                if aoe {
                                    "e11.0".to_string()
                                } else {
                                    default_iqn("client1")
                                }
                            );
                            assert!(identity_confirmed(&p, &format!(" {id}\n")));
                            assert!(!identity_confirmed(&p, "yes"));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn chap_goes_into_the_plan() {
        let mut a = Answers::defaults(&facts(), Path::new("/o"));
        a.transport = TransportAnswer::Iscsi {
            portal: "192.0.2.9".into(),
            iqn: "iqn.2024-01.org.example:disk".into(),
            lun: 0,
            chap: Some(ChapAnswer {
                username: "alice".into(),
                secret_file: "/o/chap-secret".into(),
            }),
        };
        let p = build_plan(&a).unwrap();
        validate_plan(&p).unwrap();
        assert!(crate::engine::describe_target(&p).contains("CHAP"));
    }

    #[test]
    fn image_sizes_and_names() {
        assert_eq!(default_image_size(0), "2G");
        assert_eq!(default_image_size(3 * GIB), "5G");
        assert_eq!(default_image_size(800 * MIB), "2G");
        assert_eq!(default_image_size(900 * MIB), "3G");
        assert_eq!(
            default_iqn("My_Host.example"),
            "iqn.2024-01.org.netroot:my-host-example"
        );
        assert!(crate::plan::validate::is_valid_iqn(&default_iqn("--")));
    }

    #[test]
    fn aoe_ids() {
        assert_eq!(parse_aoe_id("e11.0"), Ok((11, 0)));
        assert_eq!(parse_aoe_id("0.3"), Ok((0, 3)));
        assert!(parse_aoe_id("e1").is_err());
        assert!(parse_aoe_id("e65535.1").is_err());
        assert!(parse_aoe_id("e1.300").is_err());
    }

    #[test]
    fn next_steps_name_the_image_and_the_nic() {
        let p = build_plan(&Answers::defaults(&facts(), Path::new("/o"))).unwrap();
        let s = next_steps(&p, Path::new("/o/plan.json"), None);
        assert!(s.contains("/o/netroot-disk.img"), "{s}");
        assert!(s.contains("52:54:00:12:34:56"), "{s}");
        assert!(s.contains("netroot server --plan /o/plan.json"), "{s}");
    }
}
