//! Structural validation of plans against the JSON Schema generated from
//! the types, with messages that name the field inside the chosen branch of
//! each tagged union.

use super::errors::Errs;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use std::collections::BTreeSet;

fn pointer_to_path(ptr: &str) -> String {
    let mut out = String::new();
    for seg in ptr.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

thread_local! {
    static CURRENT_DOC: std::cell::RefCell<Value> = const { std::cell::RefCell::new(Value::Null) };
}

/// Structural validation against the generated schema. Tagged unions
/// (`source.type`, `target.transport`, `boot.network.address`) are checked
/// branch by branch so errors name the field inside the chosen branch.
pub(crate) fn check(value: &Value, errs: &mut Errs) {
    CURRENT_DOC.with(|d| *d.borrow_mut() = value.clone());
    let schema = super::schema::plan_schema_value();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => {
            errs.push("", format!("internal error: schema does not compile: {e}"));
            return;
        }
    };
    let mut seen = BTreeSet::new();
    for e in validator.iter_errors(value) {
        let ptr = e.instance_path().to_string();
        let path = pointer_to_path(&ptr);
        let instance = value.pointer(&ptr).unwrap_or(&Value::Null);
        if is_union_error(e.kind()) {
            union_errors(&schema, &path, &ptr, instance, errs, &mut seen);
            continue;
        }
        let (path, msg) = refine(&path, e.kind(), &e.to_string());
        if seen.insert((path.clone(), msg.clone())) {
            errs.push(path, msg);
        }
    }
}

/// " — did you mean \"x\"?" for the candidate closest to `got` (at most
/// two edits away, or differing only in case), else nothing.
fn did_you_mean(got: &str, candidates: &[String]) -> String {
    let lower = got.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" — did you mean {c:?}?"))
        .unwrap_or_default()
}

/// Every field name the plan schema knows, anywhere.
fn field_names() -> Vec<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::Object(props)) = o.get("properties") {
                    out.extend(props.keys().cloned());
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&super::schema::plan_schema_value(), &mut out);
    out.into_iter().collect()
}

/// "layout.partitions[0].fs" → "/layout/partitions/0/fs".
fn path_to_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, idx) = part.split_once('[').unwrap_or((part, ""));
        out.push('/');
        out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        for i in idx.split('[').filter(|i| !i.is_empty()) {
            out.push('/');
            out.push_str(i.trim_end_matches(']'));
        }
    }
    out
}

/// A value that matches no branch (or several) of a tagged union: netroot
/// then names the field inside the branch its tag chooses.
fn is_union_error(kind: &ValidationErrorKind) -> bool {
    matches!(
        kind,
        ValidationErrorKind::OneOfNotValid { .. }
            | ValidationErrorKind::OneOfMultipleValid { .. }
            | ValidationErrorKind::AnyOf { .. }
    )
}

/// Say jsonschema's findings the way netroot says things, from the kind of
/// error (never from its English text; `msg` is only the fallback).
fn refine(path: &str, kind: &ValidationErrorKind, msg: &str) -> (String, String) {
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } if unexpected.len() == 1 => (
            join(path, &unexpected[0]),
            format!(
                "unknown field (not part of plan version 1){}",
                did_you_mean(&unexpected[0], &field_names())
            ),
        ),
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(|o| o.to_string()).collect())
                .unwrap_or_default();
            let value = CURRENT_DOC.with(|d| {
                d.borrow()
                    .pointer(&path_to_pointer(path))
                    .cloned()
                    .unwrap_or(Value::Null)
            });
            let bare: Vec<String> = opts
                .iter()
                .map(|o| o.trim_matches('"').to_string())
                .collect();
            let hint = value
                .as_str()
                .map(|v| did_you_mean(v, &bare))
                .unwrap_or_default();
            (
                path.to_string(),
                format!("{value} is not one of {}{hint}", opts.join(", ")),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => (
            path.to_string(),
            format!("unknown fields {}", unexpected.join(", ")),
        ),
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            (join(path, &name), "missing (required)".to_string())
        }
        _ => (path.to_string(), msg.to_string()),
    }
}

/// The discriminator of a tagged union at `path`, by what the schema branches
/// hold as constants.
fn union_errors(
    root: &Value,
    path: &str,
    ptr: &str,
    instance: &Value,
    errs: &mut Errs,
    seen: &mut BTreeSet<(String, String)>,
) {
    if let Some(inner) = optional_inner(root, ptr) {
        validate_branch(root, &inner, ptr, instance, errs, seen);
        return;
    }
    let branches = find_union_branches(root, ptr);
    let Some((tag, branches)) = branches else {
        if seen.insert((path.to_string(), "invalid".into())) {
            errs.push(path, format!("{instance} is not valid here"));
        }
        return;
    };
    let names: Vec<String> = branches.iter().map(|(n, _)| n.clone()).collect();
    let choices = names.join(", ");
    // Unit-like variants ("dhcp") are strings.
    if let Value::String(s) = instance {
        let m = format!("{s:?} is not one of {choices}");
        if seen.insert((path.to_string(), m.clone())) {
            errs.push(path, m);
        }
        return;
    }
    let Some(obj) = instance.as_object() else {
        let m = format!("expected an object with \"{tag}\" (one of {choices})");
        if seen.insert((path.to_string(), m.clone())) {
            errs.push(path, m);
        }
        return;
    };
    let tag_val = if tag.is_empty() {
        obj.keys().next().cloned().map(Value::String)
    } else {
        obj.get(&tag).cloned()
    };
    let tag_path = if tag.is_empty() {
        path.to_string()
    } else {
        join(path, &tag)
    };
    let Some(Value::String(t)) = tag_val else {
        let m = if tag.is_empty() {
            format!("expected one of {choices}")
        } else {
            format!("missing: one of {choices}")
        };
        if seen.insert((tag_path.clone(), m.clone())) {
            errs.push(tag_path, m);
        }
        return;
    };
    let Some((_, branch)) = branches.iter().find(|(n, _)| *n == t) else {
        let m = format!("{t:?} is not one of {choices}");
        if seen.insert((tag_path.clone(), m.clone())) {
            errs.push(tag_path, m);
        }
        return;
    };
    validate_branch(root, branch, ptr, instance, errs, seen);
}

