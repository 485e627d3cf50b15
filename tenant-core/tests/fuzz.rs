//! Fuzzing the analyzer with proptest over mutated real SQL: no input may make
//! it panic (accepting or rejecting are both fine), and every position it
//! reports must lie inside the text it was given.
//!
//! Seeds are the statements of the analyzer corpus (`tests/corpus/*.sql`) and
//! the statements below; mutations insert, delete and swap characters, splice
//! tokens between statements, and insert the placeholder, quotes, comments and
//! other lexically tricky fragments.
//!
//! * `cargo test -p tenant-core --test fuzz` runs a short, deterministic
//!   pass (`FUZZ_CASES`, default 2000 inputs) suitable for CI.
//! * `FUZZ_SECONDS=600 cargo test --release -p tenant-core --test fuzz -- --nocapture`
//!   fuzzes with fresh random seeds for ten minutes and prints any failing
//!   input (minimised by proptest).

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use tenant_core::diagnostic::{render_analysis, render_parse_error};
use tenant_core::{Analysis, Analyzer, Binding, Config, ParseError, Position};

/// An analysis slower than this is reported as a failure: a hang is as bad
/// as a panic for a compile-time check or a runtime guard.
const SLOW_CASE: Duration = Duration::from_secs(5);

/// Seeds of our own, covering syntax the corpus may not: every statement
/// kind, nested scopes, and lexically awkward literals.
const OWN_SEEDS: &[&str] = &[
    "SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1",
    "SELECT f.id, s.payload FROM forms f JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant",
    "SELECT * FROM forms f LEFT JOIN LATERAL (SELECT * FROM follow_ups u WHERE u.tenant_id = f.tenant_id LIMIT 1) x ON true WHERE f.tenant_id = $tenant",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT * FROM t, forms WHERE forms.tenant_id = $tenant",
    "WITH moved AS (DELETE FROM forms WHERE tenant_id = $tenant AND archived RETURNING *) INSERT INTO archive (tenant_id, id) SELECT tenant_id, id FROM moved",
    "INSERT INTO forms (tenant_id, name) VALUES ($tenant, $1), ($tenant, $2) ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    "UPDATE forms f SET name = $1 FROM plans p WHERE f.tenant_id = $tenant AND f.plan_id = p.id",
    "DELETE FROM form_submissions s USING forms f WHERE s.form_id = f.id AND s.tenant_id = $tenant AND f.tenant_id = $tenant",
    "MERGE INTO forms t USING (SELECT * FROM staged WHERE tenant_id = $tenant) s ON t.tenant_id = s.tenant_id AND t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES ($tenant, s.id, s.name)",
    "SELECT id FROM forms WHERE tenant_id = $tenant UNION SELECT id FROM archive WHERE tenant_id = $tenant INTERSECT SELECT 1 EXCEPT SELECT 2 ORDER BY 1",
    "SELECT (SELECT count(*) FROM follow_ups u WHERE u.tenant_id = f.tenant_id), array(SELECT 1) FROM forms f WHERE f.tenant_id = $tenant ORDER BY (SELECT 1) NULLS LAST",
    "SELECT * FROM forms WHERE tenant_id = $tenant AND name = E'it''s \\' $tenant' AND note = $tag$ $tenant ; -- $tag$ /* x */",
    "SELECT \"Weird \"\"Name\"\"\".\"id\" FROM \"Weird \"\"Name\"\"\" WHERE \"tenant_id\" = $tenant -- trailing $tenant",
    "/* nested /* comment */ $tenant */ SELECT 1 FROM forms WHERE tenant_id IN ($tenant) AND id = ANY($1::int[])",
    "SELECT sum(x) OVER (PARTITION BY y ORDER BY z ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM forms TABLESAMPLE SYSTEM (10) WHERE tenant_id = $tenant::text",
    "SELECT * FROM ONLY public.forms, (VALUES (1, 'a'), (2, 'b')) v(a, b), generate_series(1, 3) g WHERE forms.tenant_id = $tenant GROUP BY CUBE (a, b) HAVING count(*) > (SELECT 1)",
    "SELECT CASE WHEN tenant_id = $tenant THEN 1 ELSE 0 END FROM forms WHERE NOT (tenant_id <> $tenant) OR tenant_id IS NULL",
    "SELECT * FROM forms WHERE (tenant_id, id) = ($tenant, $1) AND EXISTS (SELECT 1 FROM follow_ups WHERE follow_ups.tenant_id = forms.tenant_id)",
    "SELECT * FROM forms JOIN form_submissions USING (tenant_id) FULL JOIN follow_ups ON true NATURAL JOIN plans WHERE tenant_id = $tenant",
    "COPY forms TO STDOUT; TRUNCATE forms; SET search_path = x; DO $$ BEGIN END $$; CALL p(); PREPARE q AS SELECT 1; EXECUTE q",
    "EXPLAIN ANALYZE SELECT * FROM forms; SELECT * INTO t2 FROM forms WHERE tenant_id = $tenant; CREATE TABLE t3 AS SELECT 1",
    "CREATE TABLE x (id int); ALTER TABLE forms ADD COLUMN y int; DROP TABLE forms; GRANT ALL ON forms TO public",
    "SELECT $1, $2, $tenant, $3 FROM forms WHERE tenant_id = $tenant LIMIT $4 OFFSET $5 FOR UPDATE SKIP LOCKED",
    "SELECT 'ünïcödé 表', U&'\\0441' FROM \"ü\" WHERE tenant_id = $tenant\r\n  AND\tid = 1;\r\n",
    "SELECT * FROM forms WHERE tenant_id = $tenant;;; ;SELECT 1;",
    "",
    ";",
    "$tenant",
];

