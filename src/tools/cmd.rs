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

use anyhow::{Context, Result};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A command line to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    secrets: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    chroot: Option<PathBuf>,
    pub(crate) destructive: bool,
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

    pub(crate) fn build(&self) -> Result<Command> {
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
        "lvs" | "lvcreate" | "lvremove" => "lvm2",
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

pub(crate) fn execute(cmd: &Cmd) -> Result<Output> {
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

pub(crate) fn finish(cmd: &Cmd, code: i32, stdout: String, stderr: String) -> Result<Output> {
    if !cmd.ok_codes.contains(&code) {
        // Some tools (targetcli) print their errors on stdout: with an
        // empty stderr, stdout's last lines say why.
        let said = if stderr.trim().is_empty() {
            &stdout
        } else {
            &stderr
        };
        let tail: Vec<&str> = said.lines().rev().take(8).collect();
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
}
