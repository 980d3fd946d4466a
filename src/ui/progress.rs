//! The progress event stream drawn for people: indicatif bars on a TTY.
//! The events and the other sinks (JSON lines, null, collect) live in
//! `crate::event`, below the engine.

pub use crate::event::{Collect, Event, JsonLines, NullSink, ProgressSink, StepEnded};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

/// indicatif bars: one over the steps; under it, for the running step, a
/// spinner (steps without byte progress: initramfs, GRUB, mkfs) that turns
/// into a byte bar with rate and ETA when the step reports bytes (copy).
pub struct Bars {
    multi: MultiProgress,
    steps: ProgressBar,
    current: Mutex<Option<(String, ProgressBar)>>,
    bytes_seen: Mutex<bool>,
    /// The step that ended failed (the run stopped in it).
    failed: Mutex<Option<String>>,
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("    {spinner} {wide_msg} {elapsed}")
        .unwrap()
        .tick_chars("|/-\\ ")
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "    {msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap()
    .progress_chars("=> ")
}

impl Bars {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// Bars drawn on `target` (hidden in tests).
    pub fn with_target(target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let steps = multi.add(ProgressBar::new(0));
        steps.set_style(
            ProgressStyle::with_template("  steps [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap()
                .progress_chars("=> "),
        );
        Bars {
            multi,
            steps,
            current: Mutex::new(None),
            bytes_seen: Mutex::new(false),
            failed: Mutex::new(None),
        }
    }

    /// The step running now (the last one started and not ended).
    pub fn current_step(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap()
            .as_ref()
            .map(|(s, _)| s.clone())
            .or_else(|| self.failed.lock().unwrap().clone())
    }

    /// Remove the bars from the screen (before printing a report).
    pub fn finish(&self) {
        if let Some((_, b)) = self.current.lock().unwrap().take() {
            b.finish_and_clear();
        }
        self.steps.finish_and_clear();
    }
}

impl ProgressSink for Bars {
    fn event(&self, e: &Event) {
        match e {
            Event::StepStart {
                step,
                index,
                total,
                description,
            } => {
                self.steps.set_length(*total as u64);
                self.steps.set_position(index.saturating_sub(1) as u64);
                self.steps.set_message(step.to_string());
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(spinner_style());
                b.set_message(format!("{step}: {description}"));
                b.enable_steady_tick(Duration::from_millis(120));
                *self.bytes_seen.lock().unwrap() = false;
                if let Some((_, old)) = self.current.lock().unwrap().replace((step.to_string(), b))
                {
                    old.finish_and_clear();
                }
            }
            Event::StepEnd { step, status, .. } => {
                if let Some((_, b)) = self.current.lock().unwrap().take() {
                    b.finish_and_clear();
                }
                if *status == StepEnded::Failed {
                    *self.failed.lock().unwrap() = Some(step.to_string());
                }
                self.steps.inc(1);
                let mark = match status {
                    StepEnded::Failed => "x",
                    StepEnded::Done => "=",
                    StepEnded::Ran | StepEnded::WouldRun => "+",
                };
                let text = status.as_str().replace('_', " ");
                let _ = self
                    .multi
                    .println(format!("  {mark} {:<11} {text}", step.as_str()));
            }
            Event::Bytes {
                step, done, total, ..
            } => {
                let g = self.current.lock().unwrap();
                if let Some((_, b)) = g.as_ref() {
                    let mut seen = self.bytes_seen.lock().unwrap();
                    if !*seen {
                        *seen = true;
                        b.disable_steady_tick();
                        b.set_style(bytes_style());
                        b.set_message(step.to_string());
                        b.reset_elapsed();
                        b.reset_eta();
                    }
                    b.set_length((*total).max(*done));
                    b.set_position(*done);
                }
            }
            Event::Message { text } => {
                let _ = self.multi.println(format!("    {text}"));
            }
            // Warnings reach stderr through the log; start and end frame
            // the stream for programs.
            Event::Warning { .. } | Event::Start { .. } | Event::End { .. } => {}
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::StepId;

    #[test]
    fn bars_follow_steps_and_bytes() {
        let b = Bars::with_target(ProgressDrawTarget::hidden());
        b.event(&Event::StepStart {
            step: StepId::Copy,
            index: 6,
            total: 10,
            description: "copy the system".into(),
        });
        assert_eq!(b.current_step().as_deref(), Some("copy"));
        b.event(&Event::Bytes {
            step: StepId::Copy,
            done: 10,
            total: 100,
            rate: 1,
        });
        {
            let g = b.current.lock().unwrap();
            let bar = &g.as_ref().unwrap().1;
            assert_eq!(bar.length(), Some(100));
            assert_eq!(bar.position(), 10);
        }
        b.event(&Event::StepEnd {
            step: StepId::Copy,
            status: StepEnded::Ran,
            duration_ms: 5,
        });
        assert_eq!(b.current_step(), None);
        assert_eq!(b.steps.position(), 6);
        assert_eq!(b.steps.length(), Some(10));
        // A failed step stays the one the run stopped in (the wizard's
        // "stopped during step …").
        b.event(&Event::StepEnd {
            step: StepId::Fstab,
            status: StepEnded::Failed,
            duration_ms: 1,
        });
        assert_eq!(b.current_step().as_deref(), Some("fstab"));
    }
}
