//! Typed wrapper for `losetup` (see tools::cmd for the runner).
