//! The native parallel copier: a first copy of a source tree onto an empty
//! target filesystem, with rsync -aHAX's fidelity (hard links, xattrs,
//! ACLs, file capabilities, holes, device nodes, FIFOs, sockets, symlinks,
//! numeric owners, nanosecond times) at the speed of the disk.
//!
//! Why: rsync spends its time per entry in one process (a sender and a
//! receiver exchanging a file list), about 4-5 × `dd` of the same bytes on
//! the test tree; several threads walking the tree, the kernel copying
//! the data (copy_file_range, else sendfile) and a large file's writeback
//! started at once keep the disk busy. rsync stays for what it does best:
//! a resumed copy (--checksum), the final sync (delta, deletions) and FAT
//! targets.
//!
//! The walk: worker threads take directories from a shared queue, create
//! their entries on the target, and queue the subdirectories. Hard links:
//! the first path of an inode is copied, the others are linked once every
//! file is in place. Directories get their owner, xattrs, mode and times
//! last ([`Copied::finish`], deepest first), as linking and creating
//! entries changes a directory's time, and a default ACL set first would
//! be inherited by entries the source made without it.

mod data;
mod entry;
mod filter;
mod xattr;

pub use filter::Filter;

use anyhow::{anyhow, Result};
use entry::{At, Stat};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// One tree to copy: `src`'s contents into the existing directory `dst`,
/// on `src`'s filesystem only, without what `filter` leaves out.
pub struct Job<'a> {
    pub src: &'a Path,
    pub dst: &'a Path,
    pub filter: &'a Filter,
    /// Worker threads.
    pub threads: usize,
}

/// Counters of a copy, readable while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes of file data copied.
    pub bytes: AtomicU64,
    /// Entries made on the target.
    pub entries: AtomicU64,
}

/// A copy whose entries are all in place; the directories' metadata is
/// still to set ([`Copied::finish`]).
#[derive(Debug)]
pub struct Copied {
    dirs: Vec<(PathBuf, PathBuf, Stat)>,
    /// Source entries that vanished while the tree was walked.
    pub vanished: Vec<PathBuf>,
}

struct Shared<'a> {
    job: &'a Job<'a>,
    dev: u64,
    counters: &'a Counters,
    queue: Mutex<(Vec<PathBuf>, usize)>,
    wake: Condvar,
    failed: AtomicBool,
    error: Mutex<Option<anyhow::Error>>,
    inodes: Mutex<HashMap<(u64, u64), PathBuf>>,
    links: Mutex<Vec<(PathBuf, PathBuf)>>,
    dirs: Mutex<Vec<(PathBuf, PathBuf, Stat)>>,
    vanished: Mutex<Vec<PathBuf>>,
    data: data::Data,
}

/// Copy every entry of the job's tree; directories' metadata comes with
/// [`Copied::finish`].
pub fn copy(job: &Job, counters: &Counters) -> Result<Copied> {
    let m = Stat::path(job.src)?;
    let sh = Shared {
        job,
        dev: m.dev(),
        counters,
        queue: Mutex::new((vec![PathBuf::new()], 0)),
        wake: Condvar::new(),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        inodes: Mutex::new(HashMap::new()),
        links: Mutex::new(Vec::new()),
        dirs: Mutex::new(vec![(job.src.to_path_buf(), job.dst.to_path_buf(), m)]),
        vanished: Mutex::new(Vec::new()),
        data: data::Data::default(),
    };
    std::thread::scope(|s| {
        for _ in 0..job.threads.max(1) {
            s.spawn(|| worker(&sh));
        }
    });
    if let Some(e) = sh.error.into_inner().unwrap_or(None) {
        return Err(e);
    }
    for (first, other) in sh.links.into_inner().unwrap_or_default() {
        let _ = std::fs::remove_file(&other);
        std::fs::hard_link(&first, &other)
            .map_err(|e| anyhow!("link {} to {}: {e}", other.display(), first.display()))?;
        counters.entries.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Copied {
        dirs: sh.dirs.into_inner().unwrap_or_default(),
        vanished: sh.vanished.into_inner().unwrap_or_default(),
    })
}

impl Copied {
    /// The directories' owner, xattrs, mode and times, deepest first.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.dirs
            .sort_by_key(|(_, d, _)| std::cmp::Reverse(d.components().count()));
        for (s, d, m) in &self.dirs {
            if let Err(e) = entry::set_meta_path(s, d, m) {
                if !entry::vanished(&e) {
                    return Err(e);
                }
            }
        }
        Ok(self.vanished)
    }
}

