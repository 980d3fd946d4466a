//! Making sure the migrated system has the packages its profile needs —
//! and only those: each package the plan wants comes with the reason
//! (transport, firmware, a tree without a network stack), so GRUB for
//! UEFI is not installed on a BIOS-only layout, nor ifupdown on a system
//! that NetworkManager or systemd-networkd runs, and the dry run can say
//! why each one would be installed.

use super::Profile;
use crate::plan::Firmware;
use crate::tools::{Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// One package the migrated system needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub why: &'static str,
}

/// The packages the migrated system needs for a `transport` ("iscsi" or
/// "aoe") root booted by `firmware`; `tree` is the system's tree (None:
/// a tree still to be made, as by debootstrap, which has no network stack).
pub fn wanted(
    profile: &Profile,
    transport: &str,
    firmware: Firmware,
    tree: Option<&Path>,
) -> Vec<Wanted> {
    let p = &profile.packages;
    let no_stack = tree.is_none_or(|t| profile.network_stacks(t).is_empty());
    let groups: [(&[String], bool, &'static str); 6] = [
        (&p.base, true, "kernel, initramfs and GRUB tools"),
        (&p.iscsi, transport == "iscsi", "the iSCSI root"),
        (&p.aoe, transport == "aoe", "the AoE root"),
        (&p.bios, firmware.bios(), "BIOS boot"),
        (&p.uefi, firmware.uefi(), "UEFI boot"),
        (
            &p.no_network_stack,
            no_stack,
            "the system has no network stack",
        ),
    ];
    let mut v: Vec<Wanted> = Vec::new();
    for (names, used, why) in groups {
        for n in names.iter().filter(|_| used) {
            if !v.iter().any(|w| &w.name == n) {
                v.push(Wanted {
                    name: n.clone(),
                    why,
                });
            }
        }
    }
    v
}

/// Names and reasons, for a message: "grub-pc-bin (BIOS boot), …".
pub fn describe(w: &[Wanted]) -> String {
    w.iter()
        .map(|w| format!("{} ({})", w.name, w.why))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse the profile's "installed" query output: "NAME installed" lines.
pub fn parse_installed(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(name), Some("installed"), None) => {
                    Some(name.split(':').next().unwrap_or(name).to_string())
                }
                _ => None,
            }
        })
        .collect()
}

/// The packages of `wanted` not installed in the tree at `root`.
pub fn missing(
    runner: &Runner,
    root: &Path,
    profile: &Profile,
    wanted: &[Wanted],
) -> Result<Vec<Wanted>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let q = &profile.packages.installed;
    let found = ["usr/bin", "bin", "usr/sbin", "sbin"]
        .iter()
        .any(|d| std::fs::symlink_metadata(root.join(d).join(&q[0])).is_ok());
    if !found {
        bail!(
            "{} has no {}: the profile {} ({}) does not fit this system; name the right one in boot.profile",
            root.display(),
            q[0],
            profile.name,
            profile.description
        );
    }
    let cmd = Cmd::in_root(root, &q[0])
        .args(&q[1..])
        .args(wanted.iter().map(|w| &w.name))
        // dpkg-query and rpm -q exit 1 when some package is unknown.
        .ok_codes(&[0, 1]);
    let out = runner.query(&cmd).with_context(|| {
        format!(
            "asking the target at {} which packages it has",
            root.display()
        )
    })?;
    let have = parse_installed(&out.stdout);
    Ok(wanted
        .iter()
        .filter(|w| !have.contains(&w.name))
        .cloned()
        .collect())
}

