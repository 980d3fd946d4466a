//! The wizard from start to end: probe, ask, dry run, confirm, save, run.

use super::answers::*;
use super::ask;
use crate::engine::{self, RunOptions};
use crate::event::NullSink;
pub use crate::outcome::EXIT_INTERRUPTED;
use crate::outcome::{self, Refused, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED};
use crate::plan::validate_plan;
use crate::plan::Plan;
use crate::tools::Runner;
use crate::transport::aoe::AoeDevice;
use crate::ui::machine;
use crate::ui::progress::Bars;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The message for a wizard started without a terminal.
pub const NEEDS_TERMINAL: &str = "netroot wizard needs a terminal; for unattended use write a plan and run `netroot migrate --plan FILE`";

extern "C" fn on_sigint(_: libc::c_int) {
    outcome::request_stop();
}

/// Ctrl-C asks the engine to stop before the next step; the running child
/// (rsync, mkfs…) gets the same SIGINT from the terminal and stops, so the
/// step fails and the run ends there. A second Ctrl-C kills netroot.
fn install_sigint() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::SA_RESTART | SaFlags::SA_RESETHAND,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe { sigaction(Signal::SIGINT, &act) }.context("installing the Ctrl-C handler")?;
    Ok(())
}

/// Run the wizard; returns the exit code.
pub fn run(opts: WizardOptions) -> Result<i32> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        eprintln!("{NEEDS_TERMINAL}");
        return Ok(EXIT_INVALID);
    }
    let out = absolute(&opts.out)?;
    // From here Ctrl-C never kills the wizard outright: at a question it
    // aborts the wizard (console reports the key as an interrupted read),
    // during the run it stops at the next safe point.
    install_sigint()?;
    println!("netroot wizard: move this system onto a network disk\n");
    let runner = Runner::real();
    let facts = machine::gather(Path::new("/"), &runner);
    // Passive: what the AoE driver already knows (no discover sent yet).
    let aoe = crate::transport::aoe::list_devices(&crate::transport::HostPaths::default());
    print!("{}", facts_text(&facts, &aoe));
    println!();

    let plan = match plan_from_questions(&facts, &aoe, &runner, &out)? {
        ControlFlow::Continue(p) => p,
        ControlFlow::Break(code) => return Ok(code),
    };
    if let ControlFlow::Break(code) = show_dry_run(&plan, &opts) {
        return Ok(code);
    }
    if let ControlFlow::Break(code) = confirm_target(&plan)? {
        return Ok(code);
    }

    let plan_path = save_plan(&plan, &out)?;
    let server_dir = write_server_files(&plan, &plan_path, &out);
    if let Some(l) = &opts.log_file {
        println!("Log: {}", l.display());
    }
    let resume = format!("netroot migrate --plan {} --yes", plan_path.display());
    migrate(&plan, &opts, &plan_path, server_dir.as_deref(), &resume)
}

/// Ask the questions and build a valid plan from the answers; breaks with
/// the exit code when the person aborted or the plan is invalid.
fn plan_from_questions(
    facts: &machine::Facts,
    aoe: &[AoeDevice],
    runner: &Runner,
    out: &Path,
) -> Result<ControlFlow<i32, Plan>> {
    let defaults = Answers::defaults(facts, out);
    let answers = match ask::ask(facts, &defaults, aoe, runner, out) {
        Ok(a) => a,
        Err(e) if is_ctrl_c(&e) => return Ok(ControlFlow::Break(aborted_at_a_question())),
        Err(e) => return Err(e),
    };
    // Ctrl-C at a prompt that reads whole lines (the CHAP secret).
    if outcome::stop_requested() {
        return Ok(ControlFlow::Break(aborted_at_a_question()));
    }
    let plan = match build_plan(&answers) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("netroot: the answers give an invalid plan (a bug in the wizard): {e}");
            return Ok(ControlFlow::Break(EXIT_INVALID));
        }
    };
    if let Err(e) = validate_plan(&plan) {
        eprint!("netroot: the answers give an invalid plan (a bug in the wizard):\n{e}");
        return Ok(ControlFlow::Break(EXIT_INVALID));
    }
    Ok(ControlFlow::Continue(plan))
}

