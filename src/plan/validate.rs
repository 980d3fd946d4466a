//! Loading and validating plans. Every problem is reported, each with the
//! JSON path of the field at fault, before anything is written anywhere.

use super::errors::{Errs, PlanError, PlanErrors};
use super::size::{Size, MIB};
use super::types::*;
use super::values::has_unsafe_char;
use serde_json::Value;
use std::collections::BTreeSet;

/// Parse and validate a plan from JSON text.
pub fn parse_plan(text: &str) -> Result<Plan, PlanErrors> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        PlanErrors(vec![PlanError {
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        }])
    })?;
    let dups = super::dupkeys::duplicate_keys(text);
    if !dups.is_empty() {
        return Err(PlanErrors(
            dups.into_iter()
                .map(|path| PlanError {
                    path,
                    message: "given twice (JSON keeps only the last; write it once)".into(),
                })
                .collect(),
        ));
    }
    validate_value(&value)
}

/// Validate a JSON value as a plan: version first, then structure (against
/// the JSON Schema generated from the types), then meaning.
pub fn validate_value(value: &Value) -> Result<Plan, PlanErrors> {
    let mut errs = Errs(Vec::new());
    let Some(obj) = value.as_object() else {
        errs.push("", "a plan is a JSON object");
        return Err(PlanErrors(errs.0));
    };
    match obj.get("version") {
        None => errs.push(
            "version",
            format!("missing: a plan starts with \"version\": {PLAN_VERSION}"),
        ),
        Some(Value::Number(n)) if n.as_u64() == Some(PLAN_VERSION as u64) => {}
        Some(v) => errs.push(
            "version",
            format!("{v} is not supported: this netroot reads plan version {PLAN_VERSION}"),
        ),
    }
    if !errs.0.is_empty() {
        return Err(PlanErrors(errs.0));
    }
    super::structural::check(value, &mut errs);
    // Check the meaning of every section whose structure is sound, so that
    // all problems are reported together.
    let broken: Vec<String> = errs.0.iter().map(|e| e.path.clone()).collect();
    // Typed values (portal, IQN, MAC, sizes, ...) by their parsers; the
    // meaning checks below see placeholders for the bad ones.
    let clean = super::fields::check(value, &mut errs);
    let obj = clean.as_object().expect("checked above");
    semantic_sections(obj, &broken, &mut errs);
    if !errs.0.is_empty() {
        return Err(PlanErrors(errs.0));
    }
    let plan: Plan = serde_json::from_value(value.clone()).map_err(|e| {
        PlanErrors(vec![PlanError {
            path: String::new(),
            message: e.to_string(),
        }])
    })?;
    layout_fits(&plan, &mut errs);
    if !errs.0.is_empty() {
        return Err(PlanErrors(errs.0));
    }
    Ok(plan)
}

/// With `target.size` known up front (an image file), the layout must fit
/// it: the same placement the partition step computes, on that size.
fn layout_fits(plan: &Plan, errs: &mut Errs) {
    let Some(spec) = plan.target.size() else {
        return;
    };
    let Size::Bytes(bytes) = spec.get() else {
        return;
    };
    if let Err(e) = super::layout::resolve_layout(&plan.layout, bytes, b"validate") {
        errs.push(
            "layout.partitions",
            format!("{e} (target.size is {spec}, {bytes} bytes)"),
        );
    }
}

