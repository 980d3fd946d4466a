//! Typed wrapper for `lsblk` (see tools::cmd for the runner).
