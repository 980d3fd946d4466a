//! Typed wrapper for `debootstrap` (see tools::cmd for the runner), and the
//! check of what a finished debootstrap left in dpkg's status file.

use super::cmd::Cmd;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// One debootstrap run into a mounted target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debootstrap {
    pub suite: String,
    pub mirror: String,
    pub variant: Option<String>,
    /// Packages installed on top of the variant's set.
    pub include: Vec<String>,
    pub target: PathBuf,
}

impl Debootstrap {
    /// `debootstrap [--variant=V] [--include=a,b] SUITE TARGET MIRROR`.
    pub fn cmd(&self) -> Cmd {
        let mut c = Cmd::new("debootstrap");
        if let Some(v) = &self.variant {
            c = c.arg(format!("--variant={v}"));
        }
        let include = dedup(&self.include);
        if !include.is_empty() {
            c = c.arg(format!("--include={}", include.join(",")));
        }
        c.arg(&self.suite).arg(&self.target).arg(&self.mirror)
    }
}

/// Keep the first occurrence of each name, in order.
fn dedup(v: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.iter()
        .filter(|s| !s.is_empty() && seen.insert(s.as_str()))
        .cloned()
        .collect()
}

/// Package names that dpkg's status file (var/lib/dpkg/status) lists as
/// "install ok installed".
pub fn installed_packages(status: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for stanza in status.split("\n\n") {
        let mut name = None;
        let mut ok = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Status:") {
                ok = v.trim() == "install ok installed";
            }
        }
        if let (Some(n), true) = (name, ok) {
            out.insert(n);
        }
    }
    out
}

/// The packages of `wanted` that `status` does not list as installed.
pub fn missing_packages(status: &str, wanted: &[String]) -> Vec<String> {
    let have = installed_packages(status);
    dedup(wanted)
        .into_iter()
        .filter(|p| !have.contains(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_with_variant_and_includes() {
        let d = Debootstrap {
            suite: "bookworm".into(),
            mirror: "http://deb.debian.org/debian".into(),
            variant: Some("minbase".into()),
            include: vec![
                "openssh-server".into(),
                "linux-image-amd64".into(),
                "openssh-server".into(),
            ],
            target: "/run/netroot/target".into(),
        };
        assert_eq!(
            d.cmd().display(),
            "debootstrap --variant=minbase --include=openssh-server,linux-image-amd64 \
             bookworm /run/netroot/target http://deb.debian.org/debian"
        );
    }

    #[test]
    fn argv_without_options() {
        let d = Debootstrap {
            suite: "trixie".into(),
            mirror: "http://m/debian".into(),
            variant: None,
            include: vec![],
            target: "/t".into(),
        };
        assert_eq!(d.cmd().display(), "debootstrap trixie /t http://m/debian");
    }

    const STATUS: &str = "Package: kmod\nStatus: install ok installed\nVersion: 30\n\n\
Package: udev\nStatus: install ok unpacked\nVersion: 252\n\n\
Package: linux-image-amd64\nStatus: install ok installed\n";

    #[test]
    fn status_file_lists_only_fully_installed() {
        let s = installed_packages(STATUS);
        assert!(s.contains("kmod"));
        assert!(s.contains("linux-image-amd64"));
        assert!(!s.contains("udev"), "half-configured is not installed");
        let want = vec!["kmod".to_string(), "udev".into(), "aoetools".into()];
        assert_eq!(missing_packages(STATUS, &want), vec!["udev", "aoetools"]);
    }
}
