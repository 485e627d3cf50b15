//! MERGE: every WHEN clause touches only the tenant's rows, and the side
//! that decides NOT MATCHED is bound in the join condition.

use pg_query::protobuf::{self, node::Node as NodeEnum, CmdType, MergeMatchKind};

use super::positions::{node, node_location};
use super::{Edge, Found, Pending, StatementChecker};
use crate::analyzer::binding::Value;
use crate::analyzer::scopes::{CteScope, FromNode, Level, Output, RefId, RefKind};
use crate::report::Rule;

impl<'a> StatementChecker<'a> {
    /// MERGE: every WHEN clause must touch only the tenant's rows. A MATCHED
    /// clause sees rows that satisfy the join condition and its own
    /// condition; NOT MATCHED BY SOURCE sees target rows no source row
    /// matched (only its condition restricts them); NOT MATCHED [BY TARGET]
    /// sees source rows no target row matched (likewise).
    pub(super) fn merge(
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
    pub(super) fn merge_matching(
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
    pub(super) fn merge_insert(
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