/// Print the dry run of `plan`; breaks with the exit code when it failed.
fn show_dry_run(plan: &Plan, opts: &WizardOptions) -> ControlFlow<i32> {
    println!("\nThe dry run: what netroot will do (nothing is changed yet)\n");
    let dry = RunOptions {
        dry_run: true,
        stop_after: opts.stop_after,
        ..RunOptions::default()
    };
    match crate::steps::run_plan(plan.clone(), dry, Arc::new(NullSink)) {
        Ok(r) => print!("{}", r.to_text()),
        Err(e) => {
            eprintln!("netroot: the dry run failed: {e:#}");
            println!("Nothing was written. Fix the cause and start the wizard again.");
            return ControlFlow::Break(EXIT_FAILED);
        }
    }
    ControlFlow::Continue(())
}

/// Ask the person to type the target's identity; breaks with the exit code
/// unless they did.
fn confirm_target(plan: &Plan) -> Result<ControlFlow<i32>> {
    let id = confirm_identity(plan);
    println!(
        "\nNext: erase this target and write the system onto it:\n  {}",
        engine::describe_target(plan)
    );
    let typed: String =
        match dialoguer::Input::with_theme(&dialoguer::theme::ColorfulTheme::default())
            .with_prompt(format!("Type {id} to go on (anything else aborts)"))
            .allow_empty(true)
            .interact_text()
        {
            Ok(t) => t,
            Err(dialoguer::Error::IO(io)) if io.kind() == std::io::ErrorKind::Interrupted => {
                return Ok(ControlFlow::Break(aborted_at_a_question()))
            }
            Err(e) => return Err(anyhow::Error::new(e).context("reading the confirmation")),
        };
    if outcome::stop_requested() {
        return Ok(ControlFlow::Break(aborted_at_a_question()));
    }
    if !identity_confirmed(plan, &typed) {
        println!("Aborted: {typed:?} is not {id:?}. Nothing was written.");
        return Ok(ControlFlow::Break(EXIT_REFUSED));
    }
    Ok(ControlFlow::Continue(()))
}

/// Save `plan` as `out/plan.json`; returns its path.
fn save_plan(plan: &Plan, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let plan_path = out.join("plan.json");
    let text = serde_json::to_string_pretty(plan)? + "\n";
    crate::tools::runner::write_atomic(&plan_path, text.as_bytes(), 0o644)
        .with_context(|| format!("saving the plan to {}", plan_path.display()))?;
    println!("Plan saved: {}", plan_path.display());
    Ok(plan_path)
}

/// Run the migration with progress bars; returns the exit code, printing
/// `resume` (the command that continues) when it stopped or failed.
fn migrate(
    plan: &Plan,
    opts: &WizardOptions,
    plan_path: &Path,
    server_dir: Option<&Path>,
    resume: &str,
) -> Result<i32> {
    println!("\nMigrating (Ctrl-C stops at a safe point)\n");
    let bars = Arc::new(Bars::new());
    let run = RunOptions {
        yes: true,
        log_file: opts.log_file.clone(),
        plan_file: Some(plan_path.to_path_buf()),
        stop_after: opts.stop_after,
        ..RunOptions::default()
    };
    let result = crate::steps::run_plan(plan.clone(), run, bars.clone());
    let step = bars.current_step();
    bars.finish();
    match result {
        Ok(report) => Ok(finished(&report, plan, opts, plan_path, server_dir, resume)),
        Err(e) if outcome::stop_requested() => {
            tracing::info!("stopped by Ctrl-C: {e:#}");
            println!("\ninterrupted at a safe point; resume with: {resume}");
            if let Some(step) = step {
                println!("(stopped during step {step}; the steps before it are finished and kept)");
            }
            Ok(EXIT_INTERRUPTED)
        }
        Err(e) => {
            eprintln!("\nnetroot: error: {e:#}");
            println!("Fix the cause, then resume with: {resume}");
            Ok(if e.downcast_ref::<Refused>().is_some() {
                EXIT_REFUSED
            } else {
                EXIT_FAILED
            })
        }
    }
}

