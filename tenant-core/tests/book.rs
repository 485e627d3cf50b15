//! The manual holds together: every page under `docs/` is listed in
//! `docs/SUMMARY.md` (mdBook builds only what it lists), and every relative
//! link and `#anchor` in `README.md` and the book resolves, anchors as
//! GitHub makes them from headings. No network: links with a scheme
//! (`https:`, `mailto:`) are not followed.
//!
//! Why here: the book explains what `tenant-core` refuses, and its rule
//! pages are this crate's rustdoc (`Rule`'s variants include them), so the
//! crate that cannot build without them checks the rest of the book too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tenant-core lives in the workspace")
        .to_path_buf()
}

/// Every `.md` file below `dir`, in name order.
fn markdown_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The lines of a page outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut fence: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_none() {
            lines.push((index + 1, line.to_string()));
        }
    }
    lines
}

/// `line` with every code span (text between matching runs of backticks)
/// replaced by spaces.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let close = (i + run..chars.len()).find(|&j| {
            chars[j..].iter().take_while(|c| **c == '`').count() == run
                && (j == 0 || chars[j - 1] != '`')
        });
        match close {
            Some(j) => {
                out.extend(std::iter::repeat_n(' ', j + run - i));
                i = j + run;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// The targets of inline links and images (`[text](target)`) and of link
/// reference definitions (`[label]: target`) on one line of prose, outside
/// its code spans (a link inside backticks is not a link).
fn link_targets(line: &str) -> Vec<String> {
    let prose = without_code_spans(line);
    let line = prose.as_str();
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| c == ')' || c.is_whitespace())
            .unwrap_or(after.len());
        targets.push(after[..end].trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    let trimmed = line.trim_start();
    if let Some(label_end) = trimmed.strip_prefix('[').and_then(|t| t.find("]:")) {
        let target = trimmed[label_end + 3..].split_whitespace().next();
        if let Some(target) = target {
            targets.push(target.to_string());
        }
    }
    targets
}

/// GitHub's anchor for a heading: the rendered text lower-cased, every
/// character but letters, digits, `_`, `-` and spaces dropped, spaces made
/// `-`.
fn slug(heading: &str) -> String {
    // The rendered text: links keep their text, emphasis and code marks go.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .replace(['`', '*'], "")
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page: one per heading, a repeated one numbered `-1`,
/// `-2`, .. as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_page_of_the_book_is_in_the_summary() {
    let docs = workspace().join("docs");
    let summary = docs.join("SUMMARY.md");
    let listed: BTreeSet<PathBuf> = prose_lines(&read(&summary))
        .iter()
        .flat_map(|(_, line)| link_targets(line))
        .map(|target| normalize(&docs.join(target)))
        .collect();
    let unlisted: Vec<String> = markdown_below(&docs)
        .into_iter()
        .filter(|page| *page != summary && !listed.contains(page))
        .map(|page| page.strip_prefix(&docs).unwrap().display().to_string())
        .collect();
    assert!(
        unlisted.is_empty(),
        "pages under docs/ that docs/SUMMARY.md does not list (mdBook would leave them out):\n  {}",
        unlisted.join("\n  ")
    );
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = workspace();
    let mut pages = vec![root.join("README.md")];
    pages.extend(markdown_below(&root.join("docs")));
    let mut anchors_of: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = read(page);
        for (number, line) in prose_lines(&text) {
            for target in link_targets(&line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    normalize(&page.parent().unwrap().join(path))
                };
                let shown = format!(
                    "{}:{number}: {target}",
                    page.strip_prefix(&root).unwrap().display()
                );
                if !file.exists() {
                    broken.push(format!("{shown} (no such file)"));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if file.extension().and_then(|e| e.to_str()) != Some("md") {
                    broken.push(format!(
                        "{shown} (an anchor into a file that is not markdown)"
                    ));
                    continue;
                }
                let known = anchors_of
                    .entry(file.clone())
                    .or_insert_with(|| anchors(&read(&file)));
                if !known.contains(anchor) {
                    broken.push(format!("{shown} (no heading makes #{anchor})"));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} links found: is the parser blind?"
    );
    assert!(
        broken.is_empty(),
        "links that do not resolve:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Routing: queries straight to the tenant's partitions"),
        "routing-queries-straight-to-the-tenants-partitions"
    );
    assert_eq!(slug(" `unbound-table`"), "unbound-table");
    assert_eq!(
        slug(" Configuration: `tenancy.toml`"),
        "configuration-tenancytoml"
    );
    assert_eq!(
        slug(" The analyzer, the guard and the build"),
        "the-analyzer-the-guard-and-the-build"
    );
    assert_eq!(
        slug(" [The book](docs/SUMMARY.md) and more"),
        "the-book-and-more"
    );
    assert_eq!(
        anchors("# A\n## A\n```sh\n# not a heading\n```\n### A"),
        ["a", "a-1", "a-2"].map(String::from).into_iter().collect()
    );
}

#[test]
fn links_in_code_are_not_links() {
    assert_eq!(link_targets("see [x](a.md#b) and `[y](c.md)`"), ["a.md#b"]);
    assert_eq!(link_targets("[label]: ../x.md#y"), ["../x.md#y"]);
    let lines = prose_lines("```rust\n[x](in-code.md)\n```\n[z](out.md)");
    assert_eq!(lines, vec![(4, "[z](out.md)".to_string())]);
}
