//! Cross-tenant statements: the SQL of `cross_tenant_query!` and friends,
//! which deliberately reads every tenant's rows (reports, support tooling,
//! maintenance). No tenant binding is asked for; what is checked instead is
//! that the statement only reads, unless the call says `allow_writes`.
//!
//! Rules, each named as in its message:
//! - `cross-tenant-write`: a statement that is not a read (`SELECT`,
//!   `VALUES`, `SHOW`, `EXPLAIN` of a read) or a maintenance statement
//!   (`VACUUM`, `ANALYZE`, `REINDEX`, `REFRESH MATERIALIZED VIEW`); a
//!   data-modifying `WITH`, `SELECT .. INTO` or a row lock (`FOR UPDATE`)
//!   anywhere in it.
//! - `cross-tenant-function`: a call of a function not known to only read.
//!   Accepted: the functions tenant queries may call (they compute on their
//!   arguments), those `tenancy.toml` declares safe, and the built-in
//!   readers of statistics, sizes and server state that tenant queries may
//!   not call because they see every tenant (reading every tenant is the
//!   point here). Refused: everything that writes or acts (`nextval`,
//!   `set_config`, `pg_terminate_backend`, large objects,
//!   ..), runs SQL text, or is unknown.
//! - `cross-tenant-placeholder`: `$tenant` in a statement that has no tenant.
//!
//! With `allow_writes` only the placeholder rule applies. The check guards
//! against accidents, not against a hostile author: run these statements as
//! a role with only the rights they need.

use pg_query::protobuf::{self, node::Node as NodeEnum};
use pg_query::NodeRef;

use super::binding::string_value;
use super::{catalog, policy};
use crate::config::Config;
use crate::parse::{self, ParseError};
use crate::placeholder;
use crate::report::{Position, Rule, Violation};
use crate::walk::for_each_child;

/// What a cross-tenant call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossTenantAccess {
    /// Reads and maintenance statements only (the default).
    ReadOnly,
    /// Anything: the call wrote `allow_writes`.
    AllowWrites,
}

/// The verdict on the SQL of one cross-tenant call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossTenantAnalysis {
    /// How many statements the SQL holds (a query runs exactly one).
    pub statements: usize,
    /// The first statement's kind, as logged: `SELECT`, `VACUUM`, `UPDATE`, ..
    pub kind: &'static str,
    /// Whether the statement writes (always false when accepted read-only).
    pub writes: bool,
    /// The highest `$n` used.
    pub param_count: u32,
    /// pg_query's fingerprint of the SQL (16 hex digits): the same for every
    /// statement of the same shape, whatever its constants.
    pub fingerprint: String,
    /// Why the statement is refused; empty when it is accepted.
    pub violations: Vec<Violation>,
}

