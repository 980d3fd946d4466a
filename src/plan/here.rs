//! The checks of a plan that need the machine it runs on: the source tree
//! exists, the CHAP secret files are readable and well-formed. `plan
//! validate` and `migrate` run them before anything is written, so a plan
//! that cannot run is refused up front (exit 2) with the field named —
//! not half-way through a run. `netroot server` does not: the server has
//! no source tree (it reads the secrets itself, with the same rules).

use super::errors::{PlanError, PlanErrors};
use super::types::{Plan, Source, Target};

/// Every machine-dependent problem of `plan`, each with its field.
pub fn check_here(plan: &Plan) -> Result<(), PlanErrors> {
    let mut errs = Vec::new();
    let mut push = |path: &str, message: String| {
        errs.push(PlanError {
            path: path.to_string(),
            message,
        })
    };
    if let Source::Directory { path, .. } = &plan.source {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                // The copy is done only when the target has the tree's
                // os-release (and the profile is chosen by it): a directory
                // that is no system's root would fail after the target
                // was partitioned.
                let has = ["etc/os-release", "usr/lib/os-release"]
                    .iter()
                    .any(|f| std::fs::symlink_metadata(path.join(f)).is_ok());
                if !has {
                    push(
                        "source.path",
                        format!(
                            "{} has no etc/os-release or usr/lib/os-release: it is not the root of \
                             an installed system (point source.path at one, e.g. a mounted root \
                             filesystem)",
                            path.display()
                        ),
                    );
                }
            }
            Ok(_) => push(
                "source.path",
                format!("{} is not a directory", path.display()),
            ),
            Err(e) => push(
                "source.path",
                format!(
                    "{}: {e} (the tree to copy must exist on this machine)",
                    path.display()
                ),
            ),
        }
    }
    if let Target::Iscsi { chap: Some(c), .. } = &plan.target {
        let files = [
            ("target.chap.secret_file", Some(&c.secret_file)),
            (
                "target.chap.target_secret_file",
                c.target_secret_file.as_ref(),
            ),
        ];
        for (field, file) in files {
            if let Some(f) = file {
                if let Err(e) = f.read(field) {
                    // The message names the field already; keep the path
                    // for the listing.
                    let msg = e.to_string();
                    let msg = msg
                        .replacen(&format!("reading {field} "), "reading ", 1)
                        .replacen(&format!("{field}: "), "", 1);
                    push(field, msg);
                }
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(PlanErrors(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(source: &str, chap: &str) -> Plan {
        super::super::parse_plan(&format!(
            r#"{{"version":1,"source":{source},
              "target":{{"transport":"iscsi","portal":"192.0.2.1","iqn":"iqn.2024-01.org.example:x"{chap}}},
              "layout":{{"table":"gpt","firmware":"bios","partitions":[{{"mount":"/","fs":"ext4","size":"rest"}}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn missing_tree_and_secrets_are_named() {
        let d = tempfile::tempdir().unwrap();
        let short = d.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let p = plan(
            r#"{"type":"directory","path":"/nonexistent/netroot-tree"}"#,
            &format!(
                r#","chap":{{"username":"u","secret_file":"{}","target_username":"t","target_secret_file":"/nonexistent/s"}}"#,
                short.display()
            ),
        );
        let e = check_here(&p).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "source.path",
                "target.chap.secret_file",
                "target.chap.target_secret_file"
            ]
        );
        assert!(
            e.0[1].message.contains("12 to 16") && !e.0[1].message.contains("abc"),
            "{}",
            e.0[1].message
        );
        let ok = plan(
            &format!(r#"{{"type":"directory","path":"{}"}}"#, d.path().display()),
            "",
        );
        // A directory that is no system's root is refused up front.
        let e = check_here(&ok).unwrap_err();
        assert_eq!(e.0[0].path, "source.path");
        assert!(e.0[0].message.contains("os-release"), "{}", e.0[0].message);
        std::fs::create_dir_all(d.path().join("usr/lib")).unwrap();
        std::fs::write(d.path().join("usr/lib/os-release"), "ID=debian\n").unwrap();
        assert!(check_here(&ok).is_ok());
    }
}
