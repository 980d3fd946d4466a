//! The layering of `src/` is enforced here, not hoped for.
//!
//! Every `use crate::…`/`use super::…` statement and every inline
//! `crate::…` path of every file in `src/` (test modules excluded) is read
//! and resolved to the file that defines it (re-exports in a `mod.rs` are
//! followed to the child that holds the item). Two rules:
//!
//! 1. A file may use another top-level module only if [`ALLOWED`] lets its
//!    own top-level module import that one: layers import downward only.
//! 2. There are no import cycles between files, inside a module or across.
//!
//! The checker is plain code over text, so it is tested on a synthetic tree
//! too: an upward import and a cycle must both fail it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it may import. Read from the
/// bottom up: each line may only name lines above it.
const ALLOWED: &[(&str, &[&str])] = &[
    ("event", &[]),
    ("outcome", &["event"]),
    ("plan", &["event", "outcome"]),
    ("host", &["event", "outcome"]),
    ("tools", &["event", "outcome", "plan", "host"]),
    ("disk", &["event", "outcome", "plan", "host", "tools"]),
    ("profile", &["event", "outcome", "plan", "host", "tools"]),
    (
        "system",
        &["event", "outcome", "plan", "host", "tools", "profile"],
    ),
    (
        "transport",
        &["event", "outcome", "plan", "host", "tools", "disk"],
    ),
    (
        "engine",
        &["event", "outcome", "plan", "host", "tools", "disk"],
    ),
    (
        "steps",
        &[
            "event",
            "outcome",
            "plan",
            "host",
            "tools",
            "disk",
            "profile",
            "system",
            "transport",
            "engine",
        ],
    ),
    (
        "server",
        &["event", "outcome", "plan", "host", "tools", "profile"],
    ),
    (
        "ui",
        &[
            "event",
            "outcome",
            "plan",
            "host",
            "tools",
            "disk",
            "profile",
            "transport",
            "engine",
            "steps",
            "server",
        ],
    ),
    (
        "cli",
        &[
            "event",
            "outcome",
            "plan",
            "host",
            "tools",
            "disk",
            "profile",
            "system",
            "transport",
            "engine",
            "steps",
            "server",
            "ui",
        ],
    ),
];

/// One source file: its module path and its text (tests stripped).
struct File {
    module: Vec<String>,
    is_mod_rs: bool,
    text: String,
}

fn module_of(rel: &Path) -> (Vec<String>, bool) {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs").to_string();
    let is_mod = stem == "mod" || stem == "lib";
    if !is_mod {
        parts.push(stem);
    }
    (parts, is_mod)
}

