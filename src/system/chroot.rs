//! The chroot guard: everything a program run inside the target needs,
//! set up through the runner (so a dry run shows it) and undone in reverse
//! when the guard is closed or dropped, also on error and on Ctrl-C.
//!
//! - `/dev` is a **private tmpfs**, not a bind of the host's /dev: it holds
//!   the usual character devices, the target disk and its partitions, and
//!   `/dev/disk/by-uuid` links for the planned filesystems (this machine
//!   runs no udev, and grub-mkconfig writes `root=/dev/loop0p2` without
//!   them). A `rm -rf` below the target can then never reach the host's
//!   device nodes. `/dev/pts` is a new devpts instance.
//! - `/proc`, `/sys` are fresh proc and sysfs mounts; `/run` a fresh tmpfs
//!   (binding the host's /run would let `systemctl` in the target talk to
//!   the host's systemd). efivarfs is mounted read-only when asked for and
//!   the host has it.
//! - `/etc/resolv.conf` is the host's (bind-mounted; a symlink in the
//!   target is set aside and put back), so package installs resolve names.
//! - `/usr/sbin/policy-rc.d` exits 101, so no service starts in the target.
//!
//! While a guard is alive, SIGINT and SIGTERM only set a flag: the child
//! in the foreground dies of the signal, its command fails, and the step's
//! error unwinds through the guard's drop. [`Chroot::close`] and
//! [`Chroot::check_interrupted`] turn the flag into an error.

use crate::tools::{Cmd, Runner};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// What the guard sets up besides the standard mounts.
#[derive(Debug, Clone, Default)]
pub struct ChrootOptions {
    /// Host block devices to recreate in the private /dev (the target disk
    /// and its partitions), same path below /dev.
    pub devices: Vec<PathBuf>,
    /// `/dev/disk/by-uuid/UUID` → device links.
    pub by_uuid: Vec<(String, PathBuf)>,
    /// Mount efivarfs read-only (UEFI installs) when the host has it.
    pub efivars: bool,
}

enum Undo {
    Unmount(PathBuf),
    Remove(PathBuf),
    Rename { from: PathBuf, to: PathBuf },
    Signals,
}

/// A prepared chroot; see the module docs.
pub struct Chroot {
    root: PathBuf,
    runner: Runner,
    undo: Vec<Undo>,
}

const POLICY_RC_D: &str =
    "#!/bin/sh\n# Written by netroot: no service starts in the target while netroot works in it.\nexit 101\n";
const SAVED: &str = "netroot-orig";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
type SavedHandlers = (
    usize,
    Option<(nix::sys::signal::SigAction, nix::sys::signal::SigAction)>,
);
static HANDLERS: Mutex<SavedHandlers> = Mutex::new((0, None));

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // The engine stops before the next step too (only stores an atomic).
    crate::outcome::request_stop();
}

fn catch_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let mut g = HANDLERS.lock().unwrap();
    if g.0 == 0 {
        let act = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic.
        let old = unsafe {
            (
                sigaction(Signal::SIGINT, &act).ok(),
                sigaction(Signal::SIGTERM, &act).ok(),
            )
        };
        if let (Some(a), Some(b)) = old {
            g.1 = Some((a, b));
        }
    }
    g.0 += 1;
}

fn release_signals() {
    use nix::sys::signal::{sigaction, Signal};
    let mut g = HANDLERS.lock().unwrap();
    g.0 = g.0.saturating_sub(1);
    if g.0 == 0 {
        if let Some((a, b)) = g.1.take() {
            // SAFETY: restoring the handlers that were installed before.
            unsafe {
                let _ = sigaction(Signal::SIGINT, &a);
                let _ = sigaction(Signal::SIGTERM, &b);
            }
        }
    }
}

/// Was netroot asked to stop (SIGINT/SIGTERM) while a guard was alive?
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst) || crate::outcome::stop_requested()
}

fn saved(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".");
    s.push(SAVED);
    PathBuf::from(s)
}

impl Chroot {
    /// Prepare `root` for running programs inside it.
    pub fn enter(runner: &Runner, root: &Path, opts: &ChrootOptions) -> Result<Chroot> {
        if !root.is_absolute() || root == Path::new("/") {
            bail!(
                "refusing to prepare {} as a chroot: it must be a mounted target, not /",
                root.display()
            );
        }
        catch_signals();
        let mut c = Chroot {
            root: root.to_path_buf(),
            runner: runner.clone(),
            undo: vec![Undo::Signals],
        };
        c.recover_leftovers()?;
        c.setup(opts)
            .with_context(|| format!("preparing the chroot {}", root.display()))?;
        Ok(c)
    }

