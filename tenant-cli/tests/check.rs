//! End-to-end tests of `tenant check`: run the built binary on temporary
//! files and stdin, and check its output and exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const SAFE: &str = "SELECT id, name FROM forms WHERE tenant_id = $tenant AND id = $1;\n";
const LEAK: &str = "SELECT f.id, s.payload\nFROM forms f\nJOIN form_submissions s ON s.form_id = f.id\nWHERE f.tenant_id = $tenant;\n";

/// Runs `tenant ARGS` in `dir` with `stdin` as standard input.
fn tenant(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tenant binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin is writable");
    child
        .wait_with_output()
        .expect("the tenant binary finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status and that nothing looks like a panic.
fn assert_status(output: &Output, expected: i32) {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(output)
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error") && !err.contains("backtrace"),
        "{err}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file is writable");
    path
}

fn json(output: &Output) -> Vec<Value> {
    let value: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}):\n{}", stdout(output)));
    value.as_array().expect("a JSON array").clone()
}

#[test]
fn safe_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.sql", SAFE);
    let output = tenant(dir.path(), &["check", "ok.sql"], "");
    assert_status(&output, 0);
    assert!(
        stdout(&output).contains("checked 1 statement: 1 accepted"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn leaking_file_exits_one_with_a_rustc_style_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "report.sql", LEAK);
    let output = tenant(dir.path(), &["check", "report.sql"], "");
    assert_status(&output, 1);
    let out = stdout(&output);
    assert!(out.contains("error[unbound-table]: "), "{out}");
    assert!(out.contains("form_submissions"), "{out}");
    assert!(out.contains(" --> report.sql:3:6\n"), "{out}");
    assert!(
        out.contains(
            "3 | JOIN form_submissions s ON s.form_id = f.id\n  |      ^^^^^^^^^^^^^^^^\n"
        ),
        "{out}"
    );
    assert!(out.contains("= help: "), "{out}");
    assert!(out.contains("1 rejected"), "{out}");
}

#[test]
fn stdin_is_read_without_files_and_with_dash() {
    let dir = tempfile::tempdir().unwrap();
    let output = tenant(dir.path(), &["check"], SAFE);
    assert_status(&output, 0);
    let output = tenant(dir.path(), &["check", "-"], LEAK);
    assert_status(&output, 1);
    assert!(
        stdout(&output).contains("<stdin>:3:6"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn positions_are_file_lines_across_several_statements() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("-- two statements\n{SAFE}\n{LEAK}");
    write(dir.path(), "many.sql", &text);
    let output = tenant(dir.path(), &["check", "--format", "json", "many.sql"], "");
    assert_status(&output, 1);
    let statements = json(&output);
    assert_eq!(statements.len(), 2, "{statements:?}");
    assert_eq!(statements[0]["ok"], true);
    assert_eq!(statements[0]["file"], "many.sql");
    assert_eq!(statements[0]["violations"], Value::Array(vec![]));
    assert_eq!(statements[1]["ok"], false);
    assert!(statements[1]["statement"]
        .as_str()
        .unwrap()
        .contains("JOIN form_submissions s"));
    let violation = &statements[1]["violations"][0];
    assert_eq!(violation["rule"], "unbound-table");
    assert_eq!(violation["table"], "form_submissions");
    assert_eq!(violation["alias"], "s");
    // The JOIN line is line 6 of the file: comment, SAFE, blank, SELECT, FROM, JOIN.
    assert_eq!(violation["line"], 6);
    assert_eq!(violation["column"], 6);
    assert!(violation["message"].as_str().unwrap().len() > 10);
    assert!(violation["fix"].as_str().unwrap().contains("tenant_id"));
}

#[test]
fn any_file_with_a_violation_makes_the_status_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.sql", SAFE);
    write(dir.path(), "b.sql", LEAK);
    let output = tenant(dir.path(), &["check", "a.sql", "b.sql"], "");
    assert_status(&output, 1);
    let output = tenant(
        dir.path(),
        &["check", "--format", "json", "a.sql", "b.sql"],
        "",
    );
    assert_status(&output, 1);
    let files: Vec<_> = json(&output)
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, ["a.sql", "b.sql"]);
}

