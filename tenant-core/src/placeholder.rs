//! The `$tenant` placeholder: rewritten to the next free positional parameter
//! before the SQL is parsed.
//!
//! The text is read with PostgreSQL's own lexer (pg_query's `scan`), so the
//! rewrite sees exactly the tokens the server will: `$tenant` inside a string
//! literal, a quoted identifier, a dollar-quoted string or a comment is not a
//! placeholder, and neither is `$` inside an identifier (`k$$q$` is one
//! identifier to PostgreSQL, not the start of a dollar quote). A hand-written
//! lexer got that case wrong and hid the `$1` after it, giving `$tenant` the
//! same number (rule `placeholder-lexing`).
//!
//! The lexer assumes `standard_conforming_strings = on` (PostgreSQL's
//! default since 9.1), as the analyzer's parser does: a connection that turns
//! it off reads `'\'` differently, which is why the runtime pins it.

use pg_query::protobuf::Token;

/// The placeholder text.
pub const PLACEHOLDER: &str = "$tenant";

/// The result of [`rewrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The SQL with every `$tenant` replaced by `$n`.
    pub sql: String,
    /// `n`: the parameter `$tenant` became, when the SQL uses it.
    pub tenant_param: Option<u32>,
    /// The highest `$n` in the rewritten SQL (0 when there is none).
    pub param_count: u32,
    /// Byte offsets, in the SQL passed in, of string literals that hold a
    /// backslash and are not escape strings (`'a\b'`): PostgreSQL reads
    /// them differently when `standard_conforming_strings` is off (rule
    /// `placeholder-lexing`), so the analyzer cannot know what they mean.
    pub backslash_literals: Vec<usize>,
    /// Each replacement: (offset in the rewritten SQL, length there, length in
    /// the original), in order, used to map positions back.
    edits: Vec<(usize, usize, usize)>,
}

impl Rewritten {
    /// Maps a byte offset in the rewritten SQL back to the original SQL.
    pub fn original_offset(&self, rewritten_offset: usize) -> usize {
        let mut delta: isize = 0;
        for &(at, new_len, old_len) in &self.edits {
            if rewritten_offset < at {
                break;
            }
            if rewritten_offset < at + new_len {
                // Inside the replacement: point at the placeholder's start.
                return (at as isize + delta) as usize;
            }
            delta += old_len as isize - new_len as isize;
        }
        (rewritten_offset as isize + delta).max(0) as usize
    }

    fn unchanged(sql: &str, param_count: u32, backslash_literals: Vec<usize>) -> Rewritten {
        Rewritten {
            sql: sql.to_string(),
            tenant_param: None,
            param_count,
            backslash_literals,
            edits: Vec::new(),
        }
    }
}

