//! Typed wrapper for `rsync` (see tools::cmd for the runner): the argv of a
//! tree copy, and the parser for its `--info=progress2` lines.

use super::cmd::Cmd;
use std::path::{Path, PathBuf};

/// rsync's exit status for "some files vanished before they could be
/// transferred": expected when copying a running system.
pub const EXIT_VANISHED: i32 = 24;

/// rsync filter that keeps XFS's own view of ACLs out of xattr copying.
pub const XFS_ACL_FILTER: &str = "--filter=-x trusted.SGI_ACL_*";

/// One rsync run that mirrors a source directory into a target directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Source directory (copied as its contents: a trailing `/` is added).
    pub src: PathBuf,
    /// Target directory.
    pub dst: PathBuf,
    /// Exclude patterns, anchored at this transfer's root when they start
    /// with `/` (rsync's own rule).
    pub excludes: Vec<String>,
    /// The target is FAT (an ESP): no owners, permissions, links, ACLs or
    /// xattrs, 2-second timestamps.
    pub fat: bool,
    /// Exit 24 (files vanished during the copy) counts as success: the
    /// source is a running system.
    pub live: bool,
    /// Compare file contents (`--checksum`), not size and time: a resumed
    /// copy. A run that lost its network disk can leave files whose size
    /// and time were recorded but whose data never reached the disk (the
    /// vm-test lost-iscsi found GRUB modules so, and the disk did not
    /// boot); rsync's quick check would skip them.
    pub checksum: bool,
}

impl Transfer {
    /// The main rsync run of the transfer.
    ///
    /// `-aHAX --numeric-ids` keeps hard links, ACLs, xattrs (the
    /// `security.*` namespace too, so file capabilities survive: rsync runs
    /// as root), device nodes and FIFOs, with owners as numbers so the
    /// source's ids are kept even where the host's user database differs.
    /// `--one-file-system` keeps each transfer on one source filesystem.
    /// `--delete` removes, on the TARGET only, what the source no longer
    /// has, so a re-run converges instead of accumulating; excluded paths
    /// are protected from it. `--no-inc-recursive` makes rsync scan the
    /// whole tree first so its progress percentage (and so the ETA) is over
    /// the real total.
    ///
    /// Sparse files: rsync's `-S` looks at every byte it writes for runs of
    /// zeros, which costs CPU on the whole tree; so the sparse files are
    /// left out here (`sparse_list`: NUL-separated anchored patterns) and
    /// copied by [`Transfer::sparse_cmd`] with `-S`.
    pub fn cmd(&self, sparse_list: Option<&Path>) -> Cmd {
        let mut c = self.base(false);
        c = c.args(["--delete", "--no-inc-recursive", "--info=progress2"]);
        if let (Some(l), false) = (sparse_list, self.fat) {
            // --from0 first: rsync reads an --exclude-from file as it
            // parses that option, so a later --from0 is not applied to it
            // (the NUL-separated list was then read as its first name
            // only, and the other sparse files were copied here without
            // their holes).
            c = c
                .arg("--from0")
                .arg(format!("--exclude-from={}", l.display()));
        }
        self.finish(c)
    }

    /// The run that copies the files named in `list` (NUL-separated paths
    /// relative to the transfer root) with `-S`, keeping their holes.
    pub fn sparse_cmd(&self, list: &Path) -> Cmd {
        let c = self
            .base(true)
            .arg("--info=progress2")
            .arg("--from0")
            .arg(format!("--files-from={}", list.display()));
        self.finish(c)
    }

