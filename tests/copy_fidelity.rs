//! Root tier: the copy keeps everything rsync -aHAX would (issue #15.3).
//! A source tree with every kind of entry — hard-link groups (across
//! directories too), POSIX ACLs (access and default), user.* and trusted.*
//! xattrs, a file capability, sparse files (holes at start, middle, end, a
//! 1 GiB file with little data), char and block devices, a fifo, a unix
//! socket, symlinks (dangling too, with their own owner and mtime),
//! setuid/setgid/sticky modes, numeric ids with no passwd entry, mtimes
//! with nanoseconds, old dates, empty directories, names with spaces,
//! newlines and non-UTF-8 bytes — is migrated with `netroot migrate
//! --stop-after copy` (directory source, image target), and the target is
//! compared with the source entry by entry: lstat fields, contents, every
//! xattr (system.posix_acl_*, security.capability), hard-link groups, and
//! sparse files' allocated blocks.
//!
//! Two runs: a first copy (the native copier), and a copy killed after
//! its first change (`NETROOT_TEST_KILL_AT=copy:1`: the native copier's
//! entries are in place, its directories' metadata not yet) then resumed
//! (rsync --checksum).

mod common;

use common::{Attached, Scratch};
use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Quote a path for bash (any bytes: $'..' with \x escapes).
fn q(p: &Path) -> String {
    let mut s = String::from("$'");
    for b in p.as_os_str().as_bytes() {
        s.push_str(&format!("\\x{b:02x}"));
    }
    s.push('\'');
    s
}

/// The source tree with every kind of entry; its root is a directory
/// source (etc/os-release).
fn build_source(src: &Path) {
    common::tiny_source(src);
    let d = src.join("data");
    let sh = |c: &str| common::sh(&format!("cd {} && {c}", q(&d)));
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    std::fs::create_dir_all(d.join("empty/nested-empty")).unwrap();
    // Hard links: a group within a directory and one across directories.
    std::fs::write(d.join("a/hl1"), "hard link group one\n").unwrap();
    sh("ln a/hl1 a/hl1-again && ln a/hl1 other/hl1-elsewhere");
    std::fs::write(d.join("a/b/hl2"), vec![b'x'; 70_000]).unwrap();
    sh("ln a/b/hl2 hl2-top");
    // ACLs: access on a file, access + default on a directory.
    std::fs::write(d.join("acl-file"), "acl\n").unwrap();
    sh("setfacl -m u:4242:rw-,g:4343:r--,m::rw- acl-file");
    std::fs::create_dir(d.join("acl-dir")).unwrap();
    sh("setfacl -m u:4242:rwx acl-dir && setfacl -d -m u:4242:r-x,g:4343:rwx acl-dir");
    sh("echo inherits > acl-dir/child");
    // xattrs, user.* and trusted.*, one with binary bytes.
    std::fs::write(d.join("xattrs"), "xattrs\n").unwrap();
    sh("setfattr -n user.netroot.plain -v hello xattrs && setfattr -n user.netroot.bin -v 0x00ff10 xattrs && setfattr -n trusted.netroot -v secret xattrs");
    sh("setfattr -n user.on-a-dir -v 1 a");
    // A file capability, on a file that is also owned oddly.
    sh("cp /usr/bin/true ping-like && chown 4242:4343 ping-like && setcap cap_net_raw+ep ping-like");
    // Sparse files: hole at the start, in the middle, at the end; 1 GiB
    // apparent with 8 KiB of data.
    sh("truncate -s 4M hole-start && printf tail | dd of=hole-start bs=1 seek=4194000 conv=notrunc status=none");
    sh("printf head > hole-middle && truncate -s 3M hole-middle && printf tail >> hole-middle");
    sh("head -c 100000 /dev/urandom > hole-end && truncate -s 5M hole-end");
    sh("truncate -s 1G big-sparse && head -c 8192 /dev/urandom | dd of=big-sparse bs=4096 seek=131072 conv=notrunc status=none");
    // Device nodes, a fifo, a unix socket.
    sh("mknod chr c 1 3 && mknod blk b 7 200 && mkfifo fifo && chmod 0620 chr && chown 4242:4343 blk");
    let sock = d.join("sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    // Symlinks: to a file, dangling, to a directory; own owner and mtime.
    sh("ln -s a/hl1 link-file && ln -s /nonexistent/target dangling && ln -s a link-dir");
    sh("chown -h 4242:4343 dangling && touch -h -d @1111111111.123456789 dangling link-file");
    // Modes: setuid, setgid, sticky; owned by ids with no passwd entry.
    sh("cp /usr/bin/true suid && chown 4242:4343 suid && chmod 4755 suid");
    sh("cp /usr/bin/true sgid && chown 0:4343 sgid && chmod 2711 sgid");
    sh("mkdir sticky && chmod 1777 sticky && mkdir setgid-dir && chmod 2775 setgid-dir");
    sh("echo odd > odd-ids && chown 4242:4343 odd-ids && chmod 0640 odd-ids");
    // Names: spaces, a newline, non-UTF-8 bytes.
    let names: [&[u8]; 4] = [
        b"with space",
        b"new\nline",
        b"latin1-\xe9t\xe9",
        b"bad-\xff\xfe-bytes",
    ];
    for n in names {
        let p = d.join(OsStr::from_bytes(n));
        std::fs::write(&p, n).unwrap();
    }
    std::fs::create_dir(d.join(OsStr::from_bytes(b"dir \xe9\n"))).unwrap();
    // Times: nanoseconds everywhere, some old dates; directories last.
    sh("find . -mindepth 1 ! -type l -print0 | xargs -0 touch -d @1600000000.987654321");
    sh("touch -d '1975-03-04 05:06:07.000000123' odd-ids && touch -d @1234567890.5 hole-middle");
    sh("touch -h -d @1111111111.123456789 dangling link-file && touch -d '1980-01-01 00:00:01.25' a/b");
    common::sh(&format!(
        "touch -d @1500000000.111111111 {} {}",
        q(&d),
        q(src)
    ));
}

/// Every xattr of `p` (not following a symlink), sorted.
fn xattrs(p: &Path) -> BTreeMap<OsString, Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 65536];
    // SAFETY: c is NUL-terminated; the buffer's length is given.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(n >= 0, "llistxattr {}", p.display());
    let mut out = BTreeMap::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let cn = CString::new(name).unwrap();
        let mut v = vec![0u8; 65536];
        // SAFETY: as above.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(m >= 0, "lgetxattr {} {:?}", p.display(), cn);
        v.truncate(m as usize);
        out.insert(OsString::from_vec(name.to_vec()), v);
    }
    out
}