/// An `Option<T>` field: `anyOf: [T, null]`; returns T's schema.
fn optional_inner(root: &Value, ptr: &str) -> Option<Value> {
    let node = schema_at(root, ptr)?;
    let branches = node.get("anyOf")?.as_array()?;
    let non_null: Vec<&Value> = branches
        .iter()
        .filter(|b| b.get("type").and_then(|t| t.as_str()) != Some("null"))
        .collect();
    if branches.len() == 2 && non_null.len() == 1 {
        let inner = resolve(root, non_null[0]);
        if inner.get("oneOf").is_some() || inner.get("anyOf").is_some() {
            return None;
        }
        return Some(inner.clone());
    }
    None
}

fn validate_branch(
    root: &Value,
    branch: &Value,
    ptr: &str,
    instance: &Value,
    errs: &mut Errs,
    seen: &mut BTreeSet<(String, String)>,
) {
    let mut sub = branch.clone();
    if let (Some(defs), Some(o)) = (root.get("$defs"), sub.as_object_mut()) {
        o.insert("$defs".into(), defs.clone());
    }
    let Ok(v) = jsonschema::validator_for(&sub) else {
        return;
    };
    for e in v.iter_errors(instance) {
        let sub_ptr = e.instance_path().to_string();
        let full_ptr = format!("{ptr}{sub_ptr}");
        let p = pointer_to_path(&full_ptr);
        let inst = instance.pointer(&sub_ptr).unwrap_or(&Value::Null);
        if !sub_ptr.is_empty() && is_union_error(e.kind()) {
            union_errors(root, &p, &full_ptr, inst, errs, seen);
            continue;
        }
        let (p, m) = refine(&p, e.kind(), &e.to_string());
        if seen.insert((p.clone(), m.clone())) {
            errs.push(p, m);
        }
    }
}

/// Walk the schema along a JSON pointer to the union at that place; return
/// the tag property name ("" for externally tagged) and the branches by name.
fn schema_at<'a>(root: &'a Value, ptr: &str) -> Option<&'a Value> {
    let doc = CURRENT_DOC.with(|d| d.borrow().clone());
    let mut node = resolve(root, root);
    let mut here = String::new();
    for seg in ptr.split('/').skip(1) {
        // Step into the branch of a tagged union that the document chose.
        if let Some(one) = node.get("oneOf").and_then(|a| a.as_array()) {
            let inst = doc.pointer(&here).cloned().unwrap_or(Value::Null);
            let chosen = one.iter().map(|b| resolve(root, b)).find(|b| {
                b.get("properties")
                    .and_then(|p| p.as_object())
                    .is_some_and(|props| {
                        props
                            .iter()
                            .any(|(k, v)| v.get("const").is_some_and(|c| inst.get(k) == Some(c)))
                    })
            });
            if let Some(b) = chosen {
                node = b;
            }
        }
        here.push('/');
        here.push_str(seg);
        // Step through Option<T> (anyOf [T, null]) on the way.
        if let Some(any) = node.get("anyOf").and_then(|a| a.as_array()) {
            if let Some(b) = any
                .iter()
                .find(|b| b.get("type").and_then(|t| t.as_str()) != Some("null"))
            {
                node = resolve(root, b);
            }
        }
        let next = if seg.chars().all(|c| c.is_ascii_digit()) {
            node.get("items")
        } else {
            node.get("properties").and_then(|p| p.get(seg))
        }?;
        node = resolve(root, next);
    }
    Some(node)
}

fn find_union_branches(root: &Value, ptr: &str) -> Option<(String, Vec<(String, Value)>)> {
    let node = schema_at(root, ptr)?;
    let branches = node
        .get("oneOf")
        .or_else(|| node.get("anyOf"))?
        .as_array()?;
    let mut tag = String::new();
    let mut out = Vec::new();
    for b in branches {
        let b = resolve(root, b);
        if let Some(c) = b.get("const").and_then(|c| c.as_str()) {
            out.push((c.to_string(), b.clone()));
            continue;
        }
        if let Some(en) = b.get("enum").and_then(|e| e.as_array()) {
            for c in en.iter().filter_map(|c| c.as_str()) {
                out.push((c.to_string(), b.clone()));
            }
            continue;
        }
        let props = b.get("properties").and_then(|p| p.as_object());
        let mut found = false;
        if let Some(props) = props {
            for (k, p) in props {
                if let Some(c) = p.get("const").and_then(|c| c.as_str()) {
                    tag = k.clone();
                    out.push((c.to_string(), b.clone()));
                    found = true;
                    break;
                }
            }
            if !found && props.len() == 1 {
                // externally tagged: {"static": {...}}
                let (k, _) = props.iter().next().unwrap();
                out.push((k.clone(), b.clone()));
            }
        }
    }
    Some((tag, out))
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    if let Some(r) = node.get("$ref").and_then(|r| r.as_str()) {
        if let Some(p) = r.strip_prefix('#') {
            if let Some(t) = root.pointer(p) {
                return resolve(root, t);
            }
        }
    }
    node
}
