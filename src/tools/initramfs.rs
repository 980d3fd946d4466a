//! initramfs builders (update-initramfs, dracut) and listers (lsinitramfs,
//! lsinitrd): building their command lines from the profile, parsing the
//! listings, checking that what a network root needs is inside.

use std::collections::BTreeSet;

/// "kernel/drivers/net/virtio_net.ko.xz" → "virtio_net".
pub fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let i = base.find(".ko")?;
    Some(base[..i].replace('-', "_"))
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
        if let Some(m) = module_name(base) {
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
}
