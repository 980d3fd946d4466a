//! External programs, each behind one typed wrapper. All run through
//! [`cmd::Runner`].

pub mod cmd;

pub use cmd::{Action, Cmd, Output, Runner};
