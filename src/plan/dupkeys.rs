//! Duplicate keys in plan JSON. serde_json keeps the last of two equal keys
//! without a word, so `"lun": 1, …, "lun": 2` would silently mean LUN 2.
//! This walks the text once, before it becomes a `Value`, and names every
//! key that appears twice in one object by its plan path.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;

/// Paths ("target.lun", "layout.partitions[1].fs") of keys given twice.
pub fn duplicate_keys(text: &str) -> Vec<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    match Walk::deserialize(&mut de) {
        Ok(w) => w.0,
        Err(_) => Vec::new(), // not JSON: the caller reports that
    }
}

/// The duplicates found below one value, with paths relative to it.
struct Walk(Vec<String>);

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WalkVisitor)
    }
}

struct WalkVisitor;

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

impl<'de> Visitor<'de> for WalkVisitor {
    type Value = Walk;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let below: Walk = map.next_value()?;
            if !seen.insert(key.clone()) {
                out.push(key.clone());
            }
            out.extend(below.0.iter().map(|p| join(&key, p)));
        }
        Ok(Walk(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(below) = seq.next_element::<Walk>()? {
            out.extend(below.0.iter().map(|p| join(&format!("[{i}]"), p)));
            i += 1;
        }
        Ok(Walk(out))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(Walk(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_named_by_path() {
        let t = r#"{"target": {"lun": 1, "iqn": "x", "lun": 2},
                   "layout": {"partitions": [{"fs": "ext4"}, {"fs": "xfs", "fs": "ext4"}]},
                   "version": 1, "version": 1}"#;
        assert_eq!(
            duplicate_keys(t),
            vec!["target.lun", "layout.partitions[1].fs", "version"]
        );
        assert!(duplicate_keys(r#"{"a": {"b": 1}, "c": {"b": 2}}"#).is_empty());
        assert!(duplicate_keys("not json").is_empty());
    }
}
