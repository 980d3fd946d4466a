//! One template engine for every server file. The templates are plain
//! files under `profiles/server/` that a sysadmin can read; they are
//! embedded with `include_str!`, so an installed binary needs nothing
//! beside it. Values come from serializable context structs; shell quoting
//! stays in Rust (the `shell_quote` filter), and an undefined variable is
//! an error, so a typo in a template fails the tests instead of rendering
//! an empty string.

use crate::tools::cmd::shell_quote;
use anyhow::{anyhow, Context, Result};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::OnceLock;

/// Every template: its name and its text.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "vblade.conf.j2",
        include_str!("../../profiles/server/vblade.conf.j2"),
    ),
    (
        "vblade-unit.conf.j2",
        include_str!("../../profiles/server/vblade-unit.conf.j2"),
    ),
    (
        "run-vblade.sh.j2",
        include_str!("../../profiles/server/run-vblade.sh.j2"),
    ),
    (
        "targets.conf.j2",
        include_str!("../../profiles/server/targets.conf.j2"),
    ),
    (
        "tgtadm.sh.j2",
        include_str!("../../profiles/server/tgtadm.sh.j2"),
    ),
    (
        "targetcli.sh.j2",
        include_str!("../../profiles/server/targetcli.sh.j2"),
    ),
    (
        "dhcpd.conf.j2",
        include_str!("../../profiles/server/dhcpd.conf.j2"),
    ),
    (
        "dnsmasq.conf.j2",
        include_str!("../../profiles/server/dnsmasq.conf.j2"),
    ),
    (
        "boot.ipxe.j2",
        include_str!("../../profiles/server/boot.ipxe.j2"),
    ),
    (
        "README.txt.j2",
        include_str!("../../profiles/server/README.txt.j2"),
    ),
];

/// A fresh environment with every template and the filters. Block tags on
/// a line of their own leave no trace in the output (`trim_blocks`,
/// `lstrip_blocks`) and a template's final newline is kept.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("shell_quote", |s: &str| shell_quote(s));
    // iSCSI's default port, defined once in the plan's types.
    env.add_global("iscsi_default_port", crate::plan::ISCSI_DEFAULT_PORT);
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .with_context(|| format!("template profiles/server/{name}"))?;
    }
    Ok(env)
}

fn shared() -> Result<&'static Environment<'static>> {
    static ENV: OnceLock<std::result::Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| environment().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// Render the template `name` with `ctx`.
pub fn render(name: &str, ctx: impl Serialize) -> Result<String> {
    let env = shared()?;
    let t = env
        .get_template(name)
        .with_context(|| format!("template profiles/server/{name}"))?;
    t.render(ctx)
        .map_err(|e| anyhow!("rendering profiles/server/{name}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_parses() {
        let env = environment().unwrap();
        assert_eq!(env.templates().count(), TEMPLATES.len());
    }

    #[test]
    fn an_undefined_variable_is_an_error() {
        let mut env = environment().unwrap();
        env.add_template("typo", "{{ c.nmae }}\n").unwrap();
        let t = env.get_template("typo").unwrap();
        assert!(t
            .render(context! { c => context! { name => "x" } })
            .is_err());
        assert!(t.render(context! {}).is_err());
    }

    #[test]
    fn shell_quote_filter_and_whitespace() {
        let mut env = environment().unwrap();
        env.add_template(
            "t.sh",
            "exec {{ argv|map(\"shell_quote\")|join(\" \") }}\n{% if x %}\n  yes {{ x|shell_quote }}\n{% endif %}\nend\n",
        )
        .unwrap();
        let out = env
            .get_template("t.sh")
            .unwrap()
            .render(context! { argv => ["a b", "c", "it's"], x => "$(rm)" })
            .unwrap();
        assert_eq!(out, "exec 'a b' c 'it'\\''s'\n  yes '$(rm)'\nend\n");
    }
}