/// Drop comments and `#[cfg(test)]` modules: what tests import is not the
/// shape of the program.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            if let Some(next) = lines.peek() {
                if next.trim_start().starts_with("mod ") {
                    break;
                }
            }
        }
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expand `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    // drop `as Alias` renames, then all whitespace
    let mut words = Vec::new();
    let mut it = tree.split_whitespace();
    while let Some(w) = it.next() {
        if w == "as" {
            // the alias may carry the separator that follows it
            if let Some(alias) = it.next() {
                words.push(alias.trim_start_matches(ident_char).to_string());
            }
        } else {
            words.push(w.to_string());
        }
    }
    let tree: String = words.concat();
    fn go(prefix: &str, s: &str, out: &mut Vec<String>) {
        // split s at top-level commas
        let mut depth = 0;
        let mut start = 0;
        let bytes: Vec<char> = s.chars().collect();
        let mut items = Vec::new();
        for (i, c) in bytes.iter().enumerate() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(bytes[start..i].iter().collect::<String>());
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(bytes[start..].iter().collect::<String>());
        for item in items {
            if item.is_empty() {
                continue;
            }
            if let Some(open) = item.find('{') {
                let head = &item[..open];
                let inner = &item[open + 1..item.len() - 1];
                go(&format!("{prefix}{head}"), inner, out);
            } else {
                out.push(format!("{prefix}{item}"));
            }
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// Every path a file's `use` statements name. With `reexports == false`,
/// `pub use` statements are left out: a facade re-exporting its children
/// declares them, it does not depend on them.
fn use_paths(text: &str, reexports: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before_ok = i == 0 || !ident_char(rest[..i].chars().last().unwrap_or(' '));
        let is_pub = rest[..i].trim_end().ends_with("pub") || rest[..i].trim_end().ends_with(')');
        let after = &rest[i + 4..];
        if before_ok && (reexports || !is_pub) {
            if let Some(end) = after.find(';') {
                // relative paths (`use child::Item`) resolve against the
                // file's own module; external crates resolve to nothing
                out.extend(expand(&after[..end]));
            }
        }
        rest = after;
    }
    out
}

/// Paths written inline in code: `crate::a::b`, `super::x`, `self::y`, or
/// `child::z` for a child module of the file.
fn inline_paths(text: &str, children: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut in_use = false;
    while i < chars.len() {
        let c = chars[i];
        if c == ';' {
            in_use = false;
        }
        if ident_char(c) && (i == 0 || !(ident_char(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len() && (ident_char(chars[i]) || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word == "use" {
                in_use = true;
                continue;
            }
            if in_use || !word.contains("::") {
                continue;
            }
            let first = word.split("::").next().unwrap_or("");
            if matches!(first, "crate" | "super" | "self") || children.contains(first) {
                out.push(word.trim_end_matches(':').to_string());
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Absolute module segments of a path named in `file`.
fn absolute(file: &File, path: &str) -> Vec<String> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = file.module.clone();
    let mut i = 0;
    match segs.first() {
        Some(&"crate") => {
            base.clear();
            i = 1;
        }
        Some(&"self") => i = 1,
        Some(&"super") => {
            while segs.get(i) == Some(&"super") {
                base.pop();
                i += 1;
            }
        }
        _ => {}
    }
    base.extend(segs[i..].iter().map(|s| s.to_string()));
    base
}

struct Tree {
    files: BTreeMap<Vec<String>, File>,
}

impl Tree {
    fn load(root: &Path) -> Tree {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("read src dir") {
                let p = e.expect("dir entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p.strip_prefix(root).expect("under src").to_path_buf();
                    if rel == Path::new("main.rs") {
                        continue;
                    }
                    let (module, is_mod_rs) = module_of(&rel);
                    let text = strip(&std::fs::read_to_string(&p).expect("read source"));
                    files.insert(
                        module.clone(),
                        File {
                            module,
                            is_mod_rs,
                            text,
                        },
                    );
                }
            }
        }
        Tree { files }
    }

    fn from_memory(srcs: &[(&str, &str)]) -> Tree {
        let mut files = BTreeMap::new();
        for (rel, text) in srcs {
            let (module, is_mod_rs) = module_of(&PathBuf::from(rel));
            files.insert(
                module.clone(),
                File {
                    module,
                    is_mod_rs,
                    text: strip(text),
                },
            );
        }
        Tree { files }
    }

    /// The file that defines `abs`, following `pub use` re-exports of a
    /// `mod.rs` to the child that holds the item.
    fn resolve(&self, abs: &[String]) -> Option<Vec<String>> {
        self.resolve_at(abs, 0)
    }

    fn resolve_at(&self, abs: &[String], depth: usize) -> Option<Vec<String>> {
        let mut k = abs.len();
        while k > 0 && !self.files.contains_key(&abs[..k]) {
            k -= 1;
        }
        if k == 0 {
            return None;
        }
        let found = abs[..k].to_vec();
        let file = &self.files[&found];
        if let (true, Some(name), true) = (file.is_mod_rs, abs.get(k), depth < 8) {
            for p in use_paths(&file.text, true) {
                let a = absolute(file, &p);
                if a.last() == Some(name) && a.len() > k + 1 && a[..k] == found[..] {
                    if let Some(next) = self.resolve_at(&a, depth + 1) {
                        if next != found {
                            return Some(next);
                        }
                    }
                }
            }
        }
        Some(found)
    }

    /// (from file, to file) for every reference between two files.
    fn edges(&self) -> BTreeSet<(Vec<String>, Vec<String>)> {
        let mut out = BTreeSet::new();
        for (m, f) in &self.files {
            let children: BTreeSet<String> = self
                .files
                .keys()
                .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
                .filter_map(|k| k.last().cloned())
                .collect();
            let mut paths = use_paths(&f.text, !f.is_mod_rs);
            paths.extend(inline_paths(&f.text, &children));
            for p in paths {
                let abs = absolute(f, &p);
                if let Some(to) = self.resolve(&abs) {
                    if &to != m {
                        out.insert((m.clone(), to));
                    }
                }
            }
        }
        out
    }
}

fn allowed(from: &str, to: &str) -> Result<bool, String> {
    if from == to {
        return Ok(true);
    }
    let row = ALLOWED
        .iter()
        .find(|(m, _)| *m == from)
        .ok_or_else(|| format!("module `{from}` has no row in the ALLOWED table"))?;
    Ok(row.1.contains(&to))
}

fn show(m: &[String]) -> String {
    m.join("::")
}

/// Every broken rule, one line each.
fn check(tree: &Tree) -> Vec<String> {
    let mut errors = Vec::new();
    let edges = tree.edges();
    for (from, to) in &edges {
        let (Some(a), Some(b)) = (from.first(), to.first()) else {
            continue;
        };
        match allowed(a, b) {
            Ok(true) => {}
            Ok(false) => errors.push(format!(
                "upward import: {} uses {} (`{a}` may not import `{b}`)",
                show(from),
                show(to)
            )),
            Err(e) => errors.push(e),
        }
    }
    // Steps share code only through `steps::shared`: one step file never
    // uses another's helpers.
    for (from, to) in &edges {
        let is_step = |m: &Vec<String>| m.len() == 2 && m[0] == "steps" && m[1] != "shared";
        if is_step(from) && is_step(to) && from != to {
            errors.push(format!(
                "step helper borrowed: {} uses {} (move it to steps::shared)",
                show(from),
                show(to)
            ));
        }
    }
    // cycles: depth-first search with colours
    let mut graph: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for (a, b) in &edges {
        graph.entry(a).or_default().push(b);
    }
    let mut colour: BTreeMap<&Vec<String>, u8> = BTreeMap::new();
    fn dfs<'a>(
        n: &'a Vec<String>,
        graph: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        colour: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
        errors: &mut Vec<String>,
    ) {
        colour.insert(n, 1);
        stack.push(n);
        for m in graph.get(n).into_iter().flatten() {
            match colour.get(m).copied().unwrap_or(0) {
                0 => dfs(m, graph, colour, stack, errors),
                1 => {
                    let start = stack.iter().position(|x| x == m).unwrap_or(0);
                    let cyc: Vec<String> = stack[start..].iter().map(|x| show(x)).collect();
                    errors.push(format!("import cycle: {} -> {}", cyc.join(" -> "), show(m)));
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n, 2);
    }
    let nodes: Vec<&Vec<String>> = tree.files.keys().collect();
    for n in nodes {
        if colour.get(n).copied().unwrap_or(0) == 0 {
            dfs(n, &graph, &mut colour, &mut Vec::new(), &mut errors);
        }
    }
    errors
}

#[test]
fn src_imports_only_downward_and_has_no_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::load(&root);
    assert!(
        tree.files.len() > 20,
        "found only {} files",
        tree.files.len()
    );
    assert!(
        !tree.edges().is_empty(),
        "the checker found no imports at all"
    );
    let errors = check(&tree);
    assert!(
        errors.is_empty(),
        "layering broken ({}):\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_row() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::load(&root);
    let tops: BTreeSet<&String> = tree.files.keys().filter_map(|m| m.first()).collect();
    for t in tops {
        assert!(
            ALLOWED.iter().any(|(m, _)| m == t),
            "top-level module `{t}` is missing from ALLOWED"
        );
    }
}

#[test]
fn checker_fails_on_an_upward_import() {
    let tree = Tree::from_memory(&[
        ("plan/mod.rs", "pub mod types;\n"),
        (
            "plan/types.rs",
            "use crate::engine::Ctx;\npub struct Plan;\n",
        ),
        ("engine/mod.rs", "mod context;\npub use context::Ctx;\n"),
        (
            "engine/context.rs",
            "use crate::plan::types::Plan;\npub struct Ctx;\n",
        ),
    ]);
    let errors = check(&tree);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("upward import: plan::types uses engine::context")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("import cycle:")),
        "{errors:?}"
    );
}

#[test]
fn checker_fails_on_a_cycle_inside_one_module() {
    let tree = Tree::from_memory(&[
        ("disk/mod.rs", "mod a;\nmod b;\n"),
        ("disk/a.rs", "use super::b::helper;\npub fn x() {}\n"),
        ("disk/b.rs", "pub fn helper() { crate::disk::a::x() }\n"),
    ]);
    let errors = check(&tree);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("disk::a -> disk::b -> disk::a"),
        "{errors:?}"
    );
}

#[test]
fn checker_fails_on_one_step_borrowing_from_another() {
    let tree = Tree::from_memory(&[
        ("steps/mod.rs", "pub mod a;\npub mod b;\npub mod shared;\n"),
        (
            "steps/a.rs",
            "use super::b::helper;\nuse super::shared::common;\n",
        ),
        ("steps/b.rs", "pub fn helper() {}\n"),
        ("steps/shared.rs", "pub fn common() {}\n"),
    ]);
    let errors = check(&tree);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("step helper borrowed: steps::a uses steps::b"),
        "{errors:?}"
    );
}

#[test]
fn checker_passes_a_clean_tree() {
    let tree = Tree::from_memory(&[
        ("plan/mod.rs", "mod types;\npub use types::Plan;\n"),
        ("plan/types.rs", "pub struct Plan;\n"),
        ("engine/mod.rs", "mod run;\npub use run::go;\n"),
        (
            "engine/run.rs",
            "use crate::plan::Plan;\npub fn go(_: Plan) {}\n",
        ),
    ]);
    assert_eq!(check(&tree), Vec::<String>::new());
}