impl CrossTenantAnalysis {
    /// True when nothing is refused.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Reasons of built-in functions that tenant queries may not call because
/// they read state of every tenant (statistics, sizes, other sessions), but
/// that only read: a cross-tenant statement may call them. Must match the
/// reasons in `catalog_list` (a test checks examples of each).
const READ_ONLY_REASONS: &[&str] = &[
    "reads the cumulative statistics (row counts, scans, other sessions' activity)",
    "reveals transaction ids, snapshots or commit status, and so other sessions' transactions",
    "reads the on-disk size of a relation, database or tablespace, a statistic of every tenant's rows",
    "reveals other sessions' locks",
    "reads the server's memory state",
    "maps relations to their data files",
    "lists every session's prepared transactions",
    "reveals other sessions' pending notifications",
];

/// Checks the SQL of one cross-tenant call.
pub fn analyze_cross_tenant(
    sql: &str,
    config: &Config,
    access: CrossTenantAccess,
) -> Result<CrossTenantAnalysis, ParseError> {
    let rewritten = placeholder::rewrite(sql);
    let to_original = |offset: usize| rewritten.original_offset(offset);
    let parsed = parse::parse(&rewritten.sql, sql, to_original)?;
    let mut check = Check {
        config,
        access,
        sql,
        to_original: &to_original,
        violations: Vec::new(),
        writes: false,
        param_count: 0,
    };
    if let Some(offset) = sql.find("$tenant") {
        check.violations.push(Violation {
            rule: Rule::CrossTenantPlaceholder,
            table: None,
            alias: None,
            message: "`$tenant` in a cross-tenant statement, which runs for no tenant".into(),
            fix:
                "use `tenant_query!` for a statement of one tenant, or compare with a `$n` argument"
                    .into(),
            position: Position::at(sql, offset),
        });
    }
    let mut kind = "EMPTY";
    for (index, raw) in parsed.stmts.iter().enumerate() {
        let Some(stmt) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        let start = usize::try_from(raw.stmt_location).unwrap_or(0);
        if index == 0 {
            kind = statement_kind(stmt);
        }
        check.statement(stmt, start);
    }
    Ok(CrossTenantAnalysis {
        statements: parsed.stmts.len(),
        kind,
        writes: check.writes,
        param_count: check.param_count,
        fingerprint: parse::fingerprint(&rewritten.sql).unwrap_or_default(),
        violations: check.violations,
    })
}

/// The kind of a statement, as the log shows it.
fn statement_kind(stmt: &NodeEnum) -> &'static str {
    match stmt {
        NodeEnum::SelectStmt(select) if !select.values_lists.is_empty() => "VALUES",
        NodeEnum::SelectStmt(_) => "SELECT",
        NodeEnum::InsertStmt(_) => "INSERT",
        NodeEnum::UpdateStmt(_) => "UPDATE",
        NodeEnum::DeleteStmt(_) => "DELETE",
        NodeEnum::MergeStmt(_) => "MERGE",
        NodeEnum::ExplainStmt(_) => "EXPLAIN",
        NodeEnum::VariableShowStmt(_) => "SHOW",
        NodeEnum::VacuumStmt(vacuum) if !vacuum.is_vacuumcmd => "ANALYZE",
        NodeEnum::VacuumStmt(_) => "VACUUM",
        NodeEnum::ReindexStmt(_) => "REINDEX",
        NodeEnum::RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        NodeEnum::TruncateStmt(_) => "TRUNCATE",
        NodeEnum::CopyStmt(_) => "COPY",
        _ => "OTHER",
    }
}

struct Check<'a> {
    config: &'a Config,
    access: CrossTenantAccess,
    sql: &'a str,
    to_original: &'a dyn Fn(usize) -> usize,
    violations: Vec<Violation>,
    writes: bool,
    param_count: u32,
}

