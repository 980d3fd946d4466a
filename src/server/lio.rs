//! LIO, the kernel's own iSCSI target, for `netroot server apply
//! --iscsi-target lio`: the generated targetcli script is installed and
//! run, the result is checked in configfs, and the configuration is saved
//! where Debian's `rtslib-fb-targetctl.service` restores it at boot.
//!
//! Why configfs and not targetcli's exit status: targetcli run with a
//! command line reports many failures as text and still exits 0. What LIO
//! really serves is the tree under `/sys/kernel/config/target`, so the
//! probe (is this export already there, with its LUN, ACL and CHAP?) and
//! the check after a change both read it. A matching export is left alone;
//! a different one is deleted and created again from the script.

use super::model::{ClientSpec, IscsiExport};
use std::path::{Path, PathBuf};

/// Where LIO's configuration lives in configfs.
pub const CONFIGFS: &str = "/sys/kernel/config/target";
/// Where targetcli saves and `targetctl restore` reads (Debian's rtslib-fb).
pub const SAVED_CONFIG: &str = "/etc/rtslib-fb-target/saveconfig.json";
/// The unit that restores the saved configuration at boot.
pub const RESTORE_UNIT: &str = "rtslib-fb-targetctl.service";
/// Where `apply` installs a client's targetcli script.
pub fn script_path(c: &ClientSpec) -> PathBuf {
    PathBuf::from(format!("/etc/netroot/lio/targetcli-{}.sh", c.name))
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The target portal group's directory in configfs.
pub fn tpg_dir(configfs: &Path, i: &IscsiExport) -> PathBuf {
    configfs.join("iscsi").join(&i.iqn).join("tpgt_1")
}

/// The backstore directories named `store` (`core/<hba>/<store>`).
pub fn backstores(configfs: &Path, store: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(configfs.join("core")) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path().join(store))
        .filter(|p| p.is_dir())
        .collect()
}

/// What differs between LIO's running configuration under `configfs` and
/// the export of `c`; empty when LIO serves exactly it.
pub fn differences(configfs: &Path, c: &ClientSpec, i: &IscsiExport) -> Vec<String> {
    let tpg = tpg_dir(configfs, i);
    if !tpg.is_dir() {
        return vec![format!("LIO has no target {}", i.iqn)];
    }
    let mut d = Vec::new();
    let attr = |name: &str| read(&tpg.join("attrib").join(name));
    if read(&tpg.join("enable")).as_deref() != Some("1") {
        d.push("its portal group is not enabled".to_string());
    }
    let lun = tpg.join("lun").join(format!("lun_{}", i.lun));
    let backing = std::fs::read_dir(&lun).ok().and_then(|rd| {
        rd.flatten()
            .filter(|e| e.file_type().map(|t| t.is_symlink()).unwrap_or(false))
            .find_map(|e| std::fs::canonicalize(e.path()).ok())
            .and_then(|so| read(&so.join("udev_path")))
    });
    match backing {
        None => d.push(format!("it has no LUN {} with a backstore", i.lun)),
        Some(b) if Path::new(&b) != c.backing => d.push(format!(
            "its LUN {} is {b}, not {}",
            i.lun,
            c.backing.display()
        )),
        Some(_) => {}
    }
    if !tpg
        .join("np")
        .read_dir()
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!(":{}", i.port))
            })
        })
        .unwrap_or(false)
    {
        d.push(format!("it listens on no portal with port {}", i.port));
    }
    let Some(init) = &i.initiator else {
        if attr("generate_node_acls").as_deref() != Some("1") {
            d.push("it does not admit any initiator (--allow-any-initiator)".into());
        }
        return d;
    };
    if attr("generate_node_acls").as_deref() != Some("0") {
        d.push("it admits initiators without an ACL".into());
    }
    let acl = tpg.join("acls").join(init);
    if !acl.join(format!("lun_{}", i.lun)).is_dir() {
        d.push(format!("no ACL gives {init} LUN {}", i.lun));
    }
    let auth = |name: &str| read(&acl.join("auth").join(name)).unwrap_or_default();
    match &i.chap {
        Some(chap) => {
            if attr("authentication").as_deref() != Some("1") {
                d.push("CHAP is not enforced (authentication is off)".into());
            }
            if auth("userid") != chap.username || auth("password") != chap.secret {
                d.push(format!(
                    "the ACL's CHAP credentials are not {}'s",
                    chap.username
                ));
            }
            let (mu, ms) = match &chap.target {
                Some((u, s, _)) => (u.as_str(), s.as_str()),
                None => ("", ""),
            };
            if auth("userid_mut") != mu || auth("password_mut") != ms {
                d.push("the ACL's mutual CHAP credentials differ".into());
            }
        }
        None => {
            if attr("authentication").as_deref() == Some("1") {
                d.push("it asks for CHAP, which the plan has not".into());
            }
        }
    }
    d
}