#[test]
fn sql_that_does_not_parse_exits_two_with_postgres_message_and_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.sql",
        "SELECT id\nFORM forms WHERE tenant_id = $tenant;\n",
    );
    let output = tenant(dir.path(), &["check", "bad.sql"], "");
    assert_status(&output, 2);
    let out = stdout(&output);
    assert!(
        out.contains("error[parse-error]: syntax error at or near"),
        "{out}"
    );
    assert!(out.contains(" --> bad.sql:2:6\n"), "{out}");
    assert!(out.contains("2 | FORM forms"), "{out}");

    let output = tenant(dir.path(), &["check", "--format", "json", "bad.sql"], "");
    assert_status(&output, 2);
    let statements = json(&output);
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["ok"], false);
    assert_eq!(statements[0]["violations"][0]["rule"], "parse-error");
    assert_eq!(statements[0]["violations"][0]["line"], 2);
}

#[test]
fn parse_error_beats_violation_in_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "leak.sql", LEAK);
    write(dir.path(), "bad.sql", "SELEC 1;");
    let output = tenant(dir.path(), &["check", "leak.sql", "bad.sql"], "");
    assert_status(&output, 2);
    assert!(stdout(&output).contains("error[unbound-table]"));
}

#[test]
fn unreadable_inputs_are_one_line_errors_with_status_two() {
    let dir = tempfile::tempdir().unwrap();
    let output = tenant(dir.path(), &["check", "missing.sql"], "");
    assert_status(&output, 2);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot read missing.sql: "), "{err}");

    std::fs::write(dir.path().join("latin1.sql"), b"SELECT '\xe9t\xe9';").unwrap();
    let output = tenant(dir.path(), &["check", "latin1.sql"], "");
    assert_status(&output, 2);
    assert!(
        stderr(&output).contains("not valid UTF-8"),
        "{}",
        stderr(&output)
    );

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::write(dir.path().join("empty/notes.txt"), "SELECT 1 FROM forms").unwrap();
    let output = tenant(dir.path(), &["check", "empty"], "");
    assert_status(&output, 2);
    assert_eq!(
        stderr(&output),
        "error: empty is a directory with no .sql file below it\n"
    );
}

#[test]
fn a_directory_checks_every_sql_file_below_it_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir_all(queries.join("reports/deep")).unwrap();
    std::fs::create_dir_all(queries.join(".cache")).unwrap();
    write(&queries, "b.sql", SAFE);
    write(&queries, "a.SQL", SAFE);
    write(&queries, "README.md", LEAK);
    write(&queries.join("reports"), "leak.sql", LEAK);
    write(&queries.join("reports/deep"), "ok.sql", SAFE);
    // Hidden directories are not checked.
    write(&queries.join(".cache"), "stale.sql", LEAK);

    let output = tenant(dir.path(), &["check", "--format", "json", "queries"], "");
    assert_status(&output, 1);
    let files: Vec<_> = json(&output)
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "queries/a.SQL",
            "queries/b.sql",
            "queries/reports/deep/ok.sql",
            "queries/reports/leak.sql",
        ]
    );
    let output = tenant(dir.path(), &["check", "queries"], "");
    assert_status(&output, 1);
    let out = stdout(&output);
    assert!(out.contains(" --> queries/reports/leak.sql:"), "{out}");
    assert!(
        out.contains("checked 4 statements: 3 accepted, 1 rejected"),
        "{out}"
    );

    // A directory and a file together, and the files alone: the same verdict.
    std::fs::remove_file(queries.join("reports/leak.sql")).unwrap();
    let output = tenant(dir.path(), &["check", "queries", "-"], SAFE);
    assert_status(&output, 0);
    assert!(
        stdout(&output).contains("checked 4 statements: 4 accepted"),
        "{}",
        stdout(&output)
    );
}

