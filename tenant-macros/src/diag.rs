//! The text of compile errors.
//!
//! Stable Rust cannot point a span inside a string literal, so the error is
//! spanned on the whole literal and the message shows line:column inside the
//! SQL with an excerpt and a caret, rendered by `tenant_core::diagnostic`
//! exactly as `tenant check` renders it. The position is labelled with its
//! origin: [`INLINE`] for SQL written in the macro call, the file's path as
//! written for the `_file` macros, so an editor can jump to it.

use tenant_core::diagnostic::{render_parse_error, render_violation};
use tenant_core::{ParseError, Violation};

/// The origin of SQL written inline: the literal the error is spanned on.
pub const INLINE: &str = "SQL";

/// The message for a statement the analyzer refused: every violation, each
/// with its position, an excerpt, the rule and the fix.
pub fn violations(macro_name: &str, origin: &str, sql: &str, violations: &[&Violation]) -> String {
    let count = violations.len();
    let mut out = format!(
        "{macro_name}: the tenancy check refused this SQL ({count} problem{})\n",
        if count == 1 { "" } else { "s" }
    );
    for violation in violations {
        out.push('\n');
        out.push_str(&render_violation(origin, sql, violation));
    }
    out.trim_end().to_string()
}

/// The message for SQL that PostgreSQL cannot parse: its own message and,
/// when known, where it stopped.
pub fn parse_error(macro_name: &str, origin: &str, sql: &str, error: &ParseError) -> String {
    format!(
        "{macro_name}: PostgreSQL cannot parse this SQL\n\n{}",
        render_parse_error(origin, sql, error)
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_core::{Position, Rule};

    fn violation(sql: &str, needle: &str, table: &str, alias: Option<&str>) -> Violation {
        Violation {
            rule: Rule::UnboundTable,
            table: Some(table.into()),
            alias: alias.map(Into::into),
            message: format!("table `{table}` is not restricted to the tenant"),
            fix: "add `s.tenant_id = $tenant`".into(),
            position: Position::at(sql, sql.find(needle).unwrap()),
        }
    }

    #[test]
    fn caret_sits_under_the_table_on_its_line() {
        let sql = "SELECT f.id\nFROM forms f\nJOIN form_submissions s ON s.form_id = f.id";
        let v = violation(sql, "form_submissions", "form_submissions", Some("s"));
        let text = violations("tenant_query!", INLINE, sql, &[&v]);
        assert!(
            text.starts_with("tenant_query!: the tenancy check refused this SQL (1 problem)\n\n"),
            "{text}"
        );
        assert!(
            text.contains("error[unbound-table]: table `form_submissions`"),
            "{text}"
        );
        assert!(text.contains(" --> SQL:3:6\n"), "{text}");
        assert!(
            text.contains(
                "3 | JOIN form_submissions s ON s.form_id = f.id\n  |      ^^^^^^^^^^^^^^^^\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("= help: add `s.tenant_id = $tenant`"),
            "{text}"
        );
    }

    #[test]
    fn every_violation_is_listed() {
        let sql = "SELECT 1 FROM a, b";
        let a = violation(sql, "a,", "a", None);
        let b = violation(sql, "b", "b", None);
        let text = violations("tenant_query!", "queries/ab.sql", sql, &[&a, &b]);
        assert!(text.contains("(2 problems)"), "{text}");
        assert!(
            text.contains(" --> queries/ab.sql:1:15\n")
                && text.contains(" --> queries/ab.sql:1:18\n"),
            "{text}"
        );
    }

    #[test]
    fn parse_error_shows_message_and_caret() {
        let sql = "SELECT id\nFORM forms";
        let error = ParseError {
            message: "syntax error at or near \"FORM\"".into(),
            position: Some(Position::at(sql, 10)),
        };
        let text = parse_error("tenant_query!", INLINE, sql, &error);
        assert!(text.contains("syntax error at or near \"FORM\""), "{text}");
        assert!(text.contains(" --> SQL:2:1\n"), "{text}");
        assert!(text.ends_with("2 | FORM forms\n  | ^^^^"), "{text}");
    }
}
