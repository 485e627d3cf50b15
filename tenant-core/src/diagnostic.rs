//! Human-readable rendering of violations and parse errors, in the style of
//! rustc's diagnostics.
//!
//! The CLI prints these for `tenant check`, and the proc-macros put them in
//! compile errors, so a leak reads the same wherever it is found:
//!
//! ```text
//! error[unbound-table]: table `form_submissions` (alias `s`) is not restricted to the tenant
//!  --> queries/report.sql:3:6
//!   |
//! 3 | JOIN form_submissions s ON s.form_id = f.id
//!   |      ^^^^^^^^^^^^^^^^
//!   = help: add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`
//! ```
//!
//! Every function is pure and total: any position, even one past the end of
//! the text or inside a multi-byte character, renders without panicking.
//!
//! ```
//! use tenant_core::diagnostic::render_violation;
//! use tenant_core::{Position, Rule, Violation};
//!
//! let sql = "SELECT id FROM forms WHERE id = $1";
//! let violation = Violation {
//!     rule: Rule::UnboundTable,
//!     table: Some("forms".into()),
//!     alias: None,
//!     message: "table `forms` is not restricted to the tenant".into(),
//!     fix: "add `forms.tenant_id = $tenant` to the WHERE clause".into(),
//!     position: Position::at(sql, 15),
//! };
//! let text = render_violation("query.sql", sql, &violation);
//! assert!(text.contains(" --> query.sql:1:16\n"));
//! assert!(text.contains("\n  |                ^^^^^\n"));
//! ```

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

use crate::parse::ParseError;
use crate::report::{Analysis, Position, Violation};
use crate::route::Unroutable;

/// How many columns a tab advances in the rendered source line (rustc uses 4).
const TAB_WIDTH: usize = 4;

/// Renders one violation: headline with the rule name, location, the source
/// line with a caret under the offending reference, and the fix as `help`.
///
/// `origin` names where the SQL came from (a file name, `<stdin>`, a macro
/// call); `sql` is the text the violation's position refers to
/// ([`Analysis::original_sql`]).
pub fn render_violation(origin: &str, sql: &str, violation: &Violation) -> String {
    let headline = format!("error[{}]: {}", violation.rule.name(), violation.message);
    let help = (!violation.fix.trim().is_empty()).then_some(violation.fix.as_str());
    render(
        &headline,
        origin,
        sql,
        Some(violation.position.offset),
        help,
    )
}

/// Renders SQL that PostgreSQL could not parse, with PostgreSQL's message and
/// a caret where it stopped (when it said where).
pub fn render_parse_error(origin: &str, sql: &str, error: &ParseError) -> String {
    let headline = format!("error[parse-error]: {}", error.message);
    render(
        &headline,
        origin,
        sql,
        error.position.map(|p| p.offset),
        None,
    )
}

/// Renders a note that an accepted statement (starting at byte `offset` of
/// `sql`) runs on the parent tables instead of the tenant's partitions, and
/// why ([`Unroutable`]). Not an error: the statement is safe, only slower
/// at thousands of partitions.
pub fn render_unroutable(origin: &str, sql: &str, offset: usize, reason: Unroutable) -> String {
    let headline = format!(
        "note[{}]: this statement runs on the parent tables, not the tenant's partitions",
        reason.name()
    );
    render(&headline, origin, sql, Some(offset), Some(reason.explain()))
}

