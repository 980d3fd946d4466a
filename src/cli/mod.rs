//! Command-line interface: parsing and dispatch. Logic lives in the library.
//!
//! This file dispatches; the clap declarations are in `args.rs` (re-exported
//! here), the log setup in `logging.rs`.

mod args;
pub mod logging;

pub use args::{
    BootMethodChoice, Cli, Command, DhcpChoice, DiscoverCommand, EfiChoice, Format,
    IscsiTargetChoice, MigrateArgs, PlanCommand, ProgressChoice, ServerApplyArgs, ServerArgs,
    ServerCommand, ServerCommonArgs, ServerGenArgs, StateArgs, ValidateFor, WizardArgs,
};

use crate::engine::{self, RunOptions};
use crate::event::{Event, JsonLines, NullSink, ProgressSink, RunEnded, StepId};
pub use crate::outcome::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED};
use crate::plan::{self, PlanErrors};
use crate::server;
use crate::ui::progress::Bars;
use anyhow::Result;
use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// The wizard's default log file: DIR/netroot-wizard.log.
fn wizard_log_file(out: &std::path::Path) -> PathBuf {
    let out = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(out)
    };
    out.join("netroot-wizard.log")
}

fn wizard(args: &WizardArgs, log_file: Option<PathBuf>) -> Result<i32> {
    crate::ui::wizard::run(crate::ui::wizard::WizardOptions {
        out: args.out.clone(),
        log_file,
        stop_after: args.stop_after,
    })
}

/// The wizard runs for `netroot wizard`, and for bare `netroot` on a TTY;
/// returns its output directory.
fn wants_wizard(cli: &Cli) -> Option<PathBuf> {
    // Without a terminal the wizard only refuses: no log file for that.
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return None;
    }
    match &cli.command {
        Some(Command::Wizard(a)) => Some(a.out.clone()),
        None => Some(WizardArgs::default().out),
        _ => None,
    }
}

/// `netroot discover aoe|iscsi`: list what answers, as a table or JSON.
fn discover(what: DiscoverCommand) -> Result<i32> {
    use crate::transport::{self, HostPaths};
    let runner = crate::tools::Runner::real();
    let paths = HostPaths::default();
    match what {
        DiscoverCommand::Aoe {
            interface,
            wait,
            format,
        } => {
            let devs = transport::aoe::discover(
                &runner,
                &paths,
                interface.as_deref(),
                std::time::Duration::from_secs(wait),
            )?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"transport": "aoe", "devices": devs})
                    )?
                ),
                Format::Text => print!("{}", transport::aoe::render_table(&devs)),
            }
        }
        DiscoverCommand::Iscsi { portal, format } => {
            let portal: crate::plan::Portal = portal
                .parse()
                .map_err(|e| crate::outcome::Invalid(format!("--portal: {e}")))?;
            let l = transport::iscsi::discover(&runner, &paths, &portal)?;
            match format {
                Format::Json => {
                    let mut v = serde_json::to_value(&l)?;
                    v["transport"] = "iscsi".into();
                    println!("{}", serde_json::to_string_pretty(&v)?)
                }
                Format::Text => print!("{}", transport::iscsi::render_table(&l)),
            }
        }
    }
    Ok(EXIT_OK)
}

