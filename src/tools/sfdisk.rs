//! Typed wrapper for `sfdisk` (see tools::cmd for the runner).
