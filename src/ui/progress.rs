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

/// indicatif bars: one over the steps, a byte bar for copies, a spinner
/// for long single commands.
pub struct Bars {
    multi: MultiProgress,
    steps: ProgressBar,
    bytes: Mutex<Option<ProgressBar>>,
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let steps = multi.add(ProgressBar::new(0));
        steps.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}").unwrap(),
        );
        steps.enable_steady_tick(Duration::from_millis(200));
        Bars {
            multi,
            steps,
            bytes: Mutex::new(None),
        }
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
                self.steps.set_message(format!("{step}: {description}"));
            }
            Event::StepEnd { step, status } => {
                if let Some(b) = self.bytes.lock().unwrap().take() {
                    b.finish_and_clear();
                }
                self.steps.inc(1);
                let _ = self.multi.println(format!("  {step:<11} {status}"));
            }
            Event::Bytes { done, total, .. } => {
                let mut g = self.bytes.lock().unwrap();
                let b = g.get_or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(*total));
                    b.set_style(
                        ProgressStyle::with_template(
                            "    {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                        )
                        .unwrap(),
                    );
                    b
                });
                b.set_length((*total).max(*done));
                b.set_position(*done);
            }
            Event::Message { text } => {
                let _ = self.multi.println(format!("    {text}"));
            }
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.steps.finish_and_clear();
    }
}