    fn base(&self, sparse: bool) -> Cmd {
        let mut c = Cmd::new("rsync");
        if self.checksum {
            c = c.arg("--checksum");
        }
        if self.fat {
            // FAT keeps no owners or modes and 2 s times. -O: no directory
            // times (FAT has none worth keeping, and setting them on the
            // root of a fusefat mount kills fusefat). --chmod=u=rwx,go=:
            // the mode fusefat reports for everything, so rsync never calls
            // chmod (ENOSYS there); kernel vfat ignores the mode anyway.
            return c.args([
                "-rtD",
                "-O",
                "--chmod=u=rwx,go=",
                "--modify-window=1",
                "--one-file-system",
            ]);
        }
        // XFS shows each ACL a second time as a trusted.SGI_ACL_* xattr:
        // leave those to the ACL code (-A) on both sides.
        // --modify-window=-1: compare times to the nanosecond. rsync's
        // default compares whole seconds, and so left the time of an entry
        // made in the same second as its source (a fresh directory, a
        // file written during the copy) at the copy's own nanoseconds.
        c.arg(if sparse { "-aHAXS" } else { "-aHAX" }).args([
            "--numeric-ids",
            "--modify-window=-1",
            XFS_ACL_FILTER,
            "--one-file-system",
        ])
    }

    fn finish(&self, mut c: Cmd) -> Cmd {
        for e in &self.excludes {
            c = c.arg(format!("--exclude={e}"));
        }
        c = c.arg(dir_arg(&self.src)).arg(dir_arg(&self.dst));
        if self.live {
            c = c.ok_codes(&[0, EXIT_VANISHED]);
        }
        c
    }
}

