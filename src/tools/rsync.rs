//! Typed wrapper for `rsync` (see tools::cmd for the runner).
