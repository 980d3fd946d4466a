//! GRUB: the settings netroot writes (/etc/default/grub or a drop-in), the
//! grub-install command lines, and checks of what landed on the disk
//! (boot code in the MBR, core image embedded, grub.cfg's kernel lines).

use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How GRUB settings are written (a profile says which its distro uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultsMode {
    /// A file of netroot's own, sourced after /etc/default/grub.
    Dropin,
    /// Keys edited in place in /etc/default/grub.
    Merge,
}

/// `GRUB_SERIAL_COMMAND` for a console like "ttyS0,115200n8".
pub fn serial_command(console: &str) -> String {
    let (dev, opts) = console.split_once(',').unwrap_or((console, "115200"));
    let unit: String = dev.chars().filter(|c| c.is_ascii_digit()).collect();
    let speed: String = opts.chars().take_while(|c| c.is_ascii_digit()).collect();
    format!(
        "serial --unit={} --speed={}",
        if unit.is_empty() { "0" } else { &unit },
        if speed.is_empty() { "115200" } else { &speed }
    )
}

fn check_arg(a: &str) -> Result<()> {
    if a.contains(['"', '\\', '$', '`', '\n']) {
        bail!("kernel argument {a:?} contains a quote, backslash, $ or backtick, which GRUB's settings cannot carry");
    }
    Ok(())
}

/// The settings netroot wants, as (key, value) pairs, in order.
/// `extra` are the distro's own settings (the profile's `extra_defaults`).
pub fn settings(extra: &BTreeMap<String, String>, serial: Option<&str>) -> Vec<(String, String)> {
    let mut v = vec![("GRUB_DISABLE_OS_PROBER".to_string(), "true".to_string())];
    if let Some(c) = serial {
        v.push(("GRUB_TERMINAL".into(), "serial".into()));
        v.push(("GRUB_SERIAL_COMMAND".into(), serial_command(c)));
    }
    for (k, val) in extra {
        v.push((k.clone(), val.clone()));
    }
    v
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(v)
        .to_string()
}

/// The text of netroot's GRUB settings. Drop-in mode: a file of its own,
/// sourced after /etc/default/grub. Merge mode: `existing` (the current
/// /etc/default/grub) with netroot's keys replaced or appended and its
/// kernel arguments added to GRUB_CMDLINE_LINUX once.
pub fn defaults_text(
    mode: DefaultsMode,
    extra: &BTreeMap<String, String>,
    existing: Option<&str>,
    args: &[String],
    serial: Option<&str>,
) -> Result<String> {
    for a in args {
        check_arg(a)?;
    }
    let sets = settings(extra, serial);
    match mode {
        DefaultsMode::Dropin => {
            let mut s = String::from("# Written by netroot: boot from the network disk.\n");
            s.push_str(&format!(
                "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX {}\"\n",
                args.join(" ")
            ));
            for (k, v) in sets {
                s.push_str(&format!("{k}=\"{v}\"\n"));
            }
            Ok(s)
        }
        DefaultsMode::Merge => {
            let mut lines: Vec<String> =
                existing.unwrap_or("").lines().map(str::to_string).collect();
            let mut set_key = |k: &str, v: String| {
                let line = format!("{k}=\"{v}\"");
                if let Some(l) = lines
                    .iter_mut()
                    .find(|l| l.trim_start().starts_with(&format!("{k}=")))
                {
                    *l = line;
                } else {
                    lines.push(line);
                }
            };
            let current = existing
                .unwrap_or("")
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("GRUB_CMDLINE_LINUX="))
                .map(unquote)
                .unwrap_or_default();
            let mut words: Vec<String> = current.split_whitespace().map(str::to_string).collect();
            for a in args {
                if !words.contains(a) {
                    words.push(a.clone());
                }
            }
            set_key("GRUB_CMDLINE_LINUX", words.join(" "));
            for (k, v) in sets {
                set_key(&k, v);
            }
            Ok(lines.join("\n") + "\n")
        }
    }
}

