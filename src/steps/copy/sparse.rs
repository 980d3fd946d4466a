//! Sparse files in a copy: finding the files that hold holes, so that they
//! get their own `rsync -S` run (the main run, without -S, is faster for
//! everything else), and the NUL-separated lists both runs read.
//!
//! Why apart from the step: walking a tree and writing the lists is file
//! work of its own, tested on a temporary tree.

use crate::tools::rsync;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Directories (relative to a transfer root, with a leading `/`) whose
/// contents a transfer leaves out: its literal anchored excludes.
pub(super) fn walk_skips(excludes: &[String]) -> Vec<String> {
    excludes
        .iter()
        .filter(|e| e.starts_with('/'))
        .map(|e| e.strip_suffix("/*").unwrap_or(e).to_string())
        .filter(|e| !e.contains(['*', '?', '[']))
        .collect()
}

/// Regular files below `top` (same filesystem, outside `skip`) that
/// occupy less than their size: holes to keep. Paths relative to `top`.
pub fn sparse_files(top: &Path, skip: &[String]) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(top) else {
        return Vec::new();
    };
    let dev = m.dev();
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(top.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                let shown = format!("/{}", r.display());
                if !skip.contains(&shown) {
                    stack.push(r);
                }
            } else if m.is_file() && m.len() > 0 && m.blocks() * 512 < m.len() {
                out.push(r);
            }
        }
    }
    out.sort();
    out
}

/// The two lists rsync reads (NUL-separated): anchored excludes for the
/// main run, file names for the `-S` run.
pub(super) fn sparse_lists(
    files: &[PathBuf],
) -> Result<(tempfile::NamedTempFile, tempfile::NamedTempFile)> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut excl = tempfile::Builder::new()
        .prefix("netroot-sparse-excl")
        .tempfile()?;
    let mut list = tempfile::Builder::new()
        .prefix("netroot-sparse-files")
        .tempfile()?;
    for f in files {
        excl.write_all(rsync::anchored_literal(&f.to_string_lossy()).as_bytes())?;
        excl.write_all(b"\0")?;
        list.write_all(f.as_os_str().as_bytes())?;
        list.write_all(b"\0")?;
    }
    excl.flush()?;
    list.flush()?;
    Ok((excl, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_files_are_found_outside_skipped_dirs() {
        let d = tempfile::tempdir().unwrap();
        let mk = |rel: &str, sparse: bool| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let f = std::fs::File::create(&p).unwrap();
            if sparse {
                f.set_len(8 << 20).unwrap();
            } else {
                std::io::Write::write_all(&mut &f, &[7u8; 70000]).unwrap();
            }
        };
        mk("var/log/lastlog", true);
        mk("var/log/syslog", false);
        mk("tmp/hole", true);
        mk("a/b/c/disk.img", true);
        std::fs::write(d.path().join("empty"), b"").unwrap();
        let skips = walk_skips(&[
            "/tmp/*".to_string(),
            "*.tmp".to_string(),
            "/x[1]/*".to_string(),
        ]);
        assert_eq!(skips, ["/tmp"]);
        let found = sparse_files(d.path(), &skips);
        assert_eq!(
            found,
            [
                PathBuf::from("a/b/c/disk.img"),
                PathBuf::from("var/log/lastlog")
            ]
        );
    }
}
