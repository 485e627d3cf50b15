//! `tenant check`: analyse SQL files (or stdin) and report every reference to
//! a tenant table that is not restricted to the requesting tenant.
//!
//! Each file is analysed as one SQL text (several statements allowed), so the
//! reported positions are the file's own line:column. A directory stands for
//! every `.sql` file below it.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;
use tenant_core::diagnostic::{render_parse_error, render_unroutable, render_violation};
use tenant_core::route::{RouteTemplate, Unroutable};
use tenant_core::{
    Analysis, Analyzer, Binding, Config, ParseError, Position, StatementAnalysis, Violation,
};

/// Exit status when every statement is accepted.
const EXIT_OK: u8 = 0;
/// Exit status when at least one statement has a violation.
const EXIT_VIOLATION: u8 = 1;
/// Exit status when some input could not be checked (unreadable, not UTF-8,
/// does not parse).
const EXIT_ERROR: u8 = 2;

/// The name shown for standard input.
const STDIN_NAME: &str = "<stdin>";

/// Arguments of `tenant check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Lenient binding (for SQL written elsewhere): any single parameter or
    /// literal compared with the tenant column binds, instead of `$tenant`
    /// only.
    #[arg(long)]
    any_binding: bool,

    /// SQL files to check; a directory checks every `.sql` file below it
    /// (hidden directories skipped); none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// How `tenant check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// rustc-style diagnostics with a caret under each offending reference.
    Human,
    /// One JSON array with an object per statement.
    Json,
    /// GitHub Actions' workflow commands (`::error file=..,line=..::`), which
    /// annotate the offending lines of a pull request, then the summary.
    Github,
}

/// One statement in the JSON output.
#[derive(Debug, Serialize)]
struct StatementReport<'a> {
    file: &'a str,
    /// The statement's SQL text; the whole file when it does not parse.
    statement: &'a str,
    /// Where the statement starts in the file.
    line: usize,
    column: usize,
    ok: bool,
    /// Where the runtime's query macros run an accepted statement:
    /// `partitions` (the tenant's own), `parents` (see `not_routed`), or
    /// `unchanged` (no tenant table); `null` for a rejected statement.
    routing: Option<&'static str>,
    /// Why an accepted statement stays on the parents (a route rule name).
    #[serde(skip_serializing_if = "Option::is_none")]
    not_routed: Option<&'static str>,
    violations: Vec<ViolationReport<'a>>,
}

/// Where the query macros would run an accepted statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routing {
    /// On the requesting tenant's partitions.
    Partitions,
    /// On the parents, for this reason.
    Parents(Unroutable),
    /// As written: it references no tenant table.
    Unchanged,
}