/// Replaces every `$tenant` in code with `$n`, `n` being one more than the
/// highest positional parameter already used.
///
/// SQL the lexer refuses (an unterminated quote, a NUL byte) is returned
/// unchanged: the parser then reports the error with its position.
pub fn rewrite(sql: &str) -> Rewritten {
    // Without a `$`, there is neither a parameter nor a placeholder, and
    // without a backslash no literal reads two ways.
    if !sql.contains('$') && !sql.contains('\\') {
        return Rewritten::unchanged(sql, 0, Vec::new());
    }
    let Ok(scanned) = pg_query::scan(sql) else {
        return Rewritten::unchanged(sql, 0, Vec::new());
    };
    let tokens = scanned.tokens;
    let text = |t: &pg_query::protobuf::ScanToken| {
        let (start, end) = (usize::try_from(t.start).ok()?, usize::try_from(t.end).ok()?);
        sql.get(start..end)
    };
    let mut backslash_literals = Vec::new();
    for token in &tokens {
        if token.token != Token::Sconst as i32 {
            continue;
        }
        let Some(literal) = text(token) else { continue };
        // `E'..'` escape strings read the same either way; `'..'`, `N'..'`
        // and the like read a backslash as itself only when
        // standard_conforming_strings is on. (Dollar quotes hold no escapes.)
        let standard =
            literal.starts_with('\'') || literal.starts_with("N'") || literal.starts_with("n'");
        if standard && literal.contains('\\') {
            backslash_literals.push(usize::try_from(token.start).unwrap_or(0));
        }
    }
    let mut highest = 0u32;
    for token in &tokens {
        if token.token == Token::Param as i32 {
            let digits = text(token).and_then(|t| t.strip_prefix('$')).unwrap_or("");
            let n = digits.bytes().fold(0u64, |n, d| {
                (n * 10 + u64::from(d.wrapping_sub(b'0'))).min(u64::from(u32::MAX))
            });
            highest = highest.max(n as u32);
        }
    }
    // `$tenant` lexes as the character `$` directly followed by the
    // identifier `tenant` (PostgreSQL throws back all but the `$` of a
    // failed dollar-quote opener).
    let mut placeholders = Vec::new();
    for pair in tokens.windows(2) {
        let (dollar, ident) = (&pair[0], &pair[1]);
        if dollar.token == Token::Ascii36 as i32
            && ident.token == Token::Ident as i32
            && ident.start == dollar.end
            && text(ident) == Some("tenant")
        {
            if let (Ok(start), Ok(end)) =
                (usize::try_from(dollar.start), usize::try_from(ident.end))
            {
                placeholders.push(start..end);
            }
        }
    }
    if placeholders.is_empty() {
        return Rewritten::unchanged(sql, highest, backslash_literals);
    }
    let tenant_param = highest.saturating_add(1);
    let replacement = format!("${tenant_param}");
    let mut out = String::with_capacity(sql.len());
    let mut edits = Vec::new();
    let mut copied = 0;
    for range in placeholders {
        out.push_str(&sql[copied..range.start]);
        edits.push((out.len(), replacement.len(), range.len()));
        out.push_str(&replacement);
        copied = range.end;
    }
    out.push_str(&sql[copied..]);
    Rewritten {
        sql: out,
        tenant_param: Some(tenant_param),
        param_count: tenant_param,
        backslash_literals,
        edits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_to_next_free_parameter() {
        let r = rewrite("SELECT * FROM t WHERE tenant_id = $tenant AND id = $2 AND x = $1");
        assert_eq!(
            r.sql,
            "SELECT * FROM t WHERE tenant_id = $3 AND id = $2 AND x = $1"
        );
        assert_eq!(r.tenant_param, Some(3));
        assert_eq!(r.param_count, 3);
    }

    #[test]
    fn no_parameters_gives_one() {
        let r = rewrite("SELECT 1 FROM t WHERE tenant_id = $tenant::text OR $tenant = 'x'");
        assert_eq!(
            r.sql,
            "SELECT 1 FROM t WHERE tenant_id = $1::text OR $1 = 'x'"
        );
        assert_eq!(r.tenant_param, Some(1));
    }

    #[test]
    fn leaves_literals_comments_and_dollar_quotes_alone() {
        let sql = "SELECT '$tenant', E'\\'$tenant', \"$tenant\", $q$ $tenant $q$, $$ $tenant $$ -- $tenant\n/* /* $tenant */ $tenant */ FROM t WHERE tenant_id = $tenant";
        let r = rewrite(sql);
        assert_eq!(r.sql.matches("$tenant").count(), 8, "{}", r.sql);
        assert!(r.sql.ends_with("tenant_id = $1"));
    }

    #[test]
    fn does_not_touch_longer_identifiers() {
        let r = rewrite("SELECT $tenants, $tenant_x, x$tenant FROM t");
        assert_eq!(r.tenant_param, None);
        assert_eq!(r.param_count, 0);
        assert_eq!(r.sql, "SELECT $tenants, $tenant_x, x$tenant FROM t");
    }

    #[test]
    fn maps_offsets_back() {
        let sql = "SELECT a FROM t WHERE tenant_id = $tenant AND b = 1 AND c = $tenant";
        let r = rewrite(sql);
        let b_new = r.sql.find("b = 1").unwrap();
        assert_eq!(r.original_offset(b_new), sql.find("b = 1").unwrap());
        let p = r.sql.find("$1").unwrap();
        assert_eq!(r.original_offset(p + 1), sql.find("$tenant").unwrap());
        assert_eq!(r.original_offset(r.sql.len()), sql.len());
    }

    /// Rule `placeholder-lexing`: `$` inside an identifier is part of it,
    /// not a dollar quote that would hide the `$1` after it.
    #[test]
    fn rule_placeholder_lexing_dollar_inside_identifiers() {
        let r = rewrite("SELECT k$$q$ FROM t WHERE tenant_id = $tenant AND id = $1");
        assert_eq!(r.tenant_param, Some(2), "{}", r.sql);
        assert_eq!(
            r.sql,
            "SELECT k$$q$ FROM t WHERE tenant_id = $2 AND id = $1"
        );
        let r = rewrite("SELECT a$b, $tenant FROM t WHERE c = $3");
        assert_eq!(r.tenant_param, Some(4));
        // A real dollar quote still hides what is inside it.
        let r = rewrite("SELECT $q$ $1 $tenant $q$, $tenant");
        assert_eq!(r.sql, "SELECT $q$ $1 $tenant $q$, $1");
        // `$tenant$` opens a dollar quote.
        let r = rewrite("SELECT $tenant$ x $tenant$");
        assert_eq!(r.tenant_param, None);
        // Case matters, as for any placeholder.
        assert_eq!(rewrite("SELECT $Tenant").tenant_param, None);
    }

    /// Literals whose meaning depends on standard_conforming_strings.
    #[test]
    fn backslashes_in_standard_strings_are_reported() {
        let sql = r"SELECT 'a\b', E'b\\', $$c\$$, 'plain' FROM t WHERE tenant_id = $tenant";
        let r = rewrite(sql);
        assert_eq!(r.backslash_literals, [sql.find("'a").unwrap()]);
        assert!(rewrite(r"SELECT 'x\y'").backslash_literals.len() == 1);
        assert!(rewrite("SELECT 'x'").backslash_literals.is_empty());
    }

    #[test]
    fn unterminated_regions_do_not_panic() {
        for sql in [
            "'abc",
            "\"abc",
            "/* abc",
            "$a$ abc",
            "E'\\",
            "$",
            "$1$tenant",
        ] {
            let _ = rewrite(sql);
        }
    }
}
