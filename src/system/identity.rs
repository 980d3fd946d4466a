//! Per-client identity of the migrated system: machine-id, iSCSI initiator
//! name, SSH host keys and hostname. A copied system otherwise shares all of
//! them with its source (and iSCSI ACLs depend on the initiator name).
//!
//! Generated values are derived from the plan's layout seed (the target's
//! identity and layout), so a re-run writes the same bytes and the fstab
//! step's probe can tell it is done. SSH host keys cannot be derived; they
//! count as done when each exists and differs from the source's.

use crate::plan::{layout::derived_uuid, Plan};
use std::path::{Path, PathBuf};

/// A file of the target's identity: path relative to the target root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFile {
    pub path: PathBuf,
    pub contents: String,
    pub mode: u32,
}

/// A 32-hex-digit machine id, stable for this plan's target.
pub fn machine_id(plan: &Plan) -> String {
    derived_uuid(&plan.layout_seed(), "machine-id").replace('-', "")
}

/// The migrated system's iSCSI initiator name: the plan's
/// `client.initiator_name`, else one in Debian's generated form, stable for
/// this plan's target — the same name `netroot server`'s ACL admits and
/// the migration logs in with ([`crate::plan::identity`]).
pub fn initiator_name(plan: &Plan) -> String {
    crate::plan::identity::initiator_name(plan)
}

/// /etc/iscsi/initiatorname.iscsi as open-iscsi writes it.
pub fn initiatorname_file(name: &str) -> String {
    format!(
        "## DO NOT EDIT OR REMOVE THIS FILE!\n\
         ## If you remove this file, the iSCSI daemon will not start.\n\
         ## If you change the InitiatorName, existing access control lists\n\
         ## may reject this initiator.  The InitiatorName must be unique\n\
         ## for each iSCSI initiator.  Do NOT duplicate iSCSI InitiatorNames.\n\
         InitiatorName={name}\n"
    )
}

