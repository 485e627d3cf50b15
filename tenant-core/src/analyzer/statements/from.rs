//! FROM items: tables (and DML targets, never CTEs), CTE references,
//! subqueries, functions and table functions with the names PostgreSQL
//! gives them, joins, and what each item may see laterally.

use pg_query::protobuf::{self, node::Node as NodeEnum, JoinType};
use pg_query::NodeRef;

use super::positions::{loc, name_end, names, node};
use super::{Found, Pending, StatementChecker};
use crate::analyzer::binding::string_value;
use crate::analyzer::scopes::{
    dedup, CteScope, FromNode, Join, JoinKind, Level, Output, RangeRef, RefId, RefKind, RefName,
};
use crate::analyzer::session_settings;
use crate::config::TableKind;
use crate::report::{Rule, TableSite};

impl<'a> StatementChecker<'a> {
    pub(super) fn new_ref(&mut self, r: RangeRef) -> RefId {
        self.arena.push(r);
        self.arena.len() - 1
    }

    /// A relation named in FROM or as a MERGE source: a CTE when a WITH in
    /// view names it and the name has no schema (rule `cte-names`), else a
    /// table.
    pub(super) fn range_var(&mut self, rv: &protobuf::RangeVar, ctes: &CteScope<'_>) -> RefId {
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
    pub(super) fn table_ref(&mut self, rv: &protobuf::RangeVar) -> RefId {
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
    pub(super) fn target_ref(&mut self, rv: &protobuf::RangeVar, ctes: &CteScope<'_>) -> RefId {
        self.mark_ref(NodeRef::RangeVar(rv));
        let schema = (!rv.schemaname.is_empty()).then_some(rv.schemaname.as_str());
        if let Some(refusal) = session_settings::settings_write(schema, &rv.relname) {
            self.refuse(refusal, loc(rv.location, self.statement_offset));
        }
        let id = self.table_ref(rv);
        self.arena[id].names_a_cte = rv.schemaname.is_empty() && ctes.lookup(&rv.relname).is_some();
        id
    }

    /// A subquery, VALUES list, function or table function in FROM, named
    /// by its alias or, without one, as PostgreSQL names it (rule
    /// `unaliased-names`).
    pub(super) fn derived_ref(
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
    pub(super) fn items_of_from<'n>(
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
    pub(super) fn range_item<'n>(
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
    pub(super) fn natural_columns(&self, left: &FromNode, right: &FromNode) -> Vec<String> {
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
}

/// Rule `unaliased-names`: an unaliased function in FROM is named after its
/// (first) function (`FigureColname`), when that is a plain call.
pub(super) fn function_item_name(f: &protobuf::RangeFunction) -> RefName {
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
