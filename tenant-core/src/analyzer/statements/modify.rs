//! UPDATE and DELETE (a target, more FROM items, a WHERE, RETURNING).

use pg_query::protobuf::{self, node::Node as NodeEnum};
use pg_query::NodeRef;

use super::positions::{loc, node};
use super::{Pending, StatementChecker};
use crate::analyzer::scopes::{CteScope, FromNode, Level, Output, RangeRef, RefKind, RefName};
use crate::report::Rule;

impl<'a> StatementChecker<'a> {
    /// The shared shape of UPDATE and DELETE: a target, more FROM items
    /// (UPDATE .. FROM, DELETE .. USING), a WHERE, RETURNING.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn modify(
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
    pub(super) fn returning(
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

    pub(super) fn update(
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

    pub(super) fn delete(
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

    pub(super) fn report_delete_forbidden(&mut self, offset: usize) {
        self.report_plain(
            Rule::DeleteForbidden,
            offset,
            "DELETE is forbidden by `forbid_delete = true` in tenancy.toml".into(),
            "soft-delete instead: UPDATE the row and set its deleted marker",
        );
    }
}
