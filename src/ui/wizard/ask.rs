//! The questions, with dialoguer. Every question has a default; pressing
//! Enter through all of them gives [`Answers::defaults`] (plus whatever
//! discovery found).

use super::answers::*;
use crate::plan::parse_size;
use crate::plan::size::MIB;
use crate::plan::validate::{is_valid_hostname, is_valid_iqn};
use crate::plan::{FsKind, Portal};
use crate::tools::Runner;
use crate::transport::aoe::{self, AoeDevice};
use crate::transport::{iscsi, HostPaths};
use crate::ui::machine::{self, Facts};
use anyhow::{Context, Result};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password, Select};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn theme() -> ColorfulTheme {
    ColorfulTheme::default()
}

fn select(prompt: &str, items: &[String], default: usize) -> Result<usize> {
    Select::with_theme(&theme())
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact()
        .with_context(|| format!("reading the answer to {prompt:?}"))
}

fn input<F>(prompt: &str, default: Option<String>, check: F) -> Result<String>
where
    F: Fn(&str) -> Result<(), String>,
{
    let t = theme();
    let mut i = Input::<String>::with_theme(&t).with_prompt(prompt);
    if let Some(d) = default {
        i = i.default(d);
    }
    let s = i
        .validate_with(|s: &String| check(s.trim()))
        .interact_text()
        .with_context(|| format!("reading the answer to {prompt:?}"))?;
    Ok(s.trim().to_string())
}

fn check_root_tree(s: &str) -> Result<(), String> {
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(format!("{s} is not an absolute path"));
    }
    if p == Path::new("/") {
        return Err("/ is the running system: choose the live copy instead".into());
    }
    if !p.is_dir() {
        return Err(format!("{s} is not a directory"));
    }
    if !p.join("etc").is_dir() {
        return Err(format!("{s} has no etc/: not a root tree"));
    }
    Ok(())
}

fn check_image_path(s: &str) -> Result<(), String> {
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(format!("{s} is not an absolute path"));
    }
    if p.exists() && !p.is_file() {
        return Err(format!("{s} exists and is not a regular file"));
    }
    match p.parent() {
        Some(d) if d.is_dir() => Ok(()),
        _ => Err(format!("the directory of {s} does not exist")),
    }
}

fn check_size(s: &str) -> Result<(), String> {
    match parse_size(s)? {
        crate::plan::Size::Bytes(b) if b >= 64 * MIB => Ok(()),
        _ => Err(format!("{s:?}: give a size of at least 64M, e.g. 8G")),
    }
}

fn check_iqn(s: &str) -> Result<(), String> {
    if is_valid_iqn(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an iSCSI name (iqn.YYYY-MM.reversed.domain:name, lower case)"
        ))
    }
}

fn check_lun(s: &str) -> Result<(), String> {
    match s.parse::<u32>() {
        Ok(n) if n <= 16383 => Ok(()),
        _ => Err(format!("{s:?} is not a LUN (0..=16383)")),
    }
}

/// Ask every question; `aoe` is what AoE discovery found, `out` where a
/// CHAP secret is saved.
pub fn ask(
    facts: &Facts,
    defaults: &Answers,
    aoe: &[AoeDevice],
    runner: &Runner,
    out: &Path,
) -> Result<Answers> {
    let mut a = defaults.clone();
    let used = ask_source(&mut a, facts, runner)?;
    let host = a.hostname.clone().unwrap_or_else(|| "client".into());
    (a.image, a.transport) = ask_destination(facts, defaults, aoe, runner, out, &host, used)?;
    a.layout = ask_layout(facts, defaults)?;
    a.fs = ask_fs(defaults)?;
    a.hostname = Some(ask_hostname(&host)?);
    a.boot_nic = ask_boot_nic(facts)?;
    Ok(a)
}

/// What to copy: sets `a.source` (and the tree's own hostname as the better
/// default); returns the bytes the source uses.
fn ask_source(a: &mut Answers, facts: &Facts, runner: &Runner) -> Result<u64> {
    let src = select(
        "What should be copied?",
        &[
            "this running system (a live copy of / and its local filesystems)".into(),
            "a root tree in a directory (an offline system)".into(),
        ],
        0,
    )?;
    let mut used = facts.used_bytes();
    if src == 1 {
        let dir = input("Root tree directory", None, check_root_tree)?;
        let dir = PathBuf::from(dir);
        if let Some(b) = machine::tree_bytes(runner, &dir) {
            println!("  {} uses {}", dir.display(), human(b));
            used = b;
        }
        // The tree's own hostname is the better default.
        if let Ok(h) = std::fs::read_to_string(dir.join("etc/hostname")) {
            let h = h.trim();
            if is_valid_hostname(h) {
                a.hostname = Some(h.to_string());
            }
        }
        a.source = SourceAnswer::Directory(dir);
        // The console this machine runs on says nothing about the tree.
        a.serial_console = None;
    }
    Ok(used)
}

