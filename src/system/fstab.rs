//! Rewriting /etc/fstab for the network disk: a pure function of the old
//! fstab and the resolved layout.
//!
//! Rules, line by line:
//! - comments, blank lines and lines netroot cannot parse are kept verbatim;
//! - an entry for a mount point of the plan becomes `UUID=<planned uuid>`
//!   with the planned filesystem type (old options are kept when the type
//!   is unchanged, else the type's defaults) and `_netdev` when asked;
//!   later duplicates of it are dropped;
//! - a swap partition becomes the plan's swap (`UUID=`) while the plan has
//!   swap partitions left, otherwise it is dropped; swap files are dropped
//!   (the copy excludes them);
//! - any other entry on a local block device (`/dev/…`, `UUID=`, `LABEL=`,
//!   `PARTUUID=`, …) is dropped: it is on the old local disk when the caller
//!   knows that device, or when it is not marked `nofail`/`noauto` (a
//!   missing device would stop the diskless boot);
//! - everything else (proc, tmpfs, bind mounts, network filesystems) is kept;
//! - planned mounts and swap the old fstab lacks are appended.
//!
//! The function is a fixpoint: rewriting its own output changes nothing.

use crate::host::escape::unescape_lossy;
use crate::plan::{FsKind, ResolvedLayout, ResolvedPartition};
use std::collections::BTreeSet;

/// An fstab line netroot left out, and why (shown in the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub line: String,
    pub reason: String,
}

/// The comment put before entries netroot appends.
pub const ADDED_COMMENT: &str = "# added by netroot (network disk)";

struct Entry<'a> {
    spec: &'a str,
    file: String,
    vfstype: &'a str,
    opts: &'a str,
    freq: &'a str,
    passno: &'a str,
}

fn parse(line: &str) -> Option<Entry<'_>> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = t.split_whitespace().collect();
    if f.len() < 3 {
        return None;
    }
    Some(Entry {
        spec: f[0],
        file: normalize_mount(&unescape_lossy(f[1].as_bytes())),
        vfstype: f[2],
        opts: f.get(3).copied().unwrap_or("defaults"),
        freq: f.get(4).copied().unwrap_or("0"),
        passno: f.get(5).copied().unwrap_or("0"),
    })
}

fn normalize_mount(m: &str) -> String {
    let t = m.trim_end_matches('/');
    if t.is_empty() && m.starts_with('/') {
        "/".to_string()
    } else {
        t.to_string()
    }
}

fn has_opt(opts: &str, o: &str) -> bool {
    opts.split(',').any(|x| x == o)
}

/// A spec naming a local block device.
fn is_block_spec(spec: &str) -> bool {
    const TAGS: [&str; 5] = ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "ID="];
    TAGS.iter().any(|t| spec.starts_with(t))
        || (spec.starts_with("/dev/") && !spec.starts_with("/dev/shm"))
}

/// Options, dump and pass for a freshly written entry.
fn defaults(p: &ResolvedPartition, fs: FsKind) -> (&'static str, &'static str, &'static str) {
    let root = p.mount.as_deref() == Some("/");
    match fs {
        FsKind::Swap => ("sw", "0", "0"),
        FsKind::Ext4 if root => ("errors=remount-ro", "0", "1"),
        FsKind::Vfat => ("umask=0077", "0", "1"),
        FsKind::Btrfs => ("defaults", "0", "0"),
        _ if root => ("defaults", "0", "1"),
        _ => ("defaults", "0", "2"),
    }
}

fn with_netdev(opts: &str, netdev: bool) -> String {
    if netdev && !has_opt(opts, "_netdev") {
        format!("{opts},_netdev")
    } else {
        opts.to_string()
    }
}

fn render(spec: &str, file: &str, fs: &str, opts: &str, freq: &str, pass: &str) -> String {
    format!("{spec}\t{file}\t{fs}\t{opts}\t{freq}\t{pass}")
}

/// The line for planned partition `p`, keeping `old`'s options when the
/// filesystem type is unchanged.
fn planned_line(
    p: &ResolvedPartition,
    old: Option<&Entry>,
    netdev: bool,
    line: Option<&str>,
) -> String {
    let fs = p.fs.expect("planned filesystem");
    let spec = format!("UUID={}", p.fs_uuid.as_deref().unwrap_or_default());
    let file = p.mount.clone().unwrap_or_else(|| "none".to_string());
    let (o, fr, pa) = defaults(p, fs);
    let (opts, freq, pass) = match old {
        Some(e) if e.vfstype == fs.as_str() => (e.opts.to_string(), e.freq, e.passno),
        _ => (o.to_string(), fr, pa),
    };
    // Swap is not a mount: _netdev is for filesystems.
    let opts = if fs == FsKind::Swap {
        opts
    } else {
        with_netdev(&opts, netdev)
    };
    if let (Some(e), Some(l)) = (old, line) {
        // Unchanged entries keep their exact text (and so the fixpoint).
        if e.spec == spec
            && e.file == file
            && e.vfstype == fs.as_str()
            && e.opts == opts
            && e.freq == freq
            && e.passno == pass
        {
            return l.to_string();
        }
    }
    render(&spec, &file, fs.as_str(), &opts, freq, pass)
}

