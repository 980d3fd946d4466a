//! What `netroot discover iscsi` shows: the targets a portal offers, the
//! LUNs this machine already has of them, and the boot target the firmware
//! (iBFT) names; plus what an iscsiadm failure means.
//!
//! Why apart from [`super::iscsi`]: listing only reads (a non-persistent
//! discovery, sessions, sysfs) while attaching changes the node database and
//! logs in; the attach uses [`explain`] from here, nothing here uses the
//! attach.

use super::common::HostPaths;
use crate::plan::{Portal, ISCSI_DEFAULT_PORT};
use crate::tools::cmd::CommandError;
use crate::tools::{iscsiadm as tool, Runner};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// What the firmware table iPXE leaves (iBFT) says about the boot target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IbftTarget {
    pub iqn: String,
    pub address: String,
    pub port: u16,
    pub lun: u32,
    /// The initiator name the firmware used.
    pub initiator_name: Option<String>,
    /// MAC of the NIC the firmware booted from.
    pub nic_mac: Option<String>,
}

/// Decode the iBFT `lun` attribute. The kernel prints the 8-byte SCSI LUN
/// one `%x` per byte, so LUN 1 (bytes 00 01 00 …) reads "01000000".
pub fn parse_ibft_lun(s: &str) -> Option<u32> {
    let s = s.trim();
    let bytes: Vec<u8> = match s.len() {
        8 => s
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()?,
        16 => (0..8)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?,
        _ => return None,
    };
    // SAM addressing: the top two bits of byte 0 say how; peripheral (00)
    // and flat (01) both carry the LUN in the low 14 bits of bytes 0-1.
    Some((((bytes[0] & 0x3f) as u32) << 8) | bytes[1] as u32)
}

/// Read `/sys/firmware/ibft/target0` (and initiator, ethernet0).
pub fn read_ibft(paths: &HostPaths) -> Option<IbftTarget> {
    let t = |a: &str| paths.read_sys(format!("firmware/ibft/target0/{a}"));
    Some(IbftTarget {
        iqn: t("target-name")?,
        address: t("ip-addr")?,
        port: t("port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(ISCSI_DEFAULT_PORT),
        lun: t("lun").and_then(|l| parse_ibft_lun(&l)).unwrap_or(0),
        initiator_name: paths.read_sys("firmware/ibft/initiator/initiator-name"),
        nic_mac: paths.read_sys("firmware/ibft/ethernet0/mac"),
    })
}

/// Add what failed and what the iscsiadm exit status means to its error.
pub(super) fn explain(e: anyhow::Error, what: &str) -> anyhow::Error {
    let code = CommandError::find(&e).and_then(CommandError::status);
    match code.and_then(tool::explain_status) {
        Some(why) => e.context(format!("{what} failed: {why}")),
        None => e.context(format!("{what} failed")),
    }
}

/// iscsiadm is missing, or this kernel has no `iscsi_tcp` (status 12).
fn iscsiadm_unusable(e: &anyhow::Error) -> bool {
    match CommandError::find(e) {
        Some(CommandError::NotFound { .. }) => true,
        Some(c) => c.status() == Some(tool::ERR_TRANS_NOT_FOUND),
        None => false,
    }
}

fn unusable_why(e: &anyhow::Error) -> &'static str {
    if matches!(CommandError::find(e), Some(CommandError::NotFound { .. })) {
        "it is not installed"
    } else {
        "this kernel has no iscsi_tcp module"
    }
}

/// What `netroot discover iscsi` found at a portal.
#[derive(Debug, Clone, Serialize)]
pub struct PortalListing {
    /// "ADDR:PORT" asked.
    pub portal: String,
    /// How the targets were listed: "iscsiadm", or "sendtargets" (netroot's
    /// own discovery session, when iscsiadm cannot run here).
    pub method: String,
    /// Targets offered (sendtargets).
    pub targets: Vec<OfferedTarget>,
    /// The boot target from the iBFT, if this machine booted from iSCSI.
    pub ibft: Option<IbftTarget>,
}

/// One offered target, with what this machine has attached of it.
#[derive(Debug, Clone, Serialize)]
pub struct OfferedTarget {
    pub iqn: String,
    /// The portal the target announces ("ADDR:PORT").
    pub portal: String,
    pub tpgt: u32,
    /// LUNs of an existing session to it (empty when not logged in).
    pub luns: Vec<AttachedLun>,
}

/// A LUN of a logged-in session.
#[derive(Debug, Clone, Serialize)]
pub struct AttachedLun {
    pub lun: u32,
    pub disk: Option<PathBuf>,
    pub size: Option<u64>,
}