/// /etc/hosts with its `127.0.1.1` line naming `hostname` (added after the
/// `127.0.0.1` line, or first, when there is none).
pub fn hosts_with_hostname(old: &str, hostname: &str) -> String {
    let want = format!("127.0.1.1\t{hostname}");
    let mut out: Vec<String> = Vec::new();
    let mut done = false;
    for line in old.lines() {
        let first = line.split_whitespace().next();
        if first == Some("127.0.1.1") {
            if !done {
                out.push(want.clone());
                done = true;
            }
            continue;
        }
        out.push(line.to_string());
    }
    if !done {
        let at = out
            .iter()
            .position(|l| l.split_whitespace().next() == Some("127.0.0.1"))
            .map(|i| i + 1)
            .unwrap_or(0);
        out.insert(at, want);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// The identity files the plan asks for. `base_hosts` is the /etc/hosts the
/// copy starts from (the source's, or the target's after debootstrap);
/// `has_iscsi` says the system has open-iscsi's /etc/iscsi.
pub fn files(plan: &Plan, base_hosts: Option<&str>, has_iscsi: bool) -> Vec<IdentityFile> {
    let mut v = Vec::new();
    let r = &plan.system.regenerate;
    if r.machine_id {
        v.push(IdentityFile {
            path: "etc/machine-id".into(),
            contents: format!("{}\n", machine_id(plan)),
            mode: 0o444,
        });
    }
    // On an iSCSI target the name is always the plan's: the target's ACL
    // admits that one, and the initramfs logs in with it.
    let iscsi_target = plan.target.transport_name() == "iscsi";
    if iscsi_target || ((r.initiator_name || plan.client.initiator_name.is_some()) && has_iscsi) {
        v.push(IdentityFile {
            path: "etc/iscsi/initiatorname.iscsi".into(),
            contents: initiatorname_file(&initiator_name(plan)),
            mode: 0o600,
        });
    }
    if let Some(h) = &plan.system.hostname {
        v.push(IdentityFile {
            path: "etc/hostname".into(),
            contents: format!("{h}\n"),
            mode: 0o644,
        });
        v.push(IdentityFile {
            path: "etc/hosts".into(),
            contents: hosts_with_hostname(
                base_hosts.unwrap_or(
                    "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
                ),
                h,
            ),
            mode: 0o644,
        });
    }
    v
}

/// SSH host key types (`rsa`, `ecdsa`, `ed25519`, …) of the target that must
/// be generated: missing there, or byte-identical to the source's. Types
/// come from the source's keys (the target's when there is no source tree),
/// and are empty when the system has no SSH server.
pub fn stale_ssh_keys(source_root: Option<&Path>, target_root: &Path) -> Vec<String> {
    let types = |root: &Path| -> Vec<String> {
        let mut t: Vec<String> = std::fs::read_dir(root.join("etc/ssh"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("ssh_host_")?
                    .strip_suffix("_key")
                    .map(str::to_string)
            })
            .collect();
        t.sort();
        t
    };
    let mut wanted = source_root.map(types).unwrap_or_default();
    if wanted.is_empty() {
        wanted = types(target_root);
    }
    if wanted.is_empty() && target_root.join("etc/ssh/sshd_config").exists() {
        wanted = vec!["ecdsa".into(), "ed25519".into(), "rsa".into()];
    }
    wanted
        .into_iter()
        .filter(|t| {
            let rel = format!("etc/ssh/ssh_host_{t}_key");
            match std::fs::read(target_root.join(&rel)) {
                Err(_) => true,
                Ok(tk) => source_root
                    .and_then(|s| std::fs::read(s.join(&rel)).ok())
                    .is_some_and(|sk| sk == tk),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::plan::parse_plan(include_str!("../../docs/examples/iscsi-gpt-bios.json")).unwrap()
    }

    #[test]
    fn generated_values_are_stable_and_well_formed() {
        let mut p = plan();
        let id = machine_id(&p);
        assert_eq!(id.len(), 32);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(id, machine_id(&p));
        assert_eq!(
            initiator_name(&p),
            "iqn.2024-01.org.example:client1-initiator"
        );
        p.client.initiator_name = None;
        let n = initiator_name(&p);
        assert!(n.starts_with("iqn.1993-08.org.debian:01:"), "{n}");
        assert_eq!(n.len(), "iqn.1993-08.org.debian:01:".len() + 12);
        // Another target, another identity.
        if let crate::plan::Target::Iscsi { iqn, .. } = &mut p.target {
            *iqn = "iqn.2024-01.org.example:client2".parse().unwrap();
        }
        assert_ne!(machine_id(&p), id);
        assert_ne!(initiator_name(&p), n);
    }

    #[test]
    fn hosts_line_replaced_added_and_fixpoint() {
        let debian = "127.0.0.1\tlocalhost\n127.0.1.1\toldhost.example.org oldhost\n\n# IPv6\n::1\tlocalhost ip6-localhost\n";
        let new = hosts_with_hostname(debian, "client1");
        assert_eq!(
            new,
            "127.0.0.1\tlocalhost\n127.0.1.1\tclient1\n\n# IPv6\n::1\tlocalhost ip6-localhost\n"
        );
        assert_eq!(hosts_with_hostname(&new, "client1"), new);
        let bare = "127.0.0.1 localhost\n::1 localhost\n";
        assert_eq!(
            hosts_with_hostname(bare, "c"),
            "127.0.0.1 localhost\n127.0.1.1\tc\n::1 localhost\n"
        );
        assert_eq!(hosts_with_hostname("", "c"), "127.0.1.1\tc\n");
    }

    #[test]
    fn files_follow_the_plan() {
        let mut p = plan();
        let f = files(&p, Some("127.0.0.1 localhost\n"), true);
        let paths: Vec<_> = f.iter().map(|x| x.path.display().to_string()).collect();
        assert_eq!(
            paths,
            ["etc/iscsi/initiatorname.iscsi", "etc/hostname", "etc/hosts"]
        );
        assert!(f[0]
            .contents
            .ends_with("InitiatorName=iqn.2024-01.org.example:client1-initiator\n"));
        assert_eq!(f[1].contents, "client1\n");
        p.system.regenerate.machine_id = true;
        p.system.hostname = None;
        p.client.initiator_name = None;
        p.system.regenerate.initiator_name = false;
        // An iSCSI target gets the plan's (derived) name even so: the ACL
        // `netroot server` writes admits that name only.
        let f = files(&p, None, true);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].path, PathBuf::from("etc/machine-id"));
        assert_eq!(f[0].contents.len(), 33);
        assert!(f[1]
            .contents
            .contains(&format!("InitiatorName={}\n", initiator_name(&p))));
        // On AoE nothing asks for one.
        p.target = crate::plan::parse_plan(
            r#"{"version":1,"source":{"type":"live"},"target":{"transport":"aoe","shelf":1,"slot":0},
               "layout":{"table":"gpt","firmware":"bios","partitions":[{"mount":"/","fs":"ext4","size":"rest"}]}}"#,
        )
        .unwrap()
        .target;
        let f = files(&p, None, true);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, PathBuf::from("etc/machine-id"));
    }

    #[test]
    fn ssh_keys_copied_from_the_source_are_stale() {
        let s = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        for d in [s.path(), t.path()] {
            std::fs::create_dir_all(d.join("etc/ssh")).unwrap();
        }
        for k in ["rsa", "ed25519"] {
            std::fs::write(s.path().join(format!("etc/ssh/ssh_host_{k}_key")), k).unwrap();
        }
        assert_eq!(stale_ssh_keys(Some(s.path()), t.path()), ["ed25519", "rsa"]);
        std::fs::write(t.path().join("etc/ssh/ssh_host_rsa_key"), "rsa").unwrap();
        std::fs::write(t.path().join("etc/ssh/ssh_host_ed25519_key"), "new").unwrap();
        assert_eq!(stale_ssh_keys(Some(s.path()), t.path()), ["rsa"]);
        std::fs::write(t.path().join("etc/ssh/ssh_host_rsa_key"), "new").unwrap();
        assert!(stale_ssh_keys(Some(s.path()), t.path()).is_empty());
        // No source tree (debootstrap): the target's own keys are fine.
        assert!(stale_ssh_keys(None, t.path()).is_empty());
    }
}
