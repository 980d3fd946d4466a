//! Typed plan values, parsed once. Each newtype here can only hold a valid
//! value: it is built by its `FromStr` (which serde's deserialisation goes
//! through), so code that reads a plan never parses a portal, MAC, IQN,
//! address or name again and cannot disagree about what is valid. The
//! rules also refuse the characters that would break the config files and
//! shell scripts these values end up in (quotes, `$`, `;`, blanks, ...), so
//! `plan validate` accepts exactly what the other commands accept.
//!
//! In JSON every value is a plain string (the schema says `"type":
//! "string"`), serialised in its canonical form (`Display`).

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub use super::secret::SecretFile;

/// The iSCSI port a portal without one uses (IANA: iscsi-target).
pub const ISCSI_DEFAULT_PORT: u16 = 3260;

/// Characters that must never reach a config file or script unquoted.
pub(crate) const CONFIG_UNSAFE: &str = "\"'\\$`#;{}";

/// True if `s` has a blank, a control character or one of [`CONFIG_UNSAFE`].
pub(crate) fn has_unsafe_char(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || CONFIG_UNSAFE.contains(c))
}

/// serde (`try_from`/`into` String), a string JSON Schema, `Deref<str>`
/// and comparisons with strings, for a type with `FromStr` + `Display`
/// that keeps its canonical text in `self.text`.
macro_rules! string_value {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.text
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }
        impl $t {
            /// The canonical text.
            pub fn as_str(&self) -> &str {
                &self.text
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.text
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.text
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, o: &str) -> bool {
                self.text == o
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, o: &&str) -> bool {
                self.text == *o
            }
        }
        impl PartialEq<String> for $t {
            fn eq(&self, o: &String) -> bool {
                &self.text == o
            }
        }
        impl JsonSchema for $t {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($t).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string" })
            }
        }
    };
}

// ---------------------------------------------------------------- names

/// A DNS host name (RFC 1123 labels: letters, digits, inner hyphens).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname {
    text: String,
}
string_value!(Hostname);

/// True if `s` is a valid host name.
pub fn is_valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl FromStr for Hostname {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if is_valid_hostname(s) {
            Ok(Hostname {
                text: s.to_string(),
            })
        } else {
            Err(format!("{s:?} is not a valid hostname"))
        }
    }
}

/// A network interface name ("ens3"): 1 to 15 characters, no `/`, `:`,
/// blanks, quotes or other characters that break configs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfName {
    text: String,
}
string_value!(IfName);

/// True if `s` is a valid interface name.
pub fn is_valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':')
        && !has_unsafe_char(s)
}

impl FromStr for IfName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if is_valid_ifname(s) {
            Ok(IfName {
                text: s.to_string(),
            })
        } else {
            Err(format!(
                "{s:?} is not an interface name (1 to 15 characters, no '/', ':', blanks or quotes)"
            ))
        }
    }
}

/// A MAC address, kept as lower-case "aa:bb:cc:dd:ee:ff" (the plan may
/// write upper case or `-` separators).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Mac {
    text: String,
}
string_value!(Mac);

impl Mac {
    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        let mut o = [0u8; 6];
        for (i, p) in self.text.split(':').enumerate() {
            o[i] = u8::from_str_radix(p, 16).expect("a Mac holds six hex bytes");
        }
        o
    }
}

/// The twelve hex digits of a MAC written "aa:bb:…", "aa-bb-…",
/// "aabb.ccdd.eeff" or "aabbccddeeff" (separators all of one kind, in their
/// places).
fn mac_hex(s: &str) -> Option<String> {
    let groups: Vec<&str> = if s.contains(':') {
        s.split(':').collect()
    } else if s.contains('-') {
        s.split('-').collect()
    } else if s.contains('.') {
        s.split('.').collect()
    } else {
        vec![s]
    };
    let size = 12 / groups.len().max(1);
    let ok = matches!(groups.len(), 1 | 3 | 6)
        && groups
            .iter()
            .all(|g| g.len() == size && g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| groups.concat().to_ascii_lowercase())
}

/// True if `s` is a MAC address in one of the forms [`Mac`] reads.
pub fn is_valid_mac(s: &str) -> bool {
    mac_hex(s).is_some()
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hex =
            mac_hex(s).ok_or_else(|| format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))?;
        let text = (0..6)
            .map(|i| &hex[2 * i..2 * i + 2])
            .collect::<Vec<_>>()
            .join(":");
        Ok(Mac { text })
    }
}

/// A network interface given by name or by MAC address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Interface {
    Name(IfName),
    Mac(Mac),
}

impl FromStr for Interface {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(m) = s.parse() {
            return Ok(Interface::Mac(m));
        }
        s.parse()
            .map(Interface::Name)
            .map_err(|_| format!("{s:?} is not an interface name or MAC"))
    }
}

impl Interface {
    pub fn as_str(&self) -> &str {
        match self {
            Interface::Name(n) => n.as_str(),
            Interface::Mac(m) => m.as_str(),
        }
    }
    pub fn name(&self) -> Option<&IfName> {
        match self {
            Interface::Name(n) => Some(n),
            Interface::Mac(_) => None,
        }
    }
    pub fn mac(&self) -> Option<&Mac> {
        match self {
            Interface::Name(_) => None,
            Interface::Mac(m) => Some(m),
        }
    }
}

