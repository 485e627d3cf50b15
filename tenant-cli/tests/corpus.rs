//! `tenant check` on the analyzer corpus (tenant-core/tests/corpus): every
//! safe case is accepted and every leaking case is refused with its rule.
//!
//! The corpus mixes cases that need `--any-binding` (`-- mode: lenient`) or
//! `forbid_delete` (`-- config: forbid_delete`), so the cases are grouped by
//! those directives into one temporary file per group, and each group is
//! checked with one run of the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenant-core/tests/corpus")
}

/// One corpus case: its reason, expected rule (leaks only), directives, SQL.
#[derive(Debug, Clone)]
struct Case {
    reason: String,
    rule: Option<String>,
    lenient: bool,
    forbid_delete: bool,
    sql: String,
}

/// Parses the corpus format described at the top of leaks.sql: a case starts
/// with `-- reason:`, directives are `-- key: value` lines, the SQL follows,
/// and a blank line ends the case.
fn parse_corpus(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for line in text.lines().chain(std::iter::once("")) {
        let trimmed = line.trim();
        if let Some(reason) = trimmed.strip_prefix("-- reason:") {
            if let Some(case) = current.take() {
                cases.push(case);
            }
            current = Some(Case {
                reason: reason.trim().to_string(),
                rule: None,
                lenient: false,
                forbid_delete: false,
                sql: String::new(),
            });
            continue;
        }
        let Some(case) = current.as_mut() else {
            continue;
        };
        if trimmed.is_empty() {
            if !case.sql.trim().is_empty() {
                cases.push(current.take().expect("a current case"));
            }
            continue;
        }
        if case.sql.is_empty() {
            if let Some(rule) = trimmed.strip_prefix("-- rule:") {
                case.rule = Some(rule.trim().to_string());
                continue;
            }
            if let Some(mode) = trimmed.strip_prefix("-- mode:") {
                case.lenient = mode.trim() == "lenient";
                continue;
            }
            if let Some(config) = trimmed.strip_prefix("-- config:") {
                case.forbid_delete |= config.contains("forbid_delete");
                continue;
            }
            if trimmed.starts_with("-- pg:") {
                continue;
            }
        }
        case.sql.push_str(line);
        case.sql.push('\n');
    }
    cases
}

/// Runs `tenant check --format json` on the given cases (one group) and
/// returns the per-statement JSON objects.
fn check_group(cases: &[Case], lenient: bool, forbid_delete: bool) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = std::fs::read_to_string(corpus_dir().join("tenancy.toml"))
        .expect("the corpus has a tenancy.toml");
    if forbid_delete {
        config = config.replace("forbid_delete = false", "forbid_delete = true");
        assert!(config.contains("forbid_delete = true"), "{config}");
    }
    std::fs::write(dir.path().join("tenancy.toml"), config).unwrap();
    let sql: String = cases
        .iter()
        .map(|c| format!("{}\n", c.sql.trim_end()))
        .collect();
    std::fs::write(dir.path().join("cases.sql"), sql).unwrap();
    let mut args = vec!["check", "--format", "json"];
    if lenient {
        args.push("--any-binding");
    }
    args.push("cases.sql");
    let output = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .expect("the tenant binary runs");
    let statements: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON output ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let statements = statements.as_array().expect("an array").clone();
    assert_eq!(
        statements.len(),
        cases.len(),
        "one JSON object per case; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output, statements)
}

/// Rules about the SQL text as a whole: a case expecting one of these is
/// checked in a file of its own, since another case's `$tenant` in the same
/// file would satisfy them.
const WHOLE_TEXT_RULES: &[&str] = &["missing-tenant-placeholder"];

/// Groups cases that can share one run: same binding mode, same
/// configuration; whole-text cases alone.
fn groups(cases: Vec<Case>) -> BTreeMap<(bool, bool, usize), Vec<Case>> {
    let mut groups: BTreeMap<(bool, bool, usize), Vec<Case>> = BTreeMap::new();
    for (index, case) in cases.into_iter().enumerate() {
        let alone = case
            .rule
            .as_deref()
            .is_some_and(|rule| WHOLE_TEXT_RULES.contains(&rule));
        groups
            .entry((
                case.lenient,
                case.forbid_delete,
                if alone { index + 1 } else { 0 },
            ))
            .or_default()
            .push(case);
    }
    groups
}

