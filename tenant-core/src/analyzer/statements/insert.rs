//! INSERT: what goes into the tenant column, and ON CONFLICT.

use pg_query::protobuf::{self, node::Node as NodeEnum, OnConflictAction};
use pg_query::NodeRef;

use super::positions::{loc, node, node_location};
use super::{Found, StatementChecker};
use crate::analyzer::binding::{Classes, Term, Value};
use crate::analyzer::scopes::{
    CteScope, FromNode, Level, Output, OutputColumn, RangeRef, RefId, RefKind, RefName,
};
use crate::report::Rule;

impl<'a> StatementChecker<'a> {
    pub(super) fn insert(
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

    pub(super) fn on_conflict(
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
    pub(super) fn check_assignments(
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
}
