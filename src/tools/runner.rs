//! The runner every external program and every change goes through, and
//! the mode that makes a dry run: in a dry run commands that change the
//! system, file writes and in-process effects are recorded as [`Action`]s
//! instead of done, checks of earlier changes are skipped, and read-only
//! queries still run so the probes see the real disk. Also the test hook
//! that kills netroot after the N-th change of a step.

use super::cmd::{execute, finish, Cmd, Output};
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// One thing a run does or would do, for reports and the dry-run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// An external command.
    Command {
        argv: Vec<String>,
        destructive: bool,
    },
    /// A file written (contents shown in full).
    WriteFile {
        path: String,
        contents: String,
        mode: u32,
    },
    /// Something netroot does itself (e.g. writing a partition table).
    Effect { what: String, destructive: bool },
}

impl Action {
    pub fn is_destructive(&self) -> bool {
        match self {
            Action::Command { destructive, .. } | Action::Effect { destructive, .. } => {
                *destructive
            }
            Action::WriteFile { .. } => false,
        }
    }
}

/// Runs commands, or in dry-run mode records what would run.
#[derive(Debug, Clone)]
pub struct Runner {
    dry: bool,
    actions: Arc<Mutex<Vec<Action>>>,
    /// Test hook: `NETROOT_TEST_KILL_AT=STEP:N` makes the process SIGKILL
    /// itself right after the N-th change (command, file or effect) of STEP,
    /// so tests can interrupt a run at an exact point;
    /// `NETROOT_TEST_STOP_AT=STEP:N` sends SIGSTOP instead (the run stays,
    /// holding its locks, until the test kills it).
    kill_at: Option<(String, usize, nix::sys::signal::Signal)>,
    step: Arc<Mutex<(String, usize)>>,
}

impl Runner {
    pub fn real() -> Self {
        Runner {
            dry: false,
            actions: Arc::default(),
            kill_at: kill_hook(),
            step: Arc::default(),
        }
    }
    pub fn dry() -> Self {
        Runner {
            dry: true,
            ..Runner::real()
        }
    }

    /// Tell the runner which step its changes belong to (for the test
    /// hook). `STEP:0` fires here, as the step begins: before its probe,
    /// so steps that change nothing (preflight) can be interrupted too.
    pub fn set_step(&self, step: &str) {
        *self.step.lock().unwrap() = (step.to_string(), 0);
        if let Some((kill_step, 0, sig)) = &self.kill_at {
            if kill_step == step && !self.dry {
                tracing::warn!("test hook reached ({kill_step}:0): raising {sig}");
                let _ = nix::sys::signal::raise(*sig);
            }
        }
    }

    /// Called after each change has been made.
    fn changed(&self) {
        let Some((kill_step, n, sig)) = &self.kill_at else {
            return;
        };
        let mut g = self.step.lock().unwrap();
        g.1 += 1;
        if &g.0 == kill_step && g.1 == *n {
            tracing::warn!("test hook reached ({kill_step}:{n}): raising {sig}");
            let _ = nix::sys::signal::raise(*sig);
        }
    }
    pub fn is_dry(&self) -> bool {
        self.dry
    }

    fn record(&self, a: Action) {
        self.actions.lock().unwrap().push(a);
    }

    /// The actions recorded since the last call.
    pub fn take_actions(&self) -> Vec<Action> {
        std::mem::take(&mut *self.actions.lock().unwrap())
    }

    /// Run a read-only command: runs in dry-run mode too.
    pub fn query(&self, cmd: &Cmd) -> Result<Output> {
        execute(cmd)
    }

    /// Tell the kernel what is already on a disk (`partx -u`): runs in
    /// every mode, because it writes no byte to any disk and the probes of a
    /// dry run need the kernel to see the real partitions. Not listed as a
    /// change.
    pub fn refresh(&self, cmd: &Cmd) -> Result<Output> {
        execute(cmd)
    }