/// Fragments inserted by mutations: the placeholder and things that change
/// how the rest of the text is lexed.
const FRAGMENTS: &[&str] = &[
    "$tenant",
    "$tenant_id",
    "$tenants",
    "$1",
    "$0",
    "$99999999999",
    "$",
    "'",
    "''",
    "\"",
    "\"\"",
    "E'\\'",
    "$$",
    "$a$",
    "--",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "\t",
    ";",
    "(",
    ")",
    ",",
    ".",
    "::",
    "::text",
    "= $tenant",
    "tenant_id = $tenant",
    " AND ",
    " OR ",
    " NOT ",
    " IN (",
    " = ANY(",
    " LATERAL ",
    " ONLY ",
    " UNION SELECT * FROM forms ",
    " WITH x AS (SELECT 1) ",
    " JOIN forms ON true ",
    " LEFT JOIN ",
    " RETURNING * ",
    " WHERE ",
    " FROM ",
    " SELECT ",
    " VALUES ",
    "\0",
    "é",
    "表",
    "\u{feff}",
    "\\",
    "U&\"",
    "B'",
    "X'",
    "1e",
    ".5",
    "-- $tenant\n",
    "/* $tenant */",
];

/// One edit of a seed. Indices are reduced modulo the current length, so
/// every mutation applies to any text.
#[derive(Debug, Clone)]
enum Mutation {
    InsertChar(usize, char),
    Delete(usize, usize),
    Swap(usize, usize),
    Duplicate(usize, usize),
    InsertFragment(usize, usize),
    /// Insert a slice (start, len) of another seed at a position.
    Splice {
        at: usize,
        seed: usize,
        start: usize,
        len: usize,
    },
    /// Replace the slice at (start, len) with a slice of another seed.
    Replace {
        start: usize,
        len: usize,
        seed: usize,
        from: usize,
        from_len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let any_char = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\0', '\u{1f}'),
        1 => any::<char>(),
    ];
    prop_oneof![
        3 => (any::<usize>(), any_char).prop_map(|(at, c)| Mutation::InsertChar(at, c)),
        3 => (any::<usize>(), 1..12usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => (any::<usize>(), 1..40usize).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(at, f)| Mutation::InsertFragment(at, f)),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 1..60usize)
            .prop_map(|(at, seed, start, len)| Mutation::Splice { at, seed, start, len }),
        2 => (any::<usize>(), 1..30usize, any::<usize>(), any::<usize>(), 1..60usize).prop_map(
            |(start, len, seed, from, from_len)| Mutation::Replace { start, len, seed, from, from_len }
        ),
    ]
}