/// Entries below `root`, relative, sorted (root itself as "").
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::new()];
    let mut i = 0;
    while i < out.len() {
        let p = root.join(&out[i]);
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                out.push(out[i].join(e.unwrap().file_name()));
            }
        }
        i += 1;
    }
    out.sort();
    out
}

/// A volatile directory the copy makes on the target.
fn volatile(rel: &Path) -> bool {
    netroot::steps::copy::VOLATILE_DIRS
        .iter()
        .any(|(d, _)| rel == Path::new(d))
}

/// Differences between the source and the copied tree, one line each.
fn differences(src: &Path, dst: &Path) -> Vec<String> {
    let mut diffs = Vec::new();
    let s_entries = walk(src);
    let d_entries: Vec<PathBuf> = walk(dst)
        .into_iter()
        .filter(|p| !p.starts_with("lost+found") && !volatile(p))
        .collect();
    for p in &d_entries {
        if !s_entries.contains(p) {
            diffs.push(format!("{}: only in the target", p.display()));
        }
    }
    let mut s_groups: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    let mut d_groups: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    for rel in &s_entries {
        let (sp, dp) = (src.join(rel), dst.join(rel));
        let s = std::fs::symlink_metadata(&sp).unwrap();
        let Ok(d) = std::fs::symlink_metadata(&dp) else {
            diffs.push(format!("{}: missing in the target", rel.display()));
            continue;
        };
        let mut fields = vec![
            ("mode", s.mode() as i64, d.mode() as i64),
            ("uid", s.uid() as i64, d.uid() as i64),
            ("gid", s.gid() as i64, d.gid() as i64),
            ("rdev", s.rdev() as i64, d.rdev() as i64),
        ];
        if !s.is_dir() {
            fields.push(("size", s.size() as i64, d.size() as i64));
        }
        // The root's time and link count change when the volatile
        // directories are made in it.
        if !rel.as_os_str().is_empty() {
            fields.push(("nlink", s.nlink() as i64, d.nlink() as i64));
            fields.push(("mtime", s.mtime(), d.mtime()));
            fields.push(("mtime_nsec", s.mtime_nsec(), d.mtime_nsec()));
        }
        for (f, a, b) in fields {
            if a != b {
                diffs.push(format!(
                    "{}: {f} {a} in the source, {b} in the target",
                    rel.display()
                ));
            }
        }
        if xattrs(&sp) != xattrs(&dp) {
            diffs.push(format!(
                "{}: xattrs {:?} in the source, {:?} in the target",
                rel.display(),
                xattrs(&sp),
                xattrs(&dp)
            ));
        }
        if s.file_type().is_symlink() {
            if std::fs::read_link(&sp).ok() != std::fs::read_link(&dp).ok() {
                diffs.push(format!("{}: symlink target differs", rel.display()));
            }
        } else if s.is_file() {
            if common::sha256_file(&sp) != common::sha256_file(&dp) {
                diffs.push(format!("{}: contents differ", rel.display()));
            }
            // Holes kept: no more than 64 KiB allocated beyond the source.
            if s.blocks() * 512 < s.size() && d.blocks() > s.blocks() + 128 {
                diffs.push(format!(
                    "{}: sparse file inflated: {} blocks in the source, {} in the target",
                    rel.display(),
                    s.blocks(),
                    d.blocks()
                ));
            }
            if s.nlink() > 1 {
                s_groups
                    .entry((s.dev(), s.ino()))
                    .or_default()
                    .push(rel.clone());
                d_groups
                    .entry((d.dev(), d.ino()))
                    .or_default()
                    .push(rel.clone());
            }
        }
    }
    let mut sg: Vec<_> = s_groups.into_values().collect();
    let mut dg: Vec<_> = d_groups.into_values().collect();
    sg.sort();
    dg.sort();
    if sg != dg {
        diffs.push(format!(
            "hard-link groups: {sg:?} in the source, {dg:?} in the target"
        ));
    }
    diffs
}