#[cfg(unix)]
#[test]
fn a_link_loop_below_is_named_and_the_rest_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir_all(queries.join("nested")).unwrap();
    write(&queries, "ok.sql", SAFE);
    std::os::unix::fs::symlink("..", queries.join("nested/up")).unwrap();
    // A broken link that names no SQL file is not an input.
    std::os::unix::fs::symlink("gone.txt", queries.join("broken")).unwrap();
    let output = tenant(dir.path(), &["check", "queries"], "");
    assert_status(&output, 2);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot read queries/nested/up: File system loop found"),
        "{err}"
    );
    assert!(
        stdout(&output).contains("checked 1 statement: 1 accepted"),
        "{}",
        stdout(&output)
    );

    // A broken link named like SQL is reported: a query file went missing.
    std::os::unix::fs::symlink("gone.sql", queries.join("moved.sql")).unwrap();
    std::fs::remove_file(queries.join("nested/up")).unwrap();
    let output = tenant(dir.path(), &["check", "queries"], "");
    assert_status(&output, 2);
    let err = stderr(&output);
    assert!(
        err.starts_with("error: cannot read queries/moved.sql: "),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let output = tenant(dir.path(), &["check", "--format", "xml"], "");
    assert_status(&output, 2);
    assert!(stderr(&output).contains("xml"), "{}", stderr(&output));
    let output = tenant(dir.path(), &["check", "--no-such-flag"], "");
    assert_status(&output, 2);
    let output = tenant(dir.path(), &[], "");
    assert_status(&output, 2);
}

#[test]
fn help_lists_check_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let output = tenant(dir.path(), &["--help"], "");
    assert_status(&output, 0);
    assert!(stdout(&output).contains("check"), "{}", stdout(&output));
    let output = tenant(dir.path(), &["check", "--help"], "");
    assert_status(&output, 0);
    for option in ["--config", "--format", "--any-binding", "--database-url"] {
        assert!(
            stdout(&output).contains(option),
            "{option}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn local_tenancy_toml_is_used_and_config_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT name FROM plans WHERE id = $1;";
    write(dir.path(), "plans.sql", query);
    // Without configuration `plans` is a tenant table (fail closed).
    assert_status(&tenant(dir.path(), &["check", "plans.sql"], ""), 1);
    write(dir.path(), "tenancy.toml", "global_tables = [\"plans\"]\n");
    assert_status(&tenant(dir.path(), &["check", "plans.sql"], ""), 0);
    // An explicit --config wins over ./tenancy.toml.
    write(
        dir.path(),
        "other.toml",
        "global_tables = [\"countries\"]\n",
    );
    assert_status(
        &tenant(
            dir.path(),
            &["check", "--config", "other.toml", "plans.sql"],
            "",
        ),
        1,
    );
}

#[test]
fn bad_configuration_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.sql", SAFE);
    write(dir.path(), "tenancy.toml", "tenant_colum = \"org_id\"\n");
    let output = tenant(dir.path(), &["check", "ok.sql"], "");
    assert_status(&output, 2);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("tenant_colum"), "{err}");
    assert!(err.contains("tenancy.toml"), "{err}");

    let output = tenant(
        dir.path(),
        &["check", "--config", "nope.toml", "ok.sql"],
        "",
    );
    assert_status(&output, 2);
    assert!(stderr(&output).contains("nope.toml"), "{}", stderr(&output));
}

#[test]
fn tenant_column_and_forbid_delete_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "tenancy.toml",
        "tenant_column = \"org_id\"\nforbid_delete = true\n",
    );
    write(
        dir.path(),
        "org.sql",
        "SELECT * FROM forms WHERE org_id = $tenant;",
    );
    assert_status(&tenant(dir.path(), &["check", "org.sql"], ""), 0);
    write(
        dir.path(),
        "tid.sql",
        "SELECT * FROM forms WHERE tenant_id = $tenant;",
    );
    assert_status(&tenant(dir.path(), &["check", "tid.sql"], ""), 1);
    write(
        dir.path(),
        "del.sql",
        "DELETE FROM forms WHERE org_id = $tenant AND id = $1;",
    );
    let output = tenant(dir.path(), &["check", "--format", "json", "del.sql"], "");
    assert_status(&output, 1);
    let rules: Vec<_> = json(&output)[0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.contains(&"delete-forbidden".to_string()), "{rules:?}");
}

