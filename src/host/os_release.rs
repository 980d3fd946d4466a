//! os-release: which distribution a tree holds.
//!
//! Why here: the wizard shows the running system's name and the profile
//! is picked by ID / ID_LIKE; both used to parse the file on their own.
//! The format is shell-like assignments (os-release(5)): values may be
//! unquoted, or in single or double quotes with `\"`, `\\`, `\$`, `` \` ``
//! escapes inside double quotes.

use std::path::Path;

/// What os-release says (empty strings for absent keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsRelease {
    /// ID, e.g. "debian".
    pub id: String,
    /// ID_LIKE words, e.g. ["ubuntu", "debian"].
    pub id_like: Vec<String>,
    /// PRETTY_NAME, e.g. "Debian GNU/Linux 12 (bookworm)"; when absent,
    /// "ID VERSION_ID", or "unknown Linux" without an ID.
    pub pretty: String,
    /// NAME, e.g. "Debian GNU/Linux".
    pub name: String,
    /// VERSION_ID, e.g. "12".
    pub version_id: String,
}

/// Parse os-release text.
pub fn parse(text: &str) -> OsRelease {
    let mut o = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match k.trim() {
            "ID" => o.id = v,
            "ID_LIKE" => o.id_like = v.split_whitespace().map(str::to_string).collect(),
            "PRETTY_NAME" => o.pretty = v,
            "NAME" => o.name = v,
            "VERSION_ID" => o.version_id = v,
            _ => {}
        }
    }
    if o.pretty.is_empty() {
        o.pretty = if o.id.is_empty() {
            "unknown Linux".into()
        } else {
            format!("{} {}", o.id, o.version_id).trim().to_string()
        };
    }
    o
}

/// A shell-quoted value without its quotes.
fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The os-release of the tree at `root`: etc/os-release, else
/// usr/lib/os-release; None when neither can be read.
pub fn read_tree(root: &Path) -> Option<OsRelease> {
    ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|rel| std::fs::read_to_string(root.join(rel)).ok())
        .map(|t| parse(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn os_release_of_the_guest() {
        let o = parse(&fixture("aoe/os-release.txt"));
        assert_eq!(o.pretty, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(o.id, "debian");
        assert_eq!(o.version_id, "12");
        assert_eq!(o.name, "Debian GNU/Linux");
        assert!(o.id_like.is_empty());
        assert_eq!(parse("ID=foo\n").pretty, "foo");
        assert_eq!(parse("").pretty, "unknown Linux");
    }

    #[test]
    fn os_release_of_the_captured_guest() {
        let o = parse(&fixture("iscsi/os-release.txt"));
        assert_eq!(o.id, "debian");
    }

    #[test]
    fn quoting_and_id_like() {
        let o = parse(
            "# comment\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\nNAME='Linux Mint'\n\
             PRETTY_NAME=\"Say \\\"hi\\\" \\$HOME \\\\ \\n\"\n",
        );
        assert_eq!(o.id, "linuxmint");
        assert_eq!(o.id_like, ["ubuntu", "debian"]);
        assert_eq!(o.name, "Linux Mint");
        assert_eq!(o.pretty, "Say \"hi\" $HOME \\ \\n");
    }

    #[test]
    fn tree_falls_back_to_usr_lib() {
        let d = tempfile::tempdir().unwrap();
        assert!(read_tree(d.path()).is_none());
        std::fs::create_dir_all(d.path().join("usr/lib")).unwrap();
        std::fs::write(d.path().join("usr/lib/os-release"), "ID=rocky\n").unwrap();
        assert_eq!(read_tree(d.path()).unwrap().id, "rocky");
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/os-release"), "ID=fedora\n").unwrap();
        assert_eq!(read_tree(d.path()).unwrap().id, "fedora");
    }
}