/// Install what is missing of `wanted` in the target (run inside a chroot
/// guard so no service starts and name resolution works). `ask` is the
/// tree to ask what is installed: the target, or in a dry run before the
/// copy the source (the query only reads). Returns what it installed.
pub fn ensure(
    runner: &Runner,
    root: &Path,
    ask: Option<&Path>,
    profile: &Profile,
    wanted: &[Wanted],
) -> Result<Vec<Wanted>> {
    let miss = match ask {
        Some(a) if a.join("etc").is_dir() => missing(runner, a, profile, wanted)?,
        _ => Vec::new(),
    };
    if miss.is_empty() {
        return Ok(miss);
    }
    tracing::info!("installing in the target: {}", describe(&miss));
    let names: Vec<&str> = miss.iter().map(|w| w.name.as_str()).collect();
    let r = &profile.packages.refresh;
    runner
        .run(&Cmd::in_root(root, &r[0]).args(&r[1..]))
        .context("refreshing the target's package index (is the mirror reachable?)")?;
    let i = &profile.packages.install;
    runner
        .run(&Cmd::in_root(root, &i[0]).args(&i[1..]).args(&names))
        .with_context(|| format!("installing {} in the target", names.join(" ")))?;
    Ok(miss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_and_rpm_style() {
        let out = "open-iscsi installed\naoetools not-installed\ndracut config-files\nlibc6:amd64 installed\n";
        let s = parse_installed(out);
        assert!(s.contains("open-iscsi"));
        assert!(s.contains("libc6"));
        assert!(!s.contains("aoetools"));
        assert!(!s.contains("dracut"));
        let rpm = "kernel installed\npackage aoetools is not installed\n";
        let s = parse_installed(rpm);
        assert!(s.contains("kernel"));
        assert_eq!(s.len(), 1);
    }

    fn names(w: &[Wanted]) -> Vec<&str> {
        w.iter().map(|w| w.name.as_str()).collect()
    }

    #[test]
    fn only_what_the_layout_transport_and_network_stack_use() {
        let p = crate::profile::load("debian").unwrap();
        let t = tempfile::tempdir().unwrap();
        // A tree that NetworkManager runs.
        std::fs::create_dir_all(t.path().join("usr/sbin")).unwrap();
        std::fs::write(t.path().join("usr/sbin/NetworkManager"), "").unwrap();
        let bios = wanted(&p, "iscsi", Firmware::Bios, Some(t.path()));
        let n = names(&bios);
        assert!(
            n.contains(&"grub-pc-bin") && n.contains(&"open-iscsi"),
            "{n:?}"
        );
        for no in [
            "grub-efi-amd64-bin",
            "aoetools",
            "ifupdown",
            "isc-dhcp-client",
        ] {
            assert!(
                !n.contains(&no),
                "{no} wanted on a BIOS NetworkManager system: {n:?}"
            );
        }
        let uefi = wanted(&p, "aoe", Firmware::Uefi, Some(t.path()));
        let n = names(&uefi);
        assert!(
            n.contains(&"grub-efi-amd64-bin") && n.contains(&"aoetools"),
            "{n:?}"
        );
        assert!(
            !n.contains(&"grub-pc-bin") && !n.contains(&"open-iscsi"),
            "{n:?}"
        );
        let both = names(&wanted(&p, "aoe", Firmware::Both, Some(t.path())))
            .iter()
            .filter(|n| n.starts_with("grub-"))
            .count();
        assert_eq!(both, 2);
        // A tree without a stack (debootstrap's, or none at all) gets one.
        let bare = tempfile::tempdir().unwrap();
        for tree in [None, Some(bare.path())] {
            let w = wanted(&p, "iscsi", Firmware::Bios, tree);
            let i = w.iter().find(|w| w.name == "ifupdown").expect("ifupdown");
            assert_eq!(i.why, "the system has no network stack");
        }
        assert!(describe(&bios).contains("grub-pc-bin (BIOS boot)"));
    }

    #[test]
    fn a_tree_without_the_query_tool_names_the_profile() {
        let t = std::env::temp_dir().join(format!("netroot-pkg-{}", std::process::id()));
        std::fs::create_dir_all(t.join("etc")).unwrap();
        let p = crate::profile::load("debian").unwrap();
        let want = wanted(&p, "iscsi", Firmware::Bios, None);
        let e = missing(&Runner::dry(), &t, &p, &want)
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&t).unwrap();
        assert!(e.contains("has no dpkg-query"), "{e}");
        assert!(e.contains("boot.profile"), "{e}");
    }
}
