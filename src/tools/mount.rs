//! Typed wrapper for `mount` (see tools::cmd for the runner).
