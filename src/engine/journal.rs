//! The journal: which steps of which plan finished on which target.
//! JSON with a format version, written atomically (temp file, fsync,
//! rename), under an exclusive lock so two runs cannot race.

use super::StepId;
use crate::plan::{diff::changed_paths, Plan};
use crate::tools::runner::write_atomic;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub const JOURNAL_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalData {
    pub format: u32,
    pub netroot_version: String,
    pub plan_digest: String,
    /// The plan as it was, to say what changed when another plan comes.
    pub plan: serde_json::Value,
    pub created: String,
    pub updated: String,
    /// Finished steps with the time they finished.
    pub steps: BTreeMap<StepId, String>,
    /// When the last final sync (`migrate --resync`) finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resync: Option<String>,
}

/// The refusal for a journal that belongs to another plan of the same
/// target: which fields changed and the way out. The same words from a
/// run, a dry run and `status`.
pub fn different_plan(path: &Path, d: &JournalData, plan: &Plan) -> crate::outcome::Refused {
    let mut shape = plan.clone();
    shape.layout.wipe = false;
    let now = serde_json::to_value(&shape).unwrap_or_default();
    let changed = changed_paths(&d.plan, &now);
    crate::outcome::Refused(format!(
        "refusing: the journal {} belongs to a different plan for this target \
         (started {}); changed: {}.\n  Finish with the original plan, or, to start \
         over with this one, remove {} (netroot then probes the disk again).",
        path.display(),
        d.created,
        if changed.is_empty() {
            "(formatting only)".to_string()
        } else {
            changed.join(", ")
        },
        path.display()
    ))
}

/// An open journal; holds the lock while alive.
pub struct Journal {
    path: PathBuf,
    _lock: File,
    pub data: JournalData,
}

pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Where the journal of a plan's target lives.
pub fn journal_path(state_dir: &Path, plan: &Plan) -> PathBuf {
    state_dir.join(format!("{}.journal.json", plan.target_key()))
}

/// Read a journal without locking (for `netroot status`).
pub fn read(path: &Path) -> Result<Option<JournalData>> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let d: JournalData = serde_json::from_str(&s)
                .with_context(|| format!("journal {} is damaged", path.display()))?;
            if d.format != JOURNAL_FORMAT {
                bail!(
                    "journal {} has format {}, this netroot reads format {JOURNAL_FORMAT}",
                    path.display(),
                    d.format
                );
            }
            Ok(Some(d))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading journal {}", path.display())),
    }
}

impl Journal {
    /// Open (or start) the journal for `plan` under `state_dir`, taking the
    /// lock. A journal of a different plan for the same target is refused,
    /// naming what changed.
    pub fn open(state_dir: &Path, plan: &Plan) -> Result<Journal> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating state directory {}", state_dir.display()))?;
        let path = journal_path(state_dir, plan);
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path)
            .with_context(|| format!("creating lock {}", lock_path.display()))?;
        // A forked child of this process may hold a copy of a just-closed
        // lock descriptor for an instant before it execs: retry briefly.
        let mut tries = 0;
        while lock.try_lock().is_err() && tries < 30 {
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        lock.try_lock().map_err(|_| {
            crate::outcome::Refused(format!(
                "another netroot run is working on this target (lock {} is held); wait for it to finish",
                lock_path.display()
            ))
        })?;
        let digest = plan.digest();
        let mut shape = plan.clone();
        shape.layout.wipe = false;
        let plan_value = serde_json::to_value(&shape)?;
        let data = match read(&path)? {
            Some(d) if d.plan_digest == digest => d,
            Some(d) => return Err(different_plan(&path, &d, plan).into()),
            None => JournalData {
                format: JOURNAL_FORMAT,
                netroot_version: env!("CARGO_PKG_VERSION").to_string(),
                plan_digest: digest,
                plan: plan_value,
                created: now(),
                updated: now(),
                steps: BTreeMap::new(),
                last_resync: None,
            },
        };
        let j = Journal {
            path,
            _lock: lock,
            data,
        };
        j.save()?;
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_done(&self, id: StepId) -> bool {
        self.data.steps.contains_key(&id)
    }

    pub fn mark_done(&mut self, id: StepId) -> Result<()> {
        self.data.steps.insert(id, now());
        self.data.updated = now();
        self.save()
    }

    /// Record that a final sync finished now.
    pub fn mark_resync(&mut self) -> Result<()> {
        self.data.last_resync = Some(now());
        self.data.updated = now();
        self.save()
    }

    /// Forget a step (its probe found it undone after all).
    pub fn mark_undone(&mut self, id: StepId) -> Result<()> {
        if self.data.steps.remove(&id).is_some() {
            self.data.updated = now();
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let s = serde_json::to_string_pretty(&self.data)?;
        write_atomic(&self.path, s.as_bytes(), 0o600)
            .with_context(|| format!("writing journal {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse_plan;

    fn plan(size: &str) -> Plan {
        parse_plan(&format!(
            r#"{{"version":1,"source":{{"type":"live"}},
               "target":{{"transport":"aoe","shelf":1,"slot":2}},
               "layout":{{"table":"gpt","firmware":"bios",
                          "partitions":[{{"mount":"/","fs":"ext4","size":"{size}"}}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn round_trip_and_resume() {
        let d = tempfile::tempdir().unwrap();
        let p = plan("rest");
        {
            let mut j = Journal::open(d.path(), &p).unwrap();
            j.mark_done(StepId::Partition).unwrap();
            j.mark_done(StepId::Format).unwrap();
        }
        let j = Journal::open(d.path(), &p).unwrap();
        assert!(j.is_done(StepId::Partition));
        assert!(j.is_done(StepId::Format));
        assert!(!j.is_done(StepId::Copy));
        let raw = read(j.path()).unwrap().unwrap();
        assert_eq!(raw.format, JOURNAL_FORMAT);
        assert_eq!(raw.plan_digest, p.digest());
    }

    #[test]
    fn a_second_run_is_locked_out() {
        let d = tempfile::tempdir().unwrap();
        let p = plan("rest");
        let _j = Journal::open(d.path(), &p).unwrap();
        let e = Journal::open(d.path(), &p).err().unwrap().to_string();
        assert!(e.contains("another netroot run"), "{e}");
    }

    #[test]
    fn a_changed_plan_is_refused_naming_the_change() {
        let d = tempfile::tempdir().unwrap();
        drop(Journal::open(d.path(), &plan("rest")).unwrap());
        let e = Journal::open(d.path(), &plan("2G"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("refusing"), "{e}");
        assert!(e.contains("layout.partitions[0].size"), "{e}");
    }

    #[test]
    fn turning_wipe_on_is_the_same_plan() {
        let d = tempfile::tempdir().unwrap();
        let p = plan("rest");
        drop(Journal::open(d.path(), &p).unwrap());
        let mut w = p.clone();
        w.layout.wipe = true;
        Journal::open(d.path(), &w).unwrap();
    }

    #[test]
    fn damaged_journal_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = plan("rest");
        std::fs::write(journal_path(d.path(), &p), "{not json").unwrap();
        let e = Journal::open(d.path(), &p).err().unwrap().to_string();
        assert!(e.contains("damaged"), "{e}");
    }
}