/// The meaning checks of every section whose structure is sound (no
/// structural error at or under it), so all problems are reported together.
fn semantic_sections(obj: &serde_json::Map<String, Value>, broken: &[String], errs: &mut Errs) {
    let sound = |key: &str| {
        !broken.iter().any(|p| {
            p.is_empty()
                || p == key
                || p.starts_with(&format!("{key}."))
                || p.starts_with(&format!("{key}["))
        })
    };
    fn section<T: serde::de::DeserializeOwned + Default>(
        obj: &serde_json::Map<String, Value>,
        key: &str,
    ) -> Option<T> {
        match obj.get(key) {
            Some(v) => serde_json::from_value(v.clone()).ok(),
            None => Some(T::default()),
        }
    }
    fn required<T: serde::de::DeserializeOwned>(
        obj: &serde_json::Map<String, Value>,
        key: &str,
    ) -> Option<T> {
        obj.get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    if sound("source") {
        if let Some(x) = required::<Source>(obj, "source") {
            semantic_source(&x, errs);
        }
    }
    if sound("target") {
        if let Some(x) = required::<Target>(obj, "target") {
            semantic_target(&x, errs);
        }
    }
    if sound("layout") {
        if let Some(x) = required::<Layout>(obj, "layout") {
            layout_semantic(&x, errs);
        }
    }
    if sound("boot") {
        if let Some(x) = section::<Boot>(obj, "boot") {
            semantic_boot(&x, errs);
        }
    }
    if sound("copy") {
        if let Some(x) = section::<CopyOptions>(obj, "copy") {
            semantic_copy(&x, errs);
        }
    }
}

/// Validate an already-typed plan (e.g. one the wizard built).
pub fn validate_plan(plan: &Plan) -> Result<(), PlanErrors> {
    let v = serde_json::to_value(plan).expect("plan serialises");
    validate_value(&v).map(|_| ())
}

// ---------------------------------------------------------------- meaning

pub use super::values::{is_valid_hostname, is_valid_ifname, is_valid_iqn, is_valid_mac};

/// A name that goes into generated configs and scripts unquoted (CHAP
/// user names): not empty, no blanks, quotes, `$`, `#`, `;` or braces.
fn check_token(s: &str, field: &str, errs: &mut Errs) {
    if s.is_empty() || has_unsafe_char(s) {
        errs.push(
            field,
            format!("{s:?} must not be empty or contain blanks, quotes, $, #, ; or braces"),
        );
    }
}

fn semantic_source(source: &Source, errs: &mut Errs) {
    match source {
        Source::Live { .. } => {}
        Source::Directory { path, .. } => {
            if !path.is_absolute() {
                errs.push(
                    "source.path",
                    format!("{} is not an absolute path", path.display()),
                );
            } else if path == std::path::Path::new("/") {
                errs.push(
                    "source.path",
                    "\"/\" is the running system: use {\"type\": \"live\"}",
                );
            }
        }
        Source::Debootstrap {
            suite,
            mirror,
            variant,
            include,
        } => {
            if suite.is_empty() || !suite.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                errs.push("source.suite", format!("{suite:?} is not a suite name"));
            }
            if !(mirror.starts_with("http://")
                || mirror.starts_with("https://")
                || mirror.starts_with("file:/"))
            {
                errs.push(
                    "source.mirror",
                    format!("{mirror:?} is not an http://, https:// or file:/ URL"),
                );
            }
            if let Some(v) = variant {
                if !["minbase", "buildd", "fakechroot", "-"].contains(&v.as_str()) {
                    errs.push(
                        "source.variant",
                        format!("{v:?} is not a debootstrap variant (minbase, buildd, fakechroot)"),
                    );
                }
            }
            for (i, p) in include.iter().enumerate() {
                if p.is_empty() || p.contains(',') || p.contains(char::is_whitespace) {
                    errs.push(
                        format!("source.include[{i}]"),
                        format!("{p:?} is not a package name"),
                    );
                }
            }
        }
    }
}

fn semantic_target(target: &Target, errs: &mut Errs) {
    match target {
        Target::Iscsi { lun, chap, .. } => {
            if *lun > 16383 {
                errs.push("target.lun", format!("{lun} is out of range (0..=16383)"));
            }
            if let Some(c) = chap {
                check_token(&c.username, "target.chap.username", errs);
                if let Some(u) = &c.target_username {
                    check_token(u, "target.chap.target_username", errs);
                }
                if c.target_username.is_some() != c.target_secret_file.is_some() {
                    errs.push(
                        "target.chap",
                        "mutual CHAP needs both target_username and target_secret_file",
                    );
                }
            }
        }
        Target::Aoe { shelf, slot, .. } => {
            if *shelf == 0xffff {
                errs.push(
                    "target.shelf",
                    "65535 is AoE's broadcast shelf (use 0..=65534)",
                );
            }
            if *slot == 0xff {
                errs.push("target.slot", "255 is AoE's broadcast slot (use 0..=254)");
            }
        }
    }
    // Blanks and quotes in target.device only matter to `netroot server`
    // (vblade@.service, tgt's config), which can export another path
    // (--export-device): it checks them itself.
    if let Some(d) = target.device() {
        if !d.is_absolute() {
            errs.push(
                "target.device",
                format!("{} is not an absolute path", d.display()),
            );
        }
    }
    if let Some(s) = target.size() {
        match s.get() {
            Size::Rest => errs.push("target.size", "\"rest\" is not a disk size"),
            Size::Bytes(b) if b < 64 * MIB => errs.push(
                "target.size",
                format!("{:?} is too small (at least 64M)", s.as_str()),
            ),
            Size::Bytes(_) => {}
        }
        if target.device().is_none() {
            errs.push(
                "target.size",
                "only meaningful with target.device (an image file)",
            );
        }
    }
}