impl Check<'_> {
    fn read_only(&self) -> bool {
        self.access == CrossTenantAccess::ReadOnly
    }

    fn refuse(&mut self, rule: Rule, at: i32, fallback: usize, message: String, fix: &str) {
        let offset = usize::try_from(at).unwrap_or(fallback);
        self.violations.push(Violation {
            rule,
            table: None,
            alias: None,
            message,
            fix: fix.to_string(),
            position: Position::at(self.sql, (self.to_original)(offset)),
        });
    }

    /// Records that the statement writes; reported once per statement.
    fn write(&mut self, at: i32, start: usize, what: String) {
        if std::mem::replace(&mut self.writes, true) {
            return;
        }
        if self.read_only() {
            self.refuse(
                Rule::CrossTenantWrite,
                at,
                start,
                format!("{what}, across every tenant; a cross-tenant query only reads or maintains"),
                "write through `tenant_query!` for one tenant at a time, or write `allow_writes` in the call to run it across tenants on purpose",
            );
        }
    }

    fn statement(&mut self, stmt: &NodeEnum, start: usize) {
        let kind = statement_kind(stmt);
        match stmt {
            NodeEnum::SelectStmt(_)
            | NodeEnum::VariableShowStmt(_)
            | NodeEnum::VacuumStmt(_)
            | NodeEnum::ReindexStmt(_)
            | NodeEnum::RefreshMatViewStmt(_) => {}
            NodeEnum::ExplainStmt(explain) => {
                // EXPLAIN ANALYZE runs the statement; a plain EXPLAIN does not,
                // but the inner statement is held to the same rules either way.
                if let Some(inner) = explain.query.as_ref().and_then(|q| q.node.as_ref()) {
                    self.statement(inner, start);
                }
                return;
            }
            _ => {
                let what = if kind == "OTHER" {
                    "this statement is not a read or a maintenance statement".to_string()
                } else {
                    format!("`{kind}` changes data")
                };
                self.write(-1, start, what);
            }
        }
        self.walk(stmt.to_ref(), start);
    }

    fn walk(&mut self, node: NodeRef<'_>, start: usize) {
        match node {
            NodeRef::InsertStmt(_)
            | NodeRef::UpdateStmt(_)
            | NodeRef::DeleteStmt(_)
            | NodeRef::MergeStmt(_) => {
                let kind = match node {
                    NodeRef::InsertStmt(_) => "INSERT",
                    NodeRef::UpdateStmt(_) => "UPDATE",
                    NodeRef::DeleteStmt(_) => "DELETE",
                    _ => "MERGE",
                };
                self.write(
                    -1,
                    start,
                    format!("a data-modifying `{kind}` inside the statement changes data"),
                );
            }
            NodeRef::LockingClause(_) => {
                self.write(
                    -1,
                    start,
                    "`FOR UPDATE` / `FOR SHARE` locks rows".to_string(),
                );
            }
            NodeRef::IntoClause(_) => {
                self.write(-1, start, "`SELECT .. INTO` creates a table".to_string());
            }
            NodeRef::ParamRef(param) => {
                self.param_count = self
                    .param_count
                    .max(u32::try_from(param.number).unwrap_or(0));
            }
            NodeRef::FuncCall(call) if self.read_only() => self.function(call, start),
            _ => {}
        }
        let mut children = Vec::new();
        for_each_child(node, &mut |child| children.push(child));
        stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || {
            for child in children {
                self.walk(child, start);
            }
        });
    }

    fn function(&mut self, call: &protobuf::FuncCall, start: usize) {
        let parts: Vec<&str> = call.funcname.iter().filter_map(string_value).collect();
        if policy::function(self.config, &parts).is_ok() {
            return;
        }
        let name = parts.last().copied().unwrap_or_default();
        let builtin = parts.len() == 1 || parts.first() == Some(&"pg_catalog");
        let reason = builtin.then(|| catalog::excluded_builtin(name)).flatten();
        if reason.is_some_and(|reason| READ_ONLY_REASONS.contains(&reason)) {
            return;
        }
        let written = parts.join(".");
        let message = match reason {
            Some(reason) => format!("function `{written}` {reason}: it is not known to only read"),
            None => format!("function `{written}` is not known to only read: it is not a built-in function that computes on its arguments or reads statistics"),
        };
        self.refuse(
            Rule::CrossTenantFunction,
            call.location,
            start,
            message,
            "if it only reads, declare it in tenancy.toml (`safe_functions`); if it writes or acts, write `allow_writes` in the call",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> CrossTenantAnalysis {
        analyze_cross_tenant(sql, &Config::default(), CrossTenantAccess::ReadOnly).unwrap()
    }

    fn rules(sql: &str) -> Vec<&'static str> {
        check(sql)
            .violations
            .iter()
            .map(|v| v.rule.name())
            .collect()
    }

    #[test]
    fn reads_and_maintenance_are_accepted() {
        for sql in [
            "SELECT tenant_id, count(*) FROM forms GROUP BY tenant_id",
            "SELECT f.title, s.email FROM forms f JOIN form_submissions s ON s.form_id = f.id WHERE f.id = $1",
            "WITH recent AS (SELECT * FROM forms WHERE id > $1) SELECT count(*) FROM recent",
            "VALUES (1), (2)",
            "SHOW plan_cache_mode",
            "EXPLAIN SELECT * FROM forms",
            "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM forms",
            "VACUUM (ANALYZE) forms",
            "ANALYZE forms",
            "REINDEX TABLE forms",
            "REFRESH MATERIALIZED VIEW tenant_totals",
            "SELECT pg_size_pretty(pg_total_relation_size('forms'))",
            "SELECT relname, n_live_tup FROM pg_stat_user_tables",
            "SELECT pg_stat_get_live_tuples('forms'::regclass)",
        ] {
            let analysis = check(sql);
            assert!(analysis.is_ok(), "{sql}: {:?}", analysis.violations);
            assert!(!analysis.writes, "{sql}");
        }
    }

    #[test]
    fn writes_locks_and_acting_functions_are_refused() {
        for (sql, rule) in [
            ("UPDATE forms SET title = 'x'", "cross-tenant-write"),
            ("DELETE FROM forms", "cross-tenant-write"),
            ("INSERT INTO forms VALUES ('t', 1)", "cross-tenant-write"),
            ("TRUNCATE forms", "cross-tenant-write"),
            ("DROP TABLE forms", "cross-tenant-write"),
            (
                "CREATE TABLE copy AS SELECT * FROM forms",
                "cross-tenant-write",
            ),
            (
                "WITH gone AS (DELETE FROM forms RETURNING id) SELECT count(*) FROM gone",
                "cross-tenant-write",
            ),
            ("SELECT * FROM forms FOR UPDATE", "cross-tenant-write"),
            ("SELECT * INTO forms_copy FROM forms", "cross-tenant-write"),
            ("EXPLAIN ANALYZE DELETE FROM forms", "cross-tenant-write"),
            ("SELECT nextval('forms_id_seq')", "cross-tenant-function"),
            (
                "SELECT set_config('tenancy.tenant', 'x', false)",
                "cross-tenant-function",
            ),
            (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
                "cross-tenant-function",
            ),
            ("SELECT lo_unlink(1)", "cross-tenant-function"),
            ("SELECT setval('forms_id_seq', 1)", "cross-tenant-function"),
            (
                "SELECT query_to_xml('DELETE FROM forms', true, false, '')",
                "cross-tenant-function",
            ),
            ("SELECT app.archive(id) FROM forms", "cross-tenant-function"),
            (
                "SELECT * FROM forms WHERE tenant_id = $tenant",
                "cross-tenant-placeholder",
            ),
        ] {
            assert_eq!(rules(sql), [rule], "{sql}");
        }
    }

    #[test]
    fn allow_writes_lifts_every_rule_but_the_placeholder() {
        let config = Config::default();
        let analysis = analyze_cross_tenant(
            "WITH gone AS (DELETE FROM forms WHERE id < $2 RETURNING id) SELECT nextval('s'), count(*) FROM gone WHERE $1",
            &config,
            CrossTenantAccess::AllowWrites,
        )
        .unwrap();
        assert!(analysis.is_ok(), "{:?}", analysis.violations);
        assert!(analysis.writes);
        assert_eq!(analysis.param_count, 2);
        let analysis = analyze_cross_tenant(
            "DELETE FROM forms WHERE tenant_id = $tenant",
            &config,
            CrossTenantAccess::AllowWrites,
        )
        .unwrap();
        assert_eq!(analysis.violations[0].rule, Rule::CrossTenantPlaceholder);
        assert_eq!(analysis.kind, "DELETE");
    }

    #[test]
    fn the_fingerprint_ignores_constants_and_positions_point_at_the_problem() {
        let a = check("SELECT count(*) FROM forms WHERE id > 10");
        let b = check("SELECT count(*) FROM forms WHERE id > 99");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 16);
        assert_ne!(
            a.fingerprint,
            check("SELECT count(*) FROM form_submissions").fingerprint
        );
        let sql = "SELECT id,\n       nextval('forms_id_seq') FROM forms";
        let refused = check(sql);
        let position = refused.violations[0].position;
        assert_eq!((position.line, position.column), (2, 8));
        assert_eq!(check("SELECT 1; SELECT 2").statements, 2);
        assert!(
            analyze_cross_tenant("SELEC 1", &Config::default(), CrossTenantAccess::ReadOnly)
                .is_err()
        );
    }
}
