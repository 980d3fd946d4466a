//! Typed wrapper for `debootstrap` (see tools::cmd for the runner).