fn worker(sh: &Shared) {
    loop {
        let rel = {
            let mut q = sh.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if sh.failed.load(Ordering::Relaxed) {
                    return;
                }
                // Ctrl-C: stop between directories (a resumed copy compares
                // contents, so nothing half-written is trusted).
                if crate::outcome::stop_requested() {
                    sh.failed.store(true, Ordering::Relaxed);
                    let mut slot = sh.error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(anyhow!("the copy stopped on request (Ctrl-C)"));
                    sh.wake.notify_all();
                    return;
                }
                if let Some(r) = q.0.pop() {
                    q.1 += 1;
                    break r;
                }
                if q.1 == 0 {
                    sh.wake.notify_all();
                    return;
                }
                q = sh.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = copy_dir(sh, &rel);
        let mut q = sh.queue.lock().unwrap_or_else(|p| p.into_inner());
        // Waiting workers wake for new directories, an error or the end
        // only (not after every directory).
        let wake = match result {
            Ok(subdirs) => {
                q.0.extend(subdirs);
                !q.0.is_empty()
            }
            Err(e) => {
                sh.failed.store(true, Ordering::Relaxed);
                let mut slot = sh.error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
                true
            }
        };
        q.1 -= 1;
        if wake || q.1 == 0 {
            sh.wake.notify_all();
        }
    }
}

/// Copy the entries of directory `rel`; its subdirectories to walk.
fn copy_dir(sh: &Shared, rel: &Path) -> Result<Vec<PathBuf>> {
    let (dir, ddir) = (sh.job.src.join(rel), sh.job.dst.join(rel));
    let gone = |e: &anyhow::Error| entry::vanished(e) && std::fs::symlink_metadata(&dir).is_err();
    let (at, rd) = match At::open(&dir, &ddir).and_then(|at| {
        let rd = std::fs::read_dir(&dir).map_err(|e| anyhow!("opendir {}: {e}", dir.display()))?;
        Ok((at, rd))
    }) {
        Ok(v) => v,
        Err(e) if gone(&e) => {
            lock(&sh.vanished).push(dir);
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut subdirs = Vec::new();
    for e in rd {
        let e = e.map_err(|e| anyhow!("readdir {}: {e}", dir.display()))?;
        let name = e.file_name();
        let r = rel.join(&name);
        let (s, d) = (dir.join(&name), ddir.join(&name));
        // Names from the filesystem hold no NUL.
        let cname = CString::new(name.as_bytes()).unwrap_or_default();
        let m = match Stat::at(&at.src, &cname, &s) {
            Ok(m) => m,
            Err(e) if entry::vanished(&e) => {
                lock(&sh.vanished).push(s);
                continue;
            }
            Err(e) => return Err(e),
        };
        if sh.job.filter.excluded(&r, m.is_dir()) {
            continue;
        }
        match copy_entry(sh, &at, &cname, (&s, &d), m) {
            Ok(true) => subdirs.push(r),
            Ok(false) => {}
            Err(e) if entry::vanished(&e) && std::fs::symlink_metadata(&s).is_err() => {
                lock(&sh.vanished).push(s);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(subdirs)
}

/// Make one entry on the target; true for a directory to walk.
fn copy_entry(
    sh: &Shared,
    at: &At,
    name: &CString,
    (s, d): (&Path, &Path),
    m: Stat,
) -> Result<bool> {
    if m.is_dir() {
        // SAFETY: a NUL-terminated name relative to an open directory.
        if unsafe { libc::mkdirat(at.dst.as_raw_fd(), name.as_ptr(), 0o777) } != 0 {
            let e = std::io::Error::last_os_error();
            // A mount point of the layout's other filesystems.
            if !(e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir()) {
                return Err(anyhow!("mkdir {}: {e}", d.display()));
            }
        }
        sh.counters.entries.fetch_add(1, Ordering::Relaxed);
        // Another filesystem mounted here: its mount point only (rsync -x).
        let walk = m.dev() == sh.dev;
        lock(&sh.dirs).push((s.to_path_buf(), d.to_path_buf(), m));
        return Ok(walk);
    }
    if m.dev() != sh.dev {
        return Ok(false);
    }
    if m.nlink() > 1 {
        let mut inodes = lock(&sh.inodes);
        if let Some(first) = inodes.get(&(m.dev(), m.ino())) {
            lock(&sh.links).push((first.clone(), d.to_path_buf()));
            return Ok(false);
        }
        inodes.insert((m.dev(), m.ino()), d.to_path_buf());
    }
    if m.is_file() {
        let n = entry::copy_file(&sh.data, at, name, (s, d), &m)?;
        sh.counters.bytes.fetch_add(n, Ordering::Relaxed);
    } else {
        entry::make_special(s, d, &m)?;
    }
    sh.counters.entries.fetch_add(1, Ordering::Relaxed);
    Ok(false)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_tree_is_copied_with_its_links_holes_and_excludes() {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        for d in ["a/b", "proc/1", "c/skip.tmp", "empty"] {
            std::fs::create_dir_all(src.join(d)).unwrap();
        }
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("a/b/f"), "data").unwrap();
        std::fs::hard_link(src.join("a/b/f"), src.join("f-again")).unwrap();
        std::os::unix::fs::symlink("a/b/f", src.join("link")).unwrap();
        std::fs::write(src.join("proc/1/status"), "x").unwrap();
        let holes = std::fs::File::create(src.join("holes")).unwrap();
        holes.set_len(64 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&holes, b"end", (64 << 20) - 3).unwrap();
        let filter = Filter::new(&["/proc/*".into(), "*.tmp".into()]).unwrap();
        let counters = Counters::default();
        let job = Job {
            src: &src,
            dst: &dst,
            filter: &filter,
            threads: 3,
        };
        let vanished = copy(&job, &counters).unwrap().finish().unwrap();
        assert!(vanished.is_empty());
        let m = |p: &str| std::fs::symlink_metadata(dst.join(p)).unwrap();
        assert_eq!(m("a/b/f").ino(), m("f-again").ino());
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("a/b/f")
        );
        assert!(dst.join("proc").is_dir() && !dst.join("proc/1").exists());
        assert!(!dst.join("c/skip.tmp").exists() && dst.join("empty").is_dir());
        assert_eq!(m("holes").len(), 64 << 20);
        assert!(
            m("holes").blocks() < 1024,
            "holes filled: {}",
            m("holes").blocks()
        );
        let s = std::fs::symlink_metadata(src.join("a")).unwrap();
        assert_eq!(
            (m("a").mtime(), m("a").mtime_nsec()),
            (s.mtime(), s.mtime_nsec())
        );
        // The data only: "data" and the block holding "end".
        let b = counters.bytes.load(Ordering::Relaxed);
        assert!((7..=4 + 65536).contains(&b), "{b} bytes copied");
    }
}