#[test]
fn any_binding_accepts_a_literal_or_other_parameter() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "lit.sql",
        "SELECT * FROM forms WHERE tenant_id = 42;",
    );
    assert_status(&tenant(dir.path(), &["check", "lit.sql"], ""), 1);
    assert_status(
        &tenant(dir.path(), &["check", "--any-binding", "lit.sql"], ""),
        0,
    );
    write(dir.path(), "none.sql", "SELECT * FROM forms WHERE id = 42;");
    assert_status(
        &tenant(dir.path(), &["check", "--any-binding", "none.sql"], ""),
        1,
    );
}

#[test]
fn empty_input_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let output = tenant(
        dir.path(),
        &["check", "--format", "json"],
        "-- nothing here\n",
    );
    assert_status(&output, 0);
    assert!(json(&output).is_empty());
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let big: String = (0..2_000)
        .map(|i| format!("SELECT * FROM t{i};\n"))
        .collect();
    write(dir.path(), "big.sql", &big);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(["check", "big.sql"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of stdout without reading.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn accepted_statements_say_where_the_query_macros_run_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = "SELECT id FROM forms WHERE tenant_id = $tenant;\n\
                INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1)\n  \
                ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING;\n\
                SELECT now();\n\
                SELECT id FROM forms;\n";
    write(dir.path(), "routes.sql", text);

    let output = tenant(dir.path(), &["check", "--format", "json", "routes.sql"], "");
    assert_status(&output, 1);
    let statements = json(&output);
    assert_eq!(statements.len(), 4, "{statements:?}");
    assert_eq!(statements[0]["routing"], "partitions");
    assert_eq!(statements[0].get("not_routed"), None);
    assert_eq!(statements[1]["routing"], "parents");
    assert_eq!(statements[1]["not_routed"], "conflict-on-constraint");
    assert_eq!(statements[2]["routing"], "unchanged");
    // A rejected statement has no routing.
    assert_eq!(statements[3]["ok"], false);
    assert_eq!(statements[3]["routing"], Value::Null);

    let output = tenant(dir.path(), &["check", "routes.sql"], "");
    let out = stdout(&output);
    assert!(
        out.contains("note[conflict-on-constraint]: this statement runs on the parent tables"),
        "{out}"
    );
    assert!(out.contains(" --> routes.sql:2:1\n"), "{out}");
    assert!(
        out.contains(
            "checked 4 statements: 3 accepted (1 of them on the parent tables), 1 rejected"
        ),
        "{out}"
    );
}

#[test]
fn github_format_annotates_each_finding_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.sql", SAFE);
    write(dir.path(), "report, v2.sql", LEAK);
    write(
        dir.path(),
        "bad.sql",
        "SELECT id\nFORM forms WHERE tenant_id = $tenant;\n",
    );
    write(
        dir.path(),
        "upsert.sql",
        "INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1)\n\
         ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING;\n",
    );
    let output = tenant(
        dir.path(),
        &[
            "check",
            "--format",
            "github",
            "ok.sql",
            "report, v2.sql",
            "bad.sql",
            "upsert.sql",
            "missing.sql",
        ],
        "",
    );
    assert_status(&output, 2);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    // Property values escape `,` and `:`; the message keeps its help on a
    // second line, escaped as %0A.
    assert_eq!(
        lines[0],
        "::error file=report%2C v2.sql,line=3,col=6,title=unbound-table::\
         table `form_submissions` (alias `s`) is not restricted to the tenant\
         %0Ahelp: add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`"
    );
    assert!(
        lines[1].starts_with(
            "::error file=bad.sql,line=2,col=6,title=parse-error::syntax error at or near"
        ),
        "{out}"
    );
    assert!(
        lines[2].starts_with(
            "::notice file=upsert.sql,line=1,col=1,title=conflict-on-constraint::\
             this statement runs on the parent tables"
        ),
        "{out}"
    );
    assert!(
        lines[3]
            .starts_with("::error file=missing.sql,title=unreadable::cannot read missing.sql: "),
        "{out}"
    );
    assert!(
        lines[4].starts_with(
            "checked 3 statements: 2 accepted (1 of them on the parent tables), 1 rejected"
        ),
        "{out}"
    );
    // The unreadable file is still the one line on stderr.
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}
