//! Root tier: drive `netroot wizard` in tmux like a person at the console
//! (send-keys, capture-pane) against an image-file target, then inspect the
//! image with real tools. The source is the cached test root tree
//! (read-only), chosen as "a root tree in a directory".

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests copy a whole tree each: one at a time on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// Longest a screen may take to appear before the test gives up (a hang
/// guard, not an assertion about speed).
const PROMPT_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// A private tmux server with one 200x50 session running a command.
struct Tmux {
    socket: String,
    status_file: PathBuf,
}

impl Tmux {
    /// Run `command` in a shell that writes its exit status to
    /// `status_file`. The shell traps SIGINT (so Ctrl-C reaches netroot and
    /// its children with their own dispositions, and the shell survives to
    /// write the status).
    fn start(name: &str, command: &str, status_file: &Path) -> Tmux {
        let t = Tmux {
            socket: format!("netroot-test-{name}-{}", std::process::id()),
            status_file: status_file.to_path_buf(),
        };
        let command = format!(
            "trap true INT; {command}; echo $? > {}.tmp && mv {0}.tmp {0}",
            status_file.display()
        );
        let ok = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "wiz", "-x", "200", "-y", "50", &command])
            .args([";", "set-option", "-t", "wiz", "remain-on-exit", "on"])
            .args([";", "set-option", "-t", "wiz", "history-limit", "20000"])
            .status()
            .expect("running tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Press keys (tmux key names: Enter, Down, C-c).
    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "wiz"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    /// Type text literally, then Enter.
    fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "wiz", "-l", text]);
        self.keys(&["Enter"]);
    }

    /// Everything the pane showed, history included, lines joined.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", "wiz", "-S", "-20000"])
    }

    /// The exit status once the wizard has ended: the pane's shell writes
    /// it to a file (tmux 3.3a sometimes marks a pane dead without its
    /// status).
    fn exit_status(&self) -> Option<i32> {
        std::fs::read_to_string(&self.status_file)
            .ok()
            .filter(|s| s.ends_with('\n'))
            .and_then(|s| s.trim().parse().ok())
    }

    /// Wait until the screen contains `what` (or the wizard ended).
    fn wait_for(&self, what: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            if self.exit_status().is_some() || t0.elapsed() > limit {
                panic!(
                    "waited for {what:?}; the wizard {}; screen:\n{s}",
                    if self.exit_status().is_some() {
                        "ended"
                    } else {
                        "is stuck"
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the prompt `prompt` is the active question.
    fn ask(&self, prompt: &str) -> String {
        self.wait_for(&format!("? {prompt}"), PROMPT_LIMIT)
    }

    /// Wait until the wizard ends; returns its exit status and last screen.
    fn wait_exit(&self, limit: Duration) -> (i32, String) {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.exit_status() {
                return (c, self.screen());
            }
            assert!(
                t0.elapsed() < limit,
                "the wizard did not end; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// A scratch area: out/ for the wizard, its state and work directories.
struct Setup {
    scratch: Scratch,
    out: PathBuf,
    state: PathBuf,
    work: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let scratch = Scratch::new(name);
        let out = scratch.join("out");
        let state = scratch.join("state");
        let work = scratch.join("work");
        std::fs::create_dir_all(&out).unwrap();
        Setup {
            scratch,
            out,
            state,
            work,
        }
    }
    fn image(&self) -> PathBuf {
        self.out.join("netroot-disk.img")
    }
    fn plan_path(&self) -> PathBuf {
        self.out.join("plan.json")
    }
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NETROOT_STATE_DIR", self.state.display().to_string()),
            ("NETROOT_WORK_DIR", self.work.display().to_string()),
        ]
    }
    /// Start the wizard in tmux, in a private mount namespace.
    fn start_wizard(&self, name: &str) -> Tmux {
        self.start_wizard_with(name, &[])
    }
    /// The same, with extra environment.
    fn start_wizard_with(&self, name: &str, extra: &[(&str, String)]) -> Tmux {
        self.start_netroot(name, extra, &format!("wizard --out {}", self.out.display()))
    }
    /// netroot with `args`, in the scratch directory.
    fn start_netroot(&self, name: &str, extra: &[(&str, String)], args: &str) -> Tmux {
        let env: Vec<String> = self
            .envs()
            .iter()
            .chain(
                extra
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let cmd = format!(
            "cd {} && unshare -m --propagation private env {} {} {args}",
            self.scratch.path.display(),
            env.join(" "),
            netroot_bin().display(),
        );
        Tmux::start(name, &cmd, &self.scratch.join("exit-status"))
    }
}

/// The PID of the netroot process that its stop hook has stopped (state T).
fn stopped_netroot(limit: Duration) -> i32 {
    let t0 = std::time::Instant::now();
    loop {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            if stat.contains("(netroot) T ") {
                return pid;
            }
        }
        assert!(
            t0.elapsed() < limit,
            "netroot never stopped in the copy step"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Answer every question (the directory source, Enter elsewhere), up to
/// the confirmation; returns the screen showing the dry run.
fn drive_to_confirmation(t: &Tmux, s: &Setup, rootfs: &Path) -> String {
    let first = t.ask("What should be copied?");
    for want in ["This machine", "system ", "firmware", "kernel", "NICs"] {
        assert!(first.contains(want), "{want:?} missing:\n{first}");
    }
    t.keys(&["Down", "Enter"]);
    t.ask("Root tree directory");
    t.type_line(&rootfs.display().to_string());
    let sc = t.ask("Where should it go?");
    assert!(
        sc.contains("❯ an image file on this machine (export it later)"),
        "the image file is not the default target:\n{sc}"
    );
    t.keys(&["Enter"]);
    let sc = t.ask("Image file");
    assert!(
        sc.contains(&s.image().display().to_string()),
        "the default image path is not in --out:\n{sc}"
    );
    t.keys(&["Enter"]);
    for p in [
        "Image size",
        "How will the server export it?",
        "IQN to export it as",
        "Portal the server will listen on",
        "Partition layout",
        "Root filesystem",
    ] {
        t.ask(p);
        t.keys(&["Enter"]);
    }
    let sc = t.ask("Hostname of the migrated system");
    assert!(
        sc.contains("(netroot-src)"),
        "the tree's hostname is not the default:\n{sc}"
    );
    t.keys(&["Enter"]);
    t.ask("Boot interface");
    t.keys(&["Enter"]);
    let sc = t.ask("Type ");
    for want in [
        "DRY RUN",
        "DESTRUCTIVE",
        "iqn.2024-01.org.netroot:netroot-src",
        &format!("Type {} to go on", s.image().display()),
    ] {
        assert!(sc.contains(want), "{want:?} missing:\n{sc}");
    }
    assert!(
        !s.image().exists() && !s.plan_path().exists(),
        "something was written before the confirmation"
    );
    sc
}

/// What the image holds.
#[derive(Debug, PartialEq)]
struct Inspected {
    uuids: Vec<String>,
    files: Vec<String>,
    hostname: String,
    fstab: String,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait for partition node `p` of loop device `disk`. This host's kernel
/// may not parse GPT and no udev runs: tell the kernel with partx.
fn wait_node(disk: &str, p: &Path) {
    for _ in 0..100 {
        if p.exists() {
            return;
        }
        let _ = Command::new("partx").args(["-u", disk]).status();
        let _ = Command::new("partx").args(["-a", disk]).status();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} did not appear", p.display());
}

/// Check the table and UUIDs against the plan, and list the root's files.
fn inspect(s: &Setup, plan: &netroot::plan::Plan) -> Inspected {
    let image = s.image();
    let size = std::fs::metadata(&image).unwrap().len();
    let layout = netroot::plan::resolve_layout(&plan.layout, size, &plan.layout_seed()).unwrap();
    let table: serde_json::Value =
        serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&image))).unwrap();
    assert_eq!(table["partitiontable"]["label"], "gpt", "{table}");
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), layout.partitions.len(), "{table}");
    let dev = run(Command::new("losetup")
        .args(["-f", "-P", "-r", "--show"])
        .arg(&image))
    .trim()
    .to_string();
    let mut uuids = Vec::new();
    for p in &layout.partitions {
        let Some(want) = &p.fs_uuid else { continue };
        let node = PathBuf::from(format!("{dev}p{}", p.number));
        wait_node(&dev, &node);
        let got = run(Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "UUID"])
            .arg(&node))
        .trim()
        .to_string();
        assert_eq!(&got, want, "partition {} UUID", p.number);
        uuids.push(got);
    }
    let root = layout.root();
    let mnt = s.scratch.join("inspect");
    std::fs::create_dir_all(&mnt).unwrap();
    run(Command::new("mount")
        .args(["-o", "ro"])
        .arg(format!("{dev}p{}", root.number))
        .arg(&mnt));
    let files = run(Command::new("find").arg(".").arg("-xdev").current_dir(&mnt));
    let mut files: Vec<String> = files
        .lines()
        .filter(|l| !l.starts_with("./var/log/netroot") && !l.contains("netroot-wizard.log"))
        .map(str::to_string)
        .collect();
    files.sort();
    let hostname = std::fs::read_to_string(mnt.join("etc/hostname")).unwrap_or_default();
    let fstab = std::fs::read_to_string(mnt.join("etc/fstab")).unwrap_or_default();
    let kernel_ok = std::fs::read_dir(mnt.join("boot"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz"));
    let _ = Command::new("umount").arg(&mnt).status();
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    assert!(kernel_ok, "no kernel in /boot of the copy");
    Inspected {
        uuids,
        files,
        hostname: hostname.trim().to_string(),
        fstab,
    }
}

fn load_plan(s: &Setup) -> netroot::plan::Plan {
    netroot::plan::load_plan(&s.plan_path()).expect("the wizard saved a valid plan")
}

#[test]
fn wizard_migrates_into_an_image_file() {
    if !require_root() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    private_mounts();
    let rootfs = rootfs();
    let s = Setup::new("wizard-tmux");
    let t = s.start_wizard("e2e");
    drive_to_confirmation(&t, &s, &rootfs);
    t.type_line(&s.image().display().to_string());
    let sc = t.wait_for("Migrating (Ctrl-C stops at a safe point)", PROMPT_LIMIT);
    assert!(
        sc.contains(&format!("Plan saved: {}", s.plan_path().display())),
        "{sc}"
    );
    // Spinners for the steps without byte progress (live lines, redrawn
    // in place: watched while they run).
    t.wait_for("initramfs: build", RUN_LIMIT);
    t.wait_for("bootloader: generate grub.cfg", RUN_LIMIT);
    let (code, sc) = t.wait_exit(RUN_LIMIT);
    assert_eq!(code, 0, "the wizard failed:\n{sc}");
    for step in [
        "partition",
        "format",
        "copy",
        "initramfs",
        "bootloader",
        "finalize",
    ] {
        assert!(
            sc.lines()
                .any(|l| l.trim_start().starts_with(&format!("+ {step} ")) && l.contains("ran")),
            "no progress line for {step}:\n{sc}"
        );
    }
    for want in [
        "The migration is complete.",
        "What to do next",
        "README.txt",
        "PXE",
        &s.image().display().to_string(),
    ] {
        assert!(sc.contains(want), "{want:?} missing:\n{sc}");
    }
    assert!(s.out.join("netroot-wizard.log").exists(), "no log file");
    assert!(
        s.out.join("server/README.txt").exists(),
        "no server files in {}",
        s.out.display()
    );
    let plan = load_plan(&s);
    assert_eq!(plan.target.device(), Some(&s.image()));
    let got = inspect(&s, &plan);
    assert_eq!(got.hostname, "netroot-src");
    assert!(
        got.fstab
            .contains(&format!("UUID={}", got.uuids.last().unwrap())),
        "fstab does not name the new root:\n{}",
        got.fstab
    );
    assert!(got.files.iter().any(|f| f == "./etc/os-release"));
}

#[test]
fn bare_netroot_on_a_terminal_is_the_wizard_and_ctrl_c_at_a_question_writes_nothing() {
    if !require_root() {
        return;
    }
    let s = Setup::new("wizard-bare");
    let t = s.start_netroot("bare", &[], "");
    let sc = t.ask("What should be copied?");
    assert!(sc.contains("This machine"), "{sc}");
    t.keys(&["C-c"]);
    let (code, sc) = t.wait_exit(PROMPT_LIMIT);
    assert_eq!(code, 130, "{sc}");
    assert!(
        sc.contains("Aborted at a question (Ctrl-C). Nothing was written."),
        "{sc}"
    );
    // Bare netroot works in the current directory (the scratch here).
    assert!(s.scratch.join("netroot-wizard.log").exists());
    assert!(!s.scratch.join("plan.json").exists());
}

#[test]
fn a_wrong_identity_aborts_with_nothing_written() {
    if !require_root() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    private_mounts();
    let rootfs = rootfs();
    let s = Setup::new("wizard-abort");
    let t = s.start_wizard("abort");
    drive_to_confirmation(&t, &s, &rootfs);
    t.type_line("yes");
    let (code, sc) = t.wait_exit(PROMPT_LIMIT);
    assert_eq!(code, 3, "{sc}");
    assert!(sc.contains("Nothing was written"), "{sc}");
    assert!(!s.image().exists(), "the image was created");
    assert!(!s.plan_path().exists(), "the plan was saved");
    assert!(!s.state.exists(), "a journal was started");
}

#[test]
fn ctrl_c_during_the_copy_then_resume_gives_the_same_disk() {
    if !require_root() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    private_mounts();
    let rootfs = rootfs();
    let s = Setup::new("wizard-ctrlc");
    // A cached tree copies in a second or two: netroot's own hook
    // (NETROOT_TEST_STOP_AT, docs/cli.md) stops the run right after the
    // copy step's first change, the key press lands while it is stopped,
    // and the run goes on with the interrupt pending — in the copy step,
    // whichever copier runs it.
    let t = s.start_wizard_with("ctrlc", &[("NETROOT_TEST_STOP_AT", "copy:1".to_string())]);
    drive_to_confirmation(&t, &s, &rootfs);
    t.type_line(&s.image().display().to_string());
    let pid = stopped_netroot(RUN_LIMIT);
    t.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let (code, sc) = t.wait_exit(RUN_LIMIT);
    let resume = format!("netroot migrate --plan {} --yes", s.plan_path().display());
    assert!(
        sc.contains(&format!(
            "interrupted at a safe point; resume with: {resume}"
        )),
        "no resume command:\n{sc}"
    );
    // rsync dies with the key press (the step stops inside the copy); the
    // native copier finishes its transfer and the run stops at the next
    // safe point, before fstab. Either way the run did not finish.
    assert!(
        sc.contains("(stopped during step copy;") || sc.contains("+ copy        ran"),
        "{sc}"
    );
    assert_eq!(code, 130, "{sc}");
    let envs = s.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let plan_arg = s.plan_path().display().to_string();
    let (_, st, _) = netroot(&["status", "--plan", &plan_arg], &envs);
    assert!(
        st.lines()
            .any(|l| { (l.contains("copy") || l.contains("fstab")) && l.contains("pending") }),
        "neither the copy nor the step after it is pending after Ctrl-C:\n{st}"
    );

    // Resume with the printed command.
    let printed: Vec<&str> = resume.split_whitespace().collect();
    assert_eq!(printed[0], "netroot");
    let (code, out, err) = netroot(&printed[1..], &envs);
    assert_eq!(code, 0, "resume failed:\n{out}\n{err}");
    let plan = load_plan(&s);
    let resumed = inspect(&s, &plan);

    // An uninterrupted run of the same plan onto a fresh image at the same
    // path (same seed, so the same UUIDs) must give the same disk.
    std::fs::remove_file(s.image()).unwrap();
    let fresh_state = s.scratch.join("state-fresh");
    let fresh = fresh_state.display().to_string();
    let work = s.work.display().to_string();
    let (code, out, err) = netroot(
        &["migrate", "--plan", &plan_arg, "--yes"],
        &[("NETROOT_STATE_DIR", &fresh), ("NETROOT_WORK_DIR", &work)],
    );
    assert_eq!(code, 0, "the uninterrupted run failed:\n{out}\n{err}");
    let straight = inspect(&s, &plan);
    assert_eq!(resumed.uuids, straight.uuids);
    assert_eq!(resumed.hostname, straight.hostname);
    assert_eq!(resumed.fstab, straight.fstab);
    if resumed.files != straight.files {
        let a: std::collections::BTreeSet<_> = resumed.files.iter().collect();
        let b: std::collections::BTreeSet<_> = straight.files.iter().collect();
        panic!(
            "file lists differ: only after resume {:?}; only in the straight run {:?}",
            a.difference(&b).take(20).collect::<Vec<_>>(),
            b.difference(&a).take(20).collect::<Vec<_>>()
        );
    }
}
