//! Typed wrapper for `mkfs` (see tools::cmd for the runner).
