//! The interactive wizard (`netroot wizard`, or bare `netroot` on a TTY).
//!
//! It probes this machine ([`super::probe`]), asks with dialoguer
//! ([`ask`]), builds a plan from the answers with the pure [`answers::build_plan`],
//! shows the dry run, asks the person to type the target's identity, saves
//! the plan, and runs the engine with progress bars. Ctrl-C stops the run
//! at a safe point and prints the command that resumes it.

pub mod answers;
pub mod ask;
pub mod flow;

pub use answers::*;
pub use flow::run;