/// `netroot status` as text: a one-line summary, then each step (the
/// steps every run repeats say so instead of "pending"), then where the
/// journal is and how to start over.
fn status_text(p: &plan::Plan, opts: &RunOptions, st: &[(StepId, Option<String>)]) -> String {
    let every_run: Vec<StepId> = crate::steps::all()
        .iter()
        .filter(|s| s.kind() == crate::engine::StepKind::EveryRun)
        .map(|s| s.id())
        .collect();
    let recorded: Vec<&(StepId, Option<String>)> = st
        .iter()
        .filter(|(id, _)| !every_run.contains(id))
        .collect();
    let done = recorded.iter().filter(|(_, t)| t.is_some()).count();
    let journal = engine::journal::journal_path(&opts.state_dir, p);
    let mut out = String::new();
    let summary = if !journal.exists() {
        "no journal yet: nothing has run for this target (start with `netroot migrate --plan FILE --dry-run`)".to_string()
    } else if done == recorded.len() {
        let last = engine::journal::read(&journal)
            .ok()
            .flatten()
            .and_then(|d| d.last_resync);
        match last {
            Some(t) => format!(
                "finished; last final sync at {t}; running the plan again changes nothing \
                 (another final sync: `netroot migrate --plan FILE --resync --yes`)"
            ),
            None => {
                "finished: every step is done; running the plan again changes nothing".to_string()
            }
        }
    } else {
        let next = recorded
            .iter()
            .find(|(_, t)| t.is_none())
            .map(|(id, _)| id.as_str())
            .unwrap_or("?");
        format!(
            "{done} of {} steps done; the next run resumes at {next} (`netroot migrate --plan FILE --yes`)",
            recorded.len()
        )
    };
    out.push_str(&format!("{summary}\n"));
    out.push_str(&format!("target {}\n", engine::describe_target(p)));
    for (id, t) in st {
        let what = match t {
            Some(t) => format!("finished {t}"),
            None if every_run.contains(id) => {
                "every run (repeated by each run, not recorded)".to_string()
            }
            None => "pending".to_string(),
        };
        out.push_str(&format!("  {:<11} {what}\n", id.as_str()));
    }
    if journal.exists() {
        out.push_str(&format!(
            "journal {} (to start over: remove it; netroot then probes the disk again)\n",
            journal.display()
        ));
    }
    out
}

/// Print recorded actions of a dry run (file contents already redacted).
fn print_actions(actions: &[crate::tools::Action]) {
    use crate::tools::Action;
    for a in actions {
        match a {
            Action::Command { argv, .. } => {
                let line: Vec<String> = argv
                    .iter()
                    .map(|x| crate::tools::cmd::shell_quote(x))
                    .collect();
                println!("would run: {}", line.join(" "));
            }
            Action::WriteFile {
                path,
                contents,
                mode,
            } => {
                println!("would write {path} (mode {mode:04o}):");
                for l in contents.lines() {
                    println!("    | {l}");
                }
            }
            Action::Effect { what, .. } => println!("would: {what}"),
        }
    }
}

/// Bad input, kept as an error chain (plan errors keep their own type and
/// exit code).
fn invalid(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<PlanErrors>().is_some()
        || e.downcast_ref::<crate::outcome::Invalid>().is_some()
    {
        return e;
    }
    anyhow::Error::new(crate::outcome::Invalid(format!("{e:#}")))
}

