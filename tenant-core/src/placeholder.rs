//! The `$tenant` placeholder: rewritten to the next free positional parameter
//! before the SQL is parsed.
//!
//! The rewrite understands PostgreSQL's lexical structure well enough never to
//! touch `$tenant` inside a string literal (`'..'`, `E'..'`), a quoted
//! identifier, a dollar-quoted string (`$tag$..$tag$`) or a comment
//! (`-- ..`, nested `/* .. */`).

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
}

/// One lexical region of SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Code,
    Skip,
}

/// Splits SQL into code and non-code (literals, quoted identifiers, comments)
/// byte ranges. Unterminated regions run to the end of the text.
fn regions(sql: &str) -> Vec<(Region, usize, usize)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_start = 0;
    let push_skip =
        |out: &mut Vec<(Region, usize, usize)>, from: usize, to: usize, code_start: &mut usize| {
            if *code_start < from {
                out.push((Region::Code, *code_start, from));
            }
            out.push((Region::Skip, from, to));
            *code_start = to;
        };
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        match b {
            b'\'' => {
                // E'..' strings allow backslash escapes; standard strings do not
                // (standard_conforming_strings is on by default since 9.1).
                let escapes = start > 0
                    && matches!(bytes[start - 1], b'e' | b'E')
                    && (start < 2 || !is_ident_byte(bytes[start - 2]));
                i += 1;
                while i < bytes.len() {
                    if escapes && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                let end = i.min(bytes.len());
                push_skip(&mut out, start, end, &mut code_start);
                i = end;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'"' {
                        if bytes.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                let end = i.min(bytes.len());
                push_skip(&mut out, start, end, &mut code_start);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                push_skip(&mut out, start, i, &mut code_start);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                let end = i.min(bytes.len());
                push_skip(&mut out, start, end, &mut code_start);
                i = end;
            }
            b'$' if start == 0 || !is_ident_byte(bytes[start - 1]) => {
                // A dollar quote: $$ or $tag$ where tag is an identifier
                // without a leading digit.
                match dollar_tag(&sql[start..]) {
                    Some(tag) => {
                        let body = start + tag.len();
                        let end = sql[body..]
                            .find(tag)
                            .map_or(sql.len(), |at| body + at + tag.len());
                        push_skip(&mut out, start, end, &mut code_start);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    if code_start < bytes.len() {
        out.push((Region::Code, code_start, bytes.len()));
    }
    out
}

/// Returns `$tag$` when `text` starts with a dollar-quote opener.
fn dollar_tag(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut i = 1;
    if bytes.get(1).is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    while i < bytes.len() && is_ident_byte(bytes[i]) {
        i += 1;
    }
    (bytes.get(i) == Some(&b'$')).then(|| &text[..=i])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The highest `$n` used in code regions of `sql`.
fn highest_param(sql: &str, code: &[(Region, usize, usize)]) -> u32 {
    let mut highest = 0u32;
    for &(region, from, to) in code {
        if region != Region::Code {
            continue;
        }
        let bytes = &sql.as_bytes()[from..to];
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$'
                && (i == 0 || !is_ident_byte(bytes[i - 1]))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            {
                let mut j = i + 1;
                let mut n: u64 = 0;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    n = (n * 10 + u64::from(bytes[j] - b'0')).min(u64::from(u32::MAX));
                    j += 1;
                }
                highest = highest.max(n as u32);
                i = j;
            } else {
                i += 1;
            }
        }
    }
    highest
}

/// Replaces every `$tenant` in code with `$n`, `n` being one more than the
/// highest positional parameter already used.
pub fn rewrite(sql: &str) -> Rewritten {
    let regions = regions(sql);
    let highest = highest_param(sql, &regions);
    let mut out = String::with_capacity(sql.len());
    let mut edits = Vec::new();
    let mut copied = 0;
    let tenant_param = highest.saturating_add(1);
    let replacement = format!("${tenant_param}");
    for &(region, from, to) in &regions {
        if region != Region::Code {
            continue;
        }
        let mut search = from;
        while let Some(found) = sql[search..to].find(PLACEHOLDER) {
            let at = search + found;
            let after = at + PLACEHOLDER.len();
            let preceded_ok = at == 0 || !is_ident_byte(sql.as_bytes()[at - 1]);
            let followed_ok = sql
                .as_bytes()
                .get(after)
                .is_none_or(|&b| !is_ident_byte(b) && b != b'$');
            if preceded_ok && followed_ok {
                out.push_str(&sql[copied..at]);
                edits.push((out.len(), replacement.len(), PLACEHOLDER.len()));
                out.push_str(&replacement);
                copied = after;
            }
            search = after;
        }
    }
    out.push_str(&sql[copied..]);
    let used = !edits.is_empty();
    Rewritten {
        sql: out,
        tenant_param: used.then_some(tenant_param),
        param_count: if used { tenant_param } else { highest },
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