/// Where it goes: the image file (if one) and the transport.
fn ask_destination(
    facts: &Facts,
    defaults: &Answers,
    aoe: &[AoeDevice],
    runner: &Runner,
    out: &Path,
    host: &str,
    used: u64,
) -> Result<(Option<ImageAnswer>, TransportAnswer)> {
    let kinds = [
        "an iSCSI target (scan a portal)".to_string(),
        format!(
            "an AoE target ({})",
            match aoe.len() {
                0 => "none seen yet; a discover is sent".to_string(),
                n => format!("{n} seen"),
            }
        ),
        "an image file on this machine (export it later)".to_string(),
    ];
    let kind = select(
        "Where should it go?",
        &kinds,
        if aoe.is_empty() { 2 } else { 1 },
    )?;
    Ok(match kind {
        0 => (None, ask_iscsi(runner, host, out)?),
        1 => (None, ask_aoe(facts, aoe, runner)?),
        _ => {
            let image = ask_image(defaults, used)?;
            (Some(image), ask_image_export(host)?)
        }
    })
}

/// The image file and its size.
fn ask_image(defaults: &Answers, used: u64) -> Result<ImageAnswer> {
    let path = input(
        "Image file",
        defaults
            .image
            .as_ref()
            .map(|i| i.path.display().to_string()),
        check_image_path,
    )?;
    let size = input("Image size", Some(default_image_size(used)), check_size)?;
    Ok(ImageAnswer {
        path: PathBuf::from(path),
        size,
    })
}

/// How the server will export the image file.
fn ask_image_export(host: &str) -> Result<TransportAnswer> {
    let how = select(
        "How will the server export it?",
        &["iSCSI (tgt or LIO)".to_string(), "AoE (vblade)".to_string()],
        0,
    )?;
    if how == 0 {
        let iqn = input("IQN to export it as", Some(default_iqn(host)), check_iqn)?;
        let portal = input(
            "Portal the server will listen on (ADDR[:PORT])",
            Some(DEFAULT_PORTAL.into()),
            |s| s.parse::<Portal>().map(|_| ()),
        )?;
        Ok(TransportAnswer::Iscsi {
            portal,
            iqn,
            lun: 1,
            chap: None,
        })
    } else {
        let id = input("AoE address to export it as", Some("e0.1".into()), |s| {
            parse_aoe_id(s).map(|_| ())
        })?;
        let (shelf, slot) = parse_aoe_id(&id).map_err(anyhow::Error::msg)?;
        Ok(TransportAnswer::Aoe {
            shelf,
            slot,
            interface: None,
        })
    }
}

/// The partition layout, the one this machine's firmware wants marked.
fn ask_layout(facts: &Facts, defaults: &Answers) -> Result<LayoutChoice> {
    let fw = facts.firmware();
    let items: Vec<String> = LayoutChoice::ALL
        .iter()
        .map(|l| {
            let here = if *l == LayoutChoice::for_firmware(fw) {
                format!(
                    "  (this machine booted with {})",
                    if fw.uefi() { "UEFI" } else { "BIOS" }
                )
            } else {
                String::new()
            };
            format!("{}{here}", l.describe())
        })
        .collect();
    let def = LayoutChoice::ALL
        .iter()
        .position(|l| *l == defaults.layout)
        .unwrap_or(0);
    Ok(LayoutChoice::ALL[select("Partition layout", &items, def)?])
}

/// The root filesystem.
fn ask_fs(defaults: &Answers) -> Result<FsKind> {
    let items: Vec<String> = ROOT_FILESYSTEMS
        .iter()
        .map(|f| f.as_str().to_string())
        .collect();
    let def = ROOT_FILESYSTEMS
        .iter()
        .position(|f| *f == defaults.fs)
        .unwrap_or(0);
    Ok(ROOT_FILESYSTEMS[select("Root filesystem", &items, def)?])
}

/// The migrated system's hostname.
fn ask_hostname(host: &str) -> Result<String> {
    input(
        "Hostname of the migrated system",
        Some(host.to_string()),
        |s| {
            if is_valid_hostname(s) {
                Ok(())
            } else {
                Err(format!("{s:?} is not a hostname"))
            }
        },
    )
}

