//! Per-distro knowledge, as data in profiles/ (embedded in the binary).
//! Code asks the profile; it never branches on the distro's name.

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The profile files, embedded at build time.
const PROFILES: &[(&str, &str)] = &[("debian", include_str!("../../profiles/debian.json"))];

/// Which initramfs generator a distro uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitramfsTool {
    InitramfsTools,
    Dracut,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// os-release ID values this profile serves.
    pub id: Vec<String>,
    /// os-release ID_LIKE values this profile serves.
    #[serde(default)]
    pub id_like: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Always needed in the migrated system: kernel, initramfs tool, GRUB, network.
    pub base: Vec<String>,
    /// Needed for an iSCSI root.
    pub iscsi: Vec<String>,
    /// Needed for an AoE root.
    pub aoe: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FstabRules {
    /// Add `_netdev` to filesystems on the network disk.
    pub netdev: bool,
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
}

impl Profile {
    /// Packages the migrated system needs for `transport` ("iscsi"/"aoe").
    pub fn packages_for(&self, transport: &str) -> Vec<String> {
        let mut v = self.packages.base.clone();
        v.extend(match transport {
            "iscsi" => self.packages.iscsi.clone(),
            "aoe" => self.packages.aoe.clone(),
            _ => Vec::new(),
        });
        v
    }
}

fn all() -> Result<BTreeMap<String, Profile>> {
    let mut m = BTreeMap::new();
    for (name, text) in PROFILES {
        let p: Profile = serde_json::from_str(text)
            .with_context(|| format!("profiles/{name}.json is invalid"))?;
        m.insert(p.name.clone(), p);
    }
    Ok(m)
}

/// Profile names a plan may name (besides "auto").
pub fn known_names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

pub fn is_known_name(n: &str) -> bool {
    known_names().contains(&n)
}

/// Load a profile by name.
pub fn load(name: &str) -> Result<Profile> {
    all()?
        .remove(name)
        .ok_or_else(|| anyhow!("no profile {name:?} (known: {})", known_names().join(", ")))
}

/// Parse os-release text into (ID, ID_LIKE words).
pub fn parse_os_release(text: &str) -> (String, Vec<String>) {
    let mut id = String::new();
    let mut like = Vec::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').trim_matches('\'');
            match k.trim() {
                "ID" => id = v.to_string(),
                "ID_LIKE" => like = v.split_whitespace().map(str::to_string).collect(),
                _ => {}
            }
        }
    }
    (id, like)
}

/// Detect the profile of the tree at `root` from its os-release.
pub fn detect(root: &Path) -> Result<Profile> {
    let candidates = [root.join("etc/os-release"), root.join("usr/lib/os-release")];
    let text = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .ok_or_else(|| {
            anyhow!(
                "{} has no etc/os-release: set boot.profile in the plan",
                root.display()
            )
        })?;
    let (id, like) = parse_os_release(&text);
    let profiles = all()?;
    profiles
        .values()
        .find(|p| p.matches.id.contains(&id))
        .or_else(|| profiles.values().find(|p| like.iter().any(|l| p.matches.id_like.contains(l) || p.matches.id.contains(l))))
        .cloned()
        .ok_or_else(|| anyhow!("no profile for os-release ID={id:?} ID_LIKE={like:?}: set boot.profile (known: {})", known_names().join(", ")))
}

/// The profile for a plan: the named one, or detected from `root` for "auto".
pub fn resolve(plan: &crate::plan::Plan, root: Option<&Path>) -> Result<Profile> {
    if plan.boot.profile != "auto" {
        return load(&plan.boot.profile);
    }
    match (&plan.source, root) {
        (crate::plan::Source::Debootstrap { .. }, None) => load("debian"),
        (_, Some(r)) => detect(r),
        (crate::plan::Source::Live, None) => detect(Path::new("/")),
        (crate::plan::Source::Directory { path }, None) => detect(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses() {
        for n in known_names() {
            load(n).unwrap();
        }
    }

    #[test]
    fn os_release_of_the_captured_guest() {
        let text = include_str!("../../tests/fixtures/aoe/os-release.txt");
        let (id, _) = parse_os_release(text);
        assert_eq!(id, "debian");
    }
}
