//! Typed wrapper for `iscsiadm` (see tools::cmd for the runner).
