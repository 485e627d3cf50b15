//! The analyzer corpus: every statement of `tests/corpus/leaks.sql` must be
//! refused with the rule it declares, every statement of
//! `tests/corpus/safe.sql` accepted, under `tests/corpus/tenancy.toml`.
//!
//! The file format is described at the top of `leaks.sql`. Every failing case
//! is reported (file:line, reason, SQL, what the analyzer said) before the
//! test fails, so one run shows the whole disagreement between analyzer and
//! corpus. `tests/corpus/validate.sh` checks the same statements against a
//! real PostgreSQL server and `schema.sql`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tenant_core::{Analysis, Analyzer, Binding, Config, ParseError};

/// The issue asks for at least this many leaking statements ...
const MIN_LEAKS: usize = 120;
/// ... and at least this many safe ones.
const MIN_SAFE: usize = 60;

const LEAKS_FILE: &str = "leaks.sql";
const SAFE_FILE: &str = "safe.sql";

/// Every rule name the analyzer reports (`Rule::name`). A leak must declare
/// one of them, and the corpus must exercise each at least once.
const RULE_NAMES: [&str; 14] = [
    "unbound-table",
    "insert-missing-tenant-column",
    "insert-tenant-value",
    "tenant-column-assignment",
    "upsert-conflict-target",
    "delete-forbidden",
    "unsupported-statement",
    "unsupported-construct",
    "conflicting-tenants",
    "missing-tenant-placeholder",
    "unsafe-function",
    "system-relation",
    "search-path-or-role",
    "tenant-schema-reference",
];

/// Directives a case header may carry. `pg` is read by validate.sh only.
const DIRECTIVES: [&str; 5] = ["reason", "rule", "mode", "config", "pg"];

/// Which file a case comes from, and so what the analyzer must say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Refused, with the declared rule among the violations.
    Refused,
    /// Accepted.
    Accepted,
}

/// One corpus statement with its header.
#[derive(Debug, Clone)]
struct Case {
    file: &'static str,
    /// 1-based line of the `-- reason:` line.
    line: usize,
    reason: String,
    rule: Option<String>,
    binding: Binding,
    forbid_delete: bool,
    sql: String,
}

impl Case {
    fn location(&self) -> String {
        format!("tests/corpus/{}:{}", self.file, self.line)
    }
}

fn corpus_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
        .join(file)
}

/// Splits a corpus file into cases. A `-- reason:` line starts a case;
/// directive lines (`-- name: value`) follow it; then SQL lines up to a blank
/// line or the next `-- reason:`. Comment lines outside a case are commentary.
/// Returns the cases and every format error found.
fn split_cases(file: &'static str, text: &str) -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let mut current: Option<Case> = None;

    let finish = |case: Option<Case>, cases: &mut Vec<Case>| {
        if let Some(case) = case {
            cases.push(case);
        }
    };

    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.trim_end_matches('\r');
        if let Some(reason) = directive(line, "reason") {
            finish(current.take(), &mut cases);
            current = Some(Case {
                file,
                line: line_no,
                reason: reason.to_string(),
                rule: None,
                binding: Binding::Strict,
                forbid_delete: false,
                sql: String::new(),
            });
            continue;
        }
        if line.trim().is_empty() {
            finish(current.take(), &mut cases);
            continue;
        }
        let Some(case) = current.as_mut() else {
            if !line.trim_start().starts_with("--") {
                errors.push(format!(
                    "tests/corpus/{file}:{line_no}: SQL outside a case (every case starts with `-- reason:`): {line}"
                ));
            }
            continue;
        };
        if case.sql.is_empty() {
            if let Some((name, value)) = any_directive(line) {
                match name {
                    "rule" => case.rule = Some(value.to_string()),
                    "mode" => match value {
                        "strict" => case.binding = Binding::Strict,
                        "lenient" => case.binding = Binding::Lenient,
                        other => errors.push(format!(
                            "tests/corpus/{file}:{line_no}: unknown mode `{other}` (strict or lenient)"
                        )),
                    },
                    "config" => {
                        for setting in value.split(',').map(str::trim) {
                            match setting {
                                "forbid_delete" => case.forbid_delete = true,
                                other => errors.push(format!(
                                    "tests/corpus/{file}:{line_no}: unknown config `{other}` (forbid_delete)"
                                )),
                            }
                        }
                    }
                    "pg" => {}
                    other => errors.push(format!(
                        "tests/corpus/{file}:{line_no}: unknown directive `-- {other}:` (known: {})",
                        DIRECTIVES.join(", ")
                    )),
                }
                continue;
            }
        }
        case.sql.push_str(line);
        case.sql.push('\n');
    }
    finish(current.take(), &mut cases);
    (cases, errors)
}

/// `-- name: value` → the value, when the line is that directive.
fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    match any_directive(line) {
        Some((found, value)) if found == name => Some(value),
        _ => None,
    }
}

