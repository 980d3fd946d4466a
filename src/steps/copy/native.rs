//! Which copier runs a transfer, and the run of the native one
//! (`system::copytree`): a first copy onto an empty target filesystem.
//! rsync keeps what it does best: a resumed copy compares contents
//! (--checksum), a final sync sends deltas and deletes, and FAT targets
//! take rsync's -rtD with FAT's own rules.
//!
//! Why apart from the step: the choice is pure (tested here), and the
//! native run turns the copier's counters into the same byte events as
//! rsync's progress lines.

use crate::engine::Ctx;
use crate::event::Event;
use crate::system::copytree::{self, Counters, Filter, Job};
use crate::tools::rsync::Transfer;
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The native copier's filter for `t`, or why rsync runs it.
pub(super) fn choose(t: &Transfer, resync: bool) -> std::result::Result<Filter, String> {
    if resync {
        return Err("a final sync: rsync sends what changed and deletes what went".into());
    }
    if t.checksum {
        return Err("the target holds an earlier run's files: rsync compares contents".into());
    }
    if t.fat {
        return Err("a FAT target: rsync -rtD with FAT's rules".into());
    }
    Filter::new(&t.excludes)
}

/// Worker threads: the copy waits on the disk as much as on the CPU.
fn threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 2).clamp(4, 16)
}

/// The copier's entries, its counters turned into byte events every
/// 250 ms; None in a dry run.
fn copy_entries(
    ctx: &Ctx,
    what: &str,
    job: &Job,
    counters: &Counters,
    base: u64,
) -> Result<Option<copytree::Copied>> {
    ctx.runner.effect(what, false, || {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let h = s.spawn(|| copytree::copy(job, counters));
            s.spawn(|| flusher(job.dst, counters, &done));
            let mut last = 0;
            while !h.is_finished() {
                std::thread::sleep(Duration::from_millis(250));
                let b = counters.bytes.load(Ordering::Relaxed);
                ctx.emit(Event::Bytes {
                    step: crate::event::StepId::Copy,
                    done: base + b,
                    total: base + b,
                    rate: (b - last) * 4,
                });
                last = b;
            }
            done.store(true, Ordering::Relaxed);
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the copier thread panicked")))
        })
    })
}

/// Data written since the last flush that starts the next one.
const FLUSH_EVERY: u64 = 64 << 20;

/// While the workers copy, write what they copied out to the disk:
/// syncfs on the target each time FLUSH_EVERY more bytes were copied.
/// Without it every byte waits in the page cache for the step's final
/// syncfs (the kernel's own writeback starts at 10 % of memory), and
/// that flush then runs alone after the copy; here it runs beside it,
/// on another CPU, and the final syncfs has little left. An error shows
/// at the final syncfs.
fn flusher(dst: &std::path::Path, counters: &Counters, done: &std::sync::atomic::AtomicBool) {
    let Ok(dir) = std::fs::File::open(dst) else {
        return;
    };
    let mut flushed = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let b = counters.bytes.load(Ordering::Relaxed);
        if b - flushed >= FLUSH_EVERY {
            let _ = nix::unistd::syncfs(&dir);
            flushed = b;
        }
    }
}

/// Wall and CPU seconds since it started, for the copier's debug timings.
struct Clock(std::time::Instant, f64);

impl Clock {
    fn start() -> Clock {
        Clock(std::time::Instant::now(), cpu_seconds())
    }

    fn read(&self) -> (f64, f64) {
        (self.0.elapsed().as_secs_f64(), cpu_seconds() - self.1)
    }
}

/// The process's CPU time so far (user and system, every thread).
fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) } != 0 {
        return 0.0;
    }
    // SAFETY: filled above (and zeroed before).
    let u = unsafe { u.assume_init() };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

/// Copy transfer `t` with the native copier: its entries (one change),
/// then its directories' metadata (a second change). A run killed
/// between them resumes with rsync --checksum, which completes both.
pub(super) fn run(ctx: &mut Ctx, t: &Transfer, filter: &Filter, finished: &mut u64) -> Result<()> {
    let threads = threads();
    let counters = Counters::default();
    let job = Job {
        src: &t.src,
        dst: &t.dst,
        filter,
        threads,
    };
    let base = *finished;
    // The excludes as rsync's options, so a dry run shows what is left
    // out the same way whichever copier runs.
    let left_out: Vec<String> = t
        .excludes
        .iter()
        .map(|e| format!("--exclude={e}"))
        .collect();
    let what = format!(
        "copying {} to {} with netroot's parallel copier ({threads} threads; a first copy onto an empty filesystem), leaving out {}",
        t.src.display(),
        t.dst.display(),
        left_out.join(" ")
    );
    let clock = Clock::start();
    let copied = copy_entries(ctx, &what, &job, &counters, base)?;
    let Some(copied) = copied else {
        return Ok(()); // A dry run.
    };
    *finished += counters.bytes.load(Ordering::Relaxed);
    let walked = clock.read();
    let vanished = ctx
        .runner
        .effect(
            &format!(
                "setting the directories' owners, modes and times below {}",
                t.dst.display()
            ),
            false,
            || copied.finish(),
        )?
        .unwrap_or_default();
    let all = clock.read();
    tracing::debug!(
        "native copy of {}: entries {:.2} s ({:.2} s CPU), directories' metadata {:.2} s ({:.2} s CPU in all), {threads} threads",
        t.src.display(),
        walked.0,
        walked.1,
        all.0 - walked.0,
        all.1
    );
    ctx.emit(Event::Bytes {
        step: crate::event::StepId::Copy,
        done: *finished,
        total: *finished,
        rate: 0,
    });
    if let Some(first) = vanished.first() {
        if !t.live {
            anyhow::bail!(
                "{} entries of {} vanished while it was copied (first {}): the source must not change during the copy; run the same command again",
                vanished.len(),
                t.src.display(),
                first.display()
            );
        }
        ctx.notes.push(format!(
            "copy: {} files vanished while {} was copied; normal for a running system",
            vanished.len(),
            t.src.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn rsync_resumes_syncs_and_copies_to_fat() {
        let mut t = Transfer {
            src: PathBuf::from("/"),
            dst: PathBuf::from("/t"),
            excludes: vec!["/proc/*".into(), "*.tmp".into()],
            fat: false,
            live: true,
            checksum: false,
        };
        assert!(choose(&t, false).is_ok());
        assert!(choose(&t, true).unwrap_err().contains("final sync"));
        t.checksum = true;
        assert!(choose(&t, false).unwrap_err().contains("earlier run"));
        t.checksum = false;
        t.fat = true;
        assert!(choose(&t, false).unwrap_err().contains("FAT"));
        t.fat = false;
        t.excludes.push("/var/**/cache".into());
        assert!(choose(&t, false).unwrap_err().contains("rsync-only"));
    }
}
