//! The one runner for every external program.
//!
//! It resolves the program with `which` (a missing tool is an error naming
//! the Debian package to install), logs the argv with secrets redacted,
//! gives the child a null stdin unless input is supplied, and on failure
//! returns an error with the argv, the exit status and the tail of stderr.
//!
//! Dry-run is a mode of this runner: commands that change the system are
//! recorded as [`Action`]s instead of run; read-only queries still run so
//! that probes see the real disk.

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A command line to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    secrets: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    chroot: Option<PathBuf>,
    destructive: bool,
    ok_codes: Vec<i32>,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            secrets: Vec::new(),
            stdin: None,
            env: Vec::new(),
            chroot: None,
            destructive: false,
            ok_codes: vec![0],
        }
    }
    /// Run `program` inside the tree at `root` (through `chroot`).
    pub fn in_root(root: &Path, program: &str) -> Self {
        let mut c = Cmd::new(program);
        c.chroot = Some(root.to_path_buf());
        c
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }
    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(it.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }
    /// Mark a value that must never be logged or reported.
    pub fn secret(mut self, s: impl Into<String>) -> Self {
        let s = s.into();
        if !s.is_empty() {
            self.secrets.push(s);
        }
        self
    }
    pub fn stdin_bytes(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(b.into());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    /// The command destroys data (mkfs, partitioning): shown as such in reports.
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }
    /// Exit codes that count as success (default: only 0).
    pub fn ok_codes(mut self, codes: &[i32]) -> Self {
        self.ok_codes = codes.to_vec();
        self
    }
    pub fn program(&self) -> &str {
        &self.program
    }
    pub fn is_destructive(&self) -> bool {
        self.destructive
    }

    /// The argv as it may be shown: secrets replaced by `***`.
    pub fn display_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(r) = &self.chroot {
            v.push("chroot".to_string());
            v.push(r.display().to_string());
        }
        v.push(self.program.clone());
        for a in &self.args {
            let mut s = a.to_string_lossy().into_owned();
            for sec in &self.secrets {
                s = s.replace(sec.as_str(), "***");
            }
            v.push(s);
        }
        v
    }

    /// The argv as one shell-like line.
    pub fn display(&self) -> String {
        self.display_argv()
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn redact(&self, s: &str) -> String {
        let mut s = s.to_string();
        for sec in &self.secrets {
            s = s.replace(sec.as_str(), "***");
        }
        s
    }

    fn build(&self) -> Result<Command> {
        let mut c = if let Some(root) = &self.chroot {
            let chroot = resolve("chroot")?;
            let mut c = Command::new(chroot);
            c.arg(root).arg(&self.program);
            // A predictable environment inside the target.
            c.env_clear();
            c.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
            c.env("LANG", "C.UTF-8");
            c.env("DEBIAN_FRONTEND", "noninteractive");
            c
        } else {
            Command::new(resolve(&self.program)?)
        };
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        Ok(c)
    }
}

/// Quote an argument for display the way a shell would need it.
pub fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%^".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Debian package that provides a program, for "not found" errors.
pub fn package_for(program: &str) -> &'static str {
    match program {
        "sfdisk" | "partx" | "blkid" | "lsblk" | "losetup" | "wipefs" | "findmnt" | "mount"
        | "umount" | "blockdev" | "mkswap" | "swapon" | "chroot" | "flock" => "util-linux / fdisk",
        "mkfs.ext4" | "e2fsck" | "tune2fs" | "resize2fs" => "e2fsprogs",
        "mkfs.xfs" | "xfs_admin" => "xfsprogs",
        "mkfs.btrfs" | "btrfs" => "btrfs-progs",
        "mkfs.vfat" | "fsck.vfat" => "dosfstools",
        "fusefat" => "fusefat",
        "fusermount" => "fuse",
        "rsync" => "rsync",
        "debootstrap" => "debootstrap",
        "grub-install" | "grub-mkconfig" | "update-grub" => "grub-pc-bin / grub-efi-amd64-bin",
        "iscsiadm" | "iscsistart" => "open-iscsi",
        "aoe-discover" | "aoe-stat" | "aoe-interfaces" => "aoetools",
        "vblade" => "vblade",
        "tgtd" | "tgtadm" => "tgt",
        "dnsmasq" => "dnsmasq",
        "dhcpd" => "isc-dhcp-server",
        "qemu-system-x86_64" => "qemu-system-x86",
        "qemu-img" => "qemu-utils",
        "update-initramfs" | "lsinitramfs" => "initramfs-tools",
        "dracut" | "lsinitrd" => "dracut",
        "ip" => "iproute2",
        "sgdisk" => "gdisk",
        "setfacl" | "getfacl" => "acl",
        "setcap" | "getcap" => "libcap2-bin",
        "ssh-keygen" => "openssh-client",
        "modprobe" => "kmod",
        _ => "(unknown package)",
    }
}