    /// The target root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A command to run inside the target.
    pub fn cmd(&self, program: &str) -> Cmd {
        Cmd::in_root(&self.root, program)
    }

    /// An error when netroot was asked to stop.
    pub fn check_interrupted(&self) -> Result<()> {
        if interrupted() {
            bail!("interrupted by a signal; run the same command again to resume");
        }
        Ok(())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    fn mount(&mut self, args: &[&str], target: &Path) -> Result<()> {
        self.runner
            .run(&Cmd::new("mount").args(args).arg(target))
            .with_context(|| format!("mounting {}", target.display()))?;
        self.undo.push(Undo::Unmount(target.to_path_buf()));
        Ok(())
    }

    fn ensure_dir(&self, p: &Path) -> Result<()> {
        if p.is_dir() {
            return Ok(());
        }
        let p2 = p.to_path_buf();
        self.runner.effect(
            &format!("create directory {}", p.display()),
            false,
            move || std::fs::create_dir_all(&p2).map_err(Into::into),
        )?;
        Ok(())
    }

    /// Undo what a killed run left: mounts below the root's /dev, /proc,
    /// /sys, /run and resolv.conf; set-aside files.
    fn recover_leftovers(&mut self) -> Result<()> {
        let watched: Vec<PathBuf> = ["dev", "proc", "sys", "run", "etc/resolv.conf"]
            .iter()
            .map(|d| self.path(d))
            .collect();
        let mut stale: Vec<PathBuf> = crate::tools::findmnt::targets(&self.runner)?
            .into_iter()
            .filter(|m| watched.iter().any(|w| m.starts_with(w)))
            .collect();
        stale.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for m in stale {
            tracing::warn!("unmounting {} left by an earlier run", m.display());
            self.runner
                .run(&Cmd::new("umount").arg("-l").arg(&m))
                .with_context(|| format!("unmounting {} left by an earlier run", m.display()))?;
        }
        for rel in ["etc/resolv.conf", "usr/sbin/policy-rc.d"] {
            let p = self.path(rel);
            let s = saved(&p);
            if std::fs::symlink_metadata(&s).is_ok() {
                let (p2, s2) = (p.clone(), s.clone());
                self.runner.effect(
                    &format!("put back {} set aside by an earlier run", p.display()),
                    false,
                    move || {
                        let _ = std::fs::remove_file(&p2);
                        std::fs::rename(&s2, &p2).map_err(Into::into)
                    },
                )?;
            }
        }
        Ok(())
    }

    fn setup(&mut self, opts: &ChrootOptions) -> Result<()> {
        let dev = self.path("dev");
        for d in ["dev", "proc", "sys", "run"] {
            self.ensure_dir(&self.path(d))?;
        }
        self.mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                "mode=0755,nosuid,size=16m",
                "netroot-dev",
            ],
            &dev,
        )?;
        let (d2, devices, links) = (dev.clone(), opts.devices.clone(), opts.by_uuid.clone());
        let mut what = format!("create a private /dev in {}", dev.display());
        if !opts.devices.is_empty() {
            let d: Vec<String> = opts
                .devices
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            what.push_str(&format!(" with {}", d.join(", ")));
        }
        for (u, d) in &opts.by_uuid {
            what.push_str(&format!("; disk/by-uuid/{u} -> {}", d.display()));
        }
        self.runner
            .effect(&what, false, move || populate_dev(&d2, &devices, &links))?;
        self.mount(
            &[
                "-t",
                "devpts",
                "-o",
                "newinstance,ptmxmode=0666,mode=0620",
                "devpts",
            ],
            &dev.join("pts"),
        )?;
        self.mount(
            &["-t", "tmpfs", "-o", "nosuid,nodev,mode=1777", "shm"],
            &dev.join("shm"),
        )?;
        self.mount(&["-t", "proc", "proc"], &self.path("proc"))?;
        self.mount(&["-t", "sysfs", "sysfs"], &self.path("sys"))?;
        let efivars = Path::new("/sys/firmware/efi/efivars");
        if opts.efivars && efivars.is_dir() {
            self.mount(
                &["-t", "efivarfs", "-o", "ro", "efivarfs"],
                &self.path("sys/firmware/efi/efivars"),
            )?;
        }
        self.mount(
            &["-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "netroot-run"],
            &self.path("run"),
        )?;
        self.resolv_conf()?;
        self.policy_rc_d()?;
        Ok(())
    }

