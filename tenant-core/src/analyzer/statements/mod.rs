//! Statements: what each statement kind must prove, and the walk that visits
//! every scope (FROM items, subqueries anywhere, set-operation branches, CTEs
//! including recursive and writable ones).
//!
//! This file holds the recursive core: the checker, the dispatch over
//! statement kinds, WITH, SELECT and VALUES, output columns, and the walk over
//! expressions. The rest are further `impl StatementChecker` blocks, one
//! concern each: `from` (FROM items and their names), `bind` (binding at one
//! query level, and the findings for what stays unbound), `insert` (with ON
//! CONFLICT), `modify` (UPDATE and DELETE), `merge`, and `positions` (a leaf:
//! offsets and names in the tree and the text).

use pg_query::protobuf::{self, node::Node as NodeEnum, CommonTableExpr, SetOperation};
use pg_query::NodeRef;

mod bind;
mod from;
mod insert;
mod merge;
mod modify;
mod positions;

pub(crate) use positions::statement_kind;
use positions::{loc, names, node};

use super::binding::{string_value, Term, Value, ValueReader};
use super::policy;
use super::scopes::{
    CteScope, FromNode, Level, Output, OutputColumn, RangeRef, RefId, RefKind, RefName,
};
use super::session_settings;
use super::tenant_schemas;
use crate::config::{Config, TableKind};
use crate::report::{Rule, TableSite};
use crate::walk::for_each_child;

/// An equality usable for binding, and the references whose rows it filters
/// (`None`: every reference of the level, as a WHERE clause does).
type Edge = (Term, Term, Option<Vec<RefId>>);

/// A violation found, positioned in the rewritten SQL.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub rule: Rule,
    pub table: Option<String>,
    pub alias: Option<String>,
    pub message: String,
    pub fix: String,
    pub offset: usize,
}

