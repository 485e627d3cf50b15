//! The modules of this crate import each other without cycles: a module
//! never imports one that imports it back, directly or through others.
//!
//! Why a test: `impl Tenancy` is spread over files by concern, which makes
//! it easy for a helper in one file to start calling into a file that
//! already depends on it; the layering the `tenancy` module describes only
//! holds if something checks it. This reads the sources (`use` items and
//! other `crate::`/`super::` paths in code, up to the file's first
//! `#[cfg(test)]`) and looks for a cycle among the modules they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["tenancy", "keys"]`) of each source file, and its code.
fn modules() -> BTreeMap<Vec<String>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("src entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("below src");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("lib" | "mod")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).expect("source is readable");
            found.insert(segments, code_of(&text));
        }
    }
    found
}

/// The code of a file before its tests, without comment lines.
fn code_of(text: &str) -> String {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path of the code's `use` items, braces expanded (`use
/// super::ddl::{a, b}` names `super::ddl::a` and `super::ddl::b`), and
/// every `crate::` or `super::` path elsewhere in the code.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find("use ") {
        let item = &rest[start + 4..];
        // A word of its own: not the end of `because ` in a comment.
        let word_start = rest[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if !word_start {
            rest = item;
            continue;
        }
        let end = item.find(';').unwrap_or(item.len());
        expand(item[..end].trim(), &mut paths);
        rest = &item[end..];
    }
    // Paths in expressions and types (`crate::id::validate_tenant_id(..)`).
    for (index, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let path: String = code[index..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(path.trim_end_matches(':').to_string());
    }
    paths
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        if !path.is_empty() {
            out.push(path.to_string());
        }
        return;
    };
    let prefix = &tree[..open];
    // Not a use tree after all (prose that happened to contain `use `).
    let close = tree
        .rfind('}')
        .filter(|close| *close > open)
        .unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut depth = 0;
    let mut from = 0;
    for (index, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&format!("{prefix}{}", inner[from..index].trim()), out);
                from = index + 1;
            }
            _ => {}
        }
    }
    expand(&format!("{prefix}{}", inner[from..].trim()), out);
}

/// The module of this crate a path names from `module` (its longest prefix
/// that is one), or `None` for a path into another crate.
fn target(module: &[String], path: &str, known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments: Vec<String> = Vec::new();
    let mut parts = path.split("::").peekable();
    match parts.next()? {
        "crate" => {}
        "super" => {
            segments = module.to_vec();
            segments.pop()?;
            while parts.peek() == Some(&"super") {
                parts.next();
                segments.pop()?;
            }
        }
        "self" => segments = module.to_vec(),
        // A child module named without `self::` (`use tenancy::Tenancy` in
        // the crate root); any other first name is another crate.
        child => {
            segments = module.to_vec();
            segments.push(child.to_string());
            if !known.contains(&segments) {
                return None;
            }
        }
    }
    segments.extend(
        parts
            .filter(|s| !s.is_empty() && *s != "*" && *s != "self")
            .map(str::to_string),
    );
    (0..=segments.len())
        .rev()
        .map(|len| segments[..len].to_vec())
        .find(|prefix| known.contains(prefix))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    assert!(known.contains(&vec!["tenancy".to_string(), "offboard".to_string()]));
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, code) in &modules {
        for path in paths_in(code) {
            if let Some(to) = target(module, &path, &known) {
                if &to != module {
                    edges.entry(module.clone()).or_default().insert(to);
                }
            }
        }
    }
    // Depth-first search; a module met again while still on the stack
    // closes a cycle.
    fn visit(
        module: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = stack.iter().position(|m| m == module) {
            let cycle: Vec<String> = stack[at..]
                .iter()
                .chain([module])
                .map(|m| {
                    ["crate".to_string()]
                        .iter()
                        .chain(m)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("::")
                })
                .collect();
            panic!("import cycle: {}", cycle.join(" -> "));
        }
        stack.push(module.clone());
        for to in edges.get(module).into_iter().flatten() {
            visit(to, edges, stack, done);
        }
        stack.pop();
        done.insert(module.clone());
    }
    let mut done = BTreeSet::new();
    for module in modules.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_cycle_check_sees_use_items_and_paths() {
    let known: BTreeSet<Vec<String>> =
        [vec![], vec!["a".to_string()], vec!["a".into(), "b".into()]]
            .into_iter()
            .collect();
    let paths = paths_in("use super::{b::{X, Y}, Z};\nfn f() { crate::a::g() }");
    assert_eq!(
        paths[..3],
        ["super::b::X", "super::b::Y", "super::Z"].map(String::from)
    );
    let module = vec!["a".to_string(), "c".to_string()];
    assert_eq!(
        target(&module, "super::b::X", &known),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(target(&module, "super::Z", &known), Some(vec!["a".into()]));
    assert_eq!(target(&module, "crate::Error", &known), Some(vec![]));
    assert_eq!(
        target(&[], "a::b::X", &known),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(target(&module, "std::sync::Arc", &known), None);
}

#[test]
fn prose_that_contains_use_is_not_a_use_item() {
    // `because ` ends in `use `; the braces after it are code, not a tree.
    // (The path shows twice: as a use item and as a path in the code.)
    let paths = paths_in("//! the cause: } of it {\nuse super::x::Y;\n");
    assert!(paths.iter().all(|path| path == "super::x::Y"), "{paths:?}");
    assert!(!paths.is_empty());
}