fn run_server(a: ServerArgs) -> Result<i32> {
    use crate::tools::Runner;
    match a.command {
        None => {
            let c = &a.gen.common;
            let Some(out) = &a.gen.out else {
                anyhow::bail!("--out DIR is required: the directory to write the server files into (or use `netroot server apply`)");
            };
            // Every fact is checked before a file is written: what is
            // missing or wrong is bad input (exit 2).
            let (clients, files) = (|| {
                let opts = c.options()?;
                let clients = crate::server::load_clients(&c.plans()?, &opts)?;
                let files = crate::server::generate(&clients, &opts)?;
                anyhow::Ok((clients, files))
            })()
            .map_err(invalid)?;
            let runner = if c.dry_run {
                Runner::dry()
            } else {
                Runner::real()
            };
            crate::server::write(&runner, &files, out)?;
            if c.format == Format::Json {
                let v = serde_json::json!({
                    "dry_run": c.dry_run,
                    "out": out,
                    "clients": clients.iter().map(|x| &x.name).collect::<Vec<_>>(),
                    "files": files.iter().map(|f| serde_json::json!({
                        "path": f.rel_path,
                        "install_to": f.install_to,
                        "mode": format!("{:04o}", f.mode),
                        "what": f.what,
                    })).collect::<Vec<_>>(),
                    "actions": runner.take_actions(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if c.dry_run {
                print_actions(&runner.take_actions());
                println!("dry run: nothing written");
            } else {
                println!(
                    "wrote {} files for {} client(s) to {}; read {}",
                    files.len(),
                    clients.len(),
                    out.display(),
                    out.join("README.txt").display()
                );
            }
            Ok(EXIT_OK)
        }
        Some(ServerCommand::Apply(ap)) => {
            let c = &ap.common;
            let aopts = crate::server::ApplyOptions {
                root: ap.root.clone(),
                dhcp: match ap.dhcp {
                    DhcpChoice::Dnsmasq => crate::server::DhcpServer::Dnsmasq,
                    DhcpChoice::Isc => crate::server::DhcpServer::Isc,
                    DhcpChoice::None => crate::server::DhcpServer::None,
                },
                iscsi: match ap.iscsi_target {
                    IscsiTargetChoice::Tgt => crate::server::IscsiTarget::Tgt,
                    IscsiTargetChoice::Lio => crate::server::IscsiTarget::Lio,
                },
                configfs: PathBuf::from(crate::server::lio::CONFIGFS),
            };
            let real_root = aopts.root == std::path::Path::new("/");
            // What is missing or wrong is bad input (exit 2), found before
            // any change: the plans, the server facts (on the server itself
            // its address and NIC are read from `ip addr`), every file.
            let (clients, files, opts, detected) = (|| {
                let mut opts = c.options()?;
                let plans = c.plans()?;
                if opts.dhcp_proxy && aopts.dhcp != crate::server::DhcpServer::Dnsmasq {
                    anyhow::bail!("--dhcp-proxy needs --dhcp dnsmasq: ISC dhcpd has no proxy mode");
                }
                let mut detected = None;
                if real_root {
                    let out = anyhow::Context::context(
                        Runner::real().query(&crate::tools::ip::addr_json()),
                        "reading this server's addresses (ip -j -4 addr show)",
                    )?;
                    let local = crate::host::ipaddr::parse(&out.stdout)?;
                    let refs: Vec<&crate::plan::Plan> = plans.iter().map(|(_, p)| p).collect();
                    let portals = crate::server::detect::plan_portals(&refs);
                    detected = crate::server::detect::fill_from_local(&mut opts, &portals, &local)?;
                }
                let clients = crate::server::load_clients(&plans, &opts)?;
                let files = crate::server::generate(&clients, &opts)?;
                crate::server::apply::check(&clients, &aopts)?;
                anyhow::Ok((clients, files, opts, detected))
            })()
            .map_err(invalid)?;
            let runner = if c.dry_run {
                Runner::dry()
            } else {
                Runner::real()
            };
            let rep = crate::server::apply(&runner, &clients, &files, &opts, &aopts)?;
            if c.format == Format::Json {
                let v = serde_json::json!({
                    "dry_run": c.dry_run,
                    "detected": detected,
                    "report": rep.lines,
                    "actions": runner.take_actions(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(EXIT_OK);
            }
            if c.dry_run {
                print_actions(&runner.take_actions());
                println!("summary (dry run, nothing changed):");
            }
            for l in detected.iter().chain(&rep.lines) {
                println!("{l}");
            }
            Ok(EXIT_OK)
        }
    }
}

/// The whole command line as a clap `Command`: what `--help` prints, and
/// what the man pages and shell completions are generated from
/// (tests/generated_docs.rs), so they cannot drift from the binary.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Entry point: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            };
        }
    };
    let mut cli = cli;
    // The wizard always logs to a file (in its --out directory by default).
    if cli.log_file.is_none() {
        if let Some(w) = wants_wizard(&cli) {
            cli.log_file = Some(wizard_log_file(&w));
        }
    }
    let _guard = logging::init(cli.verbose, cli.quiet, cli.log_file.as_deref());
    // Commands that only report die quietly when their reader goes away
    // (`netroot server --dry-run | head`), as shell tools do. A migration
    // keeps SIGPIPE ignored: a closed pipe must not kill it between two
    // steps of a run.
    if !matches!(
        cli.command,
        Some(Command::Migrate(_)) | Some(Command::Wizard(_)) | None
    ) {
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
    let json = wants_json(&cli);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code_of(&e);
            if json {
                println!("{}", error_json(&e, code));
            }
            if let Some(pe) = e.downcast_ref::<PlanErrors>() {
                eprintln!("netroot: {:#}", e.to_string().lines().next().unwrap_or(""));
                eprint!("{pe}");
            } else {
                eprintln!("netroot: error: {e:#}");
            }
            code
        }
    }
}

/// The exit code of a failed command (the table in `--help`).
fn exit_code_of(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<PlanErrors>().is_some() {
        EXIT_INVALID
    } else {
        crate::outcome::exit_code(e)
    }
}

/// Whether the command asked for `--format json`: its errors then come as
/// JSON on stdout too, so a script reads one format whatever happens.
fn wants_json(cli: &Cli) -> bool {
    let f = match &cli.command {
        Some(Command::Migrate(a)) => a.format,
        Some(Command::Status { format, .. }) => *format,
        Some(Command::Plan(PlanCommand::Validate { format, .. })) => *format,
        Some(Command::Discover {
            what: DiscoverCommand::Aoe { format, .. } | DiscoverCommand::Iscsi { format, .. },
        }) => *format,
        Some(Command::Server(a)) => a.format(),
        _ => Format::Text,
    };
    f == Format::Json
}

/// `{"error": {"message", "exit_code", "errors": [{"path", "message"}]}}`:
/// `errors` lists a plan's field errors (empty for other failures).
fn error_json(e: &anyhow::Error, code: i32) -> String {
    let fields: Vec<serde_json::Value> = e
        .downcast_ref::<PlanErrors>()
        .map(|pe| {
            pe.0.iter()
                .map(|x| serde_json::json!({"path": x.path, "message": x.message}))
                .collect()
        })
        .unwrap_or_default();
    let message = match e.downcast_ref::<PlanErrors>() {
        Some(_) => e.to_string().lines().next().unwrap_or("").to_string(),
        None => format!("{e:#}"),
    };
    serde_json::to_string_pretty(&serde_json::json!({
        "error": {"message": message, "exit_code": code, "errors": fields}
    }))
    .unwrap_or_default()
}

/// Where a migration's progress goes (`--progress`, `--progress-fd`).
/// Never stdout: that is the report's.
fn progress_sink(a: &MigrateArgs) -> Result<Arc<dyn ProgressSink>> {
    let json = match (a.progress, a.progress_fd) {
        (ProgressChoice::Bars | ProgressChoice::None, Some(_)) => {
            return Err(crate::outcome::Invalid(format!(
                "--progress-fd writes the JSON event stream; it cannot go with --progress {}",
                if a.progress == ProgressChoice::Bars {
                    "bars"
                } else {
                    "none"
                }
            ))
            .into())
        }
        (_, Some(fd)) => Some(JsonLines::to(Box::new(open_fd(fd)?))),
        (ProgressChoice::Json, None) => Some(JsonLines::stderr()),
        _ => None,
    };
    if let Some(j) = json {
        return Ok(Arc::new(j));
    }
    let bars = match a.progress {
        ProgressChoice::Bars => true,
        ProgressChoice::Auto => {
            !a.dry_run && a.format == Format::Text && std::io::stderr().is_terminal()
        }
        _ => false,
    };
    Ok(if bars {
        Arc::new(Bars::new())
    } else {
        Arc::new(NullSink)
    })
}

/// The file descriptor `fd` the caller opened for us (`3>run.jsonl`),
/// opened again through /proc for appending, so no unsafe fd handling.
fn open_fd(fd: u32) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{fd}"))
        .map_err(|e| {
            crate::outcome::Invalid(format!(
                "--progress-fd {fd}: file descriptor {fd} is not open for writing ({e}); open it in the shell, e.g. `{fd}>run.jsonl`"
            ))
            .into()
        })
}

/// `netroot migrate`: the run between a start and an end event.
fn migrate(a: MigrateArgs, log_file: Option<PathBuf>) -> Result<i32> {
    let sink = progress_sink(&a)?;
    let started = std::time::Instant::now();
    sink.event(&Event::Start {
        netroot_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: a.plan.display().to_string(),
        dry_run: a.dry_run,
    });
    crate::event::route_warnings(Some(sink.clone()));
    let result = (|| {
        let p = plan::load_plan_here(&a.plan)?;
        let opts = RunOptions {
            dry_run: a.dry_run,
            yes: a.yes,
            state_dir: a.state.state_dir.clone(),
            work_dir: a.work_dir.clone(),
            stop_after: a.stop_after,
            log_file,
            plan_file: Some(a.plan.clone()),
            resync: a.resync,
            stop_services: a.stop_service.clone(),
            ..RunOptions::default()
        };
        crate::steps::run_plan(p, opts, sink.clone())
    })();
    crate::event::route_warnings(None);
    let (status, exit_code, error) = match &result {
        Ok(_) => (RunEnded::Ok, EXIT_OK, None),
        Err(e) => (RunEnded::Failed, exit_code_of(e), Some(format!("{e:#}"))),
    };
    sink.event(&Event::End {
        status,
        exit_code,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    let report = result?;
    match a.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text()),
    }
    Ok(EXIT_OK)
}

fn dispatch(cli: Cli) -> Result<i32> {
    let Some(command) = cli.command else {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return wizard(&WizardArgs::default(), cli.log_file.clone());
        }
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(EXIT_INVALID);
    };
    match command {
        Command::Plan(PlanCommand::Schema { events }) => {
            if events {
                println!("{}", crate::event::events_schema_pretty());
            } else {
                println!("{}", plan::schema::plan_schema_pretty());
            }
            Ok(EXIT_OK)
        }
        Command::Plan(PlanCommand::Validate {
            file,
            plan: flag,
            for_,
            format,
        }) => {
            let file = file.or(flag).expect("clap requires one");
            let p = plan::load_plan_here(&file)?;
            if for_ == ValidateFor::Server {
                server::model::check_plan_for_server(&file, &p).map_err(|e| {
                    crate::outcome::Invalid(format!("plan {}: {e:#}", file.display()))
                })?;
            }
            if format == Format::Json {
                let v = serde_json::json!({
                    "valid": true,
                    "file": file,
                    "version": p.version,
                    "source": p.source.describe(),
                    "target": engine::describe_target(&p),
                    "checked_for": match for_ {
                        ValidateFor::Migrate => "migrate",
                        ValidateFor::Server => "server",
                    },
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(EXIT_OK);
            }
            println!(
                "{}: valid plan (version {}), {} → {}",
                file.display(),
                p.version,
                p.source.describe(),
                engine::describe_target(&p)
            );
            Ok(EXIT_OK)
        }
        Command::Migrate(a) => migrate(a, cli.log_file.clone()),
        Command::Status {
            plan: file,
            state,
            format,
        } => {
            let p = plan::load_plan(&file)?;
            let opts = RunOptions {
                state_dir: state.state_dir,
                ..RunOptions::default()
            };
            let st = engine::status(&p, &opts)?;
            match format {
                Format::Json => {
                    let v: Vec<_> = st
                        .iter()
                        .map(|(id, t)| serde_json::json!({"step": id, "finished": t}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                Format::Text => print!("{}", status_text(&p, &opts, &st)),
            }
            Ok(EXIT_OK)
        }
        Command::Discover { what } => discover(what),
        Command::Server(a) => run_server(*a),
        Command::Wizard(a) => wizard(&a, cli.log_file.clone()),
    }
}
