//! Typed wrapper for `blkid` (see tools::cmd for the runner).