/// The NIC the firmware PXE-boots from, or none (decided at boot).
fn ask_boot_nic(facts: &Facts) -> Result<Option<BootNic>> {
    let nics = facts.boot_nics();
    let mut items: Vec<String> = nics
        .iter()
        .map(|n| {
            format!(
                "{:<12} {}  link {:<7} {}",
                n.name,
                n.mac,
                n.operstate,
                n.driver.as_deref().unwrap_or("(virtual)")
            )
        })
        .collect();
    items.push("the first interface with a link (decided at boot)".into());
    let i = select(
        "Boot interface (the NIC the firmware PXE-boots from)",
        &items,
        0,
    )?;
    Ok(nics.get(i).map(|n| BootNic {
        name: n.name.clone(),
        mac: n.mac.clone(),
    }))
}

fn ask_iscsi(runner: &Runner, host: &str, out: &Path) -> Result<TransportAnswer> {
    let portal = input("iSCSI portal (ADDR[:PORT])", None, |s| {
        s.parse::<Portal>().map(|_| ())
    })?;
    println!("  scanning {portal} (sendtargets discovery)...");
    let typed: Portal = portal.parse().map_err(anyhow::Error::msg)?;
    let found: Vec<(String, String)> = match iscsi::discover(runner, &HostPaths::default(), &typed)
    {
        Ok(l) => l.targets.into_iter().map(|t| (t.portal, t.iqn)).collect(),
        Err(e) => {
            println!("  the scan failed: {e:#}");
            Vec::new()
        }
    };
    let iqn = if found.is_empty() {
        println!("  no targets found; type the IQN");
        input("Target IQN", Some(default_iqn(host)), check_iqn)?
    } else {
        let mut items: Vec<String> = found.iter().map(|(p, i)| format!("{i}  ({p})")).collect();
        items.push("another IQN (type it)".into());
        let i = select("Target", &items, 0)?;
        match found.get(i) {
            Some((_, iqn)) => iqn.clone(),
            None => input("Target IQN", None, check_iqn)?,
        }
    };
    let lun: u32 = input("LUN (tgt: 1, LIO: 0)", Some("1".into()), check_lun)?
        .parse()
        .unwrap_or(1);
    let chap = if Confirm::with_theme(&theme())
        .with_prompt("Does the target require CHAP?")
        .default(false)
        .interact()?
    {
        let username = input("CHAP user name", None, |s| {
            if s.is_empty() {
                Err("give a user name".into())
            } else {
                Ok(())
            }
        })?;
        let secret = Password::with_theme(&theme())
            .with_prompt("CHAP secret (12 to 16 characters)")
            .validate_with(|s: &String| {
                if (12..=16).contains(&s.len()) {
                    Ok(())
                } else {
                    Err("a CHAP secret has 12 to 16 characters".to_string())
                }
            })
            .interact()?;
        // The plan names a file, never the secret itself.
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let secret_file = out.join("chap-secret");
        crate::tools::runner::write_atomic(&secret_file, secret.as_bytes(), 0o600)
            .with_context(|| format!("saving the CHAP secret to {}", secret_file.display()))?;
        println!(
            "  the secret is saved in {} (mode 0600)",
            secret_file.display()
        );
        Some(ChapAnswer {
            username,
            secret_file,
        })
    } else {
        None
    };
    Ok(TransportAnswer::Iscsi {
        portal,
        iqn,
        lun,
        chap,
    })
}

fn ask_aoe(facts: &Facts, passive: &[AoeDevice], runner: &Runner) -> Result<TransportAnswer> {
    let paths = HostPaths::default();
    println!("  sending an AoE discover (loads the aoe driver)...");
    let found = match aoe::discover(runner, &paths, None, Duration::from_secs(2)) {
        Ok(d) => d,
        Err(e) => {
            println!("  AoE discovery failed: {e:#}");
            passive.to_vec()
        }
    };
    let mut items: Vec<String> = found
        .iter()
        .map(|d| format!("{}  {}", d.identity(), human(d.size)))
        .collect();
    items.push("another (type eSHELF.SLOT)".into());
    let i = if found.is_empty() {
        println!("  no AoE targets answered; type the address");
        items.len() - 1
    } else {
        select("AoE target", &items, 0)?
    };
    let (shelf, slot) = match found.get(i) {
        Some(d) => (d.shelf, d.slot),
        None => {
            let id = input("AoE address (eSHELF.SLOT)", None, |s| {
                parse_aoe_id(s).map(|_| ())
            })?;
            parse_aoe_id(&id).map_err(anyhow::Error::msg)?
        }
    };
    let nics = facts.boot_nics();
    let mut items = vec!["all interfaces".to_string()];
    items.extend(nics.iter().map(|n| format!("{} ({})", n.name, n.mac)));
    let i = select("Interface AoE runs on", &items, 0)?;
    Ok(TransportAnswer::Aoe {
        shelf,
        slot,
        interface: i.checked_sub(1).map(|k| nics[k].name.clone()),
    })
}