/// The text table of `netroot discover iscsi`.
pub fn render_table(l: &PortalListing) -> String {
    let mut out = String::new();
    if l.targets.is_empty() {
        out.push_str(&format!(
            "the portal {} offers no targets to this initiator (check the target's ACL)\n",
            l.portal
        ));
    } else {
        let mut rows = vec![[
            "IQN".to_string(),
            "PORTAL".into(),
            "TPGT".into(),
            "ATTACHED HERE".into(),
        ]];
        for t in &l.targets {
            let att: Vec<String> = t
                .luns
                .iter()
                .filter_map(|x| {
                    let d = x.disk.as_ref()?;
                    Some(format!(
                        "lun {} {} {}",
                        x.lun,
                        d.display(),
                        x.size.map(super::human_size).unwrap_or_default()
                    ))
                })
                .collect();
            rows.push([
                t.iqn.clone(),
                t.portal.clone(),
                t.tpgt.to_string(),
                if att.is_empty() {
                    "-".into()
                } else {
                    att.join(", ")
                },
            ]);
        }
        out.push_str(&super::common::table(&rows));
    }
    if let Some(b) = &l.ibft {
        out.push_str(&format!(
            "booted from (iBFT): {} lun {} at {}:{}\n",
            b.iqn, b.lun, b.address, b.port
        ));
    }
    out
}

/// List the targets a portal offers (sendtargets discovery that leaves the
/// node database alone), with the LUNs of sessions already logged in.
pub fn discover(runner: &Runner, paths: &HostPaths, portal_v: &Portal) -> Result<PortalListing> {
    let portal = portal_v.to_string();
    let (offered, method) = match runner.query(&tool::discovery_nonpersistent(&portal)) {
        Ok(out) => (tool::parse_node_list(&out.stdout), "iscsiadm"),
        Err(e) if iscsiadm_unusable(&e) => {
            tracing::warn!(
                "iscsiadm cannot run discovery here ({}); using netroot's own SendTargets session",
                unusable_why(&e)
            );
            let v = super::sendtargets::send_targets(portal_v, Duration::from_secs(10), None)
                .with_context(|| format!("sendtargets discovery at {portal}"))?;
            (v, "sendtargets")
        }
        Err(e) => return Err(explain(e, &format!("sendtargets discovery at {portal}"))),
    };
    let sessions = runner
        .query(&tool::session_detail())
        .map(|o| tool::parse_session_detail(&o.stdout))
        .unwrap_or_default();
    let targets = offered
        .into_iter()
        .map(|n| {
            let luns = sessions
                .iter()
                .filter(|s| s.iqn == n.iqn)
                .flat_map(|s| s.luns.iter())
                .map(|l| AttachedLun {
                    lun: l.lun,
                    disk: l.disk.as_ref().map(|d| paths.dev.join(d)),
                    size: l.disk.as_ref().and_then(|d| {
                        paths
                            .read_sys(format!("class/block/{d}/size"))
                            .and_then(|s| s.parse::<u64>().ok())
                            .map(|s| s * 512)
                    }),
                })
                .collect();
            OfferedTarget {
                iqn: n.iqn,
                portal: n.portal,
                tpgt: n.tpgt,
                luns,
            }
        })
        .collect();
    Ok(PortalListing {
        portal,
        method: method.to_string(),
        targets,
        ibft: read_ibft(paths),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::aoe::tests::{fixture, unpack_catdir};

    #[test]
    fn ibft_from_the_captured_tables() {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            sys: t.path().to_path_buf(),
            ..HostPaths::default()
        };
        assert_eq!(read_ibft(&paths), None);
        for part in ["target0", "initiator", "ethernet0"] {
            unpack_catdir(
                &fixture(&format!("iscsi/sys-firmware-ibft-{part}.txt")),
                &t.path().join("firmware/ibft").join(part),
            );
        }
        let ib = read_ibft(&paths).unwrap();
        assert_eq!(
            ib,
            IbftTarget {
                iqn: "iqn.2024-01.test.e2e:disk".into(),
                address: "10.0.2.2".into(),
                port: 3260,
                lun: 1,
                initiator_name: Some(
                    "iqn.2010-04.org.ipxe:00000000-0000-0000-0000-000000000000".into()
                ),
                nic_mac: Some("52:54:00:12:34:56".into()),
            }
        );
        assert_eq!(parse_ibft_lun("00000000"), Some(0));
        assert_eq!(parse_ibft_lun("0001000000000000"), Some(1));
        assert_eq!(parse_ibft_lun("0011000000000000"), Some(17));
        assert_eq!(parse_ibft_lun("x"), None);
    }

    #[test]
    fn table() {
        let l = PortalListing {
            portal: "10.0.2.2:3260".into(),
            method: "iscsiadm".into(),
            targets: vec![OfferedTarget {
                iqn: "iqn.2024-01.test.e2e:disk".into(),
                portal: "127.0.0.1:3260".into(),
                tpgt: 1,
                luns: vec![
                    AttachedLun {
                        lun: 0,
                        disk: None,
                        size: None,
                    },
                    AttachedLun {
                        lun: 1,
                        disk: Some("/dev/sda".into()),
                        size: Some(4 << 30),
                    },
                ],
            }],
            ibft: None,
        };
        let t = render_table(&l);
        assert_eq!(
            t,
            "IQN                        PORTAL          TPGT  ATTACHED HERE\n\
             iqn.2024-01.test.e2e:disk  127.0.0.1:3260  1     lun 1 /dev/sda 4.0 GiB\n"
        );
    }
}