    /// Run `cmd`, which changes the system; a dry run records `cmd` and runs
    /// `stand_in` instead: the read-only equivalent (attach an image
    /// read-only), so that what follows observes the real thing.
    pub fn run_or_stand_in(&self, cmd: &Cmd, stand_in: &Cmd) -> Result<Output> {
        if self.dry {
            self.record(Action::Command {
                argv: cmd.display_argv(),
                destructive: cmd.destructive,
            });
            tracing::info!(
                "(dry run) would run: {}; ran {} instead",
                cmd.display(),
                stand_in.display()
            );
            return execute(stand_in);
        }
        self.run(cmd)
    }

    /// Undo what [`Runner::run_or_stand_in`] did: `cmd` really undoes it in
    /// both modes (detaching the real or the read-only stand-in), recorded
    /// only when it undoes a real change.
    pub fn undo(&self, cmd: &Cmd) -> Result<Output> {
        if self.dry {
            return execute(cmd);
        }
        self.run(cmd)
    }

    /// Write one of netroot's own state files (an iSCSI session marker).
    /// A dry run keeps no state (like the journal, which it does not
    /// open), so it neither writes nor lists it.
    pub fn write_state(&self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        if self.dry {
            return Ok(());
        }
        self.write_file(path, contents, mode)
    }

    /// Remove one of netroot's own state files; gone already is fine. A dry
    /// run leaves state alone.
    pub fn remove_state(&self, path: &Path) -> Result<()> {
        if self.dry {
            return Ok(());
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Check what earlier changes left (a mounted root, a generated
    /// grub.cfg, a disk that appeared). A dry run made none of those
    /// changes, so it logs the check instead of making it.
    pub fn check(&self, what: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.dry {
            tracing::info!("(dry run) would check: {what}");
            return Ok(());
        }
        f()
    }

    /// Observe a result of earlier changes (the device an attach brought,
    /// the kernels a package install put in place): `None` in a dry run,
    /// where those changes were only recorded.
    pub fn observe<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        if self.dry {
            return Ok(None);
        }
        f().map(Some)
    }

    /// Run a command that changes the system; in dry-run mode only record it.
    pub fn run(&self, cmd: &Cmd) -> Result<Output> {
        self.record(Action::Command {
            argv: cmd.display_argv(),
            destructive: cmd.destructive,
        });
        if self.dry {
            tracing::info!("(dry run) would run: {}", cmd.display());
            return Ok(Output::default());
        }
        let r = execute(cmd);
        self.changed();
        r
    }

    /// Run a command that changes the system, handing each line of its
    /// stdout (split on \n and \r) to `on_line` as it arrives.
    pub fn run_streaming(&self, cmd: &Cmd, mut on_line: impl FnMut(&str)) -> Result<Output> {
        self.record(Action::Command {
            argv: cmd.display_argv(),
            destructive: cmd.destructive,
        });
        if self.dry {
            return Ok(Output::default());
        }
        tracing::info!("$ {}", cmd.display());
        let mut c = cmd.build()?;
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .with_context(|| format!("starting {}", cmd.display()))?;
        let mut stderr = child.stderr.take().unwrap();
        let err_thread = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        let mut all = String::new();
        loop {
            buf.clear();
            let mut byte = [0u8; 1];
            // Read up to \n or \r so carriage-return progress lines arrive live.
            loop {
                match reader.read(&mut byte)? {
                    0 => break,
                    _ if byte[0] == b'\n' || byte[0] == b'\r' => break,
                    _ => buf.push(byte[0]),
                }
            }
            if buf.is_empty() {
                if reader.fill_buf()?.is_empty() {
                    break;
                }
                continue;
            }
            let line = String::from_utf8_lossy(&buf);
            on_line(&line);
            if all.len() < 1 << 20 {
                all.push_str(&line);
                all.push('\n');
            }
        }
        let status = child.wait()?;
        let stderr = err_thread.join().unwrap_or_default();
        self.changed();
        finish(cmd, status.code().unwrap_or(-1), all, stderr)
    }

    /// Write a file (atomically: temp file, fsync, rename); in dry-run mode
    /// only record it with its contents.
    pub fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
        self.record(Action::WriteFile {
            path: path.display().to_string(),
            contents: shown_contents(contents),
            mode,
        });
        if self.dry {
            return Ok(());
        }
        tracing::info!("writing {}", path.display());
        write_atomic(path, contents, mode)?;
        self.changed();
        Ok(())
    }

    /// Like [`Runner::write_file`] for a file holding secrets: the recorded
    /// contents (dry-run output, reports) show each secret as `***`.
    pub fn write_secret_file(
        &self,
        path: &Path,
        contents: &[u8],
        mode: u32,
        secrets: &[String],
    ) -> Result<()> {
        let mut shown = String::from_utf8_lossy(contents).into_owned();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            shown = shown.replace(s.as_str(), "***");
        }
        self.record(Action::WriteFile {
            path: path.display().to_string(),
            contents: shown,
            mode,
        });
        if self.dry {
            return Ok(());
        }
        tracing::info!(
            "writing {} (mode {mode:04o}, holds a secret)",
            path.display()
        );
        write_atomic(path, contents, mode)?;
        self.changed();
        Ok(())
    }

