//! The typed fields of a plan, checked by their own parsers before the
//! plan is deserialised. serde would stop at the first bad value and not
//! say where it is; checking each typed field here reports every bad value
//! with its path. The bad values are then replaced by valid placeholders
//! in a copy of the plan, so that the meaning checks of the same section
//! still run and all problems are reported together.

use super::errors::Errs;
use super::size::SizeSpec;
use super::values::{Cidr, Hostname, Interface, Iqn, Mac, Portal, SecretFile};
use serde_json::Value;
use std::str::FromStr;

type Check = fn(&str) -> Result<(), String>;

fn parses<T: FromStr<Err = String>>(s: &str) -> Result<(), String> {
    s.parse::<T>().map(|_| ())
}

/// (JSON pointer, the parser, a valid placeholder). `*` stands for every
/// index of an array.
const FIELDS: &[(&str, Check, &str)] = &[
    ("/target/portal", parses::<Portal>, "192.0.2.1"),
    ("/target/iqn", parses::<Iqn>, "iqn.2000-01.invalid:x"),
    ("/target/interface", parses::<Interface>, "eth0"),
    ("/target/size", parses::<SizeSpec>, "1G"),
    ("/target/chap/secret_file", parses::<SecretFile>, "/x"),
    (
        "/target/chap/target_secret_file",
        parses::<SecretFile>,
        "/x",
    ),
    ("/layout/partitions/*/size", parses::<SizeSpec>, "1M"),
    ("/boot/network/interface", parses::<Interface>, "eth0"),
    (
        "/boot/network/address/static/address",
        parses::<Cidr>,
        "192.0.2.1/24",
    ),
    ("/client/mac", parses::<Mac>, "02:00:00:00:00:00"),
    (
        "/client/initiator_name",
        parses::<Iqn>,
        "iqn.2000-01.invalid:x",
    ),
    ("/system/hostname", parses::<Hostname>, "x"),
];

/// The plan's path of a JSON pointer: `/layout/partitions/0/size` →
/// `layout.partitions[0].size`.
fn path_of(ptr: &str) -> String {
    let mut out = String::new();
    for seg in ptr.split('/').skip(1) {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Every concrete pointer a pattern names in `value`.
fn expand(value: &Value, pattern: &str) -> Vec<String> {
    match pattern.split_once("/*") {
        None => vec![pattern.to_string()],
        Some((head, tail)) => match value.pointer(head) {
            Some(Value::Array(a)) => (0..a.len())
                .flat_map(|i| expand(value, &format!("{head}/{i}{tail}")))
                .collect(),
            _ => Vec::new(),
        },
    }
}

/// Check every typed field that is a string; report bad ones with their
/// path. Returns the plan with the bad values replaced by placeholders.
pub(crate) fn check(value: &Value, errs: &mut Errs) -> Value {
    let mut clean = value.clone();
    for (pattern, parse, placeholder) in FIELDS {
        for ptr in expand(value, pattern) {
            let Some(Value::String(s)) = value.pointer(&ptr) else {
                continue;
            };
            if let Err(m) = parse(s) {
                errs.push(path_of(&ptr), m);
                if let Some(v) = clean.pointer_mut(&ptr) {
                    *v = Value::String(placeholder.to_string());
                }
            }
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_valid() {
        for (p, parse, placeholder) in FIELDS {
            assert!(parse(placeholder).is_ok(), "{p}: {placeholder}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            path_of("/layout/partitions/0/size"),
            "layout.partitions[0].size"
        );
        let v = serde_json::json!({"layout": {"partitions": [{}, {}]}});
        assert_eq!(
            expand(&v, "/layout/partitions/*/size"),
            ["/layout/partitions/0/size", "/layout/partitions/1/size"]
        );
    }
}