fn plan_text(src: &Path, img: &Path) -> String {
    common::dir_plan(src, img, "fidelity", "3G", false)
}

/// Migrate the tree up to the copy (killed first at `kill`, if given, then
/// resumed) and compare the copied tree with the source.
fn migrate_and_compare(name: &str, kill: Option<&str>) {
    if !common::require_root() {
        return;
    }
    common::private_mounts();
    let s = Scratch::new(name);
    let src = s.join("src");
    build_source(&src);
    let before = common::sh(&format!(
        "cd {} && find . -printf '%p %y %s %T@ %C@ %m %U:%G %n\\n' | LC_ALL=C sort | sha256sum",
        src.display()
    ));
    let plan = s.join("plan.json");
    std::fs::write(&plan, plan_text(&src, &s.join("disk.img"))).unwrap();
    let (state, work) = (s.join("state"), s.join("work"));
    let args = [
        "migrate",
        "--plan",
        plan.to_str().unwrap(),
        "--yes",
        "--stop-after",
        "copy",
        "--state-dir",
        state.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ];
    if let Some(k) = kill {
        let (code, _, err) = common::netroot(&args, &[("NETROOT_TEST_KILL_AT", k)]);
        assert_ne!(code, 0, "the run was not killed at {k}:\n{err}");
    }
    let (code, out, err) = common::netroot(&args, &[]);
    assert_eq!(code, 0, "migrate failed:\n{out}\n{err}");
    // A first copy onto the empty filesystem takes the native copier; a
    // resumed one rsync --checksum (docs/cli.md, the copy step).
    let copier = match kill {
        None => "with netroot's parallel copier (",
        Some(_) => "with rsync --checksum (",
    };
    assert!(out.contains(copier), "not copied {copier}:\n{out}");
    let after = common::sh(&format!(
        "cd {} && find . -printf '%p %y %s %T@ %C@ %m %U:%G %n\\n' | LC_ALL=C sort | sha256sum",
        src.display()
    ));
    assert_eq!(before, after, "the source changed");
    let m = Attached::new(&s.join("disk.img"), &s.join("mnt"));
    for (dir, mode) in netroot::steps::copy::VOLATILE_DIRS {
        // Made empty on the target (the source has none).
        let p = m.mnt.join(dir);
        let got = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o7777);
        assert_eq!(got.ok(), Some(mode), "{}", p.display());
    }
    let diffs = differences(&src, &m.mnt);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn a_copy_keeps_every_kind_of_entry() {
    migrate_and_compare("fidelity", None);
}

#[test]
fn a_resumed_copy_keeps_every_kind_of_entry() {
    migrate_and_compare("fidelity-resumed", Some("copy:1"));
}
