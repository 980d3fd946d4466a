//! A minimal iSCSI SendTargets client (RFC 7143): one discovery session
//! over TCP, no authentication, no digests.
//!
//! `iscsiadm -m discovery` needs the `iscsi_tcp` kernel module even to
//! list targets; this lets `netroot discover iscsi` and the dry run's
//! "is the IQN offered?" check work on a machine without an initiator
//! (a server, a container, a CI host). It only reads: it logs in as a
//! discovery session, asks `SendTargets=All` and logs out.

use crate::plan::Portal;
use crate::tools::iscsiadm::NodeEntry;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const OP_LOGIN_REQ: u8 = 0x03;
const OP_TEXT_REQ: u8 = 0x04;
const OP_LOGOUT_REQ: u8 = 0x06;
const OP_LOGIN_RSP: u8 = 0x23;
const OP_TEXT_RSP: u8 = 0x24;
const IMMEDIATE: u8 = 0x40;
const FINAL: u8 = 0x80;
/// Login stage: full feature phase.
const FULL_FEATURE: u8 = 3;

/// A 48-byte basic header segment plus its data segment.
struct Pdu {
    bhs: [u8; 48],
    data: Vec<u8>,
}

impl Pdu {
    fn new(opcode: u8, flags: u8, data: Vec<u8>) -> Pdu {
        let mut bhs = [0u8; 48];
        bhs[0] = opcode;
        bhs[1] = flags;
        let n = data.len() as u32;
        bhs[5..8].copy_from_slice(&n.to_be_bytes()[1..]);
        Pdu { bhs, data }
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        self.bhs[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.bhs[at..at + 4].try_into().unwrap())
    }
    fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3f
    }
    fn encode(&self) -> Vec<u8> {
        let mut v = self.bhs.to_vec();
        v.extend_from_slice(&self.data);
        v.resize(48 + self.data.len().div_ceil(4) * 4, 0);
        v
    }
    fn read(r: &mut impl Read) -> Result<Pdu> {
        let mut bhs = [0u8; 48];
        r.read_exact(&mut bhs)
            .context("reading an iSCSI reply header")?;
        let ahs = bhs[4] as usize * 4;
        let len = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
        if len > 1 << 20 {
            bail!("iSCSI reply announces {len} bytes of data: not an iSCSI target?");
        }
        let mut rest = vec![0u8; ahs + len.div_ceil(4) * 4];
        r.read_exact(&mut rest).context("reading an iSCSI reply")?;
        Ok(Pdu {
            bhs,
            data: rest[ahs..ahs + len].to_vec(),
        })
    }
}

/// "Key=value\0" text.
fn keys(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (k, val) in pairs {
        v.extend_from_slice(format!("{k}={val}").as_bytes());
        v.push(0);
    }
    v
}