/// Applies mutations to `text` as characters, so the result stays UTF-8.
fn apply(text: &str, mutations: &[Mutation], seeds: &[Vec<char>]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let slice_of = |seed: usize, start: usize, len: usize| -> Vec<char> {
        let source = &seeds[seed % seeds.len()];
        if source.is_empty() {
            return Vec::new();
        }
        let start = start % source.len();
        source[start..(start + len).min(source.len())].to_vec()
    };
    for m in mutations {
        let n = chars.len();
        match *m {
            Mutation::InsertChar(at, c) => chars.insert(at % (n + 1), c),
            Mutation::Delete(at, len) if n > 0 => {
                let at = at % n;
                chars.drain(at..(at + len).min(n));
            }
            Mutation::Swap(a, b) if n > 0 => chars.swap(a % n, b % n),
            Mutation::Duplicate(at, len) if n > 0 => {
                let at = at % n;
                let copy: Vec<char> = chars[at..(at + len).min(n)].to_vec();
                chars.splice(at..at, copy);
            }
            Mutation::InsertFragment(at, f) => {
                let fragment = FRAGMENTS[f % FRAGMENTS.len()];
                chars.splice(at % (n + 1)..at % (n + 1), fragment.chars());
            }
            Mutation::Splice {
                at,
                seed,
                start,
                len,
            } => {
                let piece = slice_of(seed, start, len);
                chars.splice(at % (n + 1)..at % (n + 1), piece);
            }
            Mutation::Replace {
                start,
                len,
                seed,
                from,
                from_len,
            } if n > 0 => {
                let start = start % n;
                let piece = slice_of(seed, from, from_len);
                chars.splice(start..(start + len).min(n), piece);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// The SQL of every case in the corpus files (lines that are not `--`
/// directives or commentary), or nothing when the corpus is absent.
fn corpus_seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seeds = Vec::new();
    for name in ["leaks.sql", "safe.sql", "schema.sql"] {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        let mut statement = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("--") && statement.trim().is_empty() {
                continue;
            }
            statement.push_str(line);
            statement.push('\n');
            if line.trim_end().ends_with(';') {
                seeds.push(std::mem::take(&mut statement));
            }
        }
        // The whole file is a seed too: many statements in one text.
        seeds.push(text);
    }
    seeds
}

fn all_seeds() -> Vec<String> {
    let mut seeds: Vec<String> = OWN_SEEDS.iter().map(|s| s.to_string()).collect();
    seeds.extend(corpus_seeds());
    seeds
}

/// The analyzers under test: strict and lenient, with and without a
/// configuration that renames columns, declares globals and forbids DELETE.
fn analyzers() -> Vec<Analyzer> {
    let config = Config::from_toml_str(
        "tenant_column = \"tenant_id\"\nglobal_tables = [\"plans\", \"countries\"]\nforbid_delete = true\n[tables.tenants]\ntenant_column = \"id\"\n[tables.audit_log]\ntenant_column = \"org_id\"\n",
    )
    .expect("valid fuzz configuration");
    vec![
        Analyzer::new(Config::default()),
        Analyzer::new(Config::default()).with_binding(Binding::Lenient),
        Analyzer::new(config.clone()),
        Analyzer::new(config).with_binding(Binding::Lenient),
    ]
}

fn check_position(sql: &str, position: &Position, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        position.offset <= sql.len(),
        "{what}: offset {} past the end ({} bytes)",
        position.offset,
        sql.len()
    );
    prop_assert!(
        sql.is_char_boundary(position.offset),
        "{what}: offset {} inside a character",
        position.offset
    );
    let expected = Position::at(sql, position.offset);
    prop_assert_eq!(
        (position.line, position.column),
        (expected.line, expected.column),
        "{}: line:column does not match offset {}",
        what,
        position.offset
    );
    Ok(())
}

/// Everything that must hold of any analyzer answer.
fn check_answer(sql: &str, answer: &Result<Analysis, ParseError>) -> Result<(), TestCaseError> {
    match answer {
        Ok(analysis) => {
            prop_assert_eq!(&analysis.original_sql, sql);
            for statement in &analysis.statements {
                check_position(sql, &statement.position, "statement")?;
                prop_assert!(
                    statement.span.start <= statement.span.end && statement.span.end <= sql.len(),
                    "statement span {:?} outside the text",
                    statement.span
                );
                for v in &statement.violations {
                    check_position(sql, &v.position, v.rule.name())?;
                    prop_assert!(!v.message.is_empty(), "empty message for {}", v.rule);
                }
                for site in &statement.tenant_tables {
                    prop_assert!(
                        site.span.start <= site.span.end && site.span.end <= analysis.sql.len(),
                        "table site {:?} outside the rewritten text",
                        site.span
                    );
                }
            }
            // The renderer must cope with whatever the analyzer reports.
            let rendered = render_analysis("fuzz.sql", sql, analysis);
            prop_assert_eq!(rendered.is_empty(), analysis.is_ok());
        }
        Err(error) => {
            if let Some(position) = &error.position {
                check_position(sql, position, "parse error")?;
            }
            prop_assert!(!error.message.is_empty());
            let rendered = render_parse_error("fuzz.sql", sql, error);
            prop_assert!(rendered.starts_with("error[parse-error]"));
        }
    }
    Ok(())
}

/// Runs `cases` mutated inputs through every analyzer with `runner`.
fn fuzz(mut runner: TestRunner, seeds: &[String]) -> Result<(), String> {
    let seed_chars: Vec<Vec<char>> = seeds.iter().map(|s| s.chars().collect()).collect();
    let analyzers = analyzers();
    let strategy = (
        0..seeds.len(),
        0..analyzers.len(),
        proptest::collection::vec(mutation(), 0..10),
    );
    runner
        .run(&strategy, |(seed, which, mutations)| {
            let sql = apply(&seeds[seed], &mutations, &seed_chars);
            let started = Instant::now();
            let answer = analyzers[which].analyze(&sql);
            let took = started.elapsed();
            prop_assert!(took < SLOW_CASE, "analysis took {took:?}: {sql:?}");
            check_answer(&sql, &answer)
        })
        .map_err(|e| e.to_string())
}

#[test]
fn mutated_sql_never_panics_and_positions_stay_in_the_text() {
    let seeds = all_seeds();
    match std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        None => {
            let cases = std::env::var("FUZZ_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(2_000);
            // Deterministic in CI: the same inputs every run.
            let config = ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            };
            let runner =
                TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
            if let Err(failure) = fuzz(runner, &seeds) {
                panic!("{failure}");
            }
        }
        Some(seconds) => {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut rounds = 0u64;
            while Instant::now() < deadline {
                let config = ProptestConfig {
                    cases: 5_000,
                    failure_persistence: None,
                    ..ProptestConfig::default()
                };
                // A fresh random seed each round explores new inputs.
                if let Err(failure) = fuzz(TestRunner::new(config), &seeds) {
                    panic!("after {rounds} rounds of 5000 inputs: {failure}");
                }
                rounds += 1;
            }
            println!(
                "fuzzed {} inputs from {} seeds in {seconds} s: no panic",
                rounds * 5_000,
                seeds.len()
            );
        }
    }
}

