//! tracing setup: stderr at the chosen level, plus a debug log file.

use std::path::Path;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

pub struct LogGuard;

pub fn init(verbose: u8, quiet: bool, file: Option<&Path>) -> LogGuard {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let stderr_filter =
        EnvFilter::try_from_env("NETROOT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs piped to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(stderr_filter);
    let file_layer = file.and_then(|p| {
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("netroot: cannot open log file {}: {e}", p.display()))
            .ok()
            .map(|f| {
                fmt::layer()
                    .with_writer(std::sync::Mutex::new(f))
                    .with_ansi(false)
                    .with_filter(EnvFilter::new("debug"))
            })
    });
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    LogGuard
}