/// Print how a run that ended without an error went, and what comes next.
fn finished(
    report: &engine::RunReport,
    plan: &Plan,
    opts: &WizardOptions,
    plan_path: &Path,
    server_dir: Option<&Path>,
    resume: &str,
) -> i32 {
    use crate::engine::StepStatus;
    if let Some(last) = opts.stop_after.filter(|_| {
        report
            .steps
            .iter()
            .any(|s| s.status == StepStatus::NotReached)
    }) {
        println!("\nStopped after step {last}, as asked; continue with: {resume}");
        return EXIT_OK;
    }
    println!("\nThe migration is complete.");
    for s in &report.steps {
        println!("  {:<11} {}", s.step.as_str(), s.status.as_str());
    }
    for n in &report.notes {
        println!("  note: {n}");
    }
    println!("\n{}", next_steps(plan, plan_path, server_dir));
    EXIT_OK
}

/// Ctrl-C at a question: console reports it as an interrupted read.
fn is_ctrl_c(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<dialoguer::Error>()
            .is_some_and(|d| matches!(d, dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted))
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::Interrupted)
    })
}

fn aborted_at_a_question() -> i32 {
    let _ = dialoguer::console::Term::stdout().show_cursor();
    println!("\nAborted at a question (Ctrl-C). Nothing was written.");
    EXIT_INTERRUPTED
}

/// Write the server files (export, DHCP, TFTP/iPXE, README) into
/// `out/server` with the server generator's defaults; returns their
/// directory, or None (with the reason printed) when that failed.
fn write_server_files(plan: &Plan, plan_path: &Path, out: &Path) -> Option<PathBuf> {
    let dir = out.join("server");
    let (opts, assumed) = server_options(plan);
    let r = crate::server::generate_from_plans(&[(plan_path.to_path_buf(), plan.clone())], &opts)
        .and_then(|files| crate::server::write(&Runner::real(), &files, &dir));
    match r {
        Ok(()) => {
            println!("Server files: {}", dir.display());
            if let Some(a) = assumed {
                println!(
                    "  (the server is the portal {a}; its LAN was taken to be {a}/24. If the clients' LAN differs:\n   netroot server --plan {} --out {} --server-ip {a}/PREFIX)",
                    plan_path.display(),
                    dir.display()
                );
            }
            Some(dir)
        }
        Err(e) => {
            // The server's address, prefix and NIC are facts of the server,
            // not of this machine: say the command that supplies them.
            let aoe = plan.target.transport_name() == "aoe";
            println!(
                "The server files were not written here ({e:#}).\nWrite them with what the server is, e.g.:\n  netroot server --plan {} --out {} --server-ip SERVER-ADDR/PREFIX{}\n(server.md in /usr/share/doc/netroot/; on the server itself `netroot server apply` takes the same options).",
                plan_path.display(),
                dir.display(),
                if aoe { " --interface SERVER-NIC" } else { "" }
            );
            None
        }
    }
}

/// The server options the wizard can give: an iSCSI portal given as an
/// IPv4 address is the server, and its LAN is taken to be its /24 (said
/// on screen and in the README, with the command for another prefix).
/// Returns the address when that assumption was made.
fn server_options(plan: &Plan) -> (crate::server::ServerOptions, Option<std::net::Ipv4Addr>) {
    let mut opts = crate::server::ServerOptions::default();
    if let crate::plan::Target::Iscsi { portal, .. } = &plan.target {
        if let Some(std::net::IpAddr::V4(a)) = portal.host().ip() {
            if !a.is_loopback() && !a.is_unspecified() {
                opts.server_ip = Some(a);
                opts.server_subnet = Some(crate::server::Subnet::containing(a, 24));
                return (opts, Some(a));
            }
        }
    }
    (opts, None)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("finding the current directory")?
            .join(p))
    }
}