    fn resolv_conf(&mut self) -> Result<()> {
        let host = Path::new("/etc/resolv.conf");
        let rc = self.path("etc/resolv.conf");
        if !host.exists() || !self.path("etc").is_dir() {
            return Ok(());
        }
        let meta = std::fs::symlink_metadata(&rc).ok();
        if !meta.as_ref().is_some_and(|m| m.is_file()) {
            if meta.is_some() {
                let (a, b) = (rc.clone(), saved(&rc));
                self.runner
                    .effect(&format!("set {} aside", rc.display()), false, move || {
                        std::fs::rename(&a, &b).map_err(Into::into)
                    })?;
                self.undo.push(Undo::Rename {
                    from: saved(&rc),
                    to: rc.clone(),
                });
            }
            let a = rc.clone();
            self.runner.effect(
                &format!("create {} to mount the host's over it", rc.display()),
                false,
                move || std::fs::write(&a, b"").map_err(Into::into),
            )?;
            self.undo.push(Undo::Remove(rc.clone()));
        }
        self.mount(&["--bind", "/etc/resolv.conf"], &rc)
    }

    fn policy_rc_d(&mut self) -> Result<()> {
        let sbin = self.path("usr/sbin");
        if !sbin.is_dir() {
            return Ok(());
        }
        let p = sbin.join("policy-rc.d");
        if std::fs::symlink_metadata(&p).is_ok() {
            let ours = std::fs::read_to_string(&p).is_ok_and(|t| t == POLICY_RC_D);
            if !ours {
                let (a, b) = (p.clone(), saved(&p));
                self.runner
                    .effect(&format!("set {} aside", p.display()), false, move || {
                        std::fs::rename(&a, &b).map_err(Into::into)
                    })?;
                self.undo.push(Undo::Rename {
                    from: saved(&p),
                    to: p.clone(),
                });
            }
        }
        self.runner.write_file(&p, POLICY_RC_D.as_bytes(), 0o755)?;
        self.undo.push(Undo::Remove(p));
        Ok(())
    }

    fn undo_all(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some(u) = self.undo.pop() {
            let r: Result<()> = match &u {
                Undo::Unmount(p) => {
                    let r = self.runner.run(&Cmd::new("umount").arg("-R").arg(p));
                    match r {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            tracing::warn!("{e:#}; unmounting {} lazily", p.display());
                            self.runner
                                .run(&Cmd::new("umount").args(["-R", "-l"]).arg(p))
                                .map(|_| ())
                        }
                    }
                }
                Undo::Remove(p) => {
                    let p2 = p.clone();
                    self.runner
                        .effect(&format!("remove {}", p.display()), false, move || {
                            match std::fs::remove_file(&p2) {
                                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                                _ => Ok(()),
                            }
                        })
                        .map(|_| ())
                }
                Undo::Rename { from, to } => {
                    let (a, b) = (from.clone(), to.clone());
                    self.runner
                        .effect(&format!("put back {}", to.display()), false, move || {
                            std::fs::rename(&a, &b).map_err(Into::into)
                        })
                        .map(|_| ())
                }
                Undo::Signals => {
                    release_signals();
                    Ok(())
                }
            };
            if let Err(e) = r {
                tracing::warn!("undoing the chroot: {e:#}");
                errors.push(format!("{e:#}"));
            }
        }
        errors
    }

    /// Undo everything now; an error names what could not be undone (or
    /// says the run was interrupted).
    pub fn close(mut self) -> Result<()> {
        let errors = self.undo_all();
        if !errors.is_empty() {
            bail!(
                "leaving the chroot {}: {}",
                self.root.display(),
                errors.join("; ")
            );
        }
        self.check_interrupted()
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        self.undo_all();
    }
}

fn populate_dev(dev: &Path, devices: &[PathBuf], by_uuid: &[(String, PathBuf)]) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
    let chmod = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let p = dev.join(name);
        mknod(
            &p,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .with_context(|| format!("mknod {}", p.display()))?;
        chmod(&p, 0o666)?;
    }
    for d in ["pts", "shm", "disk/by-uuid"] {
        std::fs::create_dir_all(dev.join(d))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        symlink(target, dev.join(name))?;
    }
    for d in devices {
        let meta = match std::fs::metadata(d) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    "{} is not on this machine ({e}); not in the chroot's /dev",
                    d.display()
                );
                continue;
            }
        };
        if !meta.file_type().is_block_device() {
            bail!("{} is not a block device", d.display());
        }
        let rel = d
            .strip_prefix("/dev")
            .with_context(|| format!("{} is not below /dev", d.display()))?;
        let p = dev.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        mknod(
            &p,
            SFlag::S_IFBLK,
            Mode::from_bits_truncate(0o660),
            meta.rdev(),
        )
        .with_context(|| format!("mknod {}", p.display()))?;
    }
    for (uuid, d) in by_uuid {
        symlink(d, dev.join("disk/by-uuid").join(uuid))?;
    }
    Ok(())
}