/// The file names of the kernels grub.cfg's Linux entries boot
/// (`vmlinuz-6.1.0-18-amd64`), each once, in order.
pub fn cfg_kernel_files(cfg: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in cfg.lines().map(str::trim_start) {
        let mut w = l.split_whitespace();
        if !matches!(w.next(), Some("linux" | "linux16" | "linuxefi")) {
            continue;
        }
        let Some(name) = w.next().and_then(|k| k.rsplit('/').next()) else {
            continue;
        };
        if !name.is_empty() && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// What is wrong with a generated grub.cfg: its Linux entries must say
/// `root=UUID=<root_uuid>` and carry every argument in `args`.
pub fn cfg_problems(cfg: &str, root_uuid: &str, args: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let linux: Vec<&str> = cfg
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            let w = l.split_whitespace().next().unwrap_or("");
            matches!(w, "linux" | "linux16" | "linuxefi")
        })
        .collect();
    if linux.is_empty() {
        problems.push("it has no linux entry (is a kernel installed in /boot?)".to_string());
    }
    let want_root = format!("root=UUID={root_uuid}");
    for l in &linux {
        let words: Vec<&str> = l.split_whitespace().collect();
        if !words.contains(&want_root.as_str()) {
            let root = words
                .iter()
                .find(|w| w.starts_with("root="))
                .unwrap_or(&"no root=");
            problems.push(format!("an entry says {root}, not {want_root}"));
        }
        for a in args {
            if !words.contains(&a.as_str()) {
                problems.push(format!("an entry lacks {a}"));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// Does this first sector hold GRUB's boot code (boot.img) and a valid
/// boot signature?
pub fn has_boot_code(sector0: &[u8]) -> bool {
    if sector0.len() < 512 || sector0[510] != 0x55 || sector0[511] != 0xaa {
        return false;
    }
    let code = &sector0[..440];
    let find = |n: &[u8]| code.windows(n.len()).any(|w| w == n);
    find(b"GRUB ") && find(b"Geom")
}

/// Is `core` (the core.img grub-install wrote) embedded in `area` (the
/// bytes of the bios_grub partition or the MBR gap, from its start)? The
/// first sector carries patched block lists and the second the
/// Reed-Solomon length, so the comparison starts at the third sector.
pub fn core_embedded(area: &[u8], core: &[u8]) -> bool {
    core.len() > 1024 && area.len() >= core.len() && area[1024..core.len()] == core[1024..]
}

/// Read `len` bytes at `offset` of a disk or image.
pub fn read_at(dev: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(dev)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_files_of_the_linux_entries() {
        let cfg = "menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro\n}\n\
                   submenu 'Advanced' {\n  linux /vmlinuz-6.1.0-18-amd64 root=UUID=x single\n\
                   linux16 /boot/vmlinuz-6.1.0-9-amd64 root=UUID=x\n}\n";
        assert_eq!(
            cfg_kernel_files(cfg),
            vec!["vmlinuz-6.1.0-18-amd64", "vmlinuz-6.1.0-9-amd64"]
        );
        assert!(cfg_kernel_files("set timeout=5\n").is_empty());
    }

    use super::*;

    fn grub(mode: DefaultsMode) -> (DefaultsMode, &'static BTreeMap<String, String>) {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        (mode, &NONE)
    }

    fn defaults_text(
        (mode, extra): (DefaultsMode, &BTreeMap<String, String>),
        existing: Option<&str>,
        args: &[String],
        serial: Option<&str>,
    ) -> Result<String> {
        super::defaults_text(mode, extra, existing, args, serial)
    }

    #[test]
    fn serial_commands() {
        assert_eq!(
            serial_command("ttyS0,115200n8"),
            "serial --unit=0 --speed=115200"
        );
        assert_eq!(serial_command("ttyS1,9600"), "serial --unit=1 --speed=9600");
        assert_eq!(serial_command("ttyS2"), "serial --unit=2 --speed=115200");
    }

    #[test]
    fn dropin_and_merge() {
        let args = vec![
            "netroot.aoe=e0.0".to_string(),
            "console=ttyS0,115200n8".to_string(),
        ];
        let d = defaults_text(
            grub(DefaultsMode::Dropin),
            None,
            &args,
            Some("ttyS0,115200n8"),
        )
        .unwrap();
        assert!(d.contains(
            "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX netroot.aoe=e0.0 console=ttyS0,115200n8\""
        ));
        assert!(d.contains("GRUB_DISABLE_OS_PROBER=\"true\""));
        assert!(d.contains("GRUB_TERMINAL=\"serial\""));
        let existing =
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"rhgb quiet\"\nGRUB_DISABLE_OS_PROBER=false\n";
        let m = defaults_text(grub(DefaultsMode::Merge), Some(existing), &args, None).unwrap();
        assert!(
            m.contains("GRUB_CMDLINE_LINUX=\"rhgb quiet netroot.aoe=e0.0 console=ttyS0,115200n8\""),
            "{m}"
        );
        assert!(m.contains("GRUB_DISABLE_OS_PROBER=\"true\""));
        assert!(!m.contains("=false"));
        // Idempotent.
        let again = defaults_text(grub(DefaultsMode::Merge), Some(&m), &args, None).unwrap();
        assert_eq!(m, again);
        assert!(
            defaults_text(grub(DefaultsMode::Dropin), None, &["a=\"b\"".into()], None).is_err()
        );
    }

    #[test]
    fn cfg_checks() {
        let good = "menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz root=UUID=abc ro netroot.aoe=e0.0 quiet\n}\n";
        assert!(cfg_problems(good, "abc", &["netroot.aoe=e0.0".into()]).is_empty());
        let bad = "\tlinux /boot/vmlinuz root=/dev/loop0p2 ro\n";
        let p = cfg_problems(bad, "abc", &["netroot.aoe=e0.0".into()]);
        assert!(p.iter().any(|x| x.contains("root=/dev/loop0p2")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("lacks netroot.aoe")), "{p:?}");
        assert!(!cfg_problems("", "abc", &[]).is_empty());
    }

    #[test]
    fn boot_code_signature() {
        let mut s = vec![0u8; 512];
        assert!(!has_boot_code(&s));
        s[0x180..0x185].copy_from_slice(b"GRUB ");
        s[0x186..0x18a].copy_from_slice(b"Geom");
        s[510] = 0x55;
        s[511] = 0xaa;
        assert!(has_boot_code(&s));
        let core = vec![7u8; 4096];
        let mut area = vec![0u8; 8192];
        area[..4096].copy_from_slice(&core);
        area[0] = 1; // patched block list
        assert!(core_embedded(&area, &core));
        area[2000] = 0;
        assert!(!core_embedded(&area, &core));
    }
}
