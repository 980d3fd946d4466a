//! What people see: progress rendering and the interactive wizard.

pub mod machine;
pub mod progress;
pub mod wizard;
