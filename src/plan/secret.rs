//! CHAP secret files: the plan names a file, never the secret. One type,
//! one reader and one set of rules for every place that needs the secret
//! (iscsiadm's node record, the initramfs, the server's tgt config and
//! iPXE script), so a secret that one of them would refuse is refused by
//! all of them, with the same message naming the plan field.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Characters a secret must not contain: it goes into shell-sourced files
/// (quotes, `$`, `\`, backquote), tgt's config (`#`, `;`, braces) and the
/// `netroot=iscsi:USER:SECRET@...` kernel argument (`:`, `@`).
const SECRET_UNSAFE: &str = "\"'\\$`#;{}:@";

/// The path of a file holding a CHAP secret: absolute, without blanks,
/// quotes or control characters (it is written into generated files).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the secret: the file must exist and be a regular file; its
    /// content, without the trailing newline, is the secret: 12 to 16
    /// characters (iPXE and most initiators refuse others), no blanks,
    /// quotes or any of `$ \ ` # ; { } : @`. `field` is the plan field
    /// named in errors (e.g. "target.chap.secret_file"); errors never show
    /// the secret.
    pub fn read(&self, field: &str) -> anyhow::Result<String> {
        let p = self.path.display();
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| anyhow::anyhow!("reading {field} {p}: {e}"))?;
        if !meta.is_file() {
            anyhow::bail!("{field} {p} is not a regular file");
        }
        let raw = std::fs::read_to_string(&self.path)
            .map_err(|e| anyhow::anyhow!("reading {field} {p}: {e}"))?;
        let s = raw.strip_suffix('\n').unwrap_or(&raw);
        let s = s.strip_suffix('\r').unwrap_or(s);
        if s.is_empty() {
            anyhow::bail!("{field} {p} is empty");
        }
        let n = s.chars().count();
        if !(12..=16).contains(&n) {
            anyhow::bail!(
                "{field}: the secret in {p} has {n} characters; CHAP secrets must be 12 to 16 \
                 (iPXE and most initiators refuse others)"
            );
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || SECRET_UNSAFE.contains(c))
        {
            anyhow::bail!(
                "{field}: the secret in {p} contains a blank, a quote or one of $ \\ ` # ; {{ }} : @ \
                 (one line: letters, digits and -_.+%)"
            );
        }
        Ok(s.to_string())
    }
}

impl FromStr for SecretFile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let path = PathBuf::from(s);
        if !path.is_absolute() {
            return Err(format!("{s} is not an absolute path"));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$`".contains(c))
        {
            return Err(format!(
                "{s:?}: no blanks, quotes, backslashes or $ in the path of a secret file"
            ));
        }
        Ok(SecretFile { path })
    }
}

impl TryFrom<String> for SecretFile {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<SecretFile> for String {
    fn from(v: SecretFile) -> String {
        v.path.to_string_lossy().into_owned()
    }
}

impl fmt::Display for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl std::ops::Deref for SecretFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for SecretFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl JsonSchema for SecretFile {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "SecretFile".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}
