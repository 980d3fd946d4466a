//! Typed wrapper for `aoe` (see tools::cmd for the runner).
