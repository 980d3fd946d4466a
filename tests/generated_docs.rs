//! The man pages (docs/man/) and shell completions (completions/) are
//! generated from the clap definition (`netroot::cli::command()`) and checked
//! in, so the .deb and a reader of the repository get them without a build
//! step. This test regenerates them in memory and fails, naming the file,
//! when a checked-in one differs from what the binary's clap definition
//! gives — a help text changed without regenerating. With NETROOT_BLESS=1 it
//! rewrites them instead (and removes pages of commands that are gone).

use clap_complete::Shell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BLESS: &str = "NETROOT_BLESS=1 cargo test --test generated_docs";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One man page per command: `netroot.1`, then `netroot-migrate.1`,
/// `netroot-server-apply.1`, … for every subcommand at every depth (the
/// `help` pseudo-command and hidden ones excepted).
fn man_pages() -> BTreeMap<String, Vec<u8>> {
    let mut cmd = netroot::cli::command();
    // build() gives subcommands their display name (`netroot-server-apply`)
    // and bin name (`netroot server apply`), used for the title and usage.
    cmd.build();
    let mut out = BTreeMap::new();
    add_pages(&cmd, &mut out);
    out
}

fn add_pages(cmd: &clap::Command, out: &mut BTreeMap<String, Vec<u8>>) {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .expect("rendering a man page");
    out.insert(format!("docs/man/{name}.1"), buf);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        add_pages(sub, out);
    }
}

/// The completion scripts, under the names the .deb installs them as.
fn completions() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (shell, file) in [
        (Shell::Bash, "completions/netroot.bash"),
        (Shell::Zsh, "completions/_netroot"),
        (Shell::Fish, "completions/netroot.fish"),
    ] {
        let mut cmd = netroot::cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "netroot", &mut buf);
        out.insert(file.to_string(), buf);
    }
    out
}

/// Files in `dir` (relative to the repository) ending in `suffix`.
fn checked_in(dir: &str, suffix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(repo().join(dir)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    v.sort();
    v
}

fn check(generated: BTreeMap<String, Vec<u8>>, existing: Vec<String>) {
    let bless = std::env::var_os("NETROOT_BLESS").is_some();
    let mut problems = Vec::new();
    for (rel, want) in &generated {
        let path = repo().join(rel);
        let have = std::fs::read(&path).ok();
        if have.as_deref() == Some(want.as_slice()) {
            continue;
        }
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, want).unwrap();
            eprintln!("blessed {rel}");
        } else if have.is_none() {
            problems.push(format!("{rel} is missing"));
        } else {
            problems.push(format!(
                "{rel} is stale (differs from the clap definition in src/cli/args.rs)"
            ));
        }
    }
    for rel in existing {
        if generated.contains_key(&rel) {
            continue;
        }
        if bless {
            std::fs::remove_file(repo().join(&rel)).unwrap();
            eprintln!("removed {rel}");
        } else {
            problems.push(format!("{rel} is for a command that no longer exists"));
        }
    }
    assert!(
        problems.is_empty(),
        "generated files out of date:\n  {}\nregenerate them with: {BLESS}",
        problems.join("\n  ")
    );
}

#[test]
fn man_pages_are_current() {
    let pages = man_pages();
    // Every command has its page, nested ones too.
    for must in [
        "docs/man/netroot.1",
        "docs/man/netroot-migrate.1",
        "docs/man/netroot-server-apply.1",
        "docs/man/netroot-plan-validate.1",
    ] {
        assert!(pages.contains_key(must), "no page {must} generated");
    }
    check(pages, checked_in("docs/man", ".1"));
}

#[test]
fn completions_are_current() {
    let files = completions();
    let mut existing = checked_in("completions", "");
    existing.retain(|f| !Path::new(f).ends_with("README"));
    check(files, existing);
}
