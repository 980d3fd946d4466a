//! Sizes as written in plans ("512M", "20G", "rest") and their arithmetic.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;

/// A size as the plan spells it, parsed once: it cannot hold a bad size.
/// It keeps the plan's spelling (serialised back as written) and the
/// parsed [`Size`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SizeSpec {
    text: String,
    size: Size,
}

/// A parsed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Bytes(u64),
    Rest,
}

impl SizeSpec {
    /// A size from a literal known to be valid (panics otherwise); parse
    /// anything else with `str::parse`.
    pub fn new(s: &str) -> Self {
        s.parse().unwrap_or_else(|e| panic!("SizeSpec::new: {e}"))
    }
    /// The parsed size.
    pub fn get(&self) -> Size {
        self.size
    }
    /// The bytes, or `None` for "rest".
    pub fn bytes(&self) -> Option<u64> {
        match self.size {
            Size::Bytes(b) => Some(b),
            Size::Rest => None,
        }
    }
    /// The size as the plan wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for SizeSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(SizeSpec {
            size: parse_size(s)?,
            text: s.to_string(),
        })
    }
}

impl TryFrom<String> for SizeSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<SizeSpec> for String {
    fn from(v: SizeSpec) -> String {
        v.text
    }
}

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonSchema for SizeSpec {
    fn schema_name() -> Cow<'static, str> {
        "SizeSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size: a number with an optional binary unit K, M, G or T (\"512M\", \"20G\", \"1.5G\"), or \"rest\" for all remaining space",
            "type": "string"
        })
    }
}

/// Parse "512M", "20G", "1.5GiB", "4096", "rest". As util-linux reads
/// them: K, M, G, T and KiB, MiB, GiB, TiB are binary (K = 1024); KB, MB,
/// GB, TB are decimal (GB = 10^9).
pub fn parse_size(s: &str) -> Result<Size, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("rest") {
        return Ok(Size::Rest);
    }
    let bad = || format!("{s:?} is not a size (use e.g. \"512M\", \"20G\" or \"rest\")");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => KIB,
        "M" | "MIB" => MIB,
        "G" | "GIB" => GIB,
        "T" | "TIB" => TIB,
        "KB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "TB" => 1000 * 1000 * 1000 * 1000,
        _ => return Err(bad()),
    };
    let bytes = if let Some((int, frac)) = num.split_once('.') {
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        if frac.is_empty() || frac.len() > 6 {
            return Err(bad());
        }
        let frac_v: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10u64.pow(frac.len() as u32);
        int.checked_mul(mult)
            .and_then(|a| a.checked_add(frac_v.checked_mul(mult)? / scale))
            .ok_or_else(|| format!("{s:?} is too large"))?
    } else {
        let n: u64 = num.parse().map_err(|_| bad())?;
        n.checked_mul(mult)
            .ok_or_else(|| format!("{s:?} is too large"))?
    };
    if bytes == 0 {
        return Err(format!("{s:?} is zero"));
    }
    Ok(Size::Bytes(bytes))
}

/// Human-readable binary size: 1.5G, 512M, 4.0K.
pub fn human(bytes: u64) -> String {
    let units = [(TIB, "T"), (GIB, "G"), (MIB, "M"), (KIB, "K")];
    for (m, u) in units {
        if bytes >= m {
            let v = bytes as f64 / m as f64;
            return if bytes.is_multiple_of(m) {
                format!("{}{u}", bytes / m)
            } else {
                format!("{v:.1}{u}")
            };
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("512M"), Ok(Size::Bytes(512 * MIB)));
        assert_eq!(parse_size("20G"), Ok(Size::Bytes(20 * GIB)));
        assert_eq!(parse_size("20GiB"), Ok(Size::Bytes(20 * GIB)));
        assert_eq!(parse_size("1.5G"), Ok(Size::Bytes(3 * GIB / 2)));
        assert_eq!(parse_size("4096"), Ok(Size::Bytes(4096)));
        assert_eq!(parse_size("1k"), Ok(Size::Bytes(1024)));
        assert_eq!(parse_size("rest"), Ok(Size::Rest));
        assert_eq!(parse_size("REST"), Ok(Size::Rest));
    }

    #[test]
    fn decimal_units_as_util_linux_reads_them() {
        // sfdisk, lsblk and truncate: GB is 10^9, G and GiB are 2^30.
        assert_eq!(parse_size("20GB"), Ok(Size::Bytes(20_000_000_000)));
        assert_eq!(parse_size("500MB"), Ok(Size::Bytes(500_000_000)));
        assert_eq!(parse_size("4kB"), Ok(Size::Bytes(4000)));
        assert_eq!(parse_size("1TB"), Ok(Size::Bytes(1_000_000_000_000)));
        assert_eq!(parse_size("1.5GB"), Ok(Size::Bytes(1_500_000_000)));
        assert_ne!(parse_size("20GB"), parse_size("20G"));
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "12QB",
            "",
            "G",
            "1.2.3G",
            "-5M",
            "0",
            "0M",
            "1.G",
            "abc",
            "99999999999T",
        ] {
            assert!(parse_size(s).is_err(), "{s:?} should be rejected");
        }
        assert!(parse_size("12QB")
            .unwrap_err()
            .contains("\"12QB\" is not a size"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512 * MIB), "512M");
        assert_eq!(human(3 * GIB / 2), "1.5G");
        assert_eq!(human(100), "100B");
    }
}