impl TryFrom<String> for Interface {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}
impl From<Interface> for String {
    fn from(v: Interface) -> String {
        v.as_str().to_string()
    }
}
impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl std::ops::Deref for Interface {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}
impl JsonSchema for Interface {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Interface".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

// ---------------------------------------------------------------- iSCSI

/// An iSCSI name: `iqn.YYYY-MM.reversed.domain[:anything]` (lower case),
/// `eui.` + 16 hex digits or `naa.` + 16 or 32 hex digits.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Iqn {
    text: String,
}
string_value!(Iqn);

/// True if `s` is a valid iSCSI name (see [`Iqn`]).
pub fn is_valid_iqn(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("iqn.") {
        let b = rest.as_bytes();
        if b.len() < 9 || b[4] != b'-' || b[7] != b'.' {
            return false;
        }
        if !(b[..4].iter().all(u8::is_ascii_digit) && b[5..7].iter().all(u8::is_ascii_digit)) {
            return false;
        }
        let name = &rest[8..];
        let domain = name.split(':').next().unwrap_or("");
        return !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && s.len() <= 223
            && !has_unsafe_char(s)
            && !s.chars().any(|c| c.is_ascii_uppercase());
    }
    if let Some(rest) = s.strip_prefix("eui.") {
        return rest.len() == 16 && rest.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(rest) = s.strip_prefix("naa.") {
        return (rest.len() == 16 || rest.len() == 32)
            && rest.chars().all(|c| c.is_ascii_hexdigit());
    }
    false
}

impl FromStr for Iqn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if is_valid_iqn(s) {
            Ok(Iqn {
                text: s.to_string(),
            })
        } else {
            Err(format!(
                "{s:?} is not an iSCSI name (iqn.YYYY-MM.reversed.domain[:name], lower case, \
                 no blanks, quotes, $, #, ; or braces)"
            ))
        }
    }
}

/// The host part of a portal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortalHost {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(Hostname),
}

impl PortalHost {
    /// The address without brackets ("fd00::1"), as iBFT and ip= want it.
    pub fn addr(&self) -> String {
        match self {
            PortalHost::V4(a) => a.to_string(),
            PortalHost::V6(a) => a.to_string(),
            PortalHost::Name(n) => n.to_string(),
        }
    }
    /// The IP address, unless the host is a DNS name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            PortalHost::V4(a) => Some(IpAddr::V4(*a)),
            PortalHost::V6(a) => Some(IpAddr::V6(*a)),
            PortalHost::Name(_) => None,
        }
    }
}

impl fmt::Display for PortalHost {
    /// IPv6 in brackets, as in a portal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalHost::V6(a) => write!(f, "[{a}]"),
            h => f.write_str(&h.addr()),
        }
    }
}

/// An iSCSI portal: host and TCP port. The plan writes "ADDR", "ADDR:PORT",
/// "[V6]", "[V6]:PORT" or a bare IPv6 address (port 3260 by default); the
/// text is always the iscsiadm form "ADDR:PORT" / "[V6]:PORT".
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Portal {
    host: PortalHost,
    port: u16,
    text: String,
}
string_value!(Portal);

impl Portal {
    pub fn new(host: PortalHost, port: u16) -> Portal {
        let text = format!("{host}:{port}");
        Portal { host, port, text }
    }
    pub fn host(&self) -> &PortalHost {
        &self.host
    }
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for Portal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{s:?} is not a portal ({why}; use ADDR or ADDR:PORT, e.g. \"192.0.2.1:3260\", IPv6 as [ADDR]:PORT)"
            )
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if has_unsafe_char(s) {
            return Err(bad("blanks, quotes and $ # ; { } are not allowed"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let a: Ipv6Addr = h.parse().map_err(|_| bad("not an IPv6 address in [ ]"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => return Err(bad("junk after ]")),
            };
            (PortalHost::V6(a), port)
        } else if s.matches(':').count() > 1 {
            let a: Ipv6Addr = s.parse().map_err(|_| bad("not an IPv6 address"))?;
            (PortalHost::V6(a), None)
        } else {
            let (h, port) = match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            (parse_host(h).map_err(&bad)?, port)
        };
        let port = match port {
            None => ISCSI_DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad("the port is 1 to 65535")),
            },
        };
        Ok(Portal::new(host, port))
    }
}

/// An IPv4 address or a DNS name (anything of only digits and dots must
/// be a valid IPv4 address: "999.1.1.1" is not a name).
fn parse_host(h: &str) -> Result<PortalHost, &'static str> {
    if h.is_empty() {
        return Err("no address");
    }
    if h.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return h
            .parse()
            .map(PortalHost::V4)
            .map_err(|_| "not an IPv4 address");
    }
    h.parse()
        .map(PortalHost::Name)
        .map_err(|_| "not an IP address or host name")
}

// ---------------------------------------------------------------- addresses

/// An IP address with its prefix length ("192.0.2.10/24", "fd00::5/64").
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
    text: String,
}
string_value!(Cidr);

impl Cidr {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// The IPv4 netmask of the prefix (e.g. /24 → 255.255.255.0); `None`
    /// for IPv6.
    pub fn netmask(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(_) => Some(Ipv4Addr::from(
                u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0),
            )),
            IpAddr::V6(_) => None,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not ADDRESS/PREFIX (e.g. \"192.0.2.10/24\")");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr {
            addr,
            prefix,
            text: format!("{addr}/{prefix}"),
        })
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
