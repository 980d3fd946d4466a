//! The command line's shape: every clap struct and enum of `netroot`, the
//! help texts, and turning `netroot server`'s flags into server options.
//!
//! Why apart from [`super`]: the arguments are declarations (read by clap
//! and by the help output), the dispatch in `mod.rs` is behaviour; this file
//! imports nothing from `mod.rs`.

use crate::engine::StepId;
use crate::plan;
use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The heading the options every command takes are listed under, apart
/// from each command's own.
const GLOBAL: &str = "Global options";

const EXIT_CODES: &str = "\
Exit codes:
  0  success (a dry run that printed its report also exits 0)
  1  a step or command failed; the error names it. Re-run the same command
     to resume: finished steps are probed and skipped
  2  the plan or the command line is invalid; nothing was touched
  3  refused for safety before any change (target busy or too small, identity
     mismatch, destructive step without --yes, a different plan in the journal)
  130  the wizard stopped with Ctrl-C (a migration it started resumes when
     run again)";

const LONG_ABOUT: &str = "\
netroot moves an installed Linux system off its local disk onto a network
block device (AoE or iSCSI) so the machine boots diskless:
firmware PXE -> iPXE sanboot -> GRUB on the network disk -> kernel and an
initramfs that attaches the disk -> the real root.

Everything netroot does is written down first in a plan (JSON; see
`netroot plan schema` and the examples in /usr/share/doc/netroot/examples/,
docs/examples/ in the source tree). Every run is resumable: each step
probes the real disk to know whether it is done, so a run killed at any
moment continues where it stopped, and re-running a finished plan changes
nothing.

Typical use:
  netroot plan validate plan.json           check a plan, every error at once
  netroot migrate --plan plan.json --dry-run see every command and file first
  netroot migrate --plan plan.json --yes     do it (resumable)
  netroot status --plan plan.json            what is done
  netroot server --plan plan.json --out srv  the server side (export, DHCP, iPXE)";