/// Find a program on PATH (and the sbin directories, which a sudo PATH may lack).
pub fn resolve(program: &str) -> Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    if let Ok(p) = which::which(program) {
        return Ok(p);
    }
    let extra = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin";
    which::which_in(program, Some(extra), "/").map_err(|_| {
        anyhow::Error::new(CommandError::NotFound {
            program: program.to_string(),
            package: package_for(program),
        })
    })
}

/// Why an external program did not do its job, as values callers match on
/// (never by searching the message text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The program is not installed.
    NotFound {
        program: String,
        package: &'static str,
    },
    /// It ran and failed: `status` is its exit status (`None`: killed by a
    /// signal); `argv` and `stderr_tail` are redacted of secrets.
    Failed {
        program: String,
        argv: Vec<String>,
        status: Option<i32>,
        stderr_tail: String,
    },
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::NotFound { program, package } => write!(
                f,
                "{program}: command not found; install the Debian package {package}"
            ),
            CommandError::Failed {
                argv,
                status,
                stderr_tail,
                ..
            } => {
                let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
                write!(f, "`{}` ", line.join(" "))?;
                match status {
                    Some(c) => write!(f, "exited with status {c}")?,
                    None => write!(f, "was killed by a signal")?,
                }
                if !stderr_tail.is_empty() {
                    write!(f, ":\n    {}", stderr_tail.replace('\n', "\n    "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CommandError {}

impl CommandError {
    /// The command error somewhere in `e`'s chain, if a command failed.
    pub fn find(e: &anyhow::Error) -> Option<&CommandError> {
        e.chain().find_map(|c| c.downcast_ref::<CommandError>())
    }
    /// The exit status of a command that ran and failed.
    pub fn status(&self) -> Option<i32> {
        match self {
            CommandError::Failed { status, .. } => *status,
            CommandError::NotFound { .. } => None,
        }
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

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
    /// so tests can interrupt a run at an exact point.
    kill_at: Option<(String, usize)>,
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

    /// Tell the runner which step its changes belong to (for the test hook).
    pub fn set_step(&self, step: &str) {
        *self.step.lock().unwrap() = (step.to_string(), 0);
    }

    /// Called after each change has been made.
    fn changed(&self) {
        let Some((kill_step, n)) = &self.kill_at else {
            return;
        };
        let mut g = self.step.lock().unwrap();
        g.1 += 1;
        if &g.0 == kill_step && g.1 == *n {
            tracing::warn!("NETROOT_TEST_KILL_AT reached ({kill_step}:{n}): killing myself");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
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
            contents: String::from_utf8_lossy(contents).into_owned(),
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

fn kill_hook() -> Option<(String, usize)> {
    let v = std::env::var("NETROOT_TEST_KILL_AT").ok()?;
    let (s, n) = v.split_once(':')?;
    Some((s.to_string(), n.parse().ok()?))
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

fn execute(cmd: &Cmd) -> Result<Output> {
    tracing::debug!("$ {}", cmd.display());
    let mut c = cmd.build()?;
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if cmd.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c
        .spawn()
        .with_context(|| format!("starting {}", cmd.display()))?;
    if let Some(input) = &cmd.stdin {
        let mut si = child.stdin.take().unwrap();
        let input = input.clone();
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {}", cmd.display()))?;
    finish(
        cmd,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn finish(cmd: &Cmd, code: i32, stdout: String, stderr: String) -> Result<Output> {
    if !cmd.ok_codes.contains(&code) {
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(CommandError::Failed {
            program: cmd.program.clone(),
            argv: cmd.display_argv(),
            status: (code >= 0).then_some(code),
            stderr_tail: cmd.redact(&tail.join("\n")),
        }
        .into());
    }
    Ok(Output {
        stdout,
        stderr,
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_everywhere() {
        let c = Cmd::new("iscsiadm")
            .args([
                "-m",
                "node",
                "--op",
                "update",
                "-n",
                "node.session.auth.password",
                "-v",
            ])
            .arg("s3cretpassw0rd")
            .secret("s3cretpassw0rd");
        assert!(!c.display().contains("s3cret"));
        assert!(c.display().contains("***"));
    }

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
    fn failures_carry_program_status_and_stderr_as_values() {
        let e = execute(&Cmd::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 7"]))
            .unwrap_err()
            .context("doing something");
        let c = CommandError::find(&e).expect("a command error in the chain");
        assert_eq!(c.status(), Some(7));
        match c {
            CommandError::Failed {
                program,
                argv,
                stderr_tail,
                ..
            } => {
                assert_eq!(program, "sh");
                assert_eq!(argv[0], "sh");
                assert_eq!(stderr_tail, "one\ntwo");
            }
            other => panic!("{other:?}"),
        }
        let e = resolve("no-such-program-netroot").unwrap_err();
        assert!(matches!(
            CommandError::find(&e),
            Some(CommandError::NotFound { .. })
        ));
    }

    #[test]
    fn missing_tool_names_package() {
        let e = resolve("aoe-discover-not-there").unwrap_err().to_string();
        assert!(e.contains("command not found"));
        assert_eq!(package_for("mkfs.xfs"), "xfsprogs");
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