/// `path` (relative to a transfer root) as an anchored exclude pattern that
/// matches only itself.
pub fn anchored_literal(path: &str) -> String {
    let mut s = String::from("/");
    for ch in path.trim_start_matches('/').chars() {
        if matches!(ch, '*' | '?' | '[' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s
}

/// A directory as rsync's "contents of" argument: with a trailing slash.
fn dir_arg(p: &Path) -> String {
    let s = p.display().to_string();
    if s.ends_with('/') {
        s
    } else {
        format!("{s}/")
    }
}

/// One `--info=progress2` line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes of this transfer so far.
    pub bytes: u64,
    /// Percentage of the transfer's total, 0..=100.
    pub percent: u32,
    /// Current rate in bytes per second.
    pub rate: u64,
}

impl Progress {
    /// The transfer's total size as far as the percentage tells.
    pub fn total_estimate(&self) -> u64 {
        if self.percent == 0 {
            self.bytes
        } else {
            (self.bytes.saturating_mul(100) / self.percent as u64).max(self.bytes)
        }
    }
}

/// Parse a progress2 line such as
/// `  22,216,704  42%   20.03MB/s    0:00:01 (xfr#1, to-chk=200/202)`.
/// Other lines (file names, warnings) give None.
pub fn parse_progress2(line: &str) -> Option<Progress> {
    let mut it = line.split_whitespace();
    let bytes: u64 = it.next()?.replace([',', '.'], "").parse().ok()?;
    let percent: u32 = it.next()?.strip_suffix('%')?.parse().ok()?;
    let rate = parse_rate(it.next()?)?;
    let eta = it.next()?;
    if !eta.contains(':') {
        return None;
    }
    Some(Progress {
        bytes,
        percent: percent.min(100),
        rate,
    })
}

/// "20.03MB/s" → bytes per second (rsync's units are powers of 1024).
fn parse_rate(s: &str) -> Option<u64> {
    let s = s.strip_suffix("/s")?;
    let (num, mult) = if let Some(n) = s.strip_suffix("kB") {
        (n, 1u64 << 10)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = s.strip_suffix("GB") {
        (n, 1 << 30)
    } else if let Some(n) = s.strip_suffix("TB") {
        (n, 1 << 40)
    } else if let Some(n) = s.strip_suffix('B') {
        (n, 1)
    } else {
        return None;
    };
    let v: f64 = num.replace(',', "").parse().ok()?;
    Some((v * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Transfer {
        Transfer {
            src: PathBuf::from("/"),
            dst: PathBuf::from("/run/netroot/target"),
            excludes: vec!["/proc/*".into(), "/lost+found".into()],
            fat: false,
            live: true,
            checksum: false,
        }
    }

    #[test]
    fn a_resumed_copy_compares_contents() {
        let t = Transfer {
            checksum: true,
            ..t()
        };
        assert!(t.cmd(None).display().starts_with("rsync --checksum -aHAX "));
        assert!(t
            .sparse_cmd(Path::new("/tmp/sparse"))
            .display()
            .starts_with("rsync --checksum -aHAXS "));
    }

    #[test]
    fn argv_of_a_live_root_copy() {
        assert_eq!(
            t().cmd(None).display(),
            "rsync -aHAX --numeric-ids --modify-window=-1 '--filter=-x trusted.SGI_ACL_*' --one-file-system --delete --no-inc-recursive \
             --info=progress2 '--exclude=/proc/*' --exclude=/lost+found / /run/netroot/target/"
        );
        let c = t().cmd(Some(Path::new("/tmp/sparse")));
        assert!(c
            .display()
            .contains(" --info=progress2 --from0 --exclude-from=/tmp/sparse "));
        assert!(!c.display().contains("-aHAXS"));
    }

    #[test]
    fn sparse_files_get_their_own_run() {
        let c = t().sparse_cmd(Path::new("/tmp/sparse"));
        assert_eq!(
            c.display(),
            "rsync -aHAXS --numeric-ids --modify-window=-1 '--filter=-x trusted.SGI_ACL_*' --one-file-system --info=progress2 \
             --from0 --files-from=/tmp/sparse '--exclude=/proc/*' --exclude=/lost+found / /run/netroot/target/"
        );
        assert!(!c.display().contains("--delete"));
        assert_eq!(anchored_literal("var/log/lastlog"), "/var/log/lastlog");
        assert_eq!(anchored_literal("srv/a*b[1].img"), "/srv/a\\*b\\[1].img");
    }

    #[test]
    fn fat_target_drops_unix_metadata() {
        let mut x = t();
        x.fat = true;
        x.src = "/boot/efi".into();
        x.dst = "/t/boot/efi".into();
        x.excludes.clear();
        let d = x.cmd(Some(Path::new("/tmp/l"))).display();
        assert!(
            d.starts_with(
                "rsync -rtD -O --chmod=u=rwx,go= --modify-window=1 --one-file-system --delete"
            ),
            "{d}"
        );
        assert!(!d.contains("--exclude-from"), "no sparse files on FAT");
        assert!(!d.contains("-aHAXS"));
        assert!(d.ends_with(" /boot/efi/ /t/boot/efi/"), "{d}");
    }

    #[test]
    fn progress2_lines_captured_from_rsync_3() {
        let p = parse_progress2("     22,216,704  42%   20.03MB/s    0:00:01  ").unwrap();
        assert_eq!(p.bytes, 22_216_704);
        assert_eq!(p.percent, 42);
        assert_eq!(p.rate, (20.03 * 1048576.0) as u64);
        assert_eq!(p.total_estimate(), 52_896_914);
        let p =
            parse_progress2("     52,428,809  99%   20.43MB/s    0:00:02 (xfr#4, to-chk=197/202)")
                .unwrap();
        assert_eq!(p.bytes, 52_428_809);
        let p =
            parse_progress2("              0   0%    0.00kB/s    0:00:00 (xfr#0, to-chk=0/202)")
                .unwrap();
        assert_eq!(
            (p.bytes, p.percent, p.rate, p.total_estimate()),
            (0, 0, 0, 0)
        );
        let p = parse_progress2("  1,073,741,824 100%    1.50GB/s    0:00:00 (xfr#9, ir-chk=1/9)")
            .unwrap();
        assert_eq!(p.rate, 1_610_612_736);
    }

    #[test]
    fn other_lines_are_not_progress() {
        assert_eq!(parse_progress2(""), None);
        assert_eq!(parse_progress2("sending incremental file list"), None);
        assert_eq!(parse_progress2("etc/hostname"), None);
        assert_eq!(parse_progress2("file has vanished: \"/var/log/x\""), None);
    }
}
