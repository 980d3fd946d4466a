//! aoetools (`aoe-discover`, `aoe-stat`) and `modprobe aoe`: command
//! builders and the `aoe-stat` parser.
//!
//! aoetools 36 `aoe-stat` takes no options (its first argument is a grep
//! pattern, so `aoe-stat -a` fails); it exits 1 with empty output when no
//! AoE device is known.

use super::Cmd;
use serde::Serialize;

/// `aoe-discover`: ask every AoE target on the allowed interfaces to
/// announce itself (writes /dev/etherd/discover).
pub fn discover() -> Cmd {
    Cmd::new("aoe-discover")
}

/// `aoe-stat`: one line per known AoE device. Exit status 1 means "none".
pub fn stat() -> Cmd {
    Cmd::new("aoe-stat").ok_codes(&[0, 1])
}

/// `modprobe aoe [aoe_iflist=IF]`: load the AoE initiator, optionally
/// restricted to one interface. The parameter only applies when the module
/// is loaded by this call.
pub fn modprobe(iflist: Option<&str>) -> Cmd {
    let c = Cmd::new("modprobe").arg("aoe");
    match iflist {
        Some(i) => c.arg(format!("aoe_iflist={i}")),
        None => c,
    }
}

/// `ip link set dev IF up`.
pub fn link_up(ifname: &str) -> Cmd {
    Cmd::new("ip").args(["link", "set", "dev", ifname, "up"])
}

/// One line of `aoe-stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatLine {
    /// "e0.0".
    pub name: String,
    pub shelf: u16,
    pub slot: u8,
    /// Size as aoe-stat prints it (decimal GB, e.g. "4.294GB").
    pub size_text: String,
    /// Network interface(s) the device is reached through ("ens3", or
    /// "eth0,eth1").
    pub netif: String,
    /// Payload size in bytes, when printed.
    pub payload: Option<u32>,
    /// "up", "down", "up,closewait", ...
    pub state: String,
}

/// Split "e0.0" into (shelf, slot). Shelf 65535 and slot 255 are AoE's
/// broadcast addresses, never a device.
pub fn parse_name(name: &str) -> Option<(u16, u8)> {
    let rest = name.strip_prefix('e')?;
    let (shelf, slot) = rest.split_once('.')?;
    let (shelf, slot): (u16, u8) = (shelf.parse().ok()?, slot.parse().ok()?);
    (shelf != u16::MAX && slot != u8::MAX).then_some((shelf, slot))
}

/// Parse `aoe-stat` output, e.g.
/// `      e0.0         4.294GB       ens3 1024  up`.
/// Lines that do not start with a device name are skipped.
pub fn parse_stat(out: &str) -> Vec<StatLine> {
    let mut v = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let Some((shelf, slot)) = parse_name(f[0]) else {
            continue;
        };
        // Older aoetools print no payload column: name size netif state.
        let (payload, state) = match f[3].parse::<u32>() {
            Ok(p) if f.len() >= 5 => (Some(p), f[4..].join(" ")),
            _ => (None, f[3..].join(" ")),
        };
        v.push(StatLine {
            name: f[0].to_string(),
            shelf,
            slot,
            size_text: f[1].to_string(),
            netif: f[2].to_string(),
            payload,
            state,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    #[test]
    fn parses_captured_aoe_stat() {
        let v = parse_stat(&fixture("aoe/aoe-stat.txt"));
        assert_eq!(
            v,
            vec![StatLine {
                name: "e0.0".into(),
                shelf: 0,
                slot: 0,
                size_text: "4.294GB".into(),
                netif: "ens3".into(),
                payload: Some(1024),
                state: "up".into(),
            }]
        );
    }

    #[test]
    fn no_disk_is_empty() {
        // The iSCSI guest has aoetools but no AoE disk: empty output, rc 1.
        assert!(parse_stat(&fixture("iscsi/aoe-stat.txt")).is_empty());
        assert_eq!(stat().display(), "aoe-stat");
    }

    #[test]
    fn old_format_without_payload_and_names() {
        let v = parse_stat("  e11.3  10.000GB  eth0,eth1  down,closewait\nbogus line here x\n");
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].shelf, v[0].slot), (11, 3));
        assert_eq!(v[0].payload, None);
        assert_eq!(v[0].state, "down,closewait");
        assert_eq!(parse_name("e65534.254"), Some((65534, 254)));
        assert_eq!(parse_name("e0.255"), None);
        assert_eq!(parse_name("sda"), None);
    }

    #[test]
    fn modprobe_argv() {
        assert_eq!(modprobe(None).display(), "modprobe aoe");
        assert_eq!(
            modprobe(Some("ens3")).display(),
            "modprobe aoe aoe_iflist=ens3"
        );
        assert_eq!(link_up("ens3").display(), "ip link set dev ens3 up");
    }
}