/// Whether the saved configuration (JSON as targetcli writes it) holds a
/// target `iqn`, so that it comes back after a reboot.
pub fn saved_has(saved_json: &str, iqn: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(saved_json) else {
        return false;
    };
    v["targets"]
        .as_array()
        .is_some_and(|ts| ts.iter().any(|t| t["wwn"].as_str() == Some(iqn)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Firmware;
    use crate::server::model::{ChapSecrets, ExportSpec};
    use std::fs;

    fn client(chap: bool) -> (ClientSpec, IscsiExport) {
        let i = IscsiExport {
            host: "10.88.0.1".into(),
            ipv4: None,
            port: 3260,
            iqn: "iqn.2024-01.org.example:box".into(),
            lun: 1,
            initiator: Some("iqn.2024-01.org.example:box-initiator".into()),
            chap: chap.then(|| ChapSecrets {
                username: "box".into(),
                secret: "a-secret-of-16ch".into(),
                secret_file: "/etc/netroot/chap.secret".into(),
                target: None,
            }),
        };
        let c = ClientSpec {
            name: "box".into(),
            plan_file: "p.json".into(),
            mac: "52:54:00:00:00:01".into(),
            ip: None,
            ip_subnet: None,
            firmware: Firmware::Bios,
            backing: "/dev/vdb".into(),
            backing_size: None,
            export: ExportSpec::Iscsi(i.clone()),
        };
        (c, i)
    }

    fn put(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{s}\n")).unwrap();
    }

    /// The configfs tree targetcli leaves for the export, as LIO shows it.
    fn configured(root: &Path, i: &IscsiExport) {
        let so = root.join("core/iblock_0/netroot-box");
        put(&so.join("udev_path"), "/dev/vdb");
        let tpg = tpg_dir(root, i);
        put(&tpg.join("enable"), "1");
        put(&tpg.join("attrib/generate_node_acls"), "0");
        put(&tpg.join("attrib/authentication"), "1");
        fs::create_dir_all(tpg.join("np/0.0.0.0:3260")).unwrap();
        let lun = tpg.join("lun/lun_1");
        fs::create_dir_all(&lun).unwrap();
        std::os::unix::fs::symlink(&so, lun.join("7a3b21c0de")).unwrap();
        let acl = tpg.join("acls").join(i.initiator.as_ref().unwrap());
        fs::create_dir_all(acl.join("lun_1")).unwrap();
        put(&acl.join("auth/userid"), "box");
        put(&acl.join("auth/password"), "a-secret-of-16ch");
        put(&acl.join("auth/userid_mut"), "");
        put(&acl.join("auth/password_mut"), "");
    }

    #[test]
    fn a_matching_export_has_no_differences_and_each_change_is_named() {
        let t = tempfile::tempdir().unwrap();
        let (c, i) = client(true);
        assert_eq!(
            differences(t.path(), &c, &i),
            vec!["LIO has no target iqn.2024-01.org.example:box".to_string()]
        );
        configured(t.path(), &i);
        assert_eq!(differences(t.path(), &c, &i), Vec::<String>::new());
        let tpg = tpg_dir(t.path(), &i);
        put(&tpg.join("attrib/authentication"), "0");
        let acl = tpg.join("acls").join(i.initiator.as_ref().unwrap());
        put(&acl.join("auth/password"), "another-secret!!");
        let d = differences(t.path(), &c, &i);
        assert!(
            d.iter().any(|s| s.contains("CHAP is not enforced")),
            "{d:?}"
        );
        assert!(d.iter().any(|s| s.contains("CHAP credentials")), "{d:?}");
        // The plan without CHAP: a target that asks for it differs too.
        put(&tpg.join("attrib/authentication"), "1");
        let (c2, i2) = client(false);
        let d = differences(t.path(), &c2, &i2);
        assert!(d.iter().any(|s| s.contains("asks for CHAP")), "{d:?}");
        // Another backing device.
        let other = ClientSpec {
            backing: "/dev/vdc".into(),
            ..c.clone()
        };
        let d = differences(t.path(), &other, &i);
        assert!(
            d.iter().any(|s| s.contains("is /dev/vdb, not /dev/vdc")),
            "{d:?}"
        );
    }

    #[test]
    fn the_saved_configuration_is_read_by_target_name() {
        let j = r#"{"storage_objects": [], "targets": [{"fabric": "iscsi", "wwn": "iqn.2024-01.org.example:box", "tpgs": []}]}"#;
        assert!(saved_has(j, "iqn.2024-01.org.example:box"));
        assert!(!saved_has(j, "iqn.2024-01.org.example:other"));
        assert!(!saved_has("not json", "iqn.2024-01.org.example:box"));
    }
}
