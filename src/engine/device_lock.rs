//! Exclusive access to the target device, whatever the plan calls it.
//!
//! Why apart from the journal's lock: that one is keyed by the state
//! directory and the plan's transport identity, so two runs of different
//! plans (other state dirs, other names for the disk) could write the same
//! disk at once. Here the lock is keyed by what the target *is*: a block
//! device by its major:minor (a udev link is the same device), an image file
//! by (st_dev, st_ino) and by its canonical path (`dir/../img` and a symlink
//! are the same file, and a file not created yet is still excluded), a loop
//! device also by the file behind it, a network disk not attached yet by
//! IQN+LUN or shelf.slot. Each key is a file in the lock directory, held with
//! flock for the run's life and holding the holder's PID and plan.

use crate::host::devnode;
use crate::outcome::Refused;
use crate::plan::{Plan, Target};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The default lock directory (NETROOT_LOCK_DIR overrides it).
pub const LOCK_DIR: &str = "/run/lock/netroot";

/// One identity of the target: the lock file's name and, for people, what
/// it stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceKey {
    pub key: String,
    pub what: String,
}

fn path_key(p: &Path) -> String {
    let h = hex::encode(Sha256::digest(p.as_os_str().as_encoded_bytes()));
    format!("path-{}", &h[..32])
}

/// The keys of an image file (existing or to be created), canonical.
fn file_keys(canon: &Path, keys: &mut Vec<DeviceKey>) {
    let what = format!("image file {}", canon.display());
    if let Some((dev, ino)) = devnode::file_id(canon) {
        keys.push(DeviceKey {
            key: format!("file-{dev}-{ino}"),
            what: what.clone(),
        });
    }
    keys.push(DeviceKey {
        key: path_key(canon),
        what,
    });
}

/// The keys of a path: a block device (and the file behind it when it is
/// a loop device), else an image file.
fn path_keys(p: &Path, keys: &mut Vec<DeviceKey>) {
    let disk = devnode::disk_path(p);
    if let devnode::DiskPath::Block {
        dev: (maj, min), ..
    } = disk
    {
        keys.push(DeviceKey {
            key: format!("blk-{maj}:{min}"),
            what: format!("block device {} ({maj}:{min})", p.display()),
        });
    }
    if let Some(f) = disk.file() {
        file_keys(f, keys);
    }
}

fn sorted(mut keys: Vec<DeviceKey>) -> Vec<DeviceKey> {
    keys.sort();
    keys.dedup_by(|a, b| a.key == b.key);
    keys
}

/// Every identity of the plan's target, sorted.
pub fn device_keys(target: &Target) -> Vec<DeviceKey> {
    let mut keys = Vec::new();
    match target.device() {
        Some(p) => path_keys(p, &mut keys),
        None => {
            let (key, what) = match target {
                Target::Iscsi { iqn, lun, .. } => (
                    format!("iscsi-{iqn}-lun{lun}"),
                    format!("iSCSI {iqn} LUN {lun}"),
                ),
                Target::Aoe { shelf, slot, .. } => (
                    format!("aoe-e{shelf}.{slot}"),
                    format!("AoE e{shelf}.{slot}"),
                ),
            };
            let key = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-:".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            keys.push(DeviceKey { key, what });
        }
    }
    sorted(keys)
}

/// The held locks; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DeviceLock {
    dir: PathBuf,
    plan_name: String,
    held: Vec<String>,
    _files: Vec<File>,
}

/// Who holds a lock file, from its contents: (PID, plan).
fn holder_of(f: &mut File) -> (String, String) {
    let mut s = String::new();
    let _ = f.rewind().and_then(|_| f.read_to_string(&mut s));
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    (field("pid:"), field("plan:"))
}

fn refusal(k: &DeviceKey, path: &Path, pid: &str, plan: &str) -> Refused {
    Refused(format!(
        "refusing: another netroot run (PID {pid}, plan {plan}) is working on the target, \
         {} (lock {}); wait for it to finish, or stop it, then run again",
        k.what,
        path.display()
    ))
}

/// Take every key of `plan`'s target under `dir`, or refuse naming the run
/// that holds one. `plan_file` is written into the lock for that message.
pub fn acquire(dir: &Path, plan: &Plan, plan_file: Option<&Path>) -> Result<DeviceLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating lock directory {}", dir.display()))?;
    let mut lock = DeviceLock {
        dir: dir.to_path_buf(),
        plan_name: plan_file.map_or("(none)".to_string(), |p| {
            devnode::canonical(p).display().to_string()
        }),
        held: Vec::new(),
        _files: Vec::new(),
    };
    for k in device_keys(&plan.target) {
        lock.take(&k)?;
    }
    Ok(lock)
}

impl DeviceLock {
    /// Also hold the keys of the attached disk `node` (the device a network
    /// disk turned out to be, the loop device on an image): a plan naming
    /// that node is then excluded too. Called before the disk is written.
    pub fn extend_to(&mut self, node: &Path) -> Result<()> {
        let mut keys = Vec::new();
        path_keys(node, &mut keys);
        for k in sorted(keys) {
            if !self.held.contains(&k.key) {
                self.take(&k)?;
            }
        }
        Ok(())
    }

    fn take(&mut self, k: &DeviceKey) -> Result<()> {
        let path = self.dir.join(&k.key);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening lock {}", path.display()))?;
        // A dry run's look lasts an instant, and the holder writes its name
        // right after taking the lock: try for a second before refusing.
        let mut tries = 0;
        while f.try_lock().is_err() {
            tries += 1;
            if tries < 10 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
            let (pid, other) = holder_of(&mut f);
            return Err(refusal(k, &path, &pid, &other).into());
        }
        f.set_len(0)?;
        f.rewind()?;
        write!(
            f,
            "pid: {}\nplan: {}\ndevice: {}\n",
            std::process::id(),
            self.plan_name,
            k.what
        )
        .with_context(|| format!("writing lock {}", path.display()))?;
        self.held.push(k.key.clone());
        self._files.push(f);
        Ok(())
    }
}

/// For a dry run, which takes no lock: the refusal a run would meet now,
/// if another run holds a key of `plan`'s target.
pub fn held_by_other(dir: &Path, plan: &Plan) -> Option<String> {
    for k in device_keys(&plan.target) {
        let path = dir.join(&k.key);
        let Ok(mut f) = File::open(&path) else {
            continue;
        };
        if f.try_lock_shared().is_err() {
            let (pid, other) = holder_of(&mut f);
            return Some(refusal(&k, &path, &pid, &other).0);
        }
    }
    None
}

/// The lock directory: NETROOT_LOCK_DIR, or [`LOCK_DIR`].
pub fn default_dir() -> PathBuf {
    std::env::var_os("NETROOT_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LOCK_DIR))
}

#[cfg(test)]
#[path = "device_lock_tests.rs"]
mod tests;
