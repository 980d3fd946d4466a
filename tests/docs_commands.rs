//! Docs run as written. Every `netroot …` command shown in README.md and
//! docs/*.md — in code blocks and in inline code — is checked against the
//! binary: its subcommand exists and has every `--option` the line uses.
//! Blocks fenced as ```sh are the ones a reader can paste on any machine
//! with the repository (the shipped examples under docs/examples/): each is
//! run whole, from a scratch directory that has the repository's docs/,
//! and must succeed. Commands that change a machine or need a network
//! (`migrate --yes`, `server apply`, `wizard`, `discover`) are shown in
//! plain blocks; the root tier and vm-tests run them for real.

mod common;

use common::{netroot_bin, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, with their text.
fn doc_files() -> Vec<(String, String)> {
    let mut v = vec![repo().join("README.md")];
    let mut d: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    d.sort();
    v.extend(d);
    v.into_iter()
        .map(|p| {
            let rel = p.strip_prefix(repo()).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// A fenced block: its info string, first line number and lines.
struct Block {
    info: String,
    line: usize,
    body: Vec<String>,
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, l) in text.lines().enumerate() {
        if let Some(info) = l.trim_start().strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => {
                    cur = Some(Block {
                        info: info.trim().to_string(),
                        line: i + 1,
                        body: Vec::new(),
                    })
                }
            }
        } else if let Some(b) = &mut cur {
            b.body.push(l.to_string());
        }
    }
    out
}

/// Every `netroot …` command line of a document: lines of code blocks
/// (fenced or indented) and inline code spans, with prompts and trailing
/// comments removed.
fn commands(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let code = in_fence || l.starts_with("    ");
        if code {
            let t = l.trim().trim_start_matches("$ ").trim_start_matches("# ");
            if t.starts_with("netroot ") {
                out.push((i + 1, strip_comment(t)));
            }
            continue;
        }
        for (n, span) in l.split('`').enumerate() {
            if n % 2 == 1 && span.starts_with("netroot ") {
                out.push((i + 1, span.replace("\\|", "|")));
            }
        }
    }
    out
}

fn strip_comment(l: &str) -> String {
    match l.find("  #") {
        Some(i) => l[..i].trim_end().to_string(),
        None => l.to_string(),
    }
}

/// `netroot ARGS --help`, if it succeeds.
fn help(args: &[&str]) -> Option<String> {
    let out = Command::new(netroot_bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// The subcommand path a command line names (`["server", "apply"]`) and
/// its help text.
fn subcommand(words: &[&str]) -> (Vec<String>, String) {
    let mut path: Vec<String> = Vec::new();
    let mut text = help(&[]).expect("netroot --help");
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w == "--log-file" {
            i += 2;
            continue;
        }
        if w.starts_with('-') {
            i += 1;
            continue;
        }
        let mut try_path: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
        try_path.push(w);
        match help(&try_path) {
            Some(t) if w.chars().all(|c| c.is_ascii_lowercase() || c == '-') => {
                path.push(w.to_string());
                text = t;
            }
            _ => break,
        }
        i += 1;
    }
    (path, text)
}

#[test]
fn every_documented_command_exists_with_its_options() {
    let top = help(&[]).expect("netroot --help");
    let mut checked = 0;
    let mut bad = Vec::new();
    for (file, text) in doc_files() {
        for (line, cmd) in commands(&text) {
            let words: Vec<&str> = cmd
                .split(|c: char| c.is_whitespace() || "[]|".contains(c))
                .filter(|w| !w.is_empty())
                .skip(1)
                .collect();
            // No subcommand (`netroot --help`, the global synopsis): the
            // options are the top level's.
            let (path, sub_help) = subcommand(&words);
            for w in &words {
                let opt = w.split('=').next().unwrap();
                if !opt.starts_with("--") || opt == "--" {
                    continue;
                }
                if !sub_help.contains(opt) && !top.contains(opt) {
                    bad.push(format!(
                        "{file}:{line}: `netroot {}` has no option {opt} (in `{cmd}`)",
                        path.join(" ")
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        bad.is_empty(),
        "documented commands that do not exist:\n{}",
        bad.join("\n")
    );
    // README.md and docs/ show dozens of commands; a parser that finds few
    // would make this test pass by seeing nothing.
    assert!(checked >= 40, "only {checked} documented commands found");
}

#[test]
fn sh_blocks_run_as_written() {
    let scratch = Scratch::new("docs-sh");
    std::os::unix::fs::symlink(repo().join("docs"), scratch.join("docs")).unwrap();
    let bin_dir = netroot_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (file, text) in doc_files() {
        for b in fenced_blocks(&text).into_iter().filter(|b| b.info == "sh") {
            let script = b.body.join("\n");
            let out = Command::new("sh")
                .args(["-eu", "-c", &script])
                .current_dir(&scratch.path)
                .env("PATH", &path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{file}:{}: the block fails as written ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
                b.line,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    // The README's own block and docs/server.md's at least.
    assert!(ran >= 3, "only {ran} sh blocks found");
    // What they wrote is what the docs say they write.
    assert!(
        Path::new(&scratch.join("srv/README.txt")).exists(),
        "no srv/README.txt"
    );
}
