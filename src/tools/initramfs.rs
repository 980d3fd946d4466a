//! Typed wrapper for `initramfs` (see tools::cmd for the runner).
