//! What an analysis returns: accepted statements, or violations with positions.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// A position inside the SQL text the caller passed in (before `$tenant` was
/// rewritten), so it can be shown to the user as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Byte offset from the start of the SQL text.
    pub offset: usize,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes) from the start of the line.
    pub column: usize,
}

impl Position {
    /// Computes the line and column of a byte `offset` in `text`.
    ///
    /// Offsets past the end are clamped to the end; offsets inside a multi-byte
    /// character are moved back to its first byte.
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() + 1;
        Position {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The rule a statement broke. Each rule's [`name`](Rule::name) appears in the
/// error message, so grepping the code for a message finds the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    #[doc = include_str!("../../docs/reference/rules/unbound-table.md")]
    UnboundTable,
    #[doc = include_str!("../../docs/reference/rules/insert-missing-tenant-column.md")]
    InsertMissingTenantColumn,
    #[doc = include_str!("../../docs/reference/rules/insert-tenant-value.md")]
    InsertTenantValue,
    #[doc = include_str!("../../docs/reference/rules/tenant-column-assignment.md")]
    TenantColumnAssignment,
    #[doc = include_str!("../../docs/reference/rules/upsert-conflict-target.md")]
    UpsertConflictTarget,
    #[doc = include_str!("../../docs/reference/rules/delete-forbidden.md")]
    DeleteForbidden,
    #[doc = include_str!("../../docs/reference/rules/unsupported-statement.md")]
    UnsupportedStatement,
    #[doc = include_str!("../../docs/reference/rules/unsupported-construct.md")]
    UnsupportedConstruct,
    #[doc = include_str!("../../docs/reference/rules/conflicting-tenants.md")]
    ConflictingTenants,
    #[doc = include_str!("../../docs/reference/rules/missing-tenant-placeholder.md")]
    MissingTenantPlaceholder,
    #[doc = include_str!("../../docs/reference/rules/unsafe-function.md")]
    UnsafeFunction,
    #[doc = include_str!("../../docs/reference/rules/system-relation.md")]
    SystemRelation,
    #[doc = include_str!("../../docs/reference/rules/cross-tenant-write.md")]
    CrossTenantWrite,
    #[doc = include_str!("../../docs/reference/rules/cross-tenant-function.md")]
    CrossTenantFunction,
    #[doc = include_str!("../../docs/reference/rules/cross-tenant-placeholder.md")]
    CrossTenantPlaceholder,
    #[doc = include_str!("../../docs/reference/rules/search-path-or-role.md")]
    SearchPathOrRole,
    #[doc = include_str!("../../docs/reference/rules/tenant-schema-reference.md")]
    TenantSchemaReference,
}

impl Rule {
    /// The stable, kebab-case name shown in messages and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Rule::UnboundTable => "unbound-table",
            Rule::InsertMissingTenantColumn => "insert-missing-tenant-column",
            Rule::InsertTenantValue => "insert-tenant-value",
            Rule::TenantColumnAssignment => "tenant-column-assignment",
            Rule::UpsertConflictTarget => "upsert-conflict-target",
            Rule::DeleteForbidden => "delete-forbidden",
            Rule::UnsupportedStatement => "unsupported-statement",
            Rule::UnsupportedConstruct => "unsupported-construct",
            Rule::ConflictingTenants => "conflicting-tenants",
            Rule::MissingTenantPlaceholder => "missing-tenant-placeholder",
            Rule::UnsafeFunction => "unsafe-function",
            Rule::SystemRelation => "system-relation",
            Rule::CrossTenantWrite => "cross-tenant-write",
            Rule::CrossTenantFunction => "cross-tenant-function",
            Rule::CrossTenantPlaceholder => "cross-tenant-placeholder",
            Rule::SearchPathOrRole => "search-path-or-role",
            Rule::TenantSchemaReference => "tenant-schema-reference",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way a statement could read or write another tenant's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The table concerned, as written (folded like PostgreSQL folds it), if any.
    pub table: Option<String>,
    /// The alias of that table reference, if it has one.
    pub alias: Option<String>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Where, in the SQL text the caller passed in.
    pub position: Position,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}]: {}",
            self.position, self.message, self.rule, self.fix
        )
    }
}

/// A reference to a tenant table in the analysed SQL: where its name stands,
/// so a runtime can route the statement straight to the tenant's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSite {
    /// Table name, folded.
    pub table: String,
    /// Schema name when the reference is qualified.
    pub schema: Option<String>,
    /// Alias, when the reference has one.
    pub alias: Option<String>,
    /// Byte range of the (possibly qualified) relation name in
    /// [`Analysis::sql`] (the rewritten text).
    pub span: Range<usize>,
    /// The tenant column of this table.
    pub tenant_column: String,
}

/// The verdict on one statement of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementAnalysis {
    /// 0-based index of the statement in the input.
    pub index: usize,
    /// The statement's text, as in the input (with `$tenant`).
    pub text: String,
    /// Byte range of the statement in the input.
    pub span: Range<usize>,
    /// Where the statement starts in the input.
    pub position: Position,
    /// The statement kind, e.g. `SELECT`, `INSERT`, `CREATE TABLE`.
    pub kind: String,
    /// Everything wrong with the statement; empty when it is accepted.
    pub violations: Vec<Violation>,
    /// The tenant-table references in this statement, in text order.
    pub tenant_tables: Vec<TableSite>,
    /// The values its tenant tables are bound to, normalised as written
    /// (`$1`, `'acme'`), in the order of the tables they bind, without
    /// repeats. In strict mode only `$tenant`'s parameter binds; in lenient
    /// mode an accepted statement has at most one: the tenant it reads and
    /// writes, which a caller of the guard can compare with the requesting
    /// tenant.
    pub tenant_values: Vec<String>,
}

impl StatementAnalysis {
    /// True when the statement has no violation.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The result of analysing one SQL text (one or more statements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// The SQL exactly as passed in.
    pub original_sql: String,
    /// The SQL as sent to PostgreSQL: `$tenant` replaced by `$n`.
    pub sql: String,
    /// Which positional parameter `$tenant` became (strict mode), if the SQL uses it.
    pub tenant_param: Option<u32>,
    /// True when every use of `$tenant` is the operand of an explicit cast
    /// (`$tenant::uuid`): PostgreSQL then converts the `text` id the
    /// runtime binds, whatever type the cast names. When false, the
    /// parameter takes its type from its context, which must accept `text`.
    pub tenant_param_cast: bool,
    /// The highest positional parameter number in [`sql`](Analysis::sql)
    /// (including the tenant's), i.e. how many values must be bound.
    pub param_count: u32,
    /// One entry per statement, in order.
    pub statements: Vec<StatementAnalysis>,
}

impl Analysis {
    /// True when every statement is accepted.
    pub fn is_ok(&self) -> bool {
        self.statements.iter().all(StatementAnalysis::is_ok)
    }

    /// All violations of all statements, in order.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.statements.iter().flat_map(|s| s.violations.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let text = "SELECT 1\nFROM ünïcode x WHERE";
        let at = text.find("x WHERE").unwrap();
        let pos = Position::at(text, at);
        assert_eq!((pos.line, pos.column), (2, 14));
        assert_eq!(Position::at(text, 0).to_string(), "1:1");
        assert_eq!(Position::at(text, 10_000).offset, text.len());
    }
}