/// FROM-clause work that must wait until the level's own bindings are known.
/// Each piece keeps the FROM items it may see (rule `visible-from-items`).
#[derive(Default)]
struct Pending<'n> {
    /// ON clauses: the references they filter, and the join's two inputs
    /// (all an ON clause sees of its level).
    quals: Vec<(&'n protobuf::Node, Vec<RefId>, Vec<FromNode>)>,
    /// LATERAL subqueries: their reference, the query, column aliases, and
    /// the FROM items before them.
    lateral: Vec<(RefId, &'n protobuf::Node, Vec<String>, Vec<FromNode>)>,
    /// Expressions inside FROM items (function arguments, XMLTABLE and
    /// JSON_TABLE expressions: the FROM items before them; TABLESAMPLE
    /// arguments: none of the level).
    exprs: Vec<(NodeRef<'n>, Vec<FromNode>)>,
}

/// Rounds of a recursive CTE's fixpoint, at most (see `recursive_cte`).
const MAX_FIXPOINT_ROUNDS: usize = 64;

/// Fixpoint rounds of all recursive CTEs of one statement together: nested
/// recursive CTEs multiply their rounds, and a statement must not make the
/// analysis run for ever. Past it, recursive CTEs assume nothing (sound,
/// only less precise).
const FIXPOINT_BUDGET: usize = 4096;

/// How deep scopes may nest before the analyzer gives up (fail closed).
const MAX_DEPTH: usize = 200;

/// When less stack than this is left, recursion continues on a new segment
/// of `STACK_GROWTH` bytes allocated on the heap.
const STACK_RED_ZONE: usize = 128 * 1024;
const STACK_GROWTH: usize = 2 * 1024 * 1024;

/// The state of one statement's analysis.
pub(crate) struct StatementChecker<'a> {
    pub config: &'a Config,
    pub values: ValueReader,
    /// The rewritten SQL, for name spans.
    pub sql: &'a str,
    pub arena: Vec<RangeRef>,
    pub found: Vec<Found>,
    pub sites: Vec<TableSite>,
    /// Tenant values the statement binds to (lenient mode: must be one).
    pub bound_values: Vec<(Value, usize)>,
    /// While positive, findings are discarded (fixpoint passes of recursive CTEs).
    muted: usize,
    /// Column names the statement's equalities mention (for `case_hint`).
    column_names: std::cell::RefCell<std::collections::BTreeSet<String>>,
    /// Fixpoint rounds left for this statement (see [`FIXPOINT_BUDGET`]).
    fixpoint_budget: usize,
    /// With coverage on (tests), the address of every node the analysis
    /// accounted for.
    #[cfg(test)]
    pub visited: Option<std::collections::HashSet<usize>>,
    depth: usize,
    pub statement_offset: usize,
}

impl<'a> StatementChecker<'a> {
    pub fn new(config: &'a Config, values: ValueReader, sql: &'a str, offset: usize) -> Self {
        StatementChecker {
            config,
            values,
            sql,
            arena: Vec::new(),
            found: Vec::new(),
            sites: Vec::new(),
            bound_values: Vec::new(),
            muted: 0,
            fixpoint_budget: FIXPOINT_BUDGET,
            column_names: Default::default(),
            #[cfg(test)]
            visited: None,
            depth: 0,
            statement_offset: offset,
        }
    }

    fn report(&mut self, found: Found) {
        if self.muted == 0 {
            self.found.push(found);
        }
    }

    fn report_plain(&mut self, rule: Rule, offset: usize, message: String, fix: &str) {
        self.report(Found {
            rule,
            table: None,
            alias: None,
            message,
            fix: fix.to_string(),
            offset,
        });
    }

    fn refuse(&mut self, refusal: policy::Refusal, offset: usize) {
        self.report(Found {
            rule: refusal.rule,
            table: None,
            alias: None,
            message: refusal.message,
            fix: refusal.fix,
            offset,
        });
    }

    /// Records that the analysis accounted for `n` (coverage test).
    fn mark(&mut self, n: &protobuf::Node) {
        if let Some(inner) = node(n) {
            self.mark_ref(inner.to_ref());
        }
    }

    #[cfg_attr(not(test), allow(unused_variables))]
    fn mark_ref(&mut self, n: NodeRef<'_>) {
        #[cfg(test)]
        if let Some(visited) = &mut self.visited {
            visited.insert(crate::walk::node_address(n));
        }
    }

    /// What a relation is: configured, a system relation (policy), or a
    /// tenant table; a refused system relation is reported and then treated
    /// as global, so it gives no second error. So is a relation in a
    /// tenant's schema, which `tenant_schema_references` reports.
    fn relation_kind(&mut self, schema: Option<&str>, name: &str, location: usize) -> TableKind {
        if schema.is_some_and(tenant_schemas::is_tenant_schema_name) {
            return TableKind::Global;
        }
        match policy::relation(self.config, schema, name) {
            Ok(kind) => kind,
            Err(refusal) => {
                self.refuse(refusal, location);
                TableKind::Global
            }
        }
    }

    /// Rule `tenant-schema-reference`: every name in the statement that a
    /// tenant's schema qualifies (see `tenant_schemas`).
    fn tenant_schema_references(&mut self, stmt: &NodeEnum) {
        for reference in tenant_schemas::references(stmt.to_ref()) {
            self.report(Found {
                rule: Rule::TenantSchemaReference,
                table: None,
                alias: None,
                message: reference.message(),
                fix: reference.fix(),
                offset: loc(reference.location, self.statement_offset),
            });
        }
    }

    /// `TABLESAMPLE method(..)`: the method is a function.
    fn tablesample_method(&mut self, sample: &protobuf::RangeTableSample) {
        let parts: Vec<&str> = sample.method.iter().filter_map(string_value).collect();
        if let Err(refusal) = policy::tablesample_method(self.config, &parts) {
            self.refuse(refusal, loc(sample.location, self.statement_offset));
        }
    }

    /// `FOR UPDATE OF t`: names of FROM items of the level, no expressions.
    fn locking(&mut self, clauses: &[protobuf::Node]) {
        for clause in clauses {
            self.mark(clause);
            if let Some(NodeEnum::LockingClause(locking)) = node(clause) {
                for relation in &locking.locked_rels {
                    self.mark(relation);
                }
            }
        }
    }

    /// An operator (`a <op> b`, `x <op> ANY (..)`, `ORDER BY x USING <op>`).
    fn check_operator(&mut self, name: &[protobuf::Node], location: i32) {
        if name.is_empty() {
            return;
        }
        let parts: Vec<&str> = name.iter().filter_map(string_value).collect();
        if let Err(refusal) = policy::operator(&parts) {
            self.refuse(refusal, loc(location, self.statement_offset));
        }
    }

    /// Checks one top-level statement.
    pub fn statement(&mut self, stmt: &NodeEnum) {
        match stmt {
            NodeEnum::ExplainStmt(explain) => {
                let analyzes = explain.options.iter().any(|o| match node(o) {
                    Some(NodeEnum::DefElem(d)) => {
                        d.defname == "analyze"
                            && !matches!(
                                d.arg.as_deref().and_then(node),
                                Some(NodeEnum::String(s)) if matches!(s.sval.as_str(), "false" | "off" | "0")
                            )
                            && !matches!(
                                d.arg.as_deref().and_then(node),
                                Some(NodeEnum::Boolean(b)) if !b.boolval
                            )
                    }
                    _ => false,
                });
                if analyzes {
                    self.report_plain(
                        Rule::UnsupportedStatement,
                        self.statement_offset,
                        "`EXPLAIN ANALYZE` executes its statement and is not accepted as a tenant query".into(),
                        "run EXPLAIN without ANALYZE, or analyse the query outside the application",
                    );
                    return;
                }
                if let Err(refusal) = policy::explain(self.config) {
                    self.refuse(refusal, self.statement_offset);
                }
                for option in &explain.options {
                    self.mark(option);
                }
                if let Some(query) = explain.query.as_deref() {
                    self.statement_node(query);
                }
            }
            NodeEnum::SelectStmt(_)
            | NodeEnum::InsertStmt(_)
            | NodeEnum::UpdateStmt(_)
            | NodeEnum::DeleteStmt(_)
            | NodeEnum::MergeStmt(_) => {
                self.tenant_schema_references(stmt);
                self.query(stmt, None, &CteScope::root());
            }
            NodeEnum::VariableSetStmt(set) if session_settings::set_statement(set).is_some() => {
                if let Some(refusal) = session_settings::set_statement(set) {
                    self.refuse(refusal, self.statement_offset);
                }
            }
            other => {
                let kind = statement_kind(other);
                self.report_plain(
                    Rule::UnsupportedStatement,
                    self.statement_offset,
                    format!("`{kind}` statements are not accepted as tenant queries: only SELECT, INSERT, UPDATE, DELETE and MERGE are checked"),
                    "run schema changes and administration through migrations or the `tenant` CLI, not through tenant queries",
                );
            }
        }
    }

    fn statement_node(&mut self, n: &protobuf::Node) {
        if let Some(inner) = node(n) {
            self.statement(inner);
        }
    }

    /// Any statement that produces rows; returns what its output carries.
    fn query(
        &mut self,
        stmt: &NodeEnum,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        self.depth += 1;
        let output = stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || {
            self.query_at_depth(stmt, parent, ctes)
        });
        self.depth -= 1;
        output
    }

    fn query_at_depth(
        &mut self,
        stmt: &NodeEnum,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        if self.depth > MAX_DEPTH {
            self.report_plain(
                Rule::UnsupportedConstruct,
                self.statement_offset,
                format!("the statement nests scopes more than {MAX_DEPTH} deep"),
                "simplify the statement",
            );
            Output::Unknown
        } else {
            self.mark_ref(stmt.to_ref());
            match stmt {
                NodeEnum::SelectStmt(s) => self.select(s, parent, ctes),
                NodeEnum::InsertStmt(s) => self.insert(s, parent, ctes),
                NodeEnum::UpdateStmt(s) => self.update(s, parent, ctes),
                NodeEnum::DeleteStmt(s) => self.delete(s, parent, ctes),
                NodeEnum::MergeStmt(s) => self.merge(s, parent, ctes),
                other => {
                    let kind = statement_kind(other);
                    self.report_plain(
                        Rule::UnsupportedStatement,
                        self.statement_offset,
                        format!("`{kind}` cannot be nested in a tenant query"),
                        "use SELECT, INSERT, UPDATE, DELETE or MERGE",
                    );
                    Output::Unknown
                }
            }
        }
    }

    fn query_node(
        &mut self,
        n: &protobuf::Node,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        match node(n) {
            Some(inner) => self.query(inner, parent, ctes),
            None => Output::Unknown,
        }
    }

    // ----- WITH ---------------------------------------------------------

    /// Analyses each CTE body and returns the scope that names them (rule
    /// `cte-names`): a CTE sees the ones before it; with RECURSIVE, every
    /// one of the list, so each name is in view from the start, with
    /// nothing known of its columns until its body has been analysed.
    fn with_clause<'s>(
        &mut self,
        with: Option<&protobuf::WithClause>,
        parent: Option<&Level<'_>>,
        ctes: &'s CteScope<'s>,
    ) -> CteScope<'s> {
        let mut scope = CteScope::child(ctes);
        let Some(with) = with else {
            return scope;
        };
        let bodies: Vec<&CommonTableExpr> = with
            .ctes
            .iter()
            .filter_map(|n| {
                self.mark(n);
                match node(n) {
                    Some(NodeEnum::CommonTableExpr(cte)) => Some(cte.as_ref()),
                    _ => None,
                }
            })
            .collect();
        if with.recursive {
            for cte in &bodies {
                scope.set(&cte.ctename, Output::Unknown);
            }
        }
        for cte in bodies {
            let output = if with.recursive {
                self.recursive_cte(cte, parent, &scope)
            } else {
                self.cte_body(cte, parent, &scope)
            };
            scope.set(&cte.ctename, output);
        }
        scope
    }

    fn cte_body(
        &mut self,
        cte: &CommonTableExpr,
        parent: Option<&Level<'_>>,
        scope: &CteScope<'_>,
    ) -> Output {
        let out = match cte.ctequery.as_deref() {
            Some(q) => self.query_node(q, parent, scope),
            None => Output::Unknown,
        };
        // SEARCH and CYCLE name columns and give constants: walked so that
        // nothing inside them goes unseen.
        let outer_only = Level::new(parent);
        if let Some(search) = &cte.search_clause {
            self.mark_ref(NodeRef::CtesearchClause(search));
        }
        if let Some(cycle) = &cte.cycle_clause {
            self.mark_ref(NodeRef::CtecycleClause(cycle));
            self.walk_opt(cycle.cycle_mark_value.as_deref(), &outer_only, scope);
            self.walk_opt(cycle.cycle_mark_default.as_deref(), &outer_only, scope);
        }
        out.renamed(&names(&cte.aliascolnames))
    }

    /// A CTE of a WITH RECURSIVE: its columns carry the tenant if they do in
    /// the non-recursive term and every recursive step preserves that (an
    /// inductive invariant), found by iterating to a fixpoint. Each round
    /// can only drop values, so the fixpoint is reached within one round
    /// per column; if it is not reached within [`MAX_FIXPOINT_ROUNDS`], the
    /// final pass assumes nothing of the CTE's own columns (rule
    /// `recursive-fixpoint`: an unproven assumption must never bind).
    fn recursive_cte(
        &mut self,
        cte: &CommonTableExpr,
        parent: Option<&Level<'_>>,
        scope: &CteScope<'_>,
    ) -> Output {
        let colnames = names(&cte.aliascolnames);
        let base = match cte.ctequery.as_deref().and_then(node) {
            Some(NodeEnum::SelectStmt(s))
                if s.op != SetOperation::SetopNone as i32 && s.larg.is_some() =>
            {
                self.muted += 1;
                let larg = s.larg.as_deref().map(|l| self.select(l, parent, scope));
                self.muted -= 1;
                larg.unwrap_or(Output::Unknown).renamed(&colnames)
            }
            _ => Output::Unknown,
        };
        let rounds = base.columns().len().clamp(1, MAX_FIXPOINT_ROUNDS) + 1;
        let mut assumed = base;
        let mut converged = false;
        for _ in 0..rounds {
            if self.fixpoint_budget == 0 {
                break;
            }
            self.fixpoint_budget -= 1;
            let mut inner = CteScope::child(scope);
            inner.set(&cte.ctename, assumed.clone());
            self.muted += 1;
            let out = self.cte_body(cte, parent, &inner);
            self.muted -= 1;
            if out == assumed {
                converged = true;
                break;
            }
            assumed = weaker(&assumed, &out);
        }
        if !converged {
            assumed = assumed.without_values();
        }
        let mut inner = CteScope::child(scope);
        inner.set(&cte.ctename, assumed.clone());
        let out = self.cte_body(cte, parent, &inner);
        if out == assumed {
            out
        } else {
            // Only when the fixpoint was not reached: the final pass assumed
            // nothing, so its findings stand; claim nothing of the output.
            out.without_values()
        }
    }

    // ----- SELECT -------------------------------------------------------

    fn select(
        &mut self,
        s: &protobuf::SelectStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        self.mark_ref(NodeRef::SelectStmt(s));
        if let Some(into) = &s.into_clause {
            self.mark_ref(NodeRef::IntoClause(into));
            if let Some(rel) = &into.rel {
                self.mark_ref(NodeRef::RangeVar(rel));
            }
            let offset = into.rel.as_ref().map_or(self.statement_offset, |r| {
                loc(r.location, self.statement_offset)
            });
            self.report_plain(
                Rule::UnsupportedStatement,
                offset,
                "`SELECT INTO` creates a table and is not accepted as a tenant query".into(),
                "select the rows into the application, or create tables through migrations",
            );
        }
        let ctes = self.with_clause(s.with_clause.as_ref(), parent, ctes);
        let outer_only = Level::new(parent);
        self.locking(&s.locking_clause);
        if s.op != SetOperation::SetopNone as i32 && s.op != SetOperation::Undefined as i32 {
            let left = s
                .larg
                .as_deref()
                .map_or(Output::Unknown, |l| self.select_node(l, parent, &ctes));
            let right = s
                .rarg
                .as_deref()
                .map_or(Output::Unknown, |r| self.select_node(r, parent, &ctes));
            let output = Output::combine(left, &right);
            self.after_output(s, &output, parent, &ctes);
            return output;
        }
        if !s.values_lists.is_empty() {
            let output = self.values_lists(&s.values_lists, &outer_only, &ctes);
            self.after_output(s, &output, parent, &ctes);
            return output;
        }

        let mut pending = Pending::default();
        let from = self.items_of_from(&s.from_clause, parent, &ctes, &mut pending);
        let level = Level { from, parent };
        let mut edges = self.join_edges(&level, &pending);
        if let Some(w) = s.where_clause.as_deref() {
            edges.extend(self.edges(w, &level, None));
        }
        self.settle(&level, &edges, &ctes, pending.lateral, pending.exprs);
        self.report_unbound(&level, &edges);

        self.walk_quals(&pending.quals, &level, &ctes);
        self.walk_opt(s.where_clause.as_deref(), &level, &ctes);
        self.walk_all(&s.target_list, &level, &ctes);
        self.walk_all(&s.distinct_clause, &level, &ctes);
        self.walk_all(&s.group_clause, &level, &ctes);
        self.walk_opt(s.having_clause.as_deref(), &level, &ctes);
        self.walk_all(&s.window_clause, &level, &ctes);
        self.walk_all(&s.sort_clause, &level, &ctes);
        self.walk_opt(s.limit_offset.as_deref(), &level, &ctes);
        self.walk_opt(s.limit_count.as_deref(), &level, &ctes);
        self.target_output(&s.target_list, &level)
    }

    /// A branch of a set operation: a SELECT, VALUES list or nested set
    /// operation (never anything else in the grammar).
    fn select_node(
        &mut self,
        n: &protobuf::SelectStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        self.depth += 1;
        let output = stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || {
            self.select(n, parent, ctes)
        });
        self.depth -= 1;
        output
    }

    /// ORDER BY, LIMIT and OFFSET of a set operation or VALUES list: they see
    /// its output columns (by name), and their subqueries see the enclosing
    /// levels. A count of rows kept is an oracle on the rows, so every
    /// subquery here is checked like any other (rule `every-clause-walked`).
    fn after_output(
        &mut self,
        s: &protobuf::SelectStmt,
        output: &Output,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) {
        let at = self.statement_offset;
        let own = self.derived_ref(None, RefName::Unknown, output.clone(), at);
        let level = Level {
            from: vec![FromNode::Ref(own)],
            parent,
        };
        self.walk_all(&s.sort_clause, &level, ctes);
        self.walk_opt(s.limit_offset.as_deref(), &level, ctes);
        self.walk_opt(s.limit_count.as_deref(), &level, ctes);
    }

    /// Walks ON clauses, each in what it sees: its join's two inputs.
    fn walk_quals(
        &mut self,
        quals: &[(&protobuf::Node, Vec<RefId>, Vec<FromNode>)],
        level: &Level<'_>,
        ctes: &CteScope<'_>,
    ) {
        for (qual, _, inputs) in quals {
            let on_level = Level {
                from: inputs.clone(),
                parent: level.parent,
            };
            self.walk(qual, &on_level, ctes);
        }
    }

    fn values_lists(
        &mut self,
        rows: &[protobuf::Node],
        level: &Level<'_>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let mut columns: Option<Vec<Option<Value>>> = None;
        for row in rows {
            self.mark(row);
            let Some(NodeEnum::List(items)) = node(row) else {
                continue;
            };
            self.walk_all(&items.items, level, ctes);
            let values: Vec<Option<Value>> = items
                .items
                .iter()
                .map(|i| {
                    node(i)
                        .and_then(|n| self.values.read(n))
                        .filter(|v| v.binds)
                })
                .collect();
            columns = Some(match columns {
                None => values,
                Some(prev) => prev
                    .into_iter()
                    .zip(values)
                    .map(|(a, b)| (a == b).then_some(a).flatten())
                    .collect(),
            });
        }
        Output::Positional(
            columns
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, value)| OutputColumn {
                    name: Some(format!("column{}", i + 1)),
                    value,
                })
                .collect(),
        )
    }

    /// The output columns of a target list (SELECT list or RETURNING).
    fn target_output(&mut self, targets: &[protobuf::Node], level: &Level<'_>) -> Output {
        let mut columns = Vec::new();
        let mut positional = true;
        for target in targets {
            let Some(NodeEnum::ResTarget(res)) = node(target) else {
                continue;
            };
            let Some(val) = res.val.as_deref().and_then(node) else {
                continue;
            };
            if let NodeEnum::ColumnRef(c) = val {
                if matches!(c.fields.last().and_then(node), Some(NodeEnum::AStar(_))) {
                    positional = false;
                    let qualifier: Vec<&str> = c.fields[..c.fields.len() - 1]
                        .iter()
                        .filter_map(string_value)
                        .collect();
                    columns.extend(self.star_columns(&qualifier, level));
                    continue;
                }
            }
            let name = if res.name.is_empty() {
                implicit_column_name(val)
            } else {
                Some(res.name.clone())
            };
            let term = self.term(val, level);
            let value = self.value_of_term(&term).filter(|v| v.binds);
            columns.push(OutputColumn { name, value });
        }
        if positional {
            Output::Positional(columns)
        } else {
            Output::Named(columns)
        }
    }

    /// The columns `*` (every FROM item of the level) or `q.*` (the item
    /// `q` resolves to) expands to, as far as they are known.
    fn star_columns(&self, qualifier: &[&str], level: &Level<'_>) -> Vec<OutputColumn> {
        let refs: Vec<RefId> = match qualifier {
            [] => level.refs(),
            _ => level
                .resolve_star(qualifier, &self.arena)
                .into_iter()
                .collect(),
        };
        let mut out = Vec::new();
        for id in refs {
            let r = &self.arena[id];
            match &r.kind {
                RefKind::Tenant { column, .. } => out.push(OutputColumn {
                    name: Some(column.clone()),
                    value: r.bound.clone(),
                }),
                RefKind::Derived(output) => out.extend(output.columns().iter().cloned()),
                RefKind::Global => {}
            }
        }
        out
    }

    /// The tenant value every row carries in `term` (or NULL), if known.
    fn value_of_term(&self, term: &Term) -> Option<Value> {
        match term {
            Term::Value(v) => Some(v.clone()),
            Term::Column(id, column) => self.arena[*id].value_of(column),
            // COALESCE of the two sides: one of them is a real row.
            Term::FullMerged(sides) => {
                let left = self.value_of_term(&sides.0)?;
                let right = self.value_of_term(&sides.1)?;
                (left == right).then_some(left)
            }
            Term::Opaque => None,
        }
    }

    // ----- expressions ------------------------------------------------------

    fn walk_opt(&mut self, n: Option<&protobuf::Node>, level: &Level<'_>, ctes: &CteScope<'_>) {
        if let Some(n) = n {
            self.walk(n, level, ctes);
        }
    }

    fn walk_all(&mut self, nodes: &[protobuf::Node], level: &Level<'_>, ctes: &CteScope<'_>) {
        for n in nodes {
            self.walk(n, level, ctes);
        }
    }

    fn walk(&mut self, n: &protobuf::Node, level: &Level<'_>, ctes: &CteScope<'_>) {
        if let Some(inner) = node(n) {
            self.walk_ref(inner.to_ref(), level, ctes);
        }
    }

    /// Finds every nested query in an expression and analyses it with
    /// `level` as its enclosing scope, and checks every function and
    /// operator. Uses the exhaustive walker, so no node kind can hide a
    /// subquery or a call.
    fn walk_ref(&mut self, n: NodeRef<'_>, level: &Level<'_>, ctes: &CteScope<'_>) {
        self.mark_ref(n);
        match n {
            NodeRef::SubLink(sub) => {
                self.check_operator(&sub.oper_name, sub.location);
                self.walk_opt(sub.testexpr.as_deref(), level, ctes);
                for name in &sub.oper_name {
                    self.mark(name);
                }
                if let Some(q) = sub.subselect.as_deref() {
                    self.query_node(q, Some(level), ctes);
                }
            }
            NodeRef::SelectStmt(s) => {
                self.select(s, Some(level), ctes);
            }
            NodeRef::InsertStmt(_)
            | NodeRef::UpdateStmt(_)
            | NodeRef::DeleteStmt(_)
            | NodeRef::MergeStmt(_) => {
                self.report_plain(
                    Rule::UnsupportedConstruct,
                    self.statement_offset,
                    "a data-modifying statement inside an expression".into(),
                    "move it into a WITH clause",
                );
            }
            NodeRef::RangeVar(rv) => {
                let at = loc(rv.location, self.statement_offset);
                self.report_plain(
                    Rule::UnsupportedConstruct,
                    at,
                    format!(
                        "table `{}` is referenced where the analyzer cannot check it",
                        rv.relname
                    ),
                    "reference tables in FROM, JOIN or a subquery",
                );
            }
            other => {
                match other {
                    NodeRef::FuncCall(call) => {
                        let parts: Vec<&str> =
                            call.funcname.iter().filter_map(string_value).collect();
                        let verdict = match session_settings::set_config_call(call) {
                            Some(refusal) => Err(refusal),
                            None => policy::function(self.config, &parts),
                        };
                        if let Err(refusal) = verdict {
                            self.refuse(refusal, loc(call.location, self.statement_offset));
                        }
                    }
                    NodeRef::AExpr(expr) if operator_kind(expr) => {
                        self.check_operator(&expr.name, expr.location);
                    }
                    NodeRef::SortBy(sort) => self.check_operator(&sort.use_op, sort.location),
                    _ => {}
                }
                self.walk_children(other, level, ctes);
            }
        }
    }

    fn walk_children(&mut self, n: NodeRef<'_>, level: &Level<'_>, ctes: &CteScope<'_>) {
        let mut children = Vec::new();
        for_each_child(n, &mut |c| children.push(c));
        self.depth += 1;
        if self.depth <= MAX_DEPTH * 4 {
            stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || {
                for child in children {
                    self.walk_ref(child, level, ctes);
                }
            });
        } else {
            self.report_plain(
                Rule::UnsupportedConstruct,
                self.statement_offset,
                "the expression nests too deeply to check".into(),
                "simplify the expression",
            );
        }
        self.depth -= 1;
    }
}

