//! Typed wrapper for `grub` (see tools::cmd for the runner).
