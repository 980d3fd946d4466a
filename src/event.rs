//! The events a run reports while it works, as typed values with a stream
//! version, and the sink trait that receives them. Lives below the engine so
//! the engine, the steps and the transports can report progress without
//! knowing who draws it (indicatif bars in `ui`, JSON lines, nothing).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::sync::Mutex;

/// Version of the JSON-lines event stream (`"v"` in each line). Raised when a
/// field changes meaning or goes away; adding a field keeps it.
pub const EVENT_VERSION: u32 = 1;

/// The steps of a migration, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    Discover,
    Preflight,
    Partition,
    Format,
    Mount,
    Copy,
    Fstab,
    Identity,
    Initramfs,
    Bootloader,
    Finalize,
}

impl StepId {
    pub const ALL: [StepId; 11] = [
        StepId::Discover,
        StepId::Preflight,
        StepId::Partition,
        StepId::Format,
        StepId::Mount,
        StepId::Copy,
        StepId::Fstab,
        StepId::Identity,
        StepId::Initramfs,
        StepId::Bootloader,
        StepId::Finalize,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::Discover => "discover",
            StepId::Preflight => "preflight",
            StepId::Partition => "partition",
            StepId::Format => "format",
            StepId::Mount => "mount",
            StepId::Copy => "copy",
            StepId::Fstab => "fstab",
            StepId::Identity => "identity",
            StepId::Initramfs => "initramfs",
            StepId::Bootloader => "bootloader",
            StepId::Finalize => "finalize",
        }
    }
    pub fn parse(s: &str) -> Option<StepId> {
        StepId::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step ended, as the event stream reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEnded {
    /// The probe found it done; nothing changed.
    Done,
    /// It ran in this run.
    Ran,
    /// Dry run: it would run.
    WouldRun,
    /// It failed; the run ends with its error.
    Failed,
}

impl StepEnded {
    pub fn as_str(self) -> &'static str {
        match self {
            StepEnded::Done => "done",
            StepEnded::Ran => "ran",
            StepEnded::WouldRun => "would_run",
            StepEnded::Failed => "failed",
        }
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step starts (index is 1-based).
    StepStart {
        step: StepId,
        index: usize,
        total: usize,
        description: String,
    },
    /// A step ends.
    StepEnd { step: StepId, status: StepEnded },
    /// Bytes copied so far.
    Bytes {
        step: StepId,
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

/// One line of the JSON event stream: the version, then the event.
#[derive(Serialize)]
struct Line<'a> {
    v: u32,
    #[serde(flatten)]
    event: &'a Event,
}

/// The JSON line for one event (`{"v":1,"event":"step_start",…}`).
pub fn json_line(e: &Event) -> String {
    serde_json::to_string(&Line {
        v: EVENT_VERSION,
        event: e,
    })
    .unwrap_or_default()
}

/// One JSON object per line on stdout.
pub struct JsonLines;
impl ProgressSink for JsonLines {
    fn event(&self, e: &Event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", json_line(e));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_the_version_and_typed_fields() {
        let l = json_line(&Event::StepEnd {
            step: StepId::Copy,
            status: StepEnded::WouldRun,
        });
        assert_eq!(
            l,
            r#"{"v":1,"event":"step_end","step":"copy","status":"would_run"}"#
        );
        let back: Event = serde_json::from_str(&l).unwrap();
        assert_eq!(
            back,
            Event::StepEnd {
                step: StepId::Copy,
                status: StepEnded::WouldRun
            }
        );
    }

    #[test]
    fn step_names_round_trip() {
        for id in StepId::ALL {
            assert_eq!(StepId::parse(id.as_str()), Some(id));
        }
        assert_eq!(StepId::parse("nope"), None);
    }
}
