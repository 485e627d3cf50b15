//! Binding at one query level: names as terms, the equalities that filter
//! each reference, their equivalence classes, and the findings for the
//! references left unbound.

use pg_query::protobuf::{self, node::Node as NodeEnum};
use pg_query::NodeRef;

use super::positions::node;
use super::{Edge, Found, Pending, StatementChecker};
use crate::analyzer::binding::{conjuncts, equations, string_value, Classes, Term};
use crate::analyzer::scopes::{CteScope, FromNode, Level, RefId, RefKind};
use crate::report::Rule;

impl<'a> StatementChecker<'a> {
    /// A column reference, parameter or literal as a term.
    pub(super) fn term(&self, n: &NodeEnum, level: &Level<'_>) -> Term {
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
    pub(super) fn edges(
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
    pub(super) fn join_edges(&self, level: &Level<'_>, pending: &Pending<'_>) -> Vec<Edge> {
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
    pub(super) fn classes(
        &self,
        edges: &[Edge],
        keep: impl Fn(&Option<Vec<RefId>>) -> bool,
    ) -> Classes {
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
    pub(super) fn bind(&mut self, level: &Level<'_>, edges: &[Edge]) {
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
    pub(super) fn settle<'n>(
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

    pub(super) fn report_unbound(&mut self, level: &Level<'_>, edges: &[Edge]) {
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
    pub(super) fn unbound_finding(
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
    pub(super) fn case_hint(&self, table: &str, column: &str) -> Option<String> {
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
}
