//! open-iscsi's node database: finding a target's node record files and
//! setting CHAP in them.
//!
//! CHAP secrets: iscsiadm only takes values on its argv (`-v`), where any
//! user can read them in /proc/PID/cmdline. So netroot sets the
//! non-secret fields (authmethod, usernames) with `iscsiadm --op update`
//! and writes the passwords itself into the node record file that
//! discovery created (`/etc/iscsi/nodes/IQN/ADDR,PORT,TPGT/IFACE`, mode
//! 0600), which is where `iscsiadm --op update` would have put them. That
//! write is an in-process effect whose description names the file and
//! field, never the value.
//!
//! Why apart from [`super::iscsi`]: the secrets are handled here and only
//! here, and the attach reads the record only to know whether it existed.

use super::common::{AttachEnv, HostPaths};
use crate::plan::{Chap, Portal};
use crate::tools::iscsiadm as tool;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Set `key = value` lines in an open-iscsi record (replacing existing
/// ones, else inserting before `# END RECORD`).
pub fn set_record_values(record: &str, values: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = record.lines().map(str::to_string).collect();
    for (k, v) in values {
        let new = format!("{k} = {v}");
        let pos = lines
            .iter()
            .position(|l| l.split_once('=').is_some_and(|(n, _)| n.trim() == *k));
        match pos {
            Some(i) => lines[i] = new,
            None => {
                let end = lines
                    .iter()
                    .position(|l| l.starts_with("# END RECORD"))
                    .unwrap_or(lines.len());
                lines.insert(end, new);
            }
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// The node record files for IQN at PORTAL: every `IQN/ADDR,PORT,TPGT`
/// entry (the address without IPv6 brackets), a file (old layout) or a
/// directory with one file per iface.
pub fn record_files(nodes_dir: &Path, iqn: &str, portal: &Portal) -> Vec<PathBuf> {
    let prefix = format!("{},{},", portal.host().addr(), portal.port());
    let mut v = Vec::new();
    for e in std::fs::read_dir(nodes_dir.join(iqn))
        .into_iter()
        .flatten()
        .flatten()
    {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            v.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|f| f.path())
                    .filter(|f| f.is_file()),
            );
        } else if p.is_file() {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Configure CHAP on the node record: authmethod and usernames through
/// iscsiadm, passwords straight into the record file (never on an argv).
pub(super) fn set_chap(
    env: &AttachEnv,
    paths: &HostPaths,
    iqn: &str,
    portal_v: &Portal,
    chap: &Chap,
) -> Result<()> {
    let portal = portal_v.as_str();
    let r = &env.runner;
    let mut secrets: Vec<(&str, String)> = vec![(
        "node.session.auth.password",
        chap.secret_file.read("target.chap.secret_file")?,
    )];
    r.run(&tool::node_update(
        iqn,
        portal,
        "node.session.auth.authmethod",
        "CHAP",
    ))?;
    r.run(&tool::node_update(
        iqn,
        portal,
        "node.session.auth.username",
        &chap.username,
    ))?;
    match (&chap.target_username, &chap.target_secret_file) {
        (Some(u), Some(f)) => {
            r.run(&tool::node_update(
                iqn,
                portal,
                "node.session.auth.username_in",
                u,
            ))?;
            secrets.push((
                "node.session.auth.password_in",
                f.read("target.chap.target_secret_file")?,
            ));
        }
        (None, None) => {}
        _ => bail!("target.chap: mutual CHAP needs both target_username and target_secret_file"),
    }
    let names: Vec<&str> = secrets.iter().map(|(k, _)| *k).collect();
    let what = format!(
        "setting {} in the node record of {iqn} at {portal} under {} (mode 0600)",
        names.join(" and "),
        paths.iscsi_nodes.display()
    );
    let nodes = paths.iscsi_nodes.clone();
    let (iqn_s, portal_s) = (iqn.to_string(), portal_v.clone());
    r.effect(&what, false, move || {
        let files = record_files(&nodes, &iqn_s, &portal_s);
        if files.is_empty() {
            bail!(
                "no node record for {iqn_s} at {portal_s} in {} (discovery did not store one)",
                nodes.display()
            );
        }
        let pairs: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for f in files {
            let old = std::fs::read_to_string(&f)
                .with_context(|| format!("reading the node record {}", f.display()))?;
            crate::tools::runner::write_atomic(
                &f,
                set_record_values(&old, &pairs).as_bytes(),
                0o600,
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal(s: &str) -> Portal {
        s.parse().unwrap()
    }

    #[test]
    fn record_editing_replaces_or_inserts() {
        let rec =
            "# BEGIN RECORD 2.1.8\nnode.name = iqn.a:b\nnode.session.auth.authmethod = None\n\
                   node.session.auth.password = old\n# END RECORD\n";
        let new = set_record_values(
            rec,
            &[
                ("node.session.auth.password", "s3cret-pass"),
                ("node.session.auth.password_in", "other-s3cret"),
            ],
        );
        assert_eq!(
            new,
            "# BEGIN RECORD 2.1.8\nnode.name = iqn.a:b\nnode.session.auth.authmethod = None\n\
             node.session.auth.password = s3cret-pass\nnode.session.auth.password_in = other-s3cret\n\
             # END RECORD\n"
        );
    }

    #[test]
    fn record_files_in_both_layouts() {
        let t = tempfile::tempdir().unwrap();
        let n = t.path();
        std::fs::create_dir_all(n.join("iqn.a:b/10.0.2.2,3260,1")).unwrap();
        std::fs::write(n.join("iqn.a:b/10.0.2.2,3260,1/default"), "x").unwrap();
        std::fs::write(n.join("iqn.a:b/10.0.2.2,3261,1"), "old layout, other port").unwrap();
        // IPv6 addresses are stored without brackets; -1 = no TPGT (`-o new`).
        std::fs::create_dir_all(n.join("iqn.a:c/fd00::1,3260,-1")).unwrap();
        std::fs::write(n.join("iqn.a:c/fd00::1,3260,-1/default"), "x").unwrap();
        assert_eq!(
            record_files(n, "iqn.a:b", &portal("10.0.2.2:3260")),
            vec![n.join("iqn.a:b/10.0.2.2,3260,1/default")]
        );
        assert_eq!(
            record_files(n, "iqn.a:b", &portal("10.0.2.2:3261")),
            vec![n.join("iqn.a:b/10.0.2.2,3261,1")]
        );
        assert_eq!(
            record_files(n, "iqn.a:c", &portal("[fd00::1]:3260")).len(),
            1
        );
        assert!(record_files(n, "iqn.none", &portal("10.0.2.2:3260")).is_empty());
    }
}
