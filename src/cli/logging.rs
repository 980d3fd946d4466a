//! tracing setup: stderr at the chosen level, plus a debug log file.
//!
//! At the default level stderr gets plain sentences (`netroot: warning:
//! …`), no timestamps; `-v` and more get the full log format. Colour only
//! on a terminal and never with `NO_COLOR` set (no-color.org).

use std::path::Path;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::{format, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Whether output may be coloured: a terminal, and no `NO_COLOR`.
pub fn colour_wanted(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `netroot: warning: MESSAGE` — what a user reads at the default level.
struct Sentences;

impl<S, N> FormatEvent<S, N> for Sentences
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: format::Writer<'_>,
        ev: &Event<'_>,
    ) -> std::fmt::Result {
        let level = match *ev.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "note",
            _ => "debug",
        };
        write!(w, "netroot: {level}: ")?;
        ctx.field_format().format_fields(w.by_ref(), ev)?;
        writeln!(w)
    }
}

/// Every WARN event also goes to the run's event stream
/// ([`crate::event::warning`]), when `--progress json` set one.
struct WarningsToStream;

impl<S: Subscriber> Layer<S> for WarningsToStream {
    fn on_event(&self, ev: &Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut m = Message(String::new());
        ev.record(&mut m);
        crate::event::warning(&m.0);
    }
}

/// The `message` field of an event, as its text.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "message" {
            self.0 = v.to_string();
        }
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.0 = format!("{v:?}");
        }
    }
}

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
    let colour = colour_wanted(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if !colour {
        dialoguer::console::set_colors_enabled(false);
        dialoguer::console::set_colors_enabled_stderr(false);
    }
    let stderr_layer = if verbose == 0 {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(Sentences)
            .with_filter(stderr_filter)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .with_filter(stderr_filter)
            .boxed()
    };
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
        .with(WarningsToStream.with_filter(tracing_subscriber::filter::LevelFilter::WARN))
        .try_init();
    LogGuard
}