    /// Something netroot does in-process; `f` runs only when not dry.
    pub fn effect<T>(
        &self,
        what: &str,
        destructive: bool,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        self.record(Action::Effect {
            what: what.to_string(),
            destructive,
        });
        if self.dry {
            return Ok(None);
        }
        tracing::info!("{what}");
        let r = f().map(Some).with_context(|| what.to_string());
        self.changed();
        r
    }
}

fn kill_hook() -> Option<(String, usize, nix::sys::signal::Signal)> {
    use nix::sys::signal::Signal;
    let (v, sig) = match std::env::var("NETROOT_TEST_KILL_AT") {
        Ok(v) => (v, Signal::SIGKILL),
        Err(_) => (std::env::var("NETROOT_TEST_STOP_AT").ok()?, Signal::SIGSTOP),
    };
    let (s, n) = v.split_once(':')?;
    Some((s.to_string(), n.parse().ok()?, sig))
}

/// Write `contents` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("renaming into {}: {}", path.display(), e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A file's contents as reports show them: the text, or for a program
/// (not UTF-8) its size and SHA-256, which `sha256sum` on the target checks.
fn shown_contents(contents: &[u8]) -> String {
    match std::str::from_utf8(contents) {
        Ok(t) => t.to_string(),
        Err(_) => {
            use sha2::{Digest, Sha256};
            format!(
                "(a program of {} bytes, sha256 {})\n",
                contents.len(),
                hex::encode(Sha256::digest(contents))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_records_and_does_not_run() {
        let r = Runner::dry();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        r.run(&Cmd::new("touch").arg(&f)).unwrap();
        r.write_file(&dir.path().join("y"), b"hello", 0o644)
            .unwrap();
        assert!(!f.exists());
        assert!(!dir.path().join("y").exists());
        let acts = r.take_actions();
        assert_eq!(acts.len(), 2);
        assert!(matches!(&acts[1], Action::WriteFile { contents, .. } if contents == "hello"));
        // A program is shown by size and checksum, never as bytes.
        r.write_file(&dir.path().join("z"), b"\x7fELF\xff\x00", 0o755)
            .unwrap();
        let acts = r.take_actions();
        assert!(
            matches!(&acts[0], Action::WriteFile { contents, .. }
                if contents.starts_with("(a program of 6 bytes, sha256 ") && contents.len() < 120),
            "{acts:?}"
        );
    }

    #[test]
    fn failure_names_command_status_and_stderr() {
        let r = Runner::real();
        let e = r
            .run(&Cmd::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exited with status 3"), "{e}");
        assert!(e.contains("boom"), "{e}");
        assert!(e.contains("sh -c"), "{e}");
    }

    #[test]
    fn stdin_is_null_by_default() {
        let out = Runner::real().query(&Cmd::new("cat")).unwrap();
        assert_eq!(out.stdout, "");
    }

    #[test]
    fn streaming_splits_carriage_returns() {
        let r = Runner::real();
        let mut lines = Vec::new();
        r.run_streaming(&Cmd::new("printf").arg("a\rb\nc"), |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        assert_eq!(lines, vec!["a", "b", "c"]);
    }

    #[test]
    fn atomic_write_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f");
        write_atomic(&p, b"x", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