/// Split "Key=value\0Key=value\0" into pairs, in order.
pub fn parse_keys(data: &[u8]) -> Vec<(String, String)> {
    data.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let s = String::from_utf8_lossy(s);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Turn SendTargets text into targets: each `TargetName` with the
/// `TargetAddress`es ("ADDR:PORT,TPGT") that follow it; a target without
/// one is reachable at the portal asked (`default_portal`, TPGT 1 assumed).
pub fn parse_send_targets(pairs: &[(String, String)], default_portal: &str) -> Vec<NodeEntry> {
    let mut out = Vec::new();
    let mut cur: Option<(String, usize)> = None;
    let close = |out: &mut Vec<NodeEntry>, cur: &Option<(String, usize)>| {
        if let Some((iqn, 0)) = cur {
            out.push(NodeEntry {
                portal: default_portal.to_string(),
                tpgt: 1,
                iqn: iqn.clone(),
            });
        }
    };
    for (k, v) in pairs {
        match k.as_str() {
            "TargetName" => {
                close(&mut out, &cur);
                cur = Some((v.clone(), 0));
            }
            "TargetAddress" => {
                if let Some((iqn, n)) = cur.as_mut() {
                    let (portal, tpgt) = v.rsplit_once(',').unwrap_or((v.as_str(), "1"));
                    out.push(NodeEntry {
                        portal: portal.to_string(),
                        tpgt: tpgt.parse().unwrap_or(1),
                        iqn: iqn.clone(),
                    });
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    close(&mut out, &cur);
    out
}

/// The initiator name to present: the given one (the plan's), else this
/// machine's, else a neutral one.
fn initiator_name(given: Option<&str>) -> String {
    if let Some(n) = given {
        return n.to_string();
    }
    std::fs::read_to_string("/etc/iscsi/initiatorname.iscsi")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.trim().strip_prefix("InitiatorName=").map(str::to_string))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "iqn.2024-01.org.netroot:discovery".to_string())
}

/// Ask the portal which targets it offers.
pub fn send_targets(
    portal: &Portal,
    timeout: Duration,
    initiator: Option<&str>,
) -> Result<Vec<NodeEntry>> {
    let addr = (portal.host().addr().as_str(), portal.port())
        .to_socket_addrs()
        .with_context(|| format!("resolving the portal {portal}"))?
        .next()
        .ok_or_else(|| anyhow!("the portal {portal} resolves to no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to the iSCSI portal {portal}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let (mut cmd_sn, mut stat_sn) = (0u32, 0u32);
    let isid = [0x80, 0x6e, 0x72, 0x74, 0x00, 0x01]; // random-format ISID, "nrt"
                                                     // Login: security stage with AuthMethod=None, then operational, until
                                                     // the target lets us into the full feature phase.
    let mut csg = 0u8;
    let mut first = true;
    for _ in 0..4 {
        let mut body = Vec::new();
        if first {
            body.extend(keys(&[
                ("InitiatorName", &initiator_name(initiator)),
                ("SessionType", "Discovery"),
            ]));
        }
        if csg == 0 {
            body.extend(keys(&[("AuthMethod", "None")]));
        } else {
            body.extend(keys(&[("HeaderDigest", "None"), ("DataDigest", "None")]));
        }
        let mut req = Pdu::new(
            OP_LOGIN_REQ | IMMEDIATE,
            FINAL | (csg << 2) | FULL_FEATURE,
            body,
        );
        req.bhs[8..14].copy_from_slice(&isid);
        req.set_u32(24, cmd_sn);
        req.set_u32(28, stat_sn);
        s.write_all(&req.encode())?;
        let rsp = Pdu::read(&mut s)?;
        if rsp.opcode() != OP_LOGIN_RSP {
            bail!(
                "{portal} answered the login with opcode {:#x}",
                rsp.opcode()
            );
        }
        let (class, detail) = (rsp.bhs[36], rsp.bhs[37]);
        if class != 0 {
            let why = match (class, detail) {
                (2, 1) => "authentication required (CHAP on discovery is not supported here)",
                (2, 2) => "this initiator is not authorised",
                (2, _) => "the target refused this initiator",
                (3, _) => "the target has a problem",
                _ => "redirected or refused",
            };
            bail!("{portal} refused the discovery login (status {class:#x}/{detail:#x}): {why}");
        }
        stat_sn = rsp.u32_at(24).wrapping_add(1);
        cmd_sn = rsp.u32_at(28);
        first = false;
        let transit = rsp.bhs[1] & FINAL != 0;
        let nsg = rsp.bhs[1] & 3;
        if transit && nsg == FULL_FEATURE {
            return text_and_logout(&mut s, portal, cmd_sn, stat_sn);
        }
        if transit {
            csg = nsg;
        }
    }
    bail!("{portal}: the discovery login did not finish")
}

fn text_and_logout(
    s: &mut TcpStream,
    portal: &str,
    mut cmd_sn: u32,
    mut stat_sn: u32,
) -> Result<Vec<NodeEntry>> {
    let mut text = Vec::new();
    let mut ttt = 0xffff_ffffu32;
    let mut body = keys(&[("SendTargets", "All")]);
    for _ in 0..64 {
        let mut req = Pdu::new(OP_TEXT_REQ | IMMEDIATE, FINAL, std::mem::take(&mut body));
        req.set_u32(16, 1); // initiator task tag
        req.set_u32(20, ttt);
        req.set_u32(24, cmd_sn);
        req.set_u32(28, stat_sn);
        s.write_all(&req.encode())?;
        let rsp = Pdu::read(s)?;
        if rsp.opcode() != OP_TEXT_RSP {
            bail!(
                "{portal} answered SendTargets with opcode {:#x}",
                rsp.opcode()
            );
        }
        text.extend_from_slice(&rsp.data);
        stat_sn = rsp.u32_at(24).wrapping_add(1);
        cmd_sn = rsp.u32_at(28);
        if rsp.bhs[1] & FINAL != 0 {
            break;
        }
        ttt = rsp.u32_at(20);
    }
    // Be polite; the answer is in hand whatever happens now.
    let mut out = Pdu::new(OP_LOGOUT_REQ | IMMEDIATE, FINAL, Vec::new());
    out.set_u32(16, 2);
    out.set_u32(24, cmd_sn);
    out.set_u32(28, stat_sn);
    if s.write_all(&out.encode()).is_ok() {
        let _ = Pdu::read(s);
    }
    Ok(parse_send_targets(&parse_keys(&text), portal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdus_are_padded_and_sized() {
        let p = Pdu::new(
            OP_TEXT_REQ | IMMEDIATE,
            FINAL,
            keys(&[("SendTargets", "All")]),
        );
        let e = p.encode();
        assert_eq!(e.len(), 48 + 16); // "SendTargets=All\0" is 16 bytes
        assert_eq!(&e[5..8], &[0, 0, 16]);
        assert_eq!(e[0], 0x44);
        let p = Pdu::new(OP_LOGIN_REQ, 0, b"abcde".to_vec());
        assert_eq!(p.encode().len(), 48 + 8);
        let back = Pdu::read(&mut &p.encode()[..]).unwrap();
        assert_eq!(back.data, b"abcde");
    }

    #[test]
    fn send_targets_text() {
        let data = b"TargetName=iqn.a:one\0TargetAddress=10.0.0.1:3260,1\0\
TargetAddress=[fd00::1]:3260,2\0TargetName=iqn.a:two\0";
        let v = parse_send_targets(&parse_keys(data), "192.0.2.1:3260");
        assert_eq!(
            v,
            vec![
                NodeEntry {
                    portal: "10.0.0.1:3260".into(),
                    tpgt: 1,
                    iqn: "iqn.a:one".into()
                },
                NodeEntry {
                    portal: "[fd00::1]:3260".into(),
                    tpgt: 2,
                    iqn: "iqn.a:one".into()
                },
                NodeEntry {
                    portal: "192.0.2.1:3260".into(),
                    tpgt: 1,
                    iqn: "iqn.a:two".into()
                },
            ]
        );
        assert!(parse_send_targets(&parse_keys(b""), "x:1").is_empty());
    }
}