#[derive(Debug, Parser)]
#[command(name = "netroot", version, about = "Move a Linux system onto an AoE or iSCSI disk and boot it diskless", long_about = LONG_ABOUT, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Also write a full debug log to this file.
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `migrate --progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressChoice {
    /// Bars when stderr is a terminal (and not a dry run), else nothing.
    Auto,
    /// indicatif bars on stderr.
    Bars,
    /// The versioned JSON event stream (stderr or --progress-fd).
    Json,
    /// Nothing.
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate a system onto the plan's target (or show what would be done).
    #[command(after_help = EXIT_CODES)]
    Migrate(MigrateArgs),
    /// Check plans and print the plan format.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Show which steps of a plan are finished on its target.
    Status {
        /// The plan file.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        #[command(flatten)]
        state: StateArgs,
        /// Report format: text, or json (the same as data; errors too, as
        /// {"error": …}).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List AoE or iSCSI targets reachable from this machine.
    Discover {
        #[command(subcommand)]
        what: DiscoverCommand,
    },
    /// Write the server side for a plan: export, DHCP, TFTP, iPXE.
    Server(Box<ServerArgs>),
    /// Interactive wizard: probe this machine, ask, show the dry run, migrate.
    Wizard(WizardArgs),
}

#[derive(Debug, Args)]
pub struct WizardArgs {
    /// Directory for plan.json, the log (netroot-wizard.log) and the server
    /// files (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Stop after this step (dry run and run; for staged use and tests).
    #[arg(long, value_name = "STEP", value_parser = parse_step, hide = true)]
    pub stop_after: Option<StepId>,
}

impl Default for WizardArgs {
    fn default() -> Self {
        WizardArgs {
            out: PathBuf::from("."),
            stop_after: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Directory of journals and locks.
    #[arg(
        long,
        value_name = "DIR",
        env = "NETROOT_STATE_DIR",
        default_value = "/var/lib/netroot"
    )]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The plan file (JSON, version 1).
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// Show every command and file the run would execute or write, and
    /// change nothing (no journal, no byte of the target).
    #[arg(long)]
    pub dry_run: bool,
    /// Allow destructive steps (partition, format) without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Report format (stdout): text, or json (the report as data; errors
    /// too, as {"error": …}).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Progress while it runs: auto (bars on a terminal, else nothing),
    /// bars, json (the event stream: one JSON object per line on stderr,
    /// or on --progress-fd; docs/cli.md), none.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ProgressChoice::Auto)]
    pub progress: ProgressChoice,
    /// Write the JSON event stream to this open file descriptor instead of
    /// stderr (implies --progress json), e.g. `--progress-fd 3 3>run.jsonl`.
    #[arg(long, value_name = "FD")]
    pub progress_fd: Option<u32>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Where the target is mounted during the run.
    #[arg(
        long,
        value_name = "DIR",
        env = "NETROOT_WORK_DIR",
        default_value = "/run/netroot"
    )]
    pub work_dir: PathBuf,
    /// Stop after this step (discover, preflight, partition, format, mount,
    /// copy, fstab, initramfs, bootloader, finalize).
    #[arg(long, value_name = "STEP", value_parser = parse_step)]
    pub stop_after: Option<StepId>,
    /// Final sync after a finished migration: copy again only what changed
    /// in the source (deletions too), leaving netroot's own files in the
    /// target alone, then probe fstab, identity, initramfs and bootloader
    /// again and redo only what the copy changed (docs/hardware.md).
    #[arg(long)]
    pub resync: bool,
    /// With --resync and a live source: `systemctl stop` this unit before
    /// the copy and start it again after (also when the copy fails);
    /// repeatable.
    #[arg(long, value_name = "UNIT", requires = "resync")]
    pub stop_service: Vec<String>,
}

fn parse_step(s: &str) -> Result<StepId, String> {
    StepId::parse(s).ok_or_else(|| {
        format!(
            "{s:?} is not a step ({})",
            StepId::ALL
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// What `plan validate` checks a plan for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFor {
    /// `netroot migrate` on this machine.
    Migrate,
    /// `netroot migrate` and `netroot server`.
    Server,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Validate a plan; prints every error with its field path. Also
    /// checks what needs this machine: the source tree exists, the CHAP
    /// secret files are readable (exit 2 when not).
    Validate {
        /// The plan file (or `--plan FILE`, as every other command takes it).
        #[arg(
            value_name = "FILE",
            required_unless_present = "plan",
            conflicts_with = "plan"
        )]
        file: Option<PathBuf>,
        /// The plan file.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// What the plan is checked for: `migrate` (the default: the
        /// plan's fields and this machine's facts) or `server` as well
        /// (what `netroot server` needs of the plan: client.mac, an IPv4
        /// static address if any; the server's own options are asked for
        /// by `netroot server` itself).
        #[arg(long = "for", value_name = "USE", value_enum, default_value_t = ValidateFor::Migrate)]
        for_: ValidateFor,
        /// Report format: text, or json (`{"valid": true, …}`; the errors
        /// as `{"error": {"errors": [{"path", "message"}], …}}`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of the plan format (or, with --events, of
    /// one line of `migrate --progress json`'s event stream).
    Schema {
        /// The event stream's schema instead of the plan's.
        #[arg(long)]
        events: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DiscoverCommand {
    /// AoE targets (aoe-discover, aoe-stat, sysfs).
    Aoe {
        /// Restrict AoE to this interface (a name or a MAC).
        #[arg(long)]
        interface: Option<String>,
        /// Seconds to wait for targets to answer the discover.
        #[arg(long, value_name = "SECONDS", default_value_t = 3)]
        wait: u64,
        /// Report format: text, or json (the same as data; errors too, as
        /// {"error": …}).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// iSCSI targets at a portal (sendtargets discovery).
    Iscsi {
        /// Portal ADDR[:PORT].
        #[arg(long)]
        portal: String,
        /// Report format: text, or json (the same as data; errors too, as
        /// {"error": …}).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// `netroot server`: generate (default) or `apply`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  netroot server --plan client.json --out srv --export-device /srv/aoe/client.img --interface eth1\n  netroot server --plan a.json --plan b.json --out srv --server-ip 192.0.2.1 --subnet 192.0.2.0/24\n  netroot server apply --plan client.json --dry-run\nSee server.md in /usr/share/doc/netroot/ (docs/ in the source tree)."
)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
    #[command(flatten)]
    pub gen: ServerGenArgs,
}

impl ServerArgs {
    /// The report format asked for (`server` or `server apply`).
    pub fn format(&self) -> Format {
        match &self.command {
            Some(ServerCommand::Apply(a)) => a.common.format,
            None => self.gen.common.format,
        }
    }
}

/// Subcommands of `netroot server`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Install the server side on this Debian server: packages, files,
    /// services. Idempotent; --dry-run shows everything first.
    Apply(ServerApplyArgs),
}

/// `netroot server --plan F… --out DIR`.
#[derive(Debug, Args)]
pub struct ServerGenArgs {
    /// Directory to write the server files into (README.txt says where each goes).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: ServerCommonArgs,
}

/// `netroot server apply --plan F…`.
#[derive(Debug, Args)]
pub struct ServerApplyArgs {
    /// Install below this directory instead of / (files only: no packages,
    /// no services). For staging and tests.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// DHCP/TFTP server to set up: dnsmasq (both), isc (isc-dhcp-server +
    /// tftpd-hpa) or none (you run DHCP yourself).
    #[arg(long, value_enum, default_value_t = DhcpChoice::Dnsmasq)]
    pub dhcp: DhcpChoice,
    /// iSCSI target to serve the iSCSI exports: tgt (user space,
    /// /etc/tgt/conf.d) or lio (the kernel's target, set up with targetcli
    /// and restored at boot by rtslib-fb-targetctl.service).
    #[arg(long, value_enum, default_value_t = IscsiTargetChoice::Tgt)]
    pub iscsi_target: IscsiTargetChoice,
    #[command(flatten)]
    pub common: ServerCommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DhcpChoice {
    Dnsmasq,
    Isc,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IscsiTargetChoice {
    /// tgt (tgtd).
    Tgt,
    /// LIO through targetcli.
    Lio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EfiChoice {
    /// ipxe.efi: iPXE's own NIC drivers.
    Ipxe,
    /// snponly.efi: the firmware's network driver.
    Snponly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootMethodChoice {
    /// iPXE fetches the client's script (retries, CHAP, readable failure).
    Script,
    /// DHCP root-path; iPXE sanboots it itself (no retries, no CHAP).
    RootPath,
}

/// Options shared by `server` and `server apply`.
#[derive(Debug, Args)]
pub struct ServerCommonArgs {
    /// Plan file(s); several plans give one DHCP config with a host each.
    #[arg(long, value_name = "FILE")]
    pub plan: Vec<PathBuf>,
    /// Show every file (secrets as ***) and command, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report format (stdout): text, or json (files, actions and report
    /// lines as data; errors too, as {"error": …}).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Backing file or block device to export: PATH for the only plan, or
    /// HOSTNAME=PATH (repeat) with several. Default: the plan's
    /// target.device, else /srv/netroot/HOST.img (`server apply` creates it
    /// with the plan's target.size).
    #[arg(long, value_name = "[HOST=]PATH")]
    pub export_device: Vec<String>,
    /// The server's NIC on the clients' LAN: vblade serves AoE on it and
    /// dnsmasq answers DHCP on it. Required for AoE (the plan's
    /// target.interface is the client's NIC).
    #[arg(long, value_name = "IF")]
    pub interface: Option<String>,
    /// The server's IPv4 address on the clients' LAN, with its prefix
    /// (192.0.2.1/24): next-server, the portal clients reach when the plan's
    /// is loopback, and the DHCP subnet. Default: the iSCSI portal's address.
    #[arg(long, value_name = "ADDR[/PREFIX]")]
    pub server_ip: Option<String>,
    /// The TFTP server when it is another host.
    #[arg(long, value_name = "ADDR")]
    pub tftp_server: Option<std::net::Ipv4Addr>,
    /// The clients' DHCP subnet (default: from --server-ip's prefix or the
    /// clients' static addresses).
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// Dynamic range START-END inside the subnet (default: the half of the
    /// subnet without the server's address).
    #[arg(long, value_name = "START-END")]
    pub range: Option<String>,
    /// Interface dnsmasq answers DHCP on (default: --interface).
    #[arg(long, value_name = "IF")]
    pub dhcp_interface: Option<String>,
    /// dnsmasq as proxy DHCP, next to the DHCP server the LAN already has:
    /// that one hands out the addresses, dnsmasq only says what to boot
    /// (no --range; static client addresses come from the other server).
    #[arg(long)]
    pub dhcp_proxy: bool,
    /// The TFTP server's root directory.
    #[arg(long, value_name = "DIR", default_value = "/srv/tftp")]
    pub tftp_root: PathBuf,
    /// Where the iPXE binaries are (Debian package ipxe).
    #[arg(long, value_name = "DIR", default_value = "/usr/lib/ipxe")]
    pub ipxe_dir: PathBuf,
    /// UEFI iPXE binary.
    #[arg(long, value_enum, default_value_t = EfiChoice::Ipxe)]
    pub efi_binary: EfiChoice,
    /// How iPXE learns what to boot.
    #[arg(long, value_enum, default_value_t = BootMethodChoice::Script)]
    pub boot_method: BootMethodChoice,
    /// sanboot attempts in the iPXE script before it gives up.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
    /// Let any iSCSI initiator log in when a plan has no
    /// client.initiator_name (default: only the name derived from the plan,
    /// which iPXE, the migration and the migrated system all use).
    #[arg(long)]
    pub allow_any_initiator: bool,
}

impl ServerCommonArgs {
    pub(super) fn options(&self) -> Result<crate::server::ServerOptions> {
        use crate::server::{parse_server_ip, BootMethod, EfiBinary, ServerOptions, Subnet};
        let (server_ip, server_subnet) = match self.server_ip.as_deref().map(parse_server_ip) {
            Some(r) => {
                let (ip, sn) = r?;
                (Some(ip), sn)
            }
            None => (None, None),
        };
        let mut export_devices = Vec::new();
        for e in &self.export_device {
            match e.split_once('=') {
                Some((h, p)) if !h.contains('/') => {
                    export_devices.push((Some(h.to_string()), PathBuf::from(p)))
                }
                _ => export_devices.push((None, PathBuf::from(e))),
            }
        }
        let range = match &self.range {
            None => None,
            Some(r) => {
                let (a, b) = r
                    .split_once('-')
                    .ok_or_else(|| anyhow::anyhow!("--range {r:?}: expected START-END"))?;
                Some((
                    a.trim()
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--range: {a:?} is not an IPv4 address"))?,
                    b.trim()
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--range: {b:?} is not an IPv4 address"))?,
                ))
            }
        };
        Ok(ServerOptions {
            export_devices,
            interface: self.interface.clone(),
            server_ip,
            server_subnet,
            tftp_server: self.tftp_server,
            subnet: self.subnet.as_deref().map(Subnet::parse).transpose()?,
            range,
            dhcp_interface: self.dhcp_interface.clone(),
            dhcp_proxy: self.dhcp_proxy,
            tftp_root: self.tftp_root.clone(),
            ipxe_dir: self.ipxe_dir.clone(),
            efi_binary: match self.efi_binary {
                EfiChoice::Ipxe => EfiBinary::Ipxe,
                EfiChoice::Snponly => EfiBinary::Snponly,
            },
            boot_method: match self.boot_method {
                BootMethodChoice::Script => BootMethod::Script,
                BootMethodChoice::RootPath => BootMethod::RootPath,
            },
            retries: self.retries,
            allow_any_initiator: self.allow_any_initiator,
        })
    }

    /// The plans, each loaded and checked once.
    pub(super) fn plans(&self) -> Result<Vec<(PathBuf, plan::Plan)>> {
        if self.plan.is_empty() {
            anyhow::bail!("no plan given; pass --plan FILE (once per client)");
        }
        let mut plans = Vec::new();
        for f in &self.plan {
            plans.push((f.clone(), plan::load_plan(f)?));
        }
        Ok(plans)
    }
}