/// What the probe found, for the first screen.
pub fn facts_text(f: &machine::Facts, aoe: &[AoeDevice]) -> String {
    use std::fmt::Write;
    let mut s = String::from("This machine\n");
    let _ = writeln!(s, "  system    {}, kernel {}", f.os.pretty, f.kernel);
    let _ = writeln!(
        s,
        "  hostname  {}",
        if f.hostname.is_empty() {
            "(none)"
        } else {
            &f.hostname
        }
    );
    let _ = writeln!(
        s,
        "  firmware  {}",
        match f.firmware() {
            crate::plan::Firmware::Uefi => "UEFI",
            _ => "BIOS",
        }
    );
    let mut first = true;
    for m in f.local_mounts() {
        let _ = writeln!(
            s,
            "  {}  {:<12} {:<22} {:<6} {}",
            if first { "mounts  " } else { "        " },
            m.target,
            m.source,
            m.fstype,
            match (m.used, m.size) {
                (Some(u), Some(t)) => format!("{} used of {}", human(u), human(t)),
                _ => String::new(),
            }
        );
        first = false;
    }
    for (i, n) in f.nics.iter().filter(|n| n.name != "lo").enumerate() {
        let _ = writeln!(
            s,
            "  {}  {:<12} {:<17}  link {:<7} {}",
            if i == 0 { "NICs    " } else { "        " },
            n.name,
            n.mac,
            n.operstate,
            n.driver.as_deref().unwrap_or("(virtual)")
        );
    }
    for (i, d) in f.disks.iter().filter(|d| d.size > 0).enumerate() {
        let _ = writeln!(
            s,
            "  {}  {:<12} {:>10}  {}{}",
            if i == 0 { "disks   " } else { "        " },
            d.path,
            human(d.size),
            d.model.as_deref().unwrap_or(""),
            d.tran
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        );
    }
    if let Some(c) = &f.serial_console {
        let _ = writeln!(s, "  console   {c} (a live copy keeps it)");
    }
    if aoe.is_empty() {
        let _ = writeln!(
            s,
            "  AoE       no AoE targets seen (none exported, or the aoe module is not loaded)"
        );
    } else {
        for d in aoe {
            let _ = writeln!(s, "  AoE       {} {}", d.identity(), human(d.size));
        }
    }
    for p in &f.problems {
        let _ = writeln!(s, "  (could not probe: {p})");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::machine::{Facts, MountFact, Nic};

    #[test]
    fn the_first_screen_lists_what_was_probed() {
        let f = Facts {
            os: machine::parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            kernel: "6.1.0-50-amd64".into(),
            hostname: "client1".into(),
            mounts: vec![MountFact {
                target: "/".into(),
                source: "/dev/sda2".into(),
                fstype: "ext4".into(),
                size: Some(8 << 30),
                used: Some(3 << 30),
            }],
            nics: vec![Nic {
                name: "ens3".into(),
                mac: "52:54:00:12:34:56".into(),
                operstate: "up".into(),
                driver: Some("virtio_net".into()),
            }],
            ..Facts::default()
        };
        let dev = AoeDevice {
            name: "e11.0".into(),
            shelf: 11,
            slot: 0,
            node: "/dev/etherd/e11.0".into(),
            size: 4 << 30,
            target_mac: None,
            netif: Some("ens3".into()),
            state: Some("up".into()),
            payload: None,
            firmware_version: None,
        };
        let s = facts_text(&f, &[dev]);
        for want in [
            "Debian GNU/Linux 12 (bookworm), kernel 6.1.0-50-amd64",
            "BIOS",
            "/dev/sda2",
            "3G used of 8G",
            "52:54:00:12:34:56",
            "virtio_net",
            "e11.0",
        ] {
            assert!(s.contains(want), "{want:?} missing in:\n{s}");
        }
    }
}