/// Renders every violation of an analysis, separated by blank lines; an
/// accepted analysis renders as the empty string.
pub fn render_analysis(origin: &str, sql: &str, analysis: &Analysis) -> String {
    analysis
        .violations()
        .map(|v| render_violation(origin, sql, v))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lays out one diagnostic. `offset` is a byte offset into `sql`; `None`
/// means the location is unknown and only the origin is shown.
fn render(
    headline: &str,
    origin: &str,
    sql: &str,
    offset: Option<usize>,
    help: Option<&str>,
) -> String {
    let mut out = String::new();
    // A message is one line in the headline; anything after a newline would
    // break the layout, so it is folded onto the same line.
    out.push_str(&single_line(headline));
    out.push('\n');

    let Some(offset) = offset else {
        let _ = writeln!(
            out,
            " --> {}",
            if origin.is_empty() { "<sql>" } else { origin }
        );
        if let Some(help) = help {
            let _ = writeln!(out, "  = help: {}", single_line(help));
        }
        return out;
    };

    let position = Position::at(sql, offset);
    let gutter = position.line.to_string().len();
    let pad = " ".repeat(gutter);
    let location = if origin.is_empty() {
        position.to_string()
    } else {
        format!("{origin}:{position}")
    };
    let _ = writeln!(out, "{pad}--> {location}");
    let _ = writeln!(out, "{pad} |");

    let line_start = sql[..position.offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = sql[position.offset..]
        .find('\n')
        .map_or(sql.len(), |i| position.offset + i);
    let line = &sql[line_start..line_end];
    let line = line.strip_suffix('\r').unwrap_or(line);
    let within = (position.offset - line_start).min(line.len());

    let (shown, caret_start) = display_line(line, within);
    let caret_bytes = token_len(&line[within..]);
    let (_, caret_end) = display_line(line, within + caret_bytes);
    let caret_width = caret_end.saturating_sub(caret_start).max(1);

    let _ = writeln!(out, "{} | {}", position.line, shown.trim_end());
    let _ = writeln!(
        out,
        "{pad} | {}{}",
        " ".repeat(caret_start),
        "^".repeat(caret_width)
    );
    if let Some(help) = help {
        let _ = writeln!(out, "{pad} = help: {}", single_line(help));
    }
    out
}

/// The source line as displayed (tabs expanded, control characters made
/// visible) and the display column of byte `upto` within it.
fn display_line(line: &str, upto: usize) -> (String, usize) {
    let mut shown = String::with_capacity(line.len());
    let mut width = 0;
    let mut column_at_upto = None;
    for (at, c) in line.char_indices() {
        if at >= upto && column_at_upto.is_none() {
            column_at_upto = Some(width);
        }
        match c {
            '\t' => {
                shown.push_str(&" ".repeat(TAB_WIDTH));
                width += TAB_WIDTH;
            }
            c if c.is_control() => {
                shown.push(char::REPLACEMENT_CHARACTER);
                width += 1;
            }
            c => {
                shown.push(c);
                width += c.width().unwrap_or(0);
            }
        }
    }
    (shown, column_at_upto.unwrap_or(width))
}

/// Byte length of the SQL token that starts `rest`: a (possibly qualified)
/// identifier, a quoted identifier, or one character. 0 at the end of the line.
fn token_len(rest: &str) -> usize {
    let mut len = 0;
    loop {
        let part = identifier_len(&rest[len..]);
        if part == 0 {
            break;
        }
        len += part;
        // `schema.table`, `alias.column`: underline the whole qualified name.
        let after = &rest[len..];
        if after.starts_with('.') && identifier_len(&after[1..]) > 0 {
            len += 1;
        } else {
            break;
        }
    }
    if len == 0 {
        len = rest.chars().next().map_or(0, char::len_utf8);
    }
    len
}

/// Byte length of a plain or double-quoted identifier at the start of `text`,
/// 0 when there is none. An unterminated quote runs to the end of the line.
fn identifier_len(text: &str) -> usize {
    if let Some(inner) = text.strip_prefix('"') {
        let mut chars = inner.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c == '"' {
                // `""` inside a quoted identifier is an escaped quote.
                if chars.peek().is_some_and(|&(_, next)| next == '"') {
                    chars.next();
                    continue;
                }
                return 1 + at + 1;
            }
        }
        return text.len();
    }
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .map_or(text.len(), |(at, _)| at)
}

/// Folds line breaks in a message into spaces so the layout stays intact.
fn single_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.split(['\n', '\r'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Rule;

    #[test]
    fn an_unroutable_note_names_the_reason_and_points_at_the_statement() {
        let sql = "SELECT 1;\nINSERT INTO forms VALUES ($tenant, 1) ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING";
        let text = render_unroutable("q.sql", sql, 10, Unroutable::ConflictOnConstraint);
        assert!(
            text.starts_with(
                "note[conflict-on-constraint]: this statement runs on the parent tables"
            ),
            "{text}"
        );
        assert!(text.contains(" --> q.sql:2:1\n"), "{text}");
        assert!(
            text.contains("= help: `ON CONFLICT ON CONSTRAINT`"),
            "{text}"
        );
    }

    fn violation_at(sql: &str, offset: usize) -> Violation {
        Violation {
            rule: Rule::UnboundTable,
            table: Some("form_submissions".into()),
            alias: Some("s".into()),
            message: "table `form_submissions` (alias `s`) is not restricted to the tenant".into(),
            fix: "add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`".into(),
            position: Position::at(sql, offset),
        }
    }

    #[test]
    fn snapshot_of_an_unbound_join() {
        let sql = "SELECT f.id, s.payload\nFROM forms f\nJOIN form_submissions s ON s.form_id = f.id\nWHERE f.tenant_id = $tenant";
        let at = sql.find("form_submissions").unwrap();
        let text = render_violation("queries/report.sql", sql, &violation_at(sql, at));
        assert_eq!(
            text,
            "error[unbound-table]: table `form_submissions` (alias `s`) is not restricted to the tenant
 --> queries/report.sql:3:6
  |
3 | JOIN form_submissions s ON s.form_id = f.id
  |      ^^^^^^^^^^^^^^^^
  = help: add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`
"
        );
    }

    #[test]
    fn gutter_grows_with_the_line_number() {
        let sql = format!("{}SELECT * FROM forms", "\n".repeat(11));
        let at = sql.find("forms").unwrap();
        let text = render_violation("q.sql", &sql, &violation_at(&sql, at));
        assert_eq!(
            text,
            "error[unbound-table]: table `form_submissions` (alias `s`) is not restricted to the tenant
  --> q.sql:12:15
   |
12 | SELECT * FROM forms
   |               ^^^^^
   = help: add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`
"
        );
    }

    #[test]
    fn qualified_and_quoted_names_are_underlined_whole() {
        let sql = "DELETE FROM public.\"Form \"\"X\"\"\" WHERE true";
        let at = sql.find("public").unwrap();
        let text = render_violation("", sql, &violation_at(sql, at));
        assert!(text.contains(" --> 1:13\n"), "{text}");
        assert!(
            text.contains("\n  |             ^^^^^^^^^^^^^^^^^^^\n"),
            "{text}"
        );
    }

    #[test]
    fn tabs_are_expanded_and_the_caret_follows() {
        let sql = "SELECT *\n\tFROM\tforms";
        let at = sql.find("forms").unwrap();
        let text = render_violation("t.sql", sql, &violation_at(sql, at));
        assert!(text.contains("\n2 |     FROM    forms\n"), "{text}");
        assert!(text.contains("\n  |             ^^^^^\n"), "{text}");
        assert!(text.contains("t.sql:2:7"), "{text}");
    }

    #[test]
    fn multibyte_and_wide_characters_shift_the_caret_by_display_width() {
        let sql = "SELECT 'ünï', '表' FROM forms";
        let at = sql.find("forms").unwrap();
        let text = render_violation("u.sql", sql, &violation_at(sql, at));
        // 'ü' and 'ï' are one column each, '表' is two.
        let caret_line = format!("\n  | {}^^^^^\n", " ".repeat(24));
        assert!(text.contains(&caret_line), "{text}");
        assert!(text.contains("u.sql:1:24"), "{text}");
    }

    #[test]
    fn crlf_line_endings_do_not_leak_into_the_output() {
        let sql = "SELECT *\r\nFROM forms\r\nWHERE id = 1\r\n";
        let at = sql.find("forms").unwrap();
        let text = render_violation("w.sql", sql, &violation_at(sql, at));
        assert!(!text.contains('\r'), "{text:?}");
        assert!(
            text.contains("\n2 | FROM forms\n  |      ^^^^^\n"),
            "{text}"
        );
    }

    #[test]
    fn positions_at_or_past_the_end_are_clamped() {
        let sql = "SELECT * FROM";
        for offset in [sql.len(), sql.len() + 1, usize::MAX] {
            let text = render_violation("e.sql", sql, &violation_at(sql, offset));
            assert!(text.contains("e.sql:1:14"), "{text}");
            assert!(text.contains("\n  |              ^\n"), "{text}");
        }
        let text = render_violation("e.sql", "", &violation_at("", 5));
        assert!(text.contains("e.sql:1:1"), "{text}");
    }

    #[test]
    fn offsets_inside_a_character_or_on_a_newline_do_not_panic() {
        let sql = "SELECT 'é'\nFROM x";
        for offset in 0..=sql.len() + 2 {
            let v = Violation {
                position: Position {
                    offset,
                    line: 99,
                    column: 99,
                },
                ..violation_at(sql, 0)
            };
            let text = render_violation("p.sql", sql, &v);
            assert!(text.contains("^"), "{text}");
        }
    }

    #[test]
    fn empty_fix_has_no_help_line_and_multiline_messages_stay_on_one_line() {
        let sql = "TRUNCATE forms";
        let v = Violation {
            rule: Rule::UnsupportedStatement,
            table: None,
            alias: None,
            message: "TRUNCATE is not allowed\nuse DELETE".into(),
            fix: String::new(),
            position: Position::at(sql, 0),
        };
        let text = render_violation("x.sql", sql, &v);
        assert_eq!(
            text,
            "error[unsupported-statement]: TRUNCATE is not allowed use DELETE
 --> x.sql:1:1
  |
1 | TRUNCATE forms
  | ^^^^^^^^
"
        );
    }

    #[test]
    fn parse_error_snapshot_with_and_without_position() {
        let sql = "SELECT id\nFORM forms";
        let error = ParseError {
            message: "syntax error at or near \"forms\"".into(),
            position: Some(Position::at(sql, 15)),
        };
        assert_eq!(
            render_parse_error("bad.sql", sql, &error),
            "error[parse-error]: syntax error at or near \"forms\"
 --> bad.sql:2:6
  |
2 | FORM forms
  |      ^^^^^
"
        );
        let error = ParseError {
            message: "SQL text is empty".into(),
            position: None,
        };
        assert_eq!(
            render_parse_error("bad.sql", sql, &error),
            "error[parse-error]: SQL text is empty\n --> bad.sql\n"
        );
    }

    #[test]
    fn analysis_renders_each_violation_and_nothing_when_accepted() {
        let sql = "SELECT 1 FROM a; SELECT 1 FROM b";
        let statement = |index: usize, violations: Vec<Violation>| crate::StatementAnalysis {
            index,
            text: String::new(),
            span: 0..0,
            position: Position::at(sql, 0),
            kind: "SELECT".into(),
            violations,
            tenant_tables: Vec::new(),
            tenant_values: Vec::new(),
        };
        let mut analysis = Analysis {
            original_sql: sql.into(),
            sql: sql.into(),
            tenant_param: None,
            tenant_param_cast: false,
            param_count: 0,
            statements: vec![
                statement(0, vec![violation_at(sql, 14)]),
                statement(1, vec![violation_at(sql, 31)]),
            ],
        };
        let text = render_analysis("m.sql", sql, &analysis);
        assert_eq!(text.matches("error[unbound-table]").count(), 2, "{text}");
        assert!(text.contains("m.sql:1:15"), "{text}");
        assert!(text.contains("m.sql:1:32"), "{text}");
        assert!(text.contains("\n\nerror["), "{text}");
        for statement in &mut analysis.statements {
            statement.violations.clear();
        }
        assert_eq!(render_analysis("m.sql", sql, &analysis), "");
    }
}
