//! Parsing with the real PostgreSQL parser, keeping the error position.

use std::ffi::{c_char, c_int, CString};

use crate::report::Position;

/// SQL that PostgreSQL cannot parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", position.map(|p| format!(" at {p}")).unwrap_or_default())]
pub struct ParseError {
    /// PostgreSQL's own message, e.g. `syntax error at or near "FORM"`.
    pub message: String,
    /// Where PostgreSQL stopped, in the SQL text the caller passed in.
    pub position: Option<Position>,
}

/// libpg_query's error struct (pg_query.h). `pg_query` (the Rust crate) drops
/// `cursorpos`, which users need to find their mistake, so the error path
/// asks the C library again. The symbols come from the static library that
/// `pg_query` links.
#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut c_char,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
}

/// The 0-based byte offset at which PostgreSQL reports a syntax error, if any.
fn error_cursor(sql: &str) -> Option<usize> {
    let input = CString::new(sql).ok()?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the
    // call; the result is freed exactly once with the library's own function,
    // and `error` is only read while the result is alive.
    unsafe {
        let result = pg_query_parse(input.as_ptr());
        let cursor = if result.error.is_null() {
            None
        } else {
            let cursor = (*result.error).cursorpos;
            // cursorpos is 1-based; 0 means unknown.
            (cursor > 0).then(|| cursor as usize - 1)
        };
        pg_query_free_parse_result(result);
        cursor
    }
}

/// PostgreSQL's fingerprint of a statement (pg_query's: the same for the same
/// query shape whatever its constants), as 16 hex digits; `None` when the SQL
/// does not parse. Used to group logged violations.
pub fn fingerprint(sql: &str) -> Option<String> {
    pg_query::fingerprint(sql, 0, pg_query::FingerprintOptions::DEFAULT)
        .ok()
        .map(|f| f.hex)
}

/// Parses `sql` (already rewritten), mapping error positions through
/// `to_original` into `original`.
pub(crate) fn parse(
    sql: &str,
    original: &str,
    to_original: impl Fn(usize) -> usize,
) -> Result<pg_query::protobuf::ParseResult, ParseError> {
    if let Some(nul) = sql.find('\0') {
        return Err(ParseError {
            message: "SQL text contains a NUL byte".into(),
            position: Some(Position::at(original, to_original(nul))),
        });
    }
    match pg_query::parse(sql, 0) {
        Ok(result) => Ok(result.protobuf),
        Err(err) => {
            let message = match err {
                pg_query::Error::Parse(message) => message,
                other if other.to_string().contains("recursion limit reached") => {
                    "the statement nests too deeply to be analysed (its parse tree exceeds the \
                     decoder's limit of 100 nested nodes, about 25 levels of subqueries): simplify it"
                        .to_string()
                }
                other => other.to_string(),
            };
            let position = error_cursor(sql).map(|at| Position::at(original, to_original(at)));
            Err(ParseError { message, position })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_position() {
        let sql = "SELECT id\nFORM forms";
        let err = parse(sql, sql, |o| o).unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
        let pos = err.position.unwrap();
        assert_eq!((pos.line, pos.column), (2, 6), "{err}");
    }

    #[test]
    fn nul_byte_is_an_error() {
        let err = parse("SELECT 1\0", "SELECT 1\0", |o| o).unwrap_err();
        assert!(err.message.contains("NUL"));
    }
}