#[test]
fn every_seed_is_handled_unmutated() {
    let analyzers = analyzers();
    let seeds = all_seeds();
    assert!(seeds.len() > OWN_SEEDS.len(), "the corpus adds seeds");
    for seed in &seeds {
        for analyzer in &analyzers {
            let answer = analyzer.analyze(seed);
            if let Err(e) = check_answer(seed, &answer) {
                panic!("{e}: {seed:?}");
            }
        }
    }
}

/// Set in the child process that runs the deep-input checks.
const DEEP_CHILD_ENV: &str = "TENANT_FUZZ_DEEP_CHILD";

/// Deep nesting and huge inputs must end in an error or a verdict, not a
/// stack overflow: that aborts the whole process (rustc for the macros, the
/// application for the runtime guard). The checks run on a thread with a
/// 2 MiB stack, the size of a tokio worker's, in a child process, so an
/// overflow fails this test with a message instead of aborting the suite.
#[test]
fn deep_and_huge_inputs_do_not_overflow_the_stack() {
    if std::env::var_os(DEEP_CHILD_ENV).is_some() {
        deep_and_huge_inputs_in_this_process();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "deep_and_huge_inputs_do_not_overflow_the_stack",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DEEP_CHILD_ENV, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last_input = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("deep input: "))
        .unwrap_or("none");
    assert!(
        output.status.success(),
        "the analyzer crashed ({}) on {last_input}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn deep_and_huge_inputs_in_this_process() {
    let mut inputs: Vec<(String, String)> = Vec::new();
    for depth in [10, 30, 100, 1_000] {
        inputs.push((
            format!("{depth} nested derived tables"),
            format!(
                "{}SELECT 1{}",
                "SELECT * FROM (".repeat(depth),
                ") x".repeat(depth)
            ),
        ));
        inputs.push((
            format!("{depth} nested IN subqueries"),
            format!(
                "SELECT * FROM forms WHERE tenant_id = $tenant AND id IN {}SELECT 1{}",
                "(SELECT id FROM forms WHERE tenant_id = $tenant AND id IN (".repeat(depth),
                "))".repeat(depth)
            ),
        ));
        inputs.push((
            format!("{depth} nested parentheses"),
            format!(
                "SELECT {}1{} FROM forms WHERE tenant_id = $tenant",
                "(".repeat(depth),
                ")".repeat(depth)
            ),
        ));
        inputs.push((
            format!("{depth}-term arithmetic chain"),
            format!(
                "SELECT 1{} FROM forms WHERE tenant_id = $tenant",
                " + 1".repeat(depth)
            ),
        ));
        inputs.push((
            format!("{depth} nested CTEs"),
            format!(
                "{}SELECT 1{}",
                "WITH c AS (".repeat(depth),
                ") SELECT * FROM c".repeat(depth)
            ),
        ));
    }
    inputs.push((
        "10000 alternating AND/OR terms".into(),
        format!(
            "SELECT * FROM forms WHERE tenant_id = $tenant{}",
            " AND id = 1 OR id = 2".repeat(10_000)
        ),
    ));
    inputs.push((
        "10000-element IN list".into(),
        format!(
            "SELECT * FROM forms WHERE tenant_id = $tenant AND id IN ({})",
            vec!["1"; 10_000].join(", ")
        ),
    ));
    inputs.push((
        "5000 statements".into(),
        "SELECT * FROM forms WHERE tenant_id = $tenant;\n".repeat(5_000),
    ));
    inputs.push((
        "1 MiB string literal".into(),
        format!(
            "SELECT '{}' FROM forms WHERE tenant_id = $tenant",
            "x".repeat(1 << 20)
        ),
    ));

    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            for analyzer in analyzers() {
                for (name, sql) in &inputs {
                    // Printed first, so the parent can name the input that crashed.
                    println!("deep input: {name}");
                    let answer = analyzer.analyze(sql);
                    if let Err(e) = check_answer(sql, &answer) {
                        panic!("{name}: {e}");
                    }
                }
            }
        })
        .expect("spawn a 2 MiB thread");
    worker.join().expect("deep inputs are handled");
}

#[test]
fn mutations_keep_text_valid_and_change_it() {
    let seeds: Vec<Vec<char>> = vec!["SELECT 1".chars().collect()];
    let out = apply(
        "SELECT 1",
        &[
            Mutation::InsertFragment(3, 0),
            Mutation::InsertChar(0, 'é'),
            Mutation::Delete(5, 2),
            Mutation::Splice {
                at: 100,
                seed: 0,
                start: 2,
                len: 3,
            },
        ],
        &seeds,
    );
    // "$tenant" at 3, 'é' in front, "te" deleted, "LEC" spliced at 100 % 15.
    assert_eq!(out, "éSEL$nantELECCT 1");
}