/// `-- name: value` → (name, value) for a lower-case word followed by a colon.
fn any_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    let (name, value) = rest.split_once(':')?;
    let is_word = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    is_word.then(|| (name, value.trim()))
}

/// Both corpus files, split, with their format errors.
fn load_corpus() -> (Vec<(Expect, Case)>, Vec<String>) {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for (file, expect) in [(LEAKS_FILE, Expect::Refused), (SAFE_FILE, Expect::Accepted)] {
        let path = corpus_path(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let (cases, file_errors) = split_cases(file, &text);
        errors.extend(file_errors);
        all.extend(cases.into_iter().map(|case| (expect, case)));
    }
    (all, errors)
}

fn load_config() -> Config {
    let path = corpus_path("tenancy.toml");
    Config::load(&path).unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()))
}

/// The analyzer a case runs under: its binding mode and configuration.
fn analyzer_for(config: &Config, case: &Case) -> Analyzer {
    let mut config = config.clone();
    if case.forbid_delete {
        config.forbid_delete = true;
    }
    Analyzer::new(config).with_binding(case.binding)
}

/// What the analyzer did with a statement. A panic is caught so that every
/// case is still checked and reported (the analyzer must never panic).
enum Outcome {
    Analysed(Analysis),
    ParseFailed(ParseError),
    Panicked(String),
}

fn run(config: &Config, case: &Case) -> Outcome {
    let analyzer = analyzer_for(config, case);
    match catch_unwind(AssertUnwindSafe(|| analyzer.analyze(&case.sql))) {
        Ok(Ok(analysis)) => Outcome::Analysed(analysis),
        Ok(Err(error)) => Outcome::ParseFailed(error),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_string());
            Outcome::Panicked(message)
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Analysed(analysis) if analysis.is_ok() => "accepted".to_string(),
        Outcome::Analysed(analysis) => {
            let mut out = String::from("refused:");
            for v in analysis.violations() {
                let table = match (&v.table, &v.alias) {
                    (Some(t), Some(a)) => format!(" {t} AS {a}"),
                    (Some(t), None) => format!(" {t}"),
                    _ => String::new(),
                };
                let _ = write!(
                    out,
                    "\n        [{}] {}{}: {}",
                    v.rule.name(),
                    v.position,
                    table,
                    v.message
                );
            }
            out
        }
        Outcome::ParseFailed(error) => format!("parse error: {error}"),
        Outcome::Panicked(message) => format!("PANICKED: {message}"),
    }
}

fn format_failure(case: &Case, expected: &str, outcome: &Outcome) -> String {
    let mode = match case.binding {
        Binding::Strict => "strict",
        Binding::Lenient => "lenient",
    };
    let config = if case.forbid_delete {
        ", forbid_delete"
    } else {
        ""
    };
    let sql: String = case
        .sql
        .trim_end()
        .lines()
        .map(|l| format!("\n        {l}"))
        .collect();
    format!(
        "{}: {}\n    mode: {mode}{config}\n    sql:{sql}\n    expected: {expected}\n    analyzer: {}",
        case.location(),
        case.reason,
        describe(outcome)
    )
}

/// Checks every case of one kind and returns the failure reports.
fn check_cases(expect: Expect) -> (usize, Vec<String>) {
    let config = load_config();
    let (cases, _) = load_corpus();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (_, case) in cases.iter().filter(|(e, _)| *e == expect) {
        checked += 1;
        let outcome = run(&config, case);
        let failure = match (expect, &outcome) {
            (Expect::Refused, Outcome::Analysed(analysis)) => {
                let rule = case.rule.as_deref().unwrap_or("(none declared)");
                let reported = analysis.violations().any(|v| v.rule.name() == rule);
                (!reported).then(|| format!("refused with `{rule}`"))
            }
            (Expect::Accepted, Outcome::Analysed(analysis)) => {
                (!analysis.is_ok()).then(|| "accepted".to_string())
            }
            (Expect::Refused, _) => Some(format!(
                "refused with `{}`",
                case.rule.as_deref().unwrap_or("(none declared)")
            )),
            (Expect::Accepted, _) => Some("accepted".to_string()),
        };
        if let Some(expected) = failure {
            failures.push(format_failure(case, &expected, &outcome));
        }
    }
    (checked, failures)
}

fn fail_with(title: &str, checked: usize, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let mut report = format!(
        "{title}: {} of {checked} cases disagree with the corpus\n\n",
        failures.len()
    );
    for failure in failures {
        report.push_str(failure);
        report.push_str("\n\n");
    }
    panic!("{report}");
}

#[test]
fn every_leak_is_refused_with_its_declared_rule() {
    let (checked, failures) = check_cases(Expect::Refused);
    assert!(checked > 0, "no leak cases found");
    fail_with("leaks.sql", checked, &failures);
}

