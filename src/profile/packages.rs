//! Making sure the migrated system has the packages its profile needs.

use super::Profile;
use crate::tools::{Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

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
    wanted: &[String],
) -> Result<Vec<String>> {
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
        .args(wanted)
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
        .filter(|p| !have.contains(*p))
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
    wanted: &[String],
) -> Result<Vec<String>> {
    let miss = match ask {
        Some(a) if a.join("etc").is_dir() => missing(runner, a, profile, wanted)?,
        _ => Vec::new(),
    };
    if miss.is_empty() {
        return Ok(miss);
    }
    tracing::info!("installing in the target: {}", miss.join(" "));
    let r = &profile.packages.refresh;
    runner
        .run(&Cmd::in_root(root, &r[0]).args(&r[1..]))
        .context("refreshing the target's package index (is the mirror reachable?)")?;
    let i = &profile.packages.install;
    runner
        .run(&Cmd::in_root(root, &i[0]).args(&i[1..]).args(&miss))
        .with_context(|| format!("installing {} in the target", miss.join(" ")))?;
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

    #[test]
    fn a_tree_without_the_query_tool_names_the_profile() {
        let t = std::env::temp_dir().join(format!("netroot-pkg-{}", std::process::id()));
        std::fs::create_dir_all(t.join("etc")).unwrap();
        let p = crate::profile::load("debian").unwrap();
        let e = missing(&Runner::dry(), &t, &p, &["open-iscsi".to_string()])
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&t).unwrap();
        assert!(e.contains("has no dpkg-query"), "{e}");
        assert!(e.contains("boot.profile"), "{e}");
    }
}