/// Whether an `A_Expr` names an operator (BETWEEN and friends name their
/// kind instead, and expand to built-in comparisons).
fn operator_kind(expr: &protobuf::AExpr) -> bool {
    use protobuf::AExprKind as K;
    matches!(
        K::try_from(expr.kind),
        Ok(K::AexprOp
            | K::AexprOpAny
            | K::AexprOpAll
            | K::AexprDistinct
            | K::AexprNotDistinct
            | K::AexprNullif
            | K::AexprIn
            | K::AexprLike
            | K::AexprIlike
            | K::AexprSimilar)
    )
}

/// The weaker of two assumptions about a recursive CTE's columns.
fn weaker(a: &Output, b: &Output) -> Output {
    match (a, b) {
        (Output::Positional(x), Output::Positional(y)) if x.len() == y.len() => Output::Positional(
            x.iter()
                .zip(y)
                .map(|(p, q)| OutputColumn {
                    name: p.name.clone(),
                    value: (p.value == q.value).then(|| p.value.clone()).flatten(),
                })
                .collect(),
        ),
        _ => Output::Unknown,
    }
}

/// The name PostgreSQL gives an unnamed output column, when it matters.
fn implicit_column_name(val: &NodeEnum) -> Option<String> {
    match val {
        NodeEnum::ColumnRef(c) => c.fields.last().and_then(string_value).map(str::to_string),
        NodeEnum::TypeCast(t) => t
            .arg
            .as_deref()
            .and_then(node)
            .and_then(implicit_column_name),
        NodeEnum::FuncCall(f) => f.funcname.last().and_then(string_value).map(str::to_string),
        _ => None,
    }
}