#[test]
fn every_safe_statement_is_accepted() {
    let (checked, failures) = check_cases(Expect::Accepted);
    assert!(checked > 0, "no safe cases found");
    fail_with("safe.sql", checked, &failures);
}

#[test]
fn every_corpus_statement_parses_as_exactly_one_statement() {
    let config = load_config();
    let (cases, _) = load_corpus();
    let mut failures = Vec::new();
    for (_, case) in &cases {
        let outcome = run(&config, case);
        let problem = match &outcome {
            Outcome::Analysed(analysis) if analysis.statements.len() == 1 => None,
            Outcome::Analysed(analysis) => Some(format!(
                "exactly one statement (found {})",
                analysis.statements.len()
            )),
            Outcome::ParseFailed(_) | Outcome::Panicked(_) => {
                Some("a statement PostgreSQL parses".to_string())
            }
        };
        if let Some(expected) = problem {
            failures.push(format_failure(case, &expected, &outcome));
        }
    }
    fail_with("corpus parse check", cases.len(), &failures);
}

#[test]
fn corpus_is_large_well_formed_and_covers_every_rule() {
    let (cases, mut errors) = load_corpus();
    let known_rules: BTreeSet<&str> = RULE_NAMES.iter().copied().collect();
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_sql: BTreeMap<String, String> = BTreeMap::new();
    let (mut leaks, mut safe) = (0, 0);

    for (expect, case) in &cases {
        let at = case.location();
        if case.reason.trim().is_empty() {
            errors.push(format!("{at}: empty `-- reason:`"));
        }
        let sql = case.sql.trim();
        if sql.is_empty() {
            errors.push(format!("{at}: case without SQL"));
        } else if !sql.ends_with(';') {
            errors.push(format!("{at}: SQL does not end with `;`"));
        }
        let normalized = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = format!("{:?}{:?}{normalized}", case.binding, case.forbid_delete);
        if let Some(first) = seen_sql.insert(key, at.clone()) {
            errors.push(format!("{at}: same statement as {first}"));
        }
        match expect {
            Expect::Refused => {
                leaks += 1;
                match case.rule.as_deref() {
                    None => errors.push(format!("{at}: leak without `-- rule:`")),
                    Some(rule) => match known_rules.get(rule) {
                        Some(rule) => *per_rule.entry(rule).or_default() += 1,
                        None => errors.push(format!(
                            "{at}: unknown rule `{rule}` (known: {})",
                            RULE_NAMES.join(", ")
                        )),
                    },
                }
            }
            Expect::Accepted => {
                safe += 1;
                if case.rule.is_some() {
                    errors.push(format!("{at}: a safe case declares a `-- rule:`"));
                }
            }
        }
    }

    if leaks < MIN_LEAKS {
        errors.push(format!(
            "{LEAKS_FILE}: {leaks} cases, at least {MIN_LEAKS} required"
        ));
    }
    if safe < MIN_SAFE {
        errors.push(format!(
            "{SAFE_FILE}: {safe} cases, at least {MIN_SAFE} required"
        ));
    }
    for rule in RULE_NAMES {
        if !per_rule.contains_key(rule) {
            errors.push(format!("{LEAKS_FILE}: no case for rule `{rule}`"));
        }
    }
    assert!(
        errors.is_empty(),
        "corpus format errors ({leaks} leaks, {safe} safe):\n{}",
        errors.join("\n")
    );
}

/// The splitter itself: a `-- reason:` line starts a new case even without a
/// blank line before it, SQL may span lines and hold comment lines, and
/// unknown directives and SQL outside a case are reported.
#[test]
fn corpus_splitter_handles_the_format() {
    let text = "\
-- header commentary
-- reason: first
-- rule: unbound-table
-- mode: lenient
SELECT 1
-- a comment inside the SQL
FROM forms;
-- reason: second, no blank line before it
-- config: forbid_delete
DELETE FROM forms;

-- reason: third
-- rulez: typo
SELECT 3;

SELECT 4;
";
    let (cases, errors) = split_cases("test.sql", text);
    assert_eq!(cases.len(), 3, "{cases:#?}");
    assert_eq!(cases[0].line, 2);
    assert_eq!(cases[0].rule.as_deref(), Some("unbound-table"));
    assert_eq!(cases[0].binding, Binding::Lenient);
    assert_eq!(
        cases[0].sql,
        "SELECT 1\n-- a comment inside the SQL\nFROM forms;\n"
    );
    assert_eq!(cases[1].reason, "second, no blank line before it");
    assert!(cases[1].forbid_delete);
    assert_eq!(cases[1].binding, Binding::Strict);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("rulez"), "{errors:#?}");
    assert!(errors[1].contains("SELECT 4"), "{errors:#?}");
}