fn semantic_boot(boot: &Boot, errs: &mut Errs) {
    if !(boot.profile == "auto" || BUILTIN_PROFILES.contains(&boot.profile.as_str())) {
        errs.push(
            "boot.profile",
            format!(
                "{:?} is not a profile (auto, {})",
                boot.profile,
                BUILTIN_PROFILES.join(", ")
            ),
        );
    }
    if let Addressing::Static { gateway, dns, .. } = &boot.network.address {
        if let Some(g) = gateway {
            if g.parse::<std::net::IpAddr>().is_err() {
                errs.push(
                    "boot.network.address.static.gateway",
                    format!("{g:?} is not an IP address"),
                );
            }
        }
        for (i, d) in dns.iter().enumerate() {
            if d.parse::<std::net::IpAddr>().is_err() {
                errs.push(
                    format!("boot.network.address.static.dns[{i}]"),
                    format!("{d:?} is not an IP address"),
                );
            }
        }
    }
    for (i, a) in boot.kernel_args.iter().enumerate() {
        if a.is_empty() || a.contains(char::is_whitespace) {
            errs.push(
                format!("boot.kernel_args[{i}]"),
                format!("{a:?}: one argument per entry, no spaces"),
            );
        } else if a.chars().any(|c| c.is_control() || "\"'\\$`".contains(c)) {
            errs.push(
                format!("boot.kernel_args[{i}]"),
                format!(
                    "{a:?}: no quotes, backslashes or $ (the argument goes into GRUB's config)"
                ),
            );
        } else if a.starts_with("root=") {
            errs.push(
                format!("boot.kernel_args[{i}]"),
                "root= is set by netroot (root=UUID=... of the new root)",
            );
        }
    }
    if let Some(c) = &boot.serial_console {
        let dev = c.split(',').next().unwrap_or("");
        if !(dev.starts_with("ttyS") || dev.starts_with("ttyAMA") || dev.starts_with("hvc"))
            || dev.len() < 4
            || has_unsafe_char(c)
        {
            errs.push(
                "boot.serial_console",
                format!("{c:?} is not a serial console (e.g. \"ttyS0,115200n8\")"),
            );
        }
    }
}

fn semantic_copy(copy: &CopyOptions, errs: &mut Errs) {
    for (i, e) in copy.exclude.iter().enumerate() {
        if e.trim().is_empty() {
            errs.push(format!("copy.exclude[{i}]"), "empty pattern");
        }
    }
}

fn layout_semantic(layout: &Layout, errs: &mut Errs) {
    let parts = &layout.partitions;
    if parts.is_empty() {
        errs.push(
            "layout.partitions",
            "at least one partition (the root, mount \"/\") is needed",
        );
        return;
    }
    let mut mounts = BTreeSet::new();
    let mut have_root = false;
    for (i, p) in parts.iter().enumerate() {
        let base = format!("layout.partitions[{i}]");
        partition_size(p, &base, i + 1 == parts.len(), errs);
        if partition_mount(p, &base, &mut mounts, errs) {
            have_root = true;
        }
        partition_label(p, &base, errs);
    }
    if !have_root {
        errs.push("layout.partitions", "no partition is mounted at \"/\"");
    }
    layout_table(layout, &mounts, errs);
}

