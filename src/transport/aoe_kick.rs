//! Keeps an attached AoE disk's requests moving while netroot writes to it.
//!
//! Why: the Linux aoe driver (since its blk-mq conversion) parks a request
//! when all of its frames (512 per target) wait for its completion thread,
//! and only the next *new* request sends the parked one again: its own
//! retry re-runs the block queue, which never hands back a request the
//! driver already took. A migration whose writers all wait on that request
//! (a sync, the page cache's writeback) then stops for good, with no frame
//! on the wire. The migrated system has the same workaround in its
//! initramfs and a service (profiles/files/aoe/aoe-kick.c, docs/boot.md);
//! this is netroot's own, for the time a run has an AoE disk attached:
//! one direct (uncached) 4 KiB read of the disk every 2 s, each in a thread
//! of its own so that a read that is itself parked does not stop the next
//! (at most 8 wait at a time, e.g. while the server is away).
//! The disk is opened once and read with pread(2) only: lseek(2) on a block
//! device, and a second open, can wait for locks that a parked request's
//! owner holds (profiles/files/aoe/aoe-kick.c says which).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Seconds between two reads.
const PERIOD: Duration = Duration::from_secs(2);
/// Reads that may wait at the same time before the next is skipped.
const MAX_WAITING: usize = 8;
/// The read: one page, the alignment O_DIRECT needs.
const BLOCK: usize = 4096;

/// The running kick; stops when dropped (or with [`Kick::stop`]).
pub struct Kick {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Kick {
    /// Start kicking the AoE disk at `node` (`/dev/etherd/eS.L`).
    pub fn start(node: &Path) -> Kick {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let node = node.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("aoe-kick".into())
            .spawn(move || kick_loop(&node, &flag))
            .ok();
        Kick { stop, handle }
    }

    /// Stop the loop (reads still waiting finish or die with the process).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Kick {
    fn drop(&mut self) {
        self.halt();
    }
}

fn kick_loop(node: &Path, stop: &AtomicBool) {
    let waiting = Arc::new(AtomicUsize::new(0));
    let tick = Duration::from_millis(100);
    let mut disk: Option<Arc<File>> = None;
    while !stop.load(Ordering::SeqCst) {
        if disk.is_none() {
            match open_direct(node) {
                Ok(f) => disk = Some(Arc::new(f)),
                Err(e) => tracing::debug!("aoe-kick: opening {}: {e}", node.display()),
            }
        }
        if let Some(f) = disk
            .as_ref()
            .filter(|_| waiting.load(Ordering::SeqCst) < MAX_WAITING)
        {
            waiting.fetch_add(1, Ordering::SeqCst);
            let (f, count) = (f.clone(), waiting.clone());
            let spawned = std::thread::Builder::new()
                .name("aoe-kick-read".into())
                .spawn(move || {
                    if let Err(e) = read_one(&f) {
                        tracing::debug!("aoe-kick: reading: {e}");
                    }
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                waiting.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let mut slept = Duration::ZERO;
        while slept < PERIOD && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            slept += tick;
        }
    }
}

/// The disk, for uncached reads (O_DIRECT: each reaches the driver even
/// when the page cache has the page).
fn open_direct(node: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(node)
}

/// One uncached read of the disk's first page, at an offset (no lseek).
fn read_one(f: &File) -> std::io::Result<()> {
    let mut buf = vec![0u8; 2 * BLOCK];
    let off = buf.as_ptr().align_offset(BLOCK);
    f.read_at(&mut buf[off..off + BLOCK], 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One uncached read of a file on a filesystem that supports O_DIRECT
    /// (/var/tmp, not tmpfs).
    #[test]
    fn reads_one_page_uncached() {
        let d = tempfile::tempdir_in("/var/tmp").unwrap();
        let f = d.path().join("disk");
        std::fs::write(&f, vec![7u8; 3 * BLOCK]).unwrap();
        read_one(&open_direct(&f).unwrap()).unwrap();
        assert!(open_direct(&d.path().join("missing")).is_err());
    }

    /// The loop stops within a tick when asked, also with reads failing.
    #[test]
    fn stops_when_asked() {
        let k = Kick::start(Path::new("/nonexistent/etherd/e9.9"));
        std::thread::sleep(Duration::from_millis(300));
        let t = std::time::Instant::now();
        k.stop();
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "stop took {:?}",
            t.elapsed()
        );
    }
}