/// Rewrite `old` for the network disk laid out as `layout`.
///
/// `netdev` adds `_netdev` to the migrated filesystems (the profile's
/// `fstab.netdev`). `old_devices` are specs known to name the old local
/// disk (`/dev/sda3`, `UUID=…`, `LABEL=…`): their entries are dropped even
/// when marked `nofail`. Returns the new text and the lines left out.
pub fn rewrite(
    old: &str,
    layout: &ResolvedLayout,
    netdev: bool,
    old_devices: &BTreeSet<String>,
) -> (String, Vec<Dropped>) {
    let mut r = Rewrite::new(layout, netdev, old_devices);
    for line in old.lines() {
        match parse(line) {
            Some(e) => r.entry(line, &e),
            None => r.out.push(line.to_string()),
        }
    }
    r.append_missing();
    let mut text = r.out.join("\n");
    text.push('\n');
    (text, r.dropped)
}

/// A rewrite under way: what of the plan is still to place, and the lines
/// written and dropped so far.
struct Rewrite<'a> {
    /// Planned mounts (swap aside), in mount order.
    planned: Vec<&'a ResolvedPartition>,
    /// Planned swap partitions no old entry took yet.
    swaps: Vec<&'a ResolvedPartition>,
    netdev: bool,
    old_devices: &'a BTreeSet<String>,
    seen_mounts: BTreeSet<String>,
    out: Vec<String>,
    dropped: Vec<Dropped>,
}

impl<'a> Rewrite<'a> {
    fn new(layout: &'a ResolvedLayout, netdev: bool, old_devices: &'a BTreeSet<String>) -> Self {
        Rewrite {
            planned: layout
                .mount_order()
                .into_iter()
                .filter(|p| p.fs != Some(FsKind::Swap))
                .collect(),
            swaps: layout
                .partitions
                .iter()
                .filter(|p| p.fs == Some(FsKind::Swap))
                .collect(),
            netdev,
            old_devices,
            seen_mounts: BTreeSet::new(),
            out: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn skip(&mut self, line: &str, reason: &str) {
        self.dropped.push(Dropped {
            line: line.trim().to_string(),
            reason: reason.to_string(),
        })
    }

    /// One parsed entry of the old fstab.
    fn entry(&mut self, line: &str, e: &Entry) {
        if e.vfstype == "swap" {
            return self.swap(line, e);
        }
        if let Some(p) = self
            .planned
            .iter()
            .find(|p| p.mount.as_deref() == Some(e.file.as_str()))
            .copied()
        {
            if !self.seen_mounts.insert(e.file.clone()) {
                return self.skip(line, &format!("a second entry for {}", e.file));
            }
            self.out
                .push(planned_line(p, Some(e), self.netdev, Some(line)));
            return;
        }
        if is_block_spec(e.spec) && !has_opt(e.opts, "bind") && !has_opt(e.opts, "rbind") {
            return self.local_disk(line, e);
        }
        self.out.push(line.to_string());
    }

    /// A swap entry: a swap device gives its place to the plan's next swap
    /// partition (the one with its UUID first); a swap file is dropped.
    fn swap(&mut self, line: &str, e: &Entry) {
        if e.spec.starts_with('/') && !e.spec.starts_with("/dev/") {
            return self.skip(
                line,
                "swap file: swap files are not copied to the network disk",
            );
        }
        let uuid_spec = self
            .swaps
            .iter()
            .position(|p| e.spec == format!("UUID={}", p.fs_uuid.as_deref().unwrap_or_default()));
        let idx = uuid_spec.or(if self.swaps.is_empty() { None } else { Some(0) });
        match idx {
            Some(i) => {
                let p = self.swaps.remove(i);
                self.out
                    .push(planned_line(p, Some(e), self.netdev, Some(line)));
            }
            None => self.skip(
                line,
                "swap on the old local disk (the plan has no swap partition left for it)",
            ),
        }
    }

    /// An entry on a local block device the plan does not mount.
    fn local_disk(&mut self, line: &str, e: &Entry) {
        if self.old_devices.contains(e.spec) {
            self.skip(line, "on the old local disk");
        } else if has_opt(e.opts, "nofail") || has_opt(e.opts, "noauto") {
            self.out.push(line.to_string());
        } else {
            self.skip(line, "a local disk the diskless client may not have (its mount would stop the boot); mark it nofail to keep it");
        }
    }

    /// Planned mounts and swap the old fstab lacks, after a comment.
    fn append_missing(&mut self) {
        let mut added = Vec::new();
        for p in self.planned.iter().filter(|p| {
            !self
                .seen_mounts
                .contains(p.mount.as_deref().unwrap_or_default())
        }) {
            added.push(planned_line(p, None, self.netdev, None));
        }
        for p in &self.swaps {
            added.push(planned_line(p, None, self.netdev, None));
        }
        if !added.is_empty() {
            if self.out.last().is_some_and(|l| !l.trim().is_empty()) {
                self.out.push(String::new());
            }
            self.out.push(ADDED_COMMENT.to_string());
            self.out.extend(added);
        }
    }
}
