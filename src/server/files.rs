//! A generated server file (its text or the server file it copies, where it
//! is installed, its mode and the secrets it holds) and writing it through
//! the runner. Shared by the generators and `apply`, so it lives apart from
//! the module root.

use crate::tools::{Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a generated file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Contents {
    /// Text generated here.
    Text(String),
    /// A copy of a file on the server (the iPXE binaries).
    CopyOf(PathBuf),
}

/// One generated file. `Debug` shows the contents with secrets as `***`.
#[derive(Clone, PartialEq)]
pub struct GeneratedFile {
    /// Path inside the output directory, e.g. "dhcp/dnsmasq-netroot.conf".
    pub rel_path: String,
    /// Where the file goes on the server (absolute), if it is installed.
    pub install_to: Option<PathBuf>,
    pub contents: Contents,
    /// File mode: 0600 for anything holding a secret.
    pub mode: u32,
    /// Secret values inside the contents, redacted from every display.
    pub secrets: Vec<String>,
    /// One line saying what the file is.
    pub what: String,
}

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contents = match &self.contents {
            Contents::Text(t) => format!("Text({:?})", redact(t, &self.secrets)),
            Contents::CopyOf(p) => format!("CopyOf({})", p.display()),
        };
        f.debug_struct("GeneratedFile")
            .field("rel_path", &self.rel_path)
            .field("install_to", &self.install_to)
            .field("contents", &contents)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("secrets", &self.secrets.len())
            .field("what", &self.what)
            .finish()
    }
}

impl GeneratedFile {
    pub(crate) fn text(rel: impl Into<String>, what: impl Into<String>, body: String) -> Self {
        GeneratedFile {
            rel_path: rel.into(),
            install_to: None,
            contents: Contents::Text(body),
            mode: 0o644,
            secrets: Vec::new(),
            what: what.into(),
        }
    }
    pub(crate) fn to(mut self, p: impl Into<PathBuf>) -> Self {
        self.install_to = Some(p.into());
        self
    }
    pub(crate) fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
    /// The text, if generated here.
    pub fn text_contents(&self) -> Option<&str> {
        match &self.contents {
            Contents::Text(t) => Some(t),
            Contents::CopyOf(_) => None,
        }
    }
    /// The text with secrets replaced by `***`.
    pub fn redacted(&self) -> Option<String> {
        self.text_contents().map(|t| redact(t, &self.secrets))
    }
}

/// Replace each secret in `s` by `***`.
pub fn redact(s: &str, secrets: &[String]) -> String {
    let mut s = s.to_string();
    for sec in secrets.iter().filter(|x| !x.is_empty()) {
        s = s.replace(sec.as_str(), "***");
    }
    s
}

/// Write the generated files below `out` through the runner (recorded in a
/// dry run; secrets never recorded). Binaries are copied with `install`.
pub fn write(runner: &Runner, files: &[GeneratedFile], out: &Path) -> Result<()> {
    for f in files {
        let dest = out.join(&f.rel_path);
        put_file(runner, f, &dest)?;
    }
    Ok(())
}

/// Write one generated file at `dest`.
pub(crate) fn put_file(runner: &Runner, f: &GeneratedFile, dest: &Path) -> Result<()> {
    match &f.contents {
        Contents::Text(t) => {
            if f.secrets.is_empty() {
                runner.write_file(dest, t.as_bytes(), f.mode)
            } else {
                runner.write_secret_file(dest, t.as_bytes(), f.mode, &f.secrets)
            }
        }
        Contents::CopyOf(src) => {
            if !runner.is_dry() && !src.exists() {
                bail!(
                    "{} not found; install Debian's ipxe package (apt-get install ipxe) or pass --ipxe-dir",
                    src.display()
                );
            }
            runner
                .run(
                    &Cmd::new("install")
                        .args(["-D", "-m", &format!("{:04o}", f.mode)])
                        .arg(src)
                        .arg(dest),
                )
                .map(|_| ())
        }
    }
    .with_context(|| format!("writing {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let mut f = GeneratedFile::text("x", "y", "password s3cret-secret\n".into());
        f.secrets = vec!["s3cret-secret".into()];
        let d = format!("{f:?}");
        assert!(!d.contains("s3cret") && d.contains("***"), "{d}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("incominguser u s3cret-secret", &["s3cret-secret".into()]),
            "incominguser u ***"
        );
    }
}