impl Routing {
    fn name(self) -> &'static str {
        match self {
            Routing::Partitions => "partitions",
            Routing::Parents(_) => "parents",
            Routing::Unchanged => "unchanged",
        }
    }

    fn reason(self) -> Option<Unroutable> {
        match self {
            Routing::Parents(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The routing of one accepted statement of `analysis`. Templates are per
/// statement, so a statement of a multi-statement file is analysed alone.
fn routing_of(
    analyzer: &Analyzer,
    analysis: &Analysis,
    statement: &StatementAnalysis,
) -> Option<Routing> {
    if !statement.is_ok() {
        return None;
    }
    let template = if analysis.statements.len() == 1 {
        RouteTemplate::from_analysis(analysis)
    } else {
        // The statement parsed as part of the file, so it parses alone.
        RouteTemplate::from_analysis(&analyzer.analyze(&statement.text).ok()?)
    };
    Some(match template.unroutable {
        Some(reason) => Routing::Parents(reason),
        None if template.slots.is_empty() => Routing::Unchanged,
        None => Routing::Partitions,
    })
}

/// One violation (or parse error, with rule `parse-error`) in the JSON output.
#[derive(Debug, Serialize)]
struct ViolationReport<'a> {
    table: Option<&'a str>,
    alias: Option<&'a str>,
    rule: &'a str,
    message: &'a str,
    fix: &'a str,
    line: usize,
    column: usize,
}

impl<'a> ViolationReport<'a> {
    fn from_violation(v: &'a Violation) -> Self {
        ViolationReport {
            table: v.table.as_deref(),
            alias: v.alias.as_deref(),
            rule: v.rule.name(),
            message: &v.message,
            fix: &v.fix,
            line: v.position.line,
            column: v.position.column,
        }
    }

    fn from_parse_error(e: &'a ParseError, sql: &str) -> Self {
        let position = e.position.unwrap_or_else(|| Position::at(sql, 0));
        ViolationReport {
            table: None,
            alias: None,
            rule: "parse-error",
            message: &e.message,
            fix: "correct the SQL so PostgreSQL can parse it",
            line: position.line,
            column: position.column,
        }
    }
}

/// The outcome of one input.
enum Outcome {
    /// The input could not be read; the message is for stderr.
    Unreadable(String),
    /// PostgreSQL could not parse it.
    ParseError { sql: String, error: ParseError },
    /// Analysed, with the routing of each statement (in order).
    Analysed(Analysis, Vec<Option<Routing>>),
}

/// Runs `tenant check` and returns the exit status.
pub fn run(args: &CheckArgs, config: Config) -> u8 {
    let binding = if args.any_binding {
        Binding::Lenient
    } else {
        Binding::Strict
    };
    let analyzer = Analyzer::new(config).with_binding(binding);

    let inputs: Vec<Input> = if args.files.is_empty() {
        vec![Input::Stdin]
    } else {
        args.files.iter().flat_map(|path| inputs_of(path)).collect()
    };

    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        let (origin, text) = match input {
            Input::Stdin => (STDIN_NAME.to_string(), read_stdin()),
            Input::File(path) => {
                let origin = path.to_string_lossy().into_owned();
                let text = read_file(&path, &origin);
                (origin, text)
            }
            Input::Unreadable { origin, message } => (origin, Err(message)),
        };
        let outcome = match text {
            Err(message) => Outcome::Unreadable(message),
            Ok(sql) => match analyzer.analyze(&sql) {
                Ok(analysis) => {
                    let routing = analysis
                        .statements
                        .iter()
                        .map(|statement| routing_of(&analyzer, &analysis, statement))
                        .collect();
                    Outcome::Analysed(analysis, routing)
                }
                Err(error) => Outcome::ParseError { sql, error },
            },
        };
        results.push((origin, outcome));
    }

    let status = results
        .iter()
        .map(|(_, outcome)| match outcome {
            Outcome::Unreadable(_) | Outcome::ParseError { .. } => EXIT_ERROR,
            Outcome::Analysed(a, _) if a.is_ok() => EXIT_OK,
            Outcome::Analysed(..) => EXIT_VIOLATION,
        })
        .max()
        .unwrap_or(EXIT_OK);

    for (_, outcome) in &results {
        if let Outcome::Unreadable(message) = outcome {
            eprintln!("error: {message}");
        }
    }
    let output = match args.format {
        Format::Human => human(&results),
        Format::Json => json(&results),
        Format::Github => github(&results),
    };
    write_stdout(&output);
    status
}

/// rustc-style output: every violation and parse error, a note for each
/// accepted statement that stays on the parents, then a summary.
fn human(results: &[(String, Outcome)]) -> String {
    let mut out = String::new();
    for (origin, outcome) in results {
        match outcome {
            Outcome::Unreadable(_) => {}
            Outcome::ParseError { sql, error } => {
                out.push_str(&render_parse_error(origin, sql, error));
                out.push('\n');
            }
            Outcome::Analysed(analysis, routing) => {
                for (statement, routing) in analysis.statements.iter().zip(routing) {
                    for v in &statement.violations {
                        out.push_str(&render_violation(origin, &analysis.original_sql, v));
                        out.push('\n');
                    }
                    if let Some(reason) = routing.and_then(Routing::reason) {
                        out.push_str(&render_unroutable(
                            origin,
                            &analysis.original_sql,
                            statement.span.start,
                            reason,
                        ));
                        out.push('\n');
                    }
                }
            }
        }
    }
    out.push_str(&summary(results));
    out
}

/// The last line of the human and GitHub formats: what was checked and found.
fn summary(results: &[(String, Outcome)]) -> String {
    let mut statements = 0;
    let mut rejected = 0;
    let mut violations = 0;
    let mut unparsable = 0;
    let mut on_parents = 0;
    for (_, outcome) in results {
        match outcome {
            Outcome::Unreadable(_) => {}
            Outcome::ParseError { .. } => unparsable += 1,
            Outcome::Analysed(analysis, routing) => {
                statements += analysis.statements.len();
                for (statement, routing) in analysis.statements.iter().zip(routing) {
                    rejected += usize::from(!statement.is_ok());
                    violations += statement.violations.len();
                    on_parents += usize::from(routing.and_then(Routing::reason).is_some());
                }
            }
        }
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut summary = format!(
        "checked {}: {} accepted",
        plural(statements, "statement"),
        statements - rejected
    );
    if on_parents > 0 {
        summary.push_str(&format!(" ({on_parents} of them on the parent tables)"));
    }
    if rejected > 0 {
        summary.push_str(&format!(
            ", {} rejected ({})",
            rejected,
            plural(violations, "violation")
        ));
    }
    if unparsable > 0 {
        summary.push_str(&format!(
            ", {} that PostgreSQL cannot parse",
            plural(unparsable, "input")
        ));
    }
    summary.push('\n');
    summary
}

/// GitHub Actions annotations: one workflow command per violation, parse
/// error and unreadable input (`::error`) and per accepted statement that
/// stays on the parents (`::notice`), then the human summary line.
fn github(results: &[(String, Outcome)]) -> String {
    let mut out = String::new();
    let mut annotate = |level: &str, file: &str, at: Option<Position>, title: &str, text: &str| {
        let mut properties = format!("file={}", workflow_property(file));
        if let Some(at) = at {
            properties.push_str(&format!(",line={},col={}", at.line, at.column));
        }
        properties.push_str(&format!(",title={}", workflow_property(title)));
        out.push_str(&format!(
            "::{level} {properties}::{}\n",
            workflow_data(text)
        ));
    };
    for (origin, outcome) in results {
        match outcome {
            Outcome::Unreadable(message) => annotate("error", origin, None, "unreadable", message),
            Outcome::ParseError { sql, error } => {
                let at = error.position.unwrap_or_else(|| Position::at(sql, 0));
                annotate("error", origin, Some(at), "parse-error", &error.message);
            }
            Outcome::Analysed(analysis, routing) => {
                for (statement, routing) in analysis.statements.iter().zip(routing) {
                    for v in &statement.violations {
                        let text = format!("{}\nhelp: {}", v.message, v.fix);
                        annotate("error", origin, Some(v.position), v.rule.name(), &text);
                    }
                    if let Some(reason) = routing.and_then(Routing::reason) {
                        let text = format!(
                            "this statement runs on the parent tables, not the tenant's partitions\n{}",
                            reason.explain()
                        );
                        annotate(
                            "notice",
                            origin,
                            Some(statement.position),
                            reason.name(),
                            &text,
                        );
                    }
                }
            }
        }
    }
    out.push_str(&summary(results));
    out
}

/// Escapes the message of a workflow command (GitHub's own rules).
fn workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
fn workflow_property(text: &str) -> String {
    workflow_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A JSON array with one object per statement (per input that does not
/// parse: one object for the whole text with a `parse-error` violation).
fn json(results: &[(String, Outcome)]) -> String {
    let mut reports = Vec::new();
    for (origin, outcome) in results {
        match outcome {
            Outcome::Unreadable(_) => {}
            Outcome::ParseError { sql, error } => reports.push(StatementReport {
                file: origin,
                statement: sql,
                line: 1,
                column: 1,
                ok: false,
                routing: None,
                not_routed: None,
                violations: vec![ViolationReport::from_parse_error(error, sql)],
            }),
            Outcome::Analysed(analysis, routing) => {
                for (statement, routing) in analysis.statements.iter().zip(routing) {
                    reports.push(StatementReport {
                        file: origin,
                        statement: &statement.text,
                        line: statement.position.line,
                        column: statement.position.column,
                        ok: statement.is_ok(),
                        routing: routing.map(Routing::name),
                        not_routed: routing.and_then(Routing::reason).map(Unroutable::name),
                        violations: statement
                            .violations
                            .iter()
                            .map(ViolationReport::from_violation)
                            .collect(),
                    });
                }
            }
        }
    }
    // Serialising plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&reports).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// One input of `tenant check`, after directories are expanded.
enum Input {
    /// Standard input (`-`, or no FILE at all).
    Stdin,
    /// A file to read.
    File(PathBuf),
    /// A directory that could not be walked, or holds no SQL file.
    Unreadable { origin: String, message: String },
}

/// The inputs one FILE argument stands for: itself, or, for a directory,
/// every `.sql` file below it in name order, so reports are stable.
fn inputs_of(path: &Path) -> Vec<Input> {
    if path.as_os_str() == "-" {
        return vec![Input::Stdin];
    }
    if !path.is_dir() {
        return vec![Input::File(path.to_path_buf())];
    }
    let origin = path.to_string_lossy().into_owned();
    let mut inputs = Vec::new();
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        // Hidden directories (`.git`, editors' state) hold no queries.
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_file() && is_sql(entry.path()) => {
                inputs.push(Input::File(entry.into_path()));
            }
            Ok(_) => {}
            // A broken link to something that is not SQL is not an input.
            Err(error) if !could_hold_sql(&error) => {}
            Err(error) => {
                let at = error
                    .path()
                    .map_or_else(|| origin.clone(), |p| p.to_string_lossy().into_owned());
                // An I/O error's own text: walkdir's repeats the path.
                let reason = error
                    .io_error()
                    .map_or_else(|| error.to_string(), ToString::to_string);
                inputs.push(Input::Unreadable {
                    message: format!("cannot read {at}: {reason}"),
                    origin: at,
                });
            }
        }
    }
    if inputs.is_empty() {
        inputs.push(Input::Unreadable {
            message: format!("{origin} is a directory with no .sql file below it"),
            origin,
        });
    }
    inputs
}

/// Whether a walk error may hide SQL: a directory that could not be read, a
/// link loop, or an unreadable `.sql` entry.
fn could_hold_sql(error: &walkdir::Error) -> bool {
    error.loop_ancestor().is_some()
        || error
            .path()
            .is_none_or(|path| path.is_dir() || is_sql(path))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|name| name.starts_with('.'))
}

fn is_sql(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| extension.eq_ignore_ascii_case("sql"))
}

/// Reads `path`; messages name it as `origin` (its display form).
fn read_file(path: &Path, origin: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {origin}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {origin}: not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn read_stdin() -> Result<String, String> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {STDIN_NAME}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {STDIN_NAME}: not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Writes the report; a closed pipe (`tenant check | head`) is not an error.
fn write_stdout(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
