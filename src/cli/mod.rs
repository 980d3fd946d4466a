//! Command-line interface: parsing and dispatch. Logic lives in the library.
//!
//! This file dispatches; the clap declarations are in `args.rs` (re-exported
//! here), the log setup in `logging.rs`.

mod args;
pub mod logging;

pub use args::{
    BootMethodChoice, Cli, Command, DhcpChoice, DiscoverCommand, EfiChoice, Format,
    IscsiTargetChoice, MigrateArgs, PlanCommand, ServerApplyArgs, ServerArgs, ServerCommand,
    ServerCommonArgs, ServerGenArgs, StateArgs, ValidateFor, WizardArgs,
};

use crate::engine::{self, RunOptions};
use crate::event::{JsonLines, NullSink, ProgressSink, StepId};
pub use crate::outcome::{EXIT_FAILED, EXIT_INVALID, EXIT_NOT_IMPLEMENTED, EXIT_OK, EXIT_REFUSED};
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
        "finished: every step is done; running the plan again changes nothing".to_string()
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
            if c.dry_run {
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
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(pe) = e.downcast_ref::<PlanErrors>() {
                eprintln!("netroot: {:#}", e.to_string().lines().next().unwrap_or(""));
                eprint!("{pe}");
                return EXIT_INVALID;
            }
            eprintln!("netroot: error: {e:#}");
            crate::outcome::exit_code(&e)
        }
    }
}

fn progress_sink(dry: bool, format: Format) -> Arc<dyn ProgressSink> {
    if dry || format == Format::Json {
        Arc::new(NullSink)
    } else if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
        Arc::new(Bars::new())
    } else {
        Arc::new(JsonLines)
    }
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
        Command::Plan(PlanCommand::Schema) => {
            println!("{}", plan::schema::plan_schema_pretty());
            Ok(EXIT_OK)
        }
        Command::Plan(PlanCommand::Validate {
            file,
            plan: flag,
            for_,
        }) => {
            let file = file.or(flag).expect("clap requires one");
            let p = plan::load_plan_here(&file)?;
            if for_ == ValidateFor::Server {
                server::model::check_plan_for_server(&file, &p).map_err(|e| {
                    crate::outcome::Invalid(format!("plan {}: {e:#}", file.display()))
                })?;
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
        Command::Migrate(a) => {
            let p = plan::load_plan_here(&a.plan)?;
            let opts = RunOptions {
                dry_run: a.dry_run,
                yes: a.yes,
                state_dir: a.state.state_dir,
                work_dir: a.work_dir,
                stop_after: a.stop_after,
                log_file: cli.log_file.clone(),
                plan_file: Some(a.plan.clone()),
                ..RunOptions::default()
            };
            let report = crate::steps::run_plan(p, opts, progress_sink(a.dry_run, a.format))?;
            match a.format {
                Format::Json => println!("{}", report.to_json()),
                Format::Text => print!("{}", report.to_text()),
            }
            Ok(EXIT_OK)
        }
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