/// A partition's size: "rest" only on the last one, at least 1M.
fn partition_size(p: &PartitionSpec, base: &str, last: bool, errs: &mut Errs) {
    match p.size.get() {
        Size::Rest if !last => errs.push(
            format!("{base}.size"),
            "\"rest\" is only allowed on the last partition",
        ),
        Size::Bytes(b) if b < MIB => errs.push(
            format!("{base}.size"),
            format!("{:?} is smaller than 1M", p.size.as_str()),
        ),
        _ => {}
    }
}

/// A partition's mount point (and the filesystems the root and the ESP
/// may have); records it in `mounts`. Returns whether it is the root.
fn partition_mount(
    p: &PartitionSpec,
    base: &str,
    mounts: &mut BTreeSet<String>,
    errs: &mut Errs,
) -> bool {
    let mut is_root = false;
    match (&p.mount, p.fs) {
        (Some(_), FsKind::Swap) => errs.push(format!("{base}.mount"), "swap has no mount point"),
        (None, FsKind::Swap) => {}
        (None, fs) => errs.push(
            format!("{base}.mount"),
            format!("missing: a {} partition needs a mount point", fs.as_str()),
        ),
        (Some(m), fs) => {
            if is_not_normal_mount(m) {
                errs.push(
                    format!("{base}.mount"),
                    format!("{m:?} is not an absolute, normalised path"),
                );
            } else if !mounts.insert(m.clone()) {
                errs.push(format!("{base}.mount"), format!("{m:?} is mounted twice"));
            }
            if m == "/" {
                is_root = true;
                if fs == FsKind::Vfat {
                    errs.push(format!("{base}.fs"), "the root cannot be vfat");
                }
            }
            if m == "/boot/efi" && fs != FsKind::Vfat {
                errs.push(format!("{base}.fs"), "the ESP (/boot/efi) must be vfat");
            }
            if fs == FsKind::Vfat && m != "/boot/efi" && !m.starts_with("/boot") {
                // allowed but unusual; no error
            }
        }
    }
    is_root
}

/// Not an absolute, normalised mount point: relative, with empty, `..`
/// or trailing components, blanks or unsafe characters.
fn is_not_normal_mount(m: &str) -> bool {
    !m.starts_with('/')
        || m.contains("//")
        || (m.len() > 1 && m.ends_with('/'))
        || m.contains("/../")
        || m.ends_with("/..")
        || m.contains(char::is_whitespace)
        || has_unsafe_char(m)
}

/// A partition's label: as long as its filesystem allows, no blanks or
/// quotes.
fn partition_label(p: &PartitionSpec, base: &str, errs: &mut Errs) {
    if let Some(l) = &p.label {
        if l.is_empty() || l.len() > p.fs.max_label() {
            errs.push(
                format!("{base}.label"),
                format!(
                    "{l:?}: a {} label is 1 to {} characters",
                    p.fs.as_str(),
                    p.fs.max_label()
                ),
            );
        } else if l.contains(char::is_whitespace) || l.contains('"') {
            errs.push(
                format!("{base}.label"),
                format!("{l:?}: no spaces or quotes in labels"),
            );
        }
    }
}

/// What the table and the firmware ask of the layout: UEFI on GPT with an
/// ESP, at most 4 partitions on MBR.
fn layout_table(layout: &Layout, mounts: &BTreeSet<String>, errs: &mut Errs) {
    let parts = &layout.partitions;
    if layout.firmware.uefi() {
        if layout.table == TableKind::Mbr {
            errs.push(
                "layout.firmware",
                "uefi needs \"table\": \"gpt\" (netroot installs GRUB for UEFI on GPT only)",
            );
        }
        if !mounts.contains("/boot/efi") {
            errs.push(
                "layout.partitions",
                "uefi needs an ESP: a vfat partition mounted at \"/boot/efi\" (e.g. size \"512M\")",
            );
        }
    }
    if layout.table == TableKind::Mbr && parts.len() > 4 {
        errs.push(
            "layout.partitions",
            format!(
                "{} partitions: an MBR table holds at most 4 primary partitions",
                parts.len()
            ),
        );
    }
}
