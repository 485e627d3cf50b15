//! The analyzer: proves every tenant-table reference is bound to the tenant.
//!
//! One module per concern: `binding` (which equalities bind), `scopes`
//! (references, joins, name resolution), `statements` (what each statement
//! kind must prove and the walk over every scope), `catalog` (what PostgreSQL
//! provides: built-in functions, system relations and operators, generated
//! into `catalog_list`).

mod binding;
// Not used by the analyzer yet: the allowlist of built-in functions and the
// policy for system relations are wired in separately.
#[allow(dead_code)]
mod catalog;
#[allow(dead_code)]
#[rustfmt::skip]
mod catalog_list;
mod scopes;
mod statements;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::config::Config;
use crate::parse::{self, ParseError};
use crate::placeholder;
use crate::report::{Analysis, Position, Rule, StatementAnalysis, Violation};
use binding::ValueReader;
use statements::{statement_kind, StatementChecker};

/// See [`Analyzer::analyze`]: the stack an analysis may need in the worst case.
const ANALYZE_RED_ZONE: usize = 4 * 1024 * 1024;
const ANALYZE_STACK: usize = 32 * 1024 * 1024;

/// How the requesting tenant is written in the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Binding {
    /// Only the `$tenant` placeholder binds (what the macros use).
    #[default]
    Strict,
    /// Any single parameter or literal binds (for SQL written elsewhere, as
    /// PgDog does); all tables of a statement must be bound to the same one.
    Lenient,
}

/// Checks SQL against the tenancy rules of one configuration.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: Config,
    binding: Binding,
}

impl Analyzer {
    /// An analyzer in strict mode.
    pub fn new(config: Config) -> Self {
        Analyzer {
            config,
            binding: Binding::Strict,
        }
    }

    /// Sets the binding mode.
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.binding = binding;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The binding mode in use.
    pub fn binding(&self) -> Binding {
        self.binding
    }

    /// Analyses one SQL text, which may hold several statements.
    pub fn analyze(&self, sql: &str) -> Result<Analysis, ParseError> {
        // Decoding pg_query's protobuf tree recurses once per nesting level
        // (up to prost's limit of 100), and so does dropping it; in a debug
        // build that can exceed a 2 MiB thread stack (a tokio worker's). With
        // less than ANALYZE_RED_ZONE left, the work runs on a fresh stack
        // segment, lazily committed, so no input can overflow the caller's stack.
        stacker::maybe_grow(ANALYZE_RED_ZONE, ANALYZE_STACK, || self.analyze_here(sql))
    }

    fn analyze_here(&self, sql: &str) -> Result<Analysis, ParseError> {
        let rewritten = placeholder::rewrite(sql);
        let to_original = |offset: usize| rewritten.original_offset(offset);
        let parsed = parse::parse(&rewritten.sql, sql, to_original)?;
        let tenant_param = rewritten.tenant_param.and_then(|n| i32::try_from(n).ok());
        let mut statements = Vec::new();
        for (index, raw) in parsed.stmts.iter().enumerate() {
            let start = usize::try_from(raw.stmt_location).unwrap_or(0);
            let end = match usize::try_from(raw.stmt_len) {
                Ok(0) | Err(_) => rewritten.sql.len(),
                Ok(len) => (start + len).min(rewritten.sql.len()),
            };
            let Some(stmt) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
                continue;
            };
            let mut checker = StatementChecker::new(
                &self.config,
                ValueReader {
                    binding: self.binding,
                    tenant_param,
                },
                &rewritten.sql,
                start,
            );
            checker.statement(stmt);
            if self.binding == Binding::Lenient {
                conflicting_tenants(&mut checker);
            } else if tenant_param.is_none() {
                missing_placeholder(&mut checker);
            }
            let (orig_start, orig_end) = (to_original(start), to_original(end));
            let text = sql.get(orig_start..orig_end).unwrap_or_default();
            // PostgreSQL's statement range includes leading whitespace and comments.
            let lead = text.len() - text.trim_start().len();
            let violations = checker
                .found
                .into_iter()
                .map(|f| Violation {
                    rule: f.rule,
                    table: f.table,
                    alias: f.alias,
                    message: f.message,
                    fix: f.fix,
                    position: Position::at(sql, to_original(f.offset.max(start))),
                })
                .collect();
            let mut tenant_values: Vec<String> = Vec::new();
            for (value, _) in &checker.bound_values {
                if !tenant_values.contains(&value.key) {
                    tenant_values.push(value.key.clone());
                }
            }
            statements.push(StatementAnalysis {
                index,
                text: text.trim().to_string(),
                span: orig_start + lead..orig_end,
                position: Position::at(sql, orig_start + lead),
                kind: statement_label(stmt),
                violations,
                tenant_tables: checker.sites,
                tenant_values,
            });
        }
        Ok(Analysis {
            original_sql: sql.to_string(),
            sql: rewritten.sql,
            tenant_param: rewritten.tenant_param,
            param_count: rewritten.param_count,
            statements,
        })
    }
}

/// Lenient mode binds tables to whatever value the statement compares them
/// with; all of them must be the same value, or one statement spans tenants.
fn conflicting_tenants(checker: &mut StatementChecker<'_>) {
    let mut values: BTreeMap<String, usize> = BTreeMap::new();
    for (value, at) in &checker.bound_values {
        values.entry(value.key.clone()).or_insert(*at);
    }
    if values.len() > 1 {
        let (list, at) = (
            values.keys().cloned().collect::<Vec<_>>().join("`, `"),
            values
                .values()
                .copied()
                .max()
                .unwrap_or(checker.statement_offset),
        );
        checker.found.push(statements::Found {
            rule: Rule::ConflictingTenants,
            table: None,
            alias: None,
            message: format!("the statement binds tenant tables to different tenants: `{list}`"),
            fix: "compare every tenant column with the same parameter".into(),
            offset: at,
        });
    }
}

/// Strict mode: a statement with an unbound tenant table whose SQL never
/// mentions `$tenant` gets one more, clearer violation.
fn missing_placeholder(checker: &mut StatementChecker<'_>) {
    if checker.found.iter().any(|f| f.rule == Rule::UnboundTable) {
        checker.found.push(statements::Found {
            rule: Rule::MissingTenantPlaceholder,
            table: None,
            alias: None,
            message: "the statement never mentions `$tenant` (outside literals and comments), so nothing restricts it to the requesting tenant".into(),
            fix: "compare the tenant column of each tenant table with `$tenant`".into(),
            offset: checker.statement_offset,
        });
    }
}

/// The statement kind shown in reports.
fn statement_label(stmt: &pg_query::NodeEnum) -> String {
    use pg_query::NodeEnum;
    match stmt {
        NodeEnum::SelectStmt(_) => "SELECT".into(),
        NodeEnum::InsertStmt(_) => "INSERT".into(),
        NodeEnum::UpdateStmt(_) => "UPDATE".into(),
        NodeEnum::DeleteStmt(_) => "DELETE".into(),
        NodeEnum::MergeStmt(_) => "MERGE".into(),
        other => statement_kind(other),
    }
}
