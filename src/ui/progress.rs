//! One progress event stream, rendered as indicatif bars on a TTY or as
//! JSON lines otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step starts (index is 1-based).
    StepStart {
        step: String,
        index: usize,
        total: usize,
        description: String,
    },
    /// A step ends: status is "done" (already), "ran", "would_run" or "failed".
    StepEnd { step: String, status: String },
    /// Bytes copied so far.
    Bytes {
        step: String,
        done: u64,
        total: u64,
        rate: u64,
    },
    /// A message for people.
    Message { text: String },
}

/// Receives events.
pub trait ProgressSink: Send + Sync {
    fn event(&self, e: &Event);
}

/// Drops everything.
pub struct NullSink;
impl ProgressSink for NullSink {
    fn event(&self, _e: &Event) {}
}

/// One JSON object per line on stdout.
pub struct JsonLines;
impl ProgressSink for JsonLines {
    fn event(&self, e: &Event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
        let _ = out.flush();
    }
}

/// Collects events (tests).
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Event>>);
impl ProgressSink for Collect {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

/// indicatif bars: one over the steps; under it, for the running step, a
/// spinner (steps without byte progress: initramfs, GRUB, mkfs) that turns
/// into a byte bar with rate and ETA when the step reports bytes (copy).
pub struct Bars {
    multi: MultiProgress,
    steps: ProgressBar,
    current: Mutex<Option<(String, ProgressBar)>>,
    bytes_seen: Mutex<bool>,
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
        }
    }

    /// The step running now (the last one started and not ended).
    pub fn current_step(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap()
            .as_ref()
            .map(|(s, _)| s.clone())
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
                self.steps.set_message(step.clone());
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(spinner_style());
                b.set_message(format!("{step}: {description}"));
                b.enable_steady_tick(Duration::from_millis(120));
                *self.bytes_seen.lock().unwrap() = false;
                if let Some((_, old)) = self.current.lock().unwrap().replace((step.clone(), b)) {
                    old.finish_and_clear();
                }
            }
            Event::StepEnd { step, status } => {
                if let Some((_, b)) = self.current.lock().unwrap().take() {
                    b.finish_and_clear();
                }
                self.steps.inc(1);
                let mark = match status.as_str() {
                    "failed" => "x",
                    "done" => "=",
                    _ => "+",
                };
                let _ = self.multi.println(format!("  {mark} {step:<11} {status}"));
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
                        b.set_message(step.clone());
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

    #[test]
    fn bars_follow_steps_and_bytes() {
        let b = Bars::with_target(ProgressDrawTarget::hidden());
        b.event(&Event::StepStart {
            step: "copy".into(),
            index: 6,
            total: 10,
            description: "copy the system".into(),
        });
        assert_eq!(b.current_step().as_deref(), Some("copy"));
        b.event(&Event::Bytes {
            step: "copy".into(),
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
            step: "copy".into(),
            status: "ran".into(),
        });
        assert_eq!(b.current_step(), None);
        assert_eq!(b.steps.position(), 6);
        assert_eq!(b.steps.length(), Some(10));
    }
}