#[test]
fn every_safe_case_is_accepted() {
    let text = std::fs::read_to_string(corpus_dir().join("safe.sql")).expect("safe.sql exists");
    let cases = parse_corpus(&text);
    assert!(cases.len() >= 60, "{} safe cases", cases.len());
    for ((lenient, forbid_delete, _), cases) in groups(cases) {
        let (output, statements) = check_group(&cases, lenient, forbid_delete);
        let refused: Vec<String> = cases
            .iter()
            .zip(&statements)
            .filter(|(_, s)| s["ok"] != true)
            .map(|(c, s)| format!("{} -- {}\n  {}", c.sql.trim(), c.reason, s["violations"]))
            .collect();
        assert!(
            refused.is_empty(),
            "{} safe case(s) refused (lenient={lenient}):\n{}",
            refused.len(),
            refused.join("\n")
        );
        assert_eq!(output.status.code(), Some(0));
    }
}

#[test]
fn every_leaking_case_is_refused_with_its_rule() {
    let text = std::fs::read_to_string(corpus_dir().join("leaks.sql")).expect("leaks.sql exists");
    let cases = parse_corpus(&text);
    assert!(cases.len() >= 120, "{} leaking cases", cases.len());
    for ((lenient, forbid_delete, _), cases) in groups(cases) {
        let (output, statements) = check_group(&cases, lenient, forbid_delete);
        let missed: Vec<String> = cases
            .iter()
            .zip(&statements)
            .filter(|(case, s)| {
                let rules: Vec<&str> = s["violations"]
                    .as_array()
                    .map(|v| v.iter().filter_map(|v| v["rule"].as_str()).collect())
                    .unwrap_or_default();
                s["ok"] != false || !rules.contains(&case.rule.as_deref().unwrap_or("?"))
            })
            .map(|(c, s)| {
                format!(
                    "{} -- {} (expected {:?})\n  got {}",
                    c.sql.trim(),
                    c.reason,
                    c.rule,
                    s["violations"]
                )
            })
            .collect();
        assert!(
            missed.is_empty(),
            "{} leaking case(s) not refused as expected (lenient={lenient}):\n{}",
            missed.len(),
            missed.join("\n")
        );
        assert_eq!(output.status.code(), Some(1));
    }
}

#[test]
fn whole_leaks_file_exits_one_and_names_file_positions() {
    let corpus = corpus_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(["check", "--config"])
        .arg(corpus.join("tenancy.toml"))
        .arg(corpus.join("leaks.sql"))
        .output()
        .expect("the tenant binary runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8_lossy(&output.stdout);
    // The first case's table reference, at its line in the file.
    let text = std::fs::read_to_string(corpus.join("leaks.sql")).unwrap();
    let first = parse_corpus(&text).remove(0);
    let offset = text
        .find(first.sql.trim())
        .expect("first case is in the file");
    let line = text[..offset].lines().count() + 1;
    assert!(
        out.contains(&format!("leaks.sql:{line}:")),
        "expected a diagnostic on line {line}:\n{}",
        &out[..out.len().min(2000)]
    );
}

#[test]
fn corpus_parser_reads_directives() {
    let cases = parse_corpus(
        "-- header\n\n-- reason: r1\n-- rule: unbound-table\n-- mode: lenient\nSELECT 1\nFROM t;\n\n-- reason: r2\n-- config: forbid_delete\nDELETE FROM t;\n",
    );
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].rule.as_deref(), Some("unbound-table"));
    assert!(cases[0].lenient && !cases[0].forbid_delete);
    assert_eq!(cases[0].sql, "SELECT 1\nFROM t;\n");
    assert!(cases[1].forbid_delete && !cases[1].lenient);
}
