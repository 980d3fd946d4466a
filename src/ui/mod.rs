//! What people see: progress rendering and the interactive wizard.

pub mod probe;
pub mod progress;
pub mod wizard;
