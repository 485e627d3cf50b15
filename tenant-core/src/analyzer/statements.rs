//! Statements: what each statement kind must prove, and the walk that visits
//! every scope (FROM items, subqueries anywhere, set-operation branches, CTEs
//! including recursive and writable ones).

use pg_query::protobuf::{
    self, node::Node as NodeEnum, CmdType, CommonTableExpr, JoinType, MergeMatchKind,
    OnConflictAction, SetOperation,
};
use pg_query::NodeRef;

use super::binding::{conjuncts, equations, string_value, Classes, Term, Value, ValueReader};
use super::policy;
use super::scopes::{
    dedup, CteScope, FromNode, Join, JoinKind, Level, Output, OutputColumn, RangeRef, RefId,
    RefKind, RefName,
};
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

fn loc(location: i32, fallback: usize) -> usize {
    usize::try_from(location).unwrap_or(fallback)
}

fn node(n: &protobuf::Node) -> Option<&NodeEnum> {
    n.node.as_ref()
}

fn names(nodes: &[protobuf::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(string_value)
        .map(str::to_string)
        .collect()
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
    /// as global, so it gives no second error.
    fn relation_kind(&mut self, schema: Option<&str>, name: &str, location: usize) -> TableKind {
        match policy::relation(self.config, schema, name) {
            Ok(kind) => kind,
            Err(refusal) => {
                self.refuse(refusal, location);
                TableKind::Global
            }
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
                self.query(stmt, None, &CteScope::root());
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

    // ----- FROM ---------------------------------------------------------

    fn new_ref(&mut self, r: RangeRef) -> RefId {
        self.arena.push(r);
        self.arena.len() - 1
    }

    /// A relation named in FROM or as a MERGE source: a CTE when a WITH in
    /// view names it and the name has no schema (rule `cte-names`), else a
    /// table.
    fn range_var(&mut self, rv: &protobuf::RangeVar, ctes: &CteScope<'_>) -> RefId {
        if rv.schemaname.is_empty() && rv.catalogname.is_empty() {
            if let Some(output) = ctes.lookup(&rv.relname) {
                let location = loc(rv.location, self.statement_offset);
                let alias = rv.alias.as_ref().map(|a| a.aliasname.clone());
                let colnames = rv
                    .alias
                    .as_ref()
                    .map(|a| names(&a.colnames))
                    .unwrap_or_default();
                let output = output.clone().renamed(&colnames);
                return self.new_ref(RangeRef {
                    name: RefName::Known(alias.clone().unwrap_or_else(|| rv.relname.clone())),
                    schema: None,
                    alias,
                    relation: false,
                    kind: RefKind::Derived(output),
                    location,
                    bound: None,
                    names_a_cte: false,
                });
            }
        }
        self.table_ref(rv)
    }

    /// A table: a FROM item that is not a CTE, or the target of INSERT,
    /// UPDATE, DELETE or MERGE, which PostgreSQL never resolves to a CTE
    /// (rule `cte-names`: `setTargetTable` opens the relation by name).
    fn table_ref(&mut self, rv: &protobuf::RangeVar) -> RefId {
        let location = loc(rv.location, self.statement_offset);
        let alias = rv.alias.as_ref().map(|a| a.aliasname.clone());
        let schema = (!rv.schemaname.is_empty()).then(|| rv.schemaname.clone());
        let kind = match self.relation_kind(schema.as_deref(), &rv.relname, location) {
            TableKind::Global => RefKind::Global,
            TableKind::Tenant { column } => {
                if self.muted == 0 {
                    self.sites.push(TableSite {
                        table: rv.relname.clone(),
                        schema: schema.clone(),
                        alias: alias.clone(),
                        span: location..name_end(self.sql, location),
                        tenant_column: column.clone(),
                    });
                }
                let renamed = rv.alias.as_ref().is_some_and(|a| !a.colnames.is_empty());
                if renamed {
                    // Rule `column-aliases`: the aliases rename the table's
                    // columns by position, which the analyzer does not know.
                    self.report(Found {
                        rule: Rule::UnsupportedConstruct,
                        table: Some(rv.relname.clone()),
                        alias: alias.clone(),
                        message: format!(
                            "column aliases rename the columns of tenant table `{}` by position, which the analyzer does not know, so `{column}` could name another column",
                            rv.relname
                        ),
                        fix: format!(
                            "drop the column list after the alias, or rename the columns in a subquery: `(SELECT {column} AS .. FROM {}) AS ..`",
                            rv.relname
                        ),
                        offset: location,
                    });
                }
                RefKind::Tenant {
                    table: rv.relname.clone(),
                    column,
                }
            }
        };
        self.new_ref(RangeRef {
            name: RefName::Known(alias.clone().unwrap_or_else(|| rv.relname.clone())),
            schema,
            alias,
            relation: true,
            kind,
            location,
            bound: None,
            names_a_cte: false,
        })
    }

    /// The target of INSERT, UPDATE, DELETE or MERGE: always a table.
    fn target_ref(&mut self, rv: &protobuf::RangeVar, ctes: &CteScope<'_>) -> RefId {
        self.mark_ref(NodeRef::RangeVar(rv));
        let id = self.table_ref(rv);
        self.arena[id].names_a_cte = rv.schemaname.is_empty() && ctes.lookup(&rv.relname).is_some();
        id
    }

    /// A subquery, VALUES list, function or table function in FROM, named
    /// by its alias or, without one, as PostgreSQL names it (rule
    /// `unaliased-names`).
    fn derived_ref(
        &mut self,
        alias: Option<&protobuf::Alias>,
        unaliased: RefName,
        output: Output,
        at: usize,
    ) -> RefId {
        let colnames = alias.map(|a| names(&a.colnames)).unwrap_or_default();
        let alias = alias.map(|a| a.aliasname.clone());
        self.new_ref(RangeRef {
            name: alias.clone().map_or(unaliased, RefName::Known),
            schema: None,
            alias,
            relation: false,
            kind: RefKind::Derived(output.renamed(&colnames)),
            location: at,
            bound: None,
            names_a_cte: false,
        })
    }

    /// The items of a FROM list (or UPDATE .. FROM, DELETE .. USING): each
    /// sees the ones before it laterally (rule `visible-from-items`).
    fn items_of_from<'n>(
        &mut self,
        items: &'n [protobuf::Node],
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
        pending: &mut Pending<'n>,
    ) -> Vec<FromNode> {
        let mut from = Vec::new();
        for item in items {
            if let Some(built) = self.range_item(item, parent, ctes, pending, &from) {
                from.push(built);
            }
        }
        from
    }

    /// One FROM item. `visible` holds the FROM items of this level a
    /// LATERAL subquery or function here may refer to: the items before it
    /// and the left inputs of the joins it is the right input of.
    fn range_item<'n>(
        &mut self,
        item: &'n protobuf::Node,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
        pending: &mut Pending<'n>,
        visible: &[FromNode],
    ) -> Option<FromNode> {
        let at = self.statement_offset;
        self.mark(item);
        Some(match node(item)? {
            NodeEnum::RangeVar(rv) => FromNode::Ref(self.range_var(rv, ctes)),
            NodeEnum::RangeSubselect(sub) => {
                let query = sub.subquery.as_deref()?;
                if sub.lateral {
                    let id =
                        self.derived_ref(sub.alias.as_ref(), RefName::Unknown, Output::Unknown, at);
                    let colnames = sub
                        .alias
                        .as_ref()
                        .map(|a| names(&a.colnames))
                        .unwrap_or_default();
                    pending
                        .lateral
                        .push((id, query, colnames, visible.to_vec()));
                    FromNode::Ref(id)
                } else {
                    let output = self.query_node(query, parent, ctes);
                    FromNode::Ref(self.derived_ref(
                        sub.alias.as_ref(),
                        RefName::Unknown,
                        output,
                        at,
                    ))
                }
            }
            NodeEnum::RangeFunction(f) => {
                pending.exprs.extend(
                    f.functions
                        .iter()
                        .chain(&f.coldeflist)
                        .filter_map(|n| n.node.as_ref().map(|e| (e.to_ref(), visible.to_vec()))),
                );
                let name = function_item_name(f);
                let id = self.derived_ref(f.alias.as_ref(), name, Output::Unknown, at);
                FromNode::Ref(id)
            }
            NodeEnum::RangeTableSample(sample) => {
                self.tablesample_method(sample);
                // The arguments see none of the level: the item they sample
                // is not yet in it, nor are the ones before it.
                pending.exprs.extend(
                    sample
                        .args
                        .iter()
                        .chain(sample.repeatable.as_deref())
                        .filter_map(|n| n.node.as_ref().map(|e| (e.to_ref(), Vec::new()))),
                );
                return self.range_item(
                    sample.relation.as_deref()?,
                    parent,
                    ctes,
                    pending,
                    visible,
                );
            }
            NodeEnum::RangeTableFunc(f) => {
                pending
                    .exprs
                    .push((NodeRef::RangeTableFunc(f), visible.to_vec()));
                let name = RefName::Known("xmltable".into());
                FromNode::Ref(self.derived_ref(f.alias.as_ref(), name, Output::Unknown, at))
            }
            NodeEnum::JsonTable(f) => {
                pending
                    .exprs
                    .push((NodeRef::JsonTable(f), visible.to_vec()));
                let name = RefName::Known("json_table".into());
                FromNode::Ref(self.derived_ref(f.alias.as_ref(), name, Output::Unknown, at))
            }
            NodeEnum::JoinExpr(j) => {
                let left = self.range_item(j.larg.as_deref()?, parent, ctes, pending, visible)?;
                let mut right_visible = visible.to_vec();
                right_visible.push(left.clone());
                let right =
                    self.range_item(j.rarg.as_deref()?, parent, ctes, pending, &right_visible)?;
                let kind = match JoinType::try_from(j.jointype) {
                    Ok(JoinType::JoinLeft) => JoinKind::Left,
                    Ok(JoinType::JoinRight) => JoinKind::Right,
                    Ok(JoinType::JoinFull) => JoinKind::Full,
                    _ => JoinKind::Inner,
                };
                let using = if j.is_natural {
                    self.natural_columns(&left, &right)
                } else {
                    names(&j.using_clause)
                };
                let inputs = vec![left.clone(), right.clone()];
                let join = Join {
                    kind,
                    left,
                    right,
                    using,
                    natural: j.is_natural,
                    alias: j.alias.as_ref().map(|a| a.aliasname.clone()),
                    using_alias: j.join_using_alias.as_ref().map(|a| a.aliasname.clone()),
                };
                if let Some(quals) = j.quals.as_deref() {
                    pending
                        .quals
                        .push((quals, FromNode::filtered_by_on(&join), inputs));
                }
                FromNode::Join(Box::new(join))
            }
            _ => {
                self.report_plain(
                    Rule::UnsupportedConstruct,
                    at,
                    "a FROM item of a kind the analyzer does not know".into(),
                    "rewrite the FROM clause with tables, joins and subqueries",
                );
                FromNode::Ref(self.derived_ref(None, RefName::Unknown, Output::Unknown, at))
            }
        })
    }

    /// The columns both sides of a NATURAL join certainly have (tenant
    /// columns, known columns of derived tables): those are certainly among
    /// the columns it merges.
    fn natural_columns(&self, left: &FromNode, right: &FromNode) -> Vec<String> {
        let columns_of = |item: &FromNode| {
            let mut ids = Vec::new();
            item.refs(&mut ids);
            let mut columns = Vec::new();
            for id in ids {
                match &self.arena[id].kind {
                    RefKind::Tenant { column, .. } => columns.push(column.clone()),
                    RefKind::Derived(output) => columns.extend(
                        output
                            .columns()
                            .iter()
                            .filter_map(|c| c.name.clone())
                            .filter(|name| output.column(name).is_some()),
                    ),
                    RefKind::Global => {}
                }
            }
            columns
        };
        let right_cols = columns_of(right);
        dedup(
            columns_of(left)
                .into_iter()
                .filter(|c| right_cols.contains(c))
                .collect(),
        )
    }

    // ----- binding ------------------------------------------------------

    /// A column reference, parameter or literal as a term.
    fn term(&self, n: &NodeEnum, level: &Level<'_>) -> Term {
        if let Some(v) = self.values.read(n) {
            return Term::Value(v);
        }
        match n {
            NodeEnum::ColumnRef(c) => {
                let parts: Vec<&str> = c.fields.iter().filter_map(string_value).collect();
                if parts.len() != c.fields.len() {
                    return Term::Opaque;
                }
                if let Some(last) = parts.last() {
                    self.column_names.borrow_mut().insert((*last).to_string());
                }
                level.resolve(&parts, &self.arena)
            }
            _ => Term::Opaque,
        }
    }

    /// The equalities in an AND-tree, filtering `scope` (None: the level),
    /// its names resolved in `level`.
    fn edges(
        &self,
        expr: &protobuf::Node,
        level: &Level<'_>,
        scope: Option<Vec<RefId>>,
    ) -> Vec<Edge> {
        let Some(expr) = node(expr) else {
            return Vec::new();
        };
        let mut edges = Vec::new();
        for equation in conjuncts(expr).into_iter().flat_map(equations) {
            let left = self.term(equation.left, level);
            let mut rights = equation.right.iter().map(|r| self.term(r, level));
            let Some(right) = rights.next() else { continue };
            // `a IN (b, c)` says `a = b` only when b and c are one term.
            if rights.any(|other| other != right) {
                continue;
            }
            let with_value = matches!(left, Term::Value(_)) || matches!(right, Term::Value(_));
            if equation.null_safe && !with_value {
                continue;
            }
            match (left, right) {
                // `COALESCE(a.c, b.c) = v`: each side's real rows hold `v`.
                (Term::FullMerged(sides), value @ Term::Value(_))
                | (value @ Term::Value(_), Term::FullMerged(sides)) => {
                    let (a, b) = *sides;
                    edges.push((a, value.clone(), scope.clone()));
                    edges.push((b, value, scope.clone()));
                }
                (left, right) => edges.push((left, right, scope.clone())),
            }
        }
        edges
    }

    /// Equalities from join ON clauses (resolved in what each ON clause
    /// sees: its join's inputs) and USING/NATURAL columns.
    fn join_edges(&self, level: &Level<'_>, pending: &Pending<'_>) -> Vec<Edge> {
        let mut edges = Vec::new();
        for (quals, scope, inputs) in &pending.quals {
            let on_level = Level {
                from: inputs.clone(),
                parent: level.parent,
            };
            edges.extend(self.edges(quals, &on_level, Some(scope.clone())));
        }
        let mut stack: Vec<&FromNode> = level.from.iter().collect();
        while let Some(item) = stack.pop() {
            if let FromNode::Join(join) = item {
                let scope = FromNode::filtered_by_on(join);
                for column in &join.using {
                    let (l, r) = join.using_sides(column, &self.arena);
                    edges.push((l, r, Some(scope.clone())));
                }
                stack.push(&join.left);
                stack.push(&join.right);
            }
        }
        edges
    }

    /// Equivalence classes from the edges `keep` accepts, plus what is
    /// intrinsic: columns of derived tables, of outer levels and of bound
    /// tenant tables that carry the tenant (or NULL, which equals nothing).
    fn classes(&self, edges: &[Edge], keep: impl Fn(&Option<Vec<RefId>>) -> bool) -> Classes {
        let mut classes = Classes::default();
        for (a, b, scope) in edges {
            if keep(scope) {
                classes.union(a, b);
            }
        }
        for term in classes.terms() {
            if let Term::Column(id, col) = &term {
                if let Some(v) = self.arena[*id].value_of(col) {
                    classes.union(&term, &Term::Value(v));
                }
            }
        }
        classes
    }

    /// Binds every tenant reference of the level it can, to a fixpoint
    /// (a bound reference can bind others through `a.t = b.t`).
    fn bind(&mut self, level: &Level<'_>, edges: &[Edge]) {
        let refs = level.refs();
        loop {
            let mut changed = false;
            for &id in &refs {
                let RefKind::Tenant { column, .. } = &self.arena[id].kind else {
                    continue;
                };
                if self.arena[id].bound.is_some() {
                    continue;
                }
                let column = column.clone();
                let mut classes = self.classes(edges, |scope| {
                    scope.as_ref().is_none_or(|s| s.contains(&id))
                });
                let value = classes
                    .values_of(&Term::Column(id, column))
                    .into_iter()
                    .find(|v| v.binds);
                if let Some(v) = value {
                    self.arena[id].bound = Some(v.clone());
                    self.bound_values.push((v, self.arena[id].location));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Binds the level, then analyses LATERAL subqueries and FROM-item
    /// expressions (which may refer to the bound references before them),
    /// then binds again with what they produce.
    fn settle<'n>(
        &mut self,
        level: &Level<'_>,
        edges: &[Edge],
        ctes: &CteScope<'_>,
        lateral: Vec<(RefId, &'n protobuf::Node, Vec<String>, Vec<FromNode>)>,
        exprs: Vec<(NodeRef<'n>, Vec<FromNode>)>,
    ) {
        self.bind(level, edges);
        if lateral.is_empty() && exprs.is_empty() {
            return;
        }
        for (id, query, colnames, visible) in lateral {
            let seen = Level {
                from: visible,
                parent: level.parent,
            };
            let output = self.query_node(query, Some(&seen), ctes).renamed(&colnames);
            self.arena[id].kind = RefKind::Derived(output);
        }
        for (e, visible) in exprs {
            let seen = Level {
                from: visible,
                parent: level.parent,
            };
            self.walk_ref(e, &seen, ctes);
        }
        self.bind(level, edges);
    }

    fn report_unbound(&mut self, level: &Level<'_>, edges: &[Edge]) {
        for id in level.refs() {
            let r = &self.arena[id];
            let RefKind::Tenant { table, column } = &r.kind else {
                continue;
            };
            if r.bound.is_some() {
                continue;
            }
            let found = self.unbound_finding(level, edges, id, table, column);
            self.report(found);
        }
    }

    /// The message for an unbound reference, with the most useful fix.
    fn unbound_finding(
        &self,
        level: &Level<'_>,
        edges: &[Edge],
        id: RefId,
        table: &str,
        column: &str,
    ) -> Found {
        let r = &self.arena[id];
        let q = r.qualifier();
        let target = Term::Column(id, column.to_string());
        let alias_note = r
            .alias
            .as_ref()
            .map(|a| format!(" (alias `{a}`)"))
            .unwrap_or_default();
        let mut fix = format!("add `{q}.{column} = $tenant`");
        if let Some(other) = level
            .refs()
            .into_iter()
            .find(|&o| o != id && self.arena[o].is_tenant() && self.arena[o].bound.is_some())
        {
            let o = &self.arena[other];
            if let RefKind::Tenant { column: oc, .. } = &o.kind {
                fix.push_str(&format!(
                    " or join it on `{q}.{column} = {}.{oc}`",
                    o.qualifier()
                ));
            }
        }
        let mut scoped = self.classes(edges, |s| s.as_ref().is_none_or(|s| s.contains(&id)));
        let scoped_values = scoped.values_of(&target);
        let mut unscoped = self.classes(edges, |_| true);
        let message = format!("table `{table}`{alias_note} is not restricted to the tenant");
        let tenant_key = self.values.tenant_param.map(|n| format!("${n}::"));
        if let Some(other) = scoped_values.iter().find(|v| !v.binds) {
            let cast = tenant_key
                .as_deref()
                .and_then(|k| other.key.strip_prefix(k));
            fix = match cast {
                // Rule `lossy-casts`.
                Some(chain) => format!(
                    "`$tenant::{chain}` is not the tenant's id: a chain of casts changes text (`'007'::int8::text` is `'7'`); compare `{q}.{column}` with `$tenant`, or with `$tenant::TYPE` once when the column's type is uuid, bigint, integer or numeric"
                ),
                None => format!(
                    "`{}` is not the tenant: compare `{q}.{column}` with `$tenant` instead",
                    other.key
                ),
            };
        } else if unscoped.values_of(&target).iter().any(|v| v.binds) {
            fix.push_str(
                " in WHERE: the ON clause of an outer join restricts only the joined (nullable) side, not the side it preserves",
            );
        }
        if r.names_a_cte {
            fix.push_str(&format!(
                "; `{table}` here is the table, not the CTE of that name: PostgreSQL never resolves the target of INSERT, UPDATE, DELETE or MERGE to a CTE"
            ));
        }
        if let Some(hint) = self.case_hint(table, column) {
            fix.push_str("; ");
            fix.push_str(&hint);
        }
        Found {
            rule: Rule::UnboundTable,
            table: Some(table.to_string()),
            alias: r.alias.clone(),
            message,
            fix,
            offset: r.location,
        }
    }

    /// When the configuration names the table or its tenant column only
    /// up to case, the likely mistake: names in `tenancy.toml` fold to lower
    /// case unless quoted, as SQL identifiers do, so `[tables.Workflow]`
    /// configures `workflow`, not the quoted `"Workflow"` of the SQL, and
    /// every reference to it silently stays an unconfigured tenant table.
    fn case_hint(&self, table: &str, column: &str) -> Option<String> {
        let quoted = |name: &str| {
            if name.chars().any(|c| c.is_ascii_uppercase()) {
                format!("'\"{name}\"'")
            } else {
                format!("\"{name}\"")
            }
        };
        let mut configured: Vec<&str> = self
            .config
            .global_tables
            .iter()
            .chain(self.config.tables.keys())
            .map(|name| name.rsplit('.').next().unwrap_or(name))
            .collect();
        configured.dedup();
        if let Some(near) = configured
            .iter()
            .find(|name| **name != table && name.eq_ignore_ascii_case(table))
        {
            return Some(format!(
                "tenancy.toml configures `{near}`, which differs from the table `{table}` in case only: names there fold to lower case unless quoted, so write it as {}",
                quoted(table)
            ));
        }
        let seen = self.column_names.borrow();
        let near = seen
            .iter()
            .find(|name| name.as_str() != column && name.eq_ignore_ascii_case(column))?;
        Some(format!(
            "the statement compares `{near}`, but the tenant column configured is `{column}` (names in tenancy.toml fold to lower case unless quoted): set `tenant_column = {}`",
            quoted(near)
        ))
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
                        if let Err(refusal) = policy::function(self.config, &parts) {
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

    // ----- INSERT -------------------------------------------------------

    fn insert(
        &mut self,
        s: &protobuf::InsertStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let ctes = self.with_clause(s.with_clause.as_ref(), parent, ctes);
        let Some(relation) = &s.relation else {
            return Output::Unknown;
        };
        let target = self.target_ref(relation, &ctes);
        let target_location = self.arena[target].location;
        let tenant_column = match &self.arena[target].kind {
            RefKind::Tenant { column, .. } => Some(column.clone()),
            _ => None,
        };
        let table = relation.relname.clone();
        let outer_only = Level::new(parent);
        // The target columns: names, and subscripts or field selections
        // whose subqueries see only the enclosing levels.
        let mut columns: Vec<String> = Vec::new();
        for col in &s.cols {
            self.mark(col);
            let Some(NodeEnum::ResTarget(r)) = node(col) else {
                continue;
            };
            self.walk_all(&r.indirection, &outer_only, &ctes);
            if tenant_column.as_deref() == Some(r.name.as_str()) && !r.indirection.is_empty() {
                self.report(Found {
                    rule: Rule::InsertTenantValue,
                    table: Some(table.clone()),
                    alias: None,
                    message: format!(
                        "INSERT into `{table}` assigns a part of its tenant column `{}`",
                        r.name
                    ),
                    fix: format!("insert `$tenant` into `{}` as a whole", r.name),
                    offset: loc(r.location, target_location),
                });
                // Not the whole column: it does not count as set.
                columns.push(String::new());
                continue;
            }
            columns.push(r.name.clone());
        }
        let tenant_index = tenant_column
            .as_ref()
            .and_then(|tc| columns.iter().position(|c| c == tc));
        let mut inserted: Option<Value> = None;
        let mut proven = tenant_column.is_none();
        if let (Some(tc), None) = (&tenant_column, tenant_index) {
            self.report(Found {
                rule: Rule::InsertMissingTenantColumn,
                table: Some(table.clone()),
                alias: None,
                message: format!("INSERT into `{table}` does not set its tenant column `{tc}`"),
                fix: format!("list `{tc}` among the inserted columns and insert `$tenant` into it"),
                offset: target_location,
            });
        }
        if let Some(source) = s.select_stmt.as_deref().and_then(node) {
            match source {
                NodeEnum::SelectStmt(sel)
                    if !sel.values_lists.is_empty() && sel.with_clause.is_none() =>
                {
                    self.mark_ref(NodeRef::SelectStmt(sel));
                    self.locking(&sel.locking_clause);
                    let mut all = true;
                    for (row_no, row) in sel.values_lists.iter().enumerate() {
                        self.mark(row);
                        let Some(NodeEnum::List(items)) = node(row) else {
                            continue;
                        };
                        self.walk_all(&items.items, &outer_only, &ctes);
                        let Some(i) = tenant_index else { continue };
                        let item = items.items.get(i);
                        let value = item
                            .and_then(node)
                            .and_then(|n| self.values.read(n))
                            .filter(|v| v.binds);
                        match value {
                            Some(v) => {
                                if inserted.as_ref().is_some_and(|prev| *prev != v) {
                                    all = false;
                                }
                                self.bound_values.push((v.clone(), target_location));
                                inserted.get_or_insert(v);
                            }
                            None => {
                                all = false;
                                let at = item
                                    .and_then(node)
                                    .map(|n| node_location(n, target_location))
                                    .unwrap_or(target_location);
                                let tc = tenant_column.clone().unwrap_or_default();
                                self.report(Found {
                                    rule: Rule::InsertTenantValue,
                                    table: Some(table.clone()),
                                    alias: None,
                                    message: format!(
                                        "row {} of the VALUES list puts something other than the tenant into `{table}.{tc}`",
                                        row_no + 1
                                    ),
                                    fix: format!("insert `$tenant` into `{tc}`"),
                                    offset: at,
                                });
                            }
                        }
                    }
                    proven = proven || (all && inserted.is_some());
                    // `INSERT .. VALUES .. LIMIT (SELECT ..)`: how many rows
                    // are inserted must not depend on other tenants' rows.
                    self.after_output(sel, &Output::Unknown, parent, &ctes);
                }
                other => {
                    let output = self.query(other, parent, &ctes);
                    if let Some(i) = tenant_index {
                        let value = match &output {
                            Output::Positional(cols) => cols.get(i).and_then(|c| c.value.clone()),
                            _ => None,
                        };
                        match value {
                            Some(v) => {
                                self.bound_values.push((v.clone(), target_location));
                                inserted = Some(v);
                                proven = true;
                            }
                            None => {
                                let tc = tenant_column.clone().unwrap_or_default();
                                self.report(Found {
                                    rule: Rule::InsertTenantValue,
                                    table: Some(table.clone()),
                                    alias: None,
                                    message: format!(
                                        "the query feeding `{table}` does not put the tenant into `{tc}` in every row"
                                    ),
                                    fix: format!(
                                        "select `$tenant` (or a tenant column bound to `$tenant`) as column {} of the query",
                                        i + 1
                                    ),
                                    offset: node_location(other, target_location),
                                });
                            }
                        }
                    }
                }
            }
        }
        if tenant_column.is_some() && proven {
            self.arena[target].bound = inserted.clone();
        }
        let level = Level {
            from: vec![FromNode::Ref(target)],
            parent,
        };
        if let Some(conflict) = s.on_conflict_clause.as_deref() {
            self.mark_ref(NodeRef::OnConflictClause(conflict));
            self.on_conflict(
                conflict,
                target,
                tenant_column.as_deref(),
                inserted.filter(|_| proven),
                &level,
                &ctes,
            );
        }
        match &s.returning_clause {
            Some(r) => self.returning(r, &level, &ctes),
            None => Output::Positional(Vec::new()),
        }
    }

    fn on_conflict(
        &mut self,
        conflict: &protobuf::OnConflictClause,
        target: RefId,
        tenant_column: Option<&str>,
        inserted: Option<Value>,
        level: &Level<'_>,
        ctes: &CteScope<'_>,
    ) {
        let at = loc(conflict.location, self.arena[target].location);
        // The conflict target's index expressions and predicate see the
        // target only.
        let target_level = Level {
            from: vec![FromNode::Ref(target)],
            parent: level.parent,
        };
        if let Some(infer) = &conflict.infer {
            self.mark_ref(NodeRef::InferClause(infer));
            self.walk_all(&infer.index_elems, &target_level, ctes);
            self.walk_opt(infer.where_clause.as_deref(), &target_level, ctes);
        }
        if conflict.action != OnConflictAction::OnconflictUpdate as i32 {
            return;
        }
        let table = match &self.arena[target].kind {
            RefKind::Tenant { table, .. } => table.clone(),
            _ => String::new(),
        };
        // EXCLUDED is the proposed row: its tenant column holds the inserted tenant.
        let excluded = self.new_ref(RangeRef {
            name: RefName::Known("excluded".into()),
            schema: None,
            alias: None,
            relation: false,
            kind: RefKind::Derived(Output::Named(
                tenant_column
                    .map(|tc| OutputColumn {
                        name: Some(tc.to_string()),
                        value: inserted,
                    })
                    .into_iter()
                    .collect(),
            )),
            location: at,
            bound: None,
            names_a_cte: false,
        });
        let update_level = Level {
            from: vec![FromNode::Ref(target), FromNode::Ref(excluded)],
            parent: level.parent,
        };
        if let Some(tc) = tenant_column {
            let infers_tenant = conflict.infer.as_ref().is_some_and(|infer| {
                infer.index_elems.iter().any(|e| match node(e) {
                    Some(NodeEnum::IndexElem(ie)) => ie.name == tc,
                    _ => false,
                })
            });
            // Without the tenant column in the conflict target, the DO UPDATE
            // WHERE clause must pin the existing row to the tenant itself.
            let where_binds = conflict.where_clause.as_deref().is_some_and(|w| {
                let edges = self.edges(w, &update_level, None);
                let mut classes = Classes::default();
                for (a, b, _) in &edges {
                    classes.union(a, b);
                }
                classes
                    .values_of(&Term::Column(target, tc.to_string()))
                    .iter()
                    .any(|v| v.binds)
            });
            if !infers_tenant && !where_binds {
                self.report(Found {
                    rule: Rule::UpsertConflictTarget,
                    table: Some(table.clone()),
                    alias: self.arena[target].alias.clone(),
                    message: format!(
                        "ON CONFLICT DO UPDATE on `{table}` may update another tenant's row: the conflict target does not include `{tc}`"
                    ),
                    fix: format!(
                        "name a unique index that includes the tenant column, e.g. `ON CONFLICT ({tc}, id)`"
                    ),
                    offset: at,
                });
            }
            let bound_to = self.arena[target].bound.clone();
            self.check_assignments(
                &conflict.target_list,
                tc,
                &table,
                "ON CONFLICT DO UPDATE",
                bound_to.as_ref(),
                &update_level,
            );
        }
        self.walk_all(&conflict.target_list, &update_level, ctes);
        self.walk_opt(conflict.where_clause.as_deref(), &update_level, ctes);
    }

    /// SET lists may assign the tenant column only `$tenant` (in lenient
    /// mode: only the value the statement is bound to), or a column that
    /// certainly holds it (`EXCLUDED.tenant_id` when every inserted row
    /// carries `$tenant`, a bound source's tenant column).
    fn check_assignments(
        &mut self,
        targets: &[protobuf::Node],
        tc: &str,
        table: &str,
        what: &str,
        bound_to: Option<&Value>,
        level: &Level<'_>,
    ) {
        for t in targets {
            let Some(NodeEnum::ResTarget(res)) = node(t) else {
                continue;
            };
            if res.name != tc {
                continue;
            }
            let binds = res
                .val
                .as_deref()
                .and_then(node)
                .map(|v| self.term(v, level))
                .and_then(|term| self.value_of_term(&term))
                .is_some_and(|v| v.binds && bound_to.is_none_or(|b| *b == v));
            if !binds || !res.indirection.is_empty() {
                self.report(Found {
                    rule: Rule::TenantColumnAssignment,
                    table: Some(table.to_string()),
                    alias: None,
                    message: format!(
                        "{what} sets the tenant column `{table}.{tc}` to something other than the tenant"
                    ),
                    fix: format!("remove `{tc}` from the SET list (or set it to `$tenant`)"),
                    offset: loc(res.location, self.statement_offset),
                });
            }
        }
    }

    // ----- UPDATE / DELETE ------------------------------------------------

    /// The shared shape of UPDATE and DELETE: a target, more FROM items
    /// (UPDATE .. FROM, DELETE .. USING), a WHERE, RETURNING.
    #[allow(clippy::too_many_arguments)]
    fn modify(
        &mut self,
        relation: &protobuf::RangeVar,
        extra_from: &[protobuf::Node],
        where_clause: Option<&protobuf::Node>,
        set_list: &[protobuf::Node],
        returning: Option<&protobuf::ReturningClause>,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let target = self.target_ref(relation, ctes);
        // Rule `visible-from-items`: FROM/USING items do not see the target
        // (PostgreSQL makes it lateral-only and not lateral-ok meanwhile).
        let mut pending = Pending::default();
        let mut from = vec![FromNode::Ref(target)];
        from.extend(self.items_of_from(extra_from, parent, ctes, &mut pending));
        let level = Level { from, parent };
        let mut edges = self.join_edges(&level, &pending);
        if let Some(w) = where_clause {
            edges.extend(self.edges(w, &level, None));
        }
        self.settle(&level, &edges, ctes, pending.lateral, pending.exprs);
        self.report_unbound(&level, &edges);
        if let RefKind::Tenant { table, column } = &self.arena[target].kind {
            let (table, column) = (table.clone(), column.clone());
            let bound_to = self.arena[target].bound.clone();
            self.check_assignments(
                set_list,
                &column,
                &table,
                "UPDATE",
                bound_to.as_ref(),
                &level,
            );
        }
        self.walk_quals(&pending.quals, &level, ctes);
        self.walk_all(set_list, &level, ctes);
        self.walk_opt(where_clause, &level, ctes);
        match returning {
            Some(r) => self.returning(r, &level, ctes),
            None => Output::Positional(Vec::new()),
        }
    }

    /// RETURNING: sees what the statement's WHERE sees, and (PostgreSQL 18)
    /// `old` and `new` or their aliases, rows the analyzer knows nothing of.
    fn returning(
        &mut self,
        r: &protobuf::ReturningClause,
        level: &Level<'_>,
        ctes: &CteScope<'_>,
    ) -> Output {
        self.mark_ref(NodeRef::ReturningClause(r));
        let mut row_names = vec!["old".to_string(), "new".to_string()];
        for option in &r.options {
            self.mark(option);
            if let Some(NodeEnum::ReturningOption(o)) = node(option) {
                row_names.push(o.value.clone());
            }
        }
        let mut from = level.from.clone();
        for name in row_names {
            let id = self.new_ref(RangeRef {
                name: RefName::Known(name),
                schema: None,
                alias: None,
                relation: false,
                kind: RefKind::Derived(Output::Unknown),
                location: self.statement_offset,
                bound: None,
                names_a_cte: false,
            });
            from.push(FromNode::Ref(id));
        }
        let seen = Level {
            from,
            parent: level.parent,
        };
        self.walk_all(&r.exprs, &seen, ctes);
        self.target_output(&r.exprs, &seen)
    }

    fn update(
        &mut self,
        s: &protobuf::UpdateStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let ctes = self.with_clause(s.with_clause.as_ref(), parent, ctes);
        let Some(relation) = &s.relation else {
            return Output::Unknown;
        };
        self.modify(
            relation,
            &s.from_clause,
            s.where_clause.as_deref(),
            &s.target_list,
            s.returning_clause.as_ref(),
            parent,
            &ctes,
        )
    }

    fn delete(
        &mut self,
        s: &protobuf::DeleteStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let ctes = self.with_clause(s.with_clause.as_ref(), parent, ctes);
        let Some(relation) = &s.relation else {
            return Output::Unknown;
        };
        if self.config.forbid_delete {
            self.report_delete_forbidden(loc(relation.location, self.statement_offset));
        }
        self.modify(
            relation,
            &s.using_clause,
            s.where_clause.as_deref(),
            &[],
            s.returning_clause.as_ref(),
            parent,
            &ctes,
        )
    }

    fn report_delete_forbidden(&mut self, offset: usize) {
        self.report_plain(
            Rule::DeleteForbidden,
            offset,
            "DELETE is forbidden by `forbid_delete = true` in tenancy.toml".into(),
            "soft-delete instead: UPDATE the row and set its deleted marker",
        );
    }

    // ----- MERGE --------------------------------------------------------

    /// MERGE: every WHEN clause must touch only the tenant's rows. A MATCHED
    /// clause sees rows that satisfy the join condition and its own
    /// condition; NOT MATCHED BY SOURCE sees target rows no source row
    /// matched (only its condition restricts them); NOT MATCHED [BY TARGET]
    /// sees source rows no target row matched (likewise).
    fn merge(
        &mut self,
        s: &protobuf::MergeStmt,
        parent: Option<&Level<'_>>,
        ctes: &CteScope<'_>,
    ) -> Output {
        let ctes = self.with_clause(s.with_clause.as_ref(), parent, ctes);
        let Some(relation) = &s.relation else {
            return Output::Unknown;
        };
        let target = self.target_ref(relation, &ctes);
        // Rule `visible-from-items`: the source does not see the target.
        let mut pending = Pending::default();
        let source = s
            .source_relation
            .as_deref()
            .and_then(|src| self.range_item(src, parent, &ctes, &mut pending, &[]));
        let mut from = vec![FromNode::Ref(target)];
        let mut source_refs = Vec::new();
        if let Some(src) = &source {
            src.refs(&mut source_refs);
            from.push(src.clone());
        }
        let level = Level { from, parent };
        let base = self.join_edges(&level, &pending);
        let join_condition: Vec<Edge> = s
            .join_condition
            .as_deref()
            .map(|c| self.edges(c, &level, None))
            .unwrap_or_default();
        self.settle(&level, &base, &ctes, pending.lateral, pending.exprs);

        let target_column = match &self.arena[target].kind {
            RefKind::Tenant { table, column } => Some((table.clone(), column.clone())),
            _ => None,
        };
        let mut unbound: Vec<RefId> = Vec::new();
        self.merge_matching(
            s,
            &level,
            &base,
            &join_condition,
            target,
            &source_refs,
            &mut unbound,
        );
        for clause_node in &s.merge_when_clauses {
            self.mark(clause_node);
            let Some(NodeEnum::MergeWhenClause(clause)) = node(clause_node) else {
                continue;
            };
            let kind = MergeMatchKind::try_from(clause.match_kind)
                .unwrap_or(MergeMatchKind::MergeWhenMatched);
            // Rule `visible-from-items` (`setNamespaceForMergeWhen`): WHEN
            // MATCHED sees target and source, WHEN NOT MATCHED the source
            // only, WHEN NOT MATCHED BY SOURCE the target only.
            let seen = Level {
                from: match kind {
                    MergeMatchKind::MergeWhenNotMatchedByTarget => source.iter().cloned().collect(),
                    MergeMatchKind::MergeWhenNotMatchedBySource => vec![FromNode::Ref(target)],
                    _ => level.from.clone(),
                },
                parent,
            };
            let mut edges = base.clone();
            if kind == MergeMatchKind::MergeWhenMatched {
                edges.extend(join_condition.iter().cloned());
            }
            if let Some(cond) = clause.condition.as_deref() {
                edges.extend(self.edges(cond, &seen, None));
            }
            let touches_target = kind != MergeMatchKind::MergeWhenNotMatchedByTarget;
            let touches_source = kind != MergeMatchKind::MergeWhenNotMatchedBySource;
            let mut checked: Vec<RefId> = Vec::new();
            if touches_target {
                checked.push(target);
            }
            if touches_source {
                checked.extend(source_refs.iter().copied());
            }
            let saved: Vec<Option<Value>> = self.arena.iter().map(|r| r.bound.clone()).collect();
            self.bind(&level, &edges);
            for &id in &checked {
                if self.arena[id].is_tenant()
                    && self.arena[id].bound.is_none()
                    && !unbound.contains(&id)
                {
                    unbound.push(id);
                    let (table, column) = match &self.arena[id].kind {
                        RefKind::Tenant { table, column } => (table.clone(), column.clone()),
                        _ => continue,
                    };
                    let mut found = self.unbound_finding(&level, &edges, id, &table, &column);
                    if kind == MergeMatchKind::MergeWhenNotMatchedBySource {
                        found.fix.push_str(
                            " in the WHEN NOT MATCHED BY SOURCE condition: the join condition does not restrict target rows no source row matched",
                        );
                    } else if kind == MergeMatchKind::MergeWhenNotMatchedByTarget {
                        found.fix.push_str(
                            " inside the source (a subquery) or in the WHEN NOT MATCHED condition: the join condition does not restrict unmatched source rows",
                        );
                    }
                    self.report(found);
                }
            }
            let command = CmdType::try_from(clause.command_type).unwrap_or(CmdType::CmdNothing);
            match command {
                CmdType::CmdUpdate => {
                    if let Some((table, column)) = &target_column {
                        let (table, column) = (table.clone(), column.clone());
                        let bound_to = self.arena[target].bound.clone();
                        self.check_assignments(
                            &clause.target_list,
                            &column,
                            &table,
                            "MERGE UPDATE",
                            bound_to.as_ref(),
                            &seen,
                        );
                    }
                }
                CmdType::CmdInsert => {
                    if let Some((table, column)) = &target_column {
                        let (table, column) = (table.clone(), column.clone());
                        self.merge_insert(clause, &table, &column, &seen);
                    }
                }
                CmdType::CmdDelete if self.config.forbid_delete => {
                    self.report_delete_forbidden(self.arena[target].location);
                }
                _ => {}
            }
            self.walk_opt(clause.condition.as_deref(), &seen, &ctes);
            self.walk_all(&clause.target_list, &seen, &ctes);
            self.walk_all(&clause.values, &seen, &ctes);
            for (r, b) in self.arena.iter_mut().zip(saved) {
                r.bound = b;
            }
        }
        self.walk_quals(&pending.quals, &level, &ctes);
        self.walk_opt(s.join_condition.as_deref(), &level, &ctes);
        match &s.returning_clause {
            Some(r) => self.returning(r, &level, &ctes),
            None => Output::Positional(Vec::new()),
        }
    }

    /// Whether a row is NOT MATCHED is decided by the join condition over
    /// every row of the other side: `WHEN NOT MATCHED` inserts a source row
    /// only if no target row matches it, `WHEN NOT MATCHED BY SOURCE` acts
    /// on a target row only if no source row matches it. The side that
    /// decides must be bound by the join condition itself, or another
    /// tenant's matching row decides (found by the noninterference oracle:
    /// `ON t.name = s.name WHEN MATCHED AND t.tenant_id = $tenant THEN
    /// UPDATE .. WHEN NOT MATCHED THEN INSERT ..` inserted or not depending
    /// on other tenants' names).
    #[allow(clippy::too_many_arguments)]
    fn merge_matching(
        &mut self,
        s: &protobuf::MergeStmt,
        level: &Level<'_>,
        base: &[Edge],
        join_condition: &[Edge],
        target: RefId,
        source_refs: &[RefId],
        unbound: &mut Vec<RefId>,
    ) {
        let kinds: Vec<MergeMatchKind> = s
            .merge_when_clauses
            .iter()
            .filter_map(|clause| match node(clause) {
                Some(NodeEnum::MergeWhenClause(clause)) => {
                    MergeMatchKind::try_from(clause.match_kind).ok()
                }
                _ => None,
            })
            .collect();
        let mut deciders: Vec<(RefId, &str)> = Vec::new();
        if kinds.contains(&MergeMatchKind::MergeWhenNotMatchedByTarget) {
            deciders.push((
                target,
                " in the join condition: WHEN NOT MATCHED inserts a source row only if no target row matches it, so another tenant's matching rows would decide",
            ));
        }
        if kinds.contains(&MergeMatchKind::MergeWhenNotMatchedBySource) {
            for &id in source_refs {
                deciders.push((
                    id,
                    " in the join condition: WHEN NOT MATCHED BY SOURCE acts on a target row only if no source row matches it, so another tenant's matching rows would decide",
                ));
            }
        }
        if deciders.is_empty() {
            return;
        }
        let saved: Vec<Option<Value>> = self.arena.iter().map(|r| r.bound.clone()).collect();
        let mut edges = base.to_vec();
        edges.extend(join_condition.iter().cloned());
        self.bind(level, &edges);
        for (id, why) in deciders {
            if self.arena[id].bound.is_some() || unbound.contains(&id) {
                continue;
            }
            // Not a tenant table: nothing to bind.
            let RefKind::Tenant { table, column } = &self.arena[id].kind else {
                continue;
            };
            let (table, column) = (table.clone(), column.clone());
            unbound.push(id);
            let mut found = self.unbound_finding(level, &edges, id, &table, &column);
            found.fix.push_str(why);
            self.report(found);
        }
        for (r, b) in self.arena.iter_mut().zip(saved) {
            r.bound = b;
        }
    }

    /// `WHEN NOT MATCHED THEN INSERT (cols) VALUES (..)`: the tenant column
    /// must be listed and get `$tenant` or a bound source tenant column.
    fn merge_insert(
        &mut self,
        clause: &protobuf::MergeWhenClause,
        table: &str,
        column: &str,
        level: &Level<'_>,
    ) {
        let position = clause
            .target_list
            .iter()
            .position(|t| matches!(node(t), Some(NodeEnum::ResTarget(r)) if r.name == column));
        let at = self.statement_offset;
        let Some(i) = position else {
            self.report(Found {
                rule: Rule::InsertMissingTenantColumn,
                table: Some(table.to_string()),
                alias: None,
                message: format!(
                    "MERGE INSERT into `{table}` does not set its tenant column `{column}`"
                ),
                fix: format!("list `{column}` in the INSERT column list and insert `$tenant`"),
                offset: at,
            });
            return;
        };
        let value = clause.values.get(i).and_then(node).and_then(|v| {
            let term = self.term(v, level);
            self.value_of_term(&term)
        });
        let offset = clause
            .values
            .get(i)
            .and_then(node)
            .map_or(at, |n| node_location(n, at));
        match value {
            // Lenient mode: the inserted value is one more binding, which
            // must agree with the others (`conflicting-tenants`).
            Some(v) if v.binds => self.bound_values.push((v, offset)),
            _ => self.report(Found {
                rule: Rule::InsertTenantValue,
                table: Some(table.to_string()),
                alias: None,
                message: format!(
                    "MERGE INSERT puts something other than the tenant into `{table}.{column}`"
                ),
                fix: format!("insert `$tenant` into `{column}`"),
                offset,
            }),
        }
    }
}

/// Rule `unaliased-names`: an unaliased function in FROM is named after its
/// (first) function (`FigureColname`), when that is a plain call.
fn function_item_name(f: &protobuf::RangeFunction) -> RefName {
    let first = f
        .functions
        .first()
        .and_then(node)
        .and_then(|item| match item {
            NodeEnum::List(list) => list.items.first().and_then(node),
            other => Some(other),
        });
    match first {
        Some(NodeEnum::FuncCall(call)) => call
            .funcname
            .last()
            .and_then(string_value)
            .map_or(RefName::Unknown, |name| RefName::Known(name.to_string())),
        _ => RefName::Unknown,
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

/// The location of an expression node, when it has one.
fn node_location(n: &NodeEnum, fallback: usize) -> usize {
    let raw = match n {
        NodeEnum::ColumnRef(c) => c.location,
        NodeEnum::ParamRef(p) => p.location,
        NodeEnum::AConst(c) => c.location,
        NodeEnum::TypeCast(t) => t.location,
        NodeEnum::FuncCall(f) => f.location,
        NodeEnum::AExpr(a) => a.location,
        NodeEnum::SubLink(s) => s.location,
        NodeEnum::SetToDefault(d) => d.location,
        NodeEnum::SelectStmt(s) => {
            return s
                .target_list
                .first()
                .and_then(node)
                .map_or(fallback, |t| match t {
                    NodeEnum::ResTarget(r) => loc(r.location, fallback),
                    _ => fallback,
                })
        }
        _ => -1,
    };
    loc(raw, fallback)
}

/// The end of a (possibly qualified, possibly quoted) relation name that
/// starts at `start` in `sql`.
pub(crate) fn name_end(sql: &str, start: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut i = start.min(bytes.len());
    loop {
        if bytes.get(i) == Some(&b'"') {
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
        } else {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
        } else {
            break;
        }
    }
    while !sql.is_char_boundary(i) {
        i -= 1;
    }
    i.max(start.min(sql.len()))
}

/// A readable kind for a statement the analyzer refuses.
pub(crate) fn statement_kind(stmt: &NodeEnum) -> String {
    let known = match stmt {
        NodeEnum::CreateStmt(_) => "CREATE TABLE",
        NodeEnum::CreateTableAsStmt(_) => "CREATE TABLE AS",
        NodeEnum::DropStmt(_) => "DROP",
        NodeEnum::AlterTableStmt(_) => "ALTER TABLE",
        NodeEnum::TruncateStmt(_) => "TRUNCATE",
        NodeEnum::CopyStmt(_) => "COPY",
        NodeEnum::VariableSetStmt(_) => "SET",
        NodeEnum::VariableShowStmt(_) => "SHOW",
        NodeEnum::DoStmt(_) => "DO",
        NodeEnum::CallStmt(_) => "CALL",
        NodeEnum::PrepareStmt(_) => "PREPARE",
        NodeEnum::ExecuteStmt(_) => "EXECUTE",
        NodeEnum::DeallocateStmt(_) => "DEALLOCATE",
        NodeEnum::DeclareCursorStmt(_) => "DECLARE CURSOR",
        NodeEnum::LockStmt(_) => "LOCK",
        NodeEnum::GrantStmt(_) => "GRANT",
        NodeEnum::VacuumStmt(_) => "VACUUM",
        NodeEnum::TransactionStmt(_) => "transaction control",
        NodeEnum::IndexStmt(_) => "CREATE INDEX",
        NodeEnum::ViewStmt(_) => "CREATE VIEW",
        NodeEnum::CreateFunctionStmt(_) => "CREATE FUNCTION",
        NodeEnum::RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        NodeEnum::ListenStmt(_) => "LISTEN",
        NodeEnum::NotifyStmt(_) => "NOTIFY",
        NodeEnum::ExplainStmt(_) => "EXPLAIN",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    // The variant name, e.g. `AlterRoleStmt` -> `AlterRole`.
    let debug = format!("{stmt:?}");
    let name = debug.split('(').next().unwrap_or("statement");
    name.trim_end_matches("Stmt").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_end_covers_qualified_and_quoted_names() {
        let sql = r#"SELECT 1 FROM public."My ""T""".x AS y"#;
        let start = sql.find("public").unwrap();
        assert_eq!(&sql[start..name_end(sql, start)], r#"public."My ""T""".x"#);
        assert_eq!(name_end("ab", 5), 2);
        assert_eq!(&"FROM forms f"[5..name_end("FROM forms f", 5)], "forms");
    }
}
