//! What changed between two plans, by field path.

use serde_json::Value;

/// Paths at which `old` and `new` differ, e.g. `["layout.partitions[1].size"]`.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => walk(&p, va, vb, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a == b => {}
        _ => out.push(if path.is_empty() {
            "(plan)".into()
        } else {
            path.to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_changed_fields() {
        let a = json!({"layout": {"partitions": [{"size": "1G"}, {"size": "rest"}]}, "x": 1});
        let b = json!({"layout": {"partitions": [{"size": "2G"}, {"size": "rest"}]}, "y": 1});
        assert_eq!(
            changed_paths(&a, &b),
            vec!["layout.partitions[0].size", "x", "y"]
        );
        assert!(changed_paths(&a, &a).is_empty());
    }
}
