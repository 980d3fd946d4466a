//! What the AoE and iSCSI transports share: the host trees they read
//! (sysfs, /dev, open-iscsi's node database), what an attach needs from the
//! run that asks for it ([`AttachEnv`]), waiting for a device, the root
//! check, and the tables `netroot discover` prints.

use crate::plan::Target;
use crate::tools::cleanup::Cleanup;
use crate::tools::Runner;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What attaching needs from the run that asks for it, and nothing more: the
/// runner its commands go through, where state files live, the notes for the
/// report and the undo list (logout at the end of the run).
pub struct AttachEnv<'a> {
    pub runner: &'a Runner,
    /// Where netroot keeps state (the iSCSI session markers).
    pub state_dir: &'a Path,
    pub notes: &'a mut Vec<String>,
    pub cleanup: &'a mut Cleanup,
    /// The size reported for a disk a dry run did not attach (the plan's
    /// `target.size`, else 0).
    pub planned_size: u64,
    /// The iSCSI initiator name to log in with (the plan's, which the
    /// target's ACL admits); `None`: this machine's own.
    pub initiator: Option<&'a str>,
}

/// Where the kernel's and open-iscsi's trees are. Real runs use the
/// defaults; tests point them at fake trees in a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// sysfs (/sys).
    pub sys: PathBuf,
    /// devtmpfs (/dev).
    pub dev: PathBuf,
    /// open-iscsi's node database (/etc/iscsi/nodes).
    pub iscsi_nodes: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            iscsi_nodes: PathBuf::from("/etc/iscsi/nodes"),
        }
    }
}

impl HostPaths {
    /// Read a small sysfs attribute, trimmed; `None` if it is missing.
    pub fn read_sys(&self, rel: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.sys.join(rel))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// How long to wait for a network disk to appear: `NETROOT_ATTACH_TIMEOUT`
/// seconds, 30 by default.
pub fn attach_timeout() -> Duration {
    let secs = std::env::var("NETROOT_ATTACH_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// The size a dry run assumes for a disk it did not attach: `target.size`
/// when the plan gives it, else 0 (validation refuses "rest" there).
pub fn planned_size(target: &Target) -> u64 {
    target.size().and_then(|s| s.bytes()).unwrap_or(0)
}

/// Wait until `ready` returns `Some`, calling it every `step`, for at most
/// `timeout`; `kick` runs first and then every `kick_every` (e.g. sending
/// an AoE discover again).
pub(crate) fn wait_for<T>(
    timeout: Duration,
    step: Duration,
    kick_every: Duration,
    mut kick: impl FnMut() -> Result<()>,
    mut ready: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let start = std::time::Instant::now();
    let mut last_kick: Option<std::time::Instant> = None;
    loop {
        if last_kick.is_none_or(|k| k.elapsed() >= kick_every) {
            kick()?;
            last_kick = Some(std::time::Instant::now());
        }
        if let Some(v) = ready()? {
            return Ok(Some(v));
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(step);
    }
}

/// "4.0 GiB" style sizes for tables and messages.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Left-aligned columns separated by two spaces, no trailing blanks.
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut w = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < N {
                line.push_str(&" ".repeat(w[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bail with a clear message when we are not root (attaching needs it).
pub(crate) fn need_root(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root: run netroot as root (sudo)");
    }
    Ok(())
}
