//! How a run ends, owned by one low module so every layer can name it
//! without importing the engine or the CLI (only the step names, from
//! `event`): the one stop flag (set from a
//! signal handler), the two deliberate non-successes (`Refused`,
//! `Interrupted`) and the process exit codes they map to.

use crate::event::StepId;
use std::sync::atomic::{AtomicBool, Ordering};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_INVALID: i32 = 2;
pub const EXIT_REFUSED: i32 = 3;
/// Ctrl-C stopped the run (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Set (e.g. by a SIGINT handler) to stop a run at the next safe point:
/// before the next step starts.
static STOP: AtomicBool = AtomicBool::new(false);

/// Ask the running plan to stop before its next step (async-signal-safe:
/// it only stores an atomic).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The run stopped at a safe point because a stop was requested; running
/// the same plan again resumes it. Holds the step not started.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: stopped before step {0}")]
pub struct Interrupted(pub StepId);

/// A refusal: the run stopped on purpose, before changing anything, for
/// safety (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Bad input found before anything was touched: a plan file that cannot
/// be read, a command-line value that does not parse, a fact `netroot
/// server` needs and was not given (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// The exit code for an error that ended a command: 2 for bad input, 3 for
/// a refusal, 1 for everything else (an interrupted run is a failed one
/// that resumes).
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<Refused>().is_some() {
        EXIT_REFUSED
    } else if e.downcast_ref::<Invalid>().is_some() {
        EXIT_INVALID
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_their_own_code() {
        assert_eq!(exit_code(&Refused("no".into()).into()), EXIT_REFUSED);
        assert_eq!(
            exit_code(&anyhow::Error::new(Refused("no".into())).context("step x")),
            EXIT_REFUSED
        );
        assert_eq!(exit_code(&Interrupted(StepId::Copy).into()), EXIT_FAILED);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), EXIT_FAILED);
        assert_eq!(
            exit_code(&anyhow::Error::new(Invalid("bad".into())).context("plan x")),
            EXIT_INVALID
        );
    }
}
