//! initramfs builders (update-initramfs, dracut) and listers (lsinitramfs,
//! lsinitrd): building their command lines from the profile, parsing the
//! listings, checking that what a network root needs is inside.

use crate::profile::template::{render_arg, Vars};
use crate::profile::InitramfsBuild;
use anyhow::{Context, Result};
use std::collections::BTreeSet;

/// Render a profile command template; an element that is exactly
/// `@transport_args@` expands to `transport_args`.
pub fn render_cmd(
    template: &[String],
    vars: &Vars,
    transport_args: &[String],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in template {
        if a == "@transport_args@" {
            out.extend(transport_args.iter().cloned());
        } else if let Some(s) = render_arg(a, vars).with_context(|| format!("rendering {a:?}"))? {
            out.push(s);
        }
    }
    Ok(out)
}

/// The image path of kernel `kver`.
pub fn image_path(b: &InitramfsBuild, vars: &Vars) -> Result<String> {
    Ok(render_arg(&b.image, vars)?.unwrap_or_default())
}

/// What a listing holds: file base names and module names.
#[derive(Debug, Default)]
pub struct Listing {
    pub names: BTreeSet<String>,
    pub modules: BTreeSet<String>,
    pub lines: usize,
}

/// Parse `lsinitramfs` (one path a line) or `lsinitrd` (ls -l lines,
/// symlinks as "a -> b") output.
pub fn parse_listing(text: &str) -> Listing {
    let mut l = Listing::default();
    for line in text.lines() {
        let line = line.split(" -> ").next().unwrap_or(line).trim_end();
        let toks: Vec<&str> = line.split_whitespace().collect();
        let path = match toks.as_slice() {
            [] => continue,
            [p] => *p,
            [mode, .., p]
                if mode.len() == 10 && mode.starts_with(['-', 'd', 'l', 'c', 'b', 'p', 's']) =>
            {
                *p
            }
            _ => continue,
        };
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.is_empty() {
            continue;
        }
        l.lines += 1;
        l.names.insert(base.to_string());
        if let Some(m) = crate::profile::vars::module_name(base) {
            l.modules.insert(m);
        }
    }
    l
}

/// What is missing from a listing: "module X", "file Y".
pub fn missing(l: &Listing, modules: &[String], files: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for m in modules {
        if !l.modules.contains(&m.replace('-', "_")) {
            out.push(format!("module {m}"));
        }
    }
    for f in files {
        if !l.names.contains(f) {
            out.push(format!("file {f}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsinitramfs_and_lsinitrd_listings() {
        let a = "usr/lib/modules/6.1.0-50-amd64/kernel/drivers/net/virtio_net.ko\n\
                 usr/sbin/iscsistart\netc/iscsi.initramfs\nscripts/local-top/iscsi\n";
        let l = parse_listing(a);
        assert!(l.modules.contains("virtio_net"));
        assert!(l.names.contains("iscsistart"));
        assert_eq!(
            missing(
                &l,
                &["virtio_net".into(), "aoe".into()],
                &["iscsi".into(), "ip".into()]
            ),
            vec!["module aoe", "file ip"]
        );
        let b = "Image: /boot/initrd.img-6.1.0-50-amd64: 30M\n\
                 ========================================================================\n\
                 Version: dracut-059\n\n\
                 -rwxr-xr-x   1 root     root        12345 Nov 22 04:00 usr/sbin/netroot-aoe.sh\n\
                 lrwxrwxrwx   1 root     root            7 Nov 22 04:00 bin -> usr/bin\n\
                 -rw-r--r--   1 root     root        99999 Nov 22 04:00 usr/lib/modules/6.1.0-50-amd64/kernel/drivers/block/aoe/aoe.ko.xz\n";
        let l = parse_listing(b);
        assert!(l.names.contains("netroot-aoe.sh"));
        assert!(l.modules.contains("aoe"));
        assert!(!l.names.contains("30M"));
    }

    #[test]
    fn transport_args_expand_in_place() {
        let mut v = Vars::new();
        v.insert("kver".into(), "6.1".into());
        v.insert("image".into(), "/boot/i-6.1".into());
        v.insert("nic_drivers".into(), "virtio_net e1000".into());
        let t: Vec<String> = [
            "dracut",
            "-f",
            "--add-drivers",
            "@nic_drivers@",
            "@transport_args@",
            "@image@",
            "@kver@",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = render_cmd(&t, &v, &["--add".into(), "network-legacy iscsi".into()]).unwrap();
        assert_eq!(
            c,
            vec![
                "dracut",
                "-f",
                "--add-drivers",
                "virtio_net e1000",
                "--add",
                "network-legacy iscsi",
                "/boot/i-6.1",
                "6.1"
            ]
        );
    }
}
