//! The small template language of profile files and arguments.
//!
//! - `@name@` is replaced by the variable `name` (lowercase letters, digits
//!   and `_`); an unknown name is an error, so typos fail in tests.
//! - A line (or argument) starting with `@?name@` is kept, without that
//!   prefix, only when `name` is not empty.
//!
//! `@` not followed by such a name and a closing `@` is left alone, so shell
//! scripts can use `"$@"`.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// Template variables.
pub type Vars = BTreeMap<String, String>;

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// If `s` starts with `@?name@`, return (name, rest).
fn condition(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("@?")?;
    let end = rest.find('@')?;
    let name = &rest[..end];
    if name.is_empty() || !name.chars().all(is_name_char) {
        return None;
    }
    Some((name, &rest[end + 1..]))
}

fn lookup<'a>(vars: &'a Vars, name: &str) -> Result<&'a str> {
    match vars.get(name) {
        Some(v) => Ok(v),
        None => bail!(
            "template variable @{name}@ is unknown (known: {})",
            vars.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Replace `@name@` in one line (no conditions).
fn substitute(s: &str, vars: &Vars) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name_len = after
            .find(|c: char| !is_name_char(c))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('@') {
            out.push_str(lookup(vars, &after[..name_len])?);
            rest = &after[name_len + 1..];
        } else {
            out.push('@');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Render a whole file.
pub fn render(text: &str, vars: &Vars) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let line = match condition(line) {
            Some((name, rest)) => {
                if lookup(vars, name)?.is_empty() {
                    continue;
                }
                rest
            }
            None => line,
        };
        out.push_str(&substitute(line, vars)?);
    }
    Ok(out)
}

/// Render one argument; `None` when its condition is not met or it renders
/// empty.
pub fn render_arg(arg: &str, vars: &Vars) -> Result<Option<String>> {
    let arg = match condition(arg) {
        Some((name, rest)) => {
            if lookup(vars, name)?.is_empty() {
                return Ok(None);
            }
            rest
        }
        None => arg,
    };
    let s = substitute(arg, vars)?;
    Ok(if s.is_empty() { None } else { Some(s) })
}

/// Render a profile command template; an element that is exactly
/// `@transport_args@` expands to `transport_args`.
pub fn render_cmd(
    template: &[String],
    vars: &Vars,
    transport_args: &[String],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in template {
        if a == "@transport_args@" {
            out.extend(transport_args.iter().cloned());
        } else if let Some(s) = render_arg(a, vars).with_context(|| format!("rendering {a:?}"))? {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("a", "x"), ("empty", ""), ("dev", "e0.1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_and_drops_conditional_lines() {
        let t = "A=@a@\n@?empty@B=@a@\n@?a@C=@dev@\nfor x in \"$@\"; do :; done\nmail@host\n";
        let r = render(t, &vars()).unwrap();
        assert_eq!(r, "A=x\nC=e0.1\nfor x in \"$@\"; do :; done\nmail@host\n");
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let e = render("x=@nope@\n", &vars()).unwrap_err().to_string();
        assert!(e.contains("@nope@"), "{e}");
    }

    #[test]
    fn args() {
        assert_eq!(
            render_arg("netroot.aoe=@dev@", &vars()).unwrap().as_deref(),
            Some("netroot.aoe=e0.1")
        );
        assert_eq!(render_arg("@?empty@ip=@empty@", &vars()).unwrap(), None);
        assert_eq!(render_arg("@empty@", &vars()).unwrap(), None);
    }

    #[test]
    fn transport_args_expand_in_place() {
        let mut v = Vars::new();
        v.insert("kver".into(), "6.1".into());
        v.insert("image".into(), "/boot/i-6.1".into());
        v.insert("nic_drivers".into(), "virtio_net e1000".into());
        let t: Vec<String> = [
            "dracut",
            "-f",
            "--add-drivers",
            "@nic_drivers@",
            "@transport_args@",
            "@image@",
            "@kver@",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = render_cmd(&t, &v, &["--add".into(), "network-legacy iscsi".into()]).unwrap();
        assert_eq!(
            c,
            vec![
                "dracut",
                "-f",
                "--add-drivers",
                "virtio_net e1000",
                "--add",
                "network-legacy iscsi",
                "/boot/i-6.1",
                "6.1"
            ]
        );
    }
}
