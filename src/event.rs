//! The events a run reports while it works, as typed values with a stream
//! version, and the sink trait that receives them. Lives below the engine so
//! the engine, the steps and the transports can report progress without
//! knowing who draws it (indicatif bars in `ui`, JSON lines, nothing).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::sync::Mutex;

/// Version of the JSON-lines event stream (`"v"` in each line). Raised when a
/// field changes meaning or goes away; adding a field keeps it.
pub const EVENT_VERSION: u32 = 1;

/// The steps of a migration, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

/// How a whole run ended (the `end` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunEnded {
    /// Every step is done (or, in a dry run, reported).
    Ok,
    /// A step or command failed, or the run was refused or interrupted;
    /// `error` says which and `exit_code` is the process's exit code.
    Failed,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run starts: first line of every stream.
    Start {
        /// netroot's version (`netroot --version`).
        netroot_version: String,
        /// The plan file, as given on the command line.
        plan: String,
        dry_run: bool,
    },
    /// A step starts (index is 1-based).
    StepStart {
        step: StepId,
        index: usize,
        total: usize,
        description: String,
    },
    /// A step ends: also when it fails (then the run's `end` follows).
    StepEnd {
        step: StepId,
        status: StepEnded,
        /// Milliseconds from the step's start to its end (probe included).
        #[serde(default)]
        duration_ms: u64,
    },
    /// Bytes copied so far.
    Bytes {
        step: StepId,
        done: u64,
        total: u64,
        /// Bytes per second, as the copy measures it.
        rate: u64,
    },
    /// A message for people.
    Message { text: String },
    /// A warning (what stderr shows as `netroot: warning: …`).
    Warning { text: String },
    /// The run ends: last line of every stream.
    End {
        status: RunEnded,
        /// The process's exit code (the table in `netroot --help`).
        exit_code: i32,
        /// The error, as stderr shows it, when the run failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Milliseconds from the start event.
        duration_ms: u64,
    },
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

/// One line of the JSON event stream: the version, the time, then the event.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Line {
    /// The stream's version ([`EVENT_VERSION`]): raised when a field changes
    /// meaning or goes away; a new field or event keeps it.
    pub v: u32,
    /// When: milliseconds since the Unix epoch.
    pub ts: u64,
    #[serde(flatten)]
    pub event: Event,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The JSON line for one event (`{"v":1,"ts":…,"event":"step_start",…}`).
pub fn json_line(e: &Event) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        v: u32,
        ts: u64,
        #[serde(flatten)]
        event: &'a Event,
    }
    serde_json::to_string(&Out {
        v: EVENT_VERSION,
        ts: now_ms(),
        event: e,
    })
    .unwrap_or_default()
}

/// The JSON Schema of one event line, as `netroot plan schema --events`
/// prints it.
pub fn events_schema_pretty() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(Line)).expect("schema serialises")
}

/// One JSON object per line, written to stderr or a file descriptor the
/// caller opened (`--progress-fd`): never to stdout, which holds the
/// report.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Lines on stderr.
    pub fn stderr() -> Self {
        Self::to(Box::new(std::io::stderr()))
    }
    /// Lines on `w`.
    pub fn to(w: Box<dyn Write + Send>) -> Self {
        JsonLines { out: Mutex::new(w) }
    }
}

impl ProgressSink for JsonLines {
    fn event(&self, e: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", json_line(e));
        let _ = out.flush();
    }
}

/// Warnings (tracing's WARN events) go to the run's stream too: the
/// logging layer calls [`warning`], which forwards to the sink set here for
/// the run's life.
static WARNINGS: Mutex<Option<std::sync::Arc<dyn ProgressSink>>> = Mutex::new(None);

/// Send warnings to `sink` (None: stop).
pub fn route_warnings(sink: Option<std::sync::Arc<dyn ProgressSink>>) {
    *WARNINGS.lock().unwrap_or_else(|p| p.into_inner()) = sink;
}

/// A warning happened: to the run's stream, if one is set.
pub fn warning(text: &str) {
    let sink = WARNINGS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(s) = sink {
        s.event(&Event::Warning {
            text: text.to_string(),
        });
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
        let e = Event::StepEnd {
            step: StepId::Copy,
            status: StepEnded::WouldRun,
            duration_ms: 12,
        };
        let l = json_line(&e);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["v"], 1, "{l}");
        assert!(v["ts"].as_u64().unwrap() > 1_700_000_000_000, "{l}");
        assert!(
            l.ends_with(
                r#""event":"step_end","step":"copy","status":"would_run","duration_ms":12}"#
            ),
            "{l}"
        );
        let back: Line = serde_json::from_str(&l).unwrap();
        assert_eq!(back.v, EVENT_VERSION);
        assert_eq!(back.event, e);
    }

    #[test]
    fn step_names_round_trip() {
        for id in StepId::ALL {
            assert_eq!(StepId::parse(id.as_str()), Some(id));
        }
        assert_eq!(StepId::parse("nope"), None);
    }
}
