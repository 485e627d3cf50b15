//! Scopes: the range references of each query level, their join trees, the
//! CTE names in view, and how column names resolve.
//!
//! Name resolution follows PostgreSQL's parse analysis (`parse_relation.c`,
//! `parse_clause.c`, `parse_cte.c`) rule by rule, because a name the
//! analyzer resolves to one FROM item while PostgreSQL resolves it to
//! another is a false accept: a predicate "bound to `$tenant`" that in fact
//! compares with another item's column. Each rule below is named as in the
//! tests that pin it (`tests::rule_*` in this file); where PostgreSQL's rule
//! could go either way for the analyzer (a name it cannot compute, a schema
//! it does not know), the name resolves to nothing ([`Term::Opaque`]),
//! which can only make the analyzer refuse more, never accept more.
//!
//! - **`unaliased-names`**: a FROM item is referenced by its alias; without
//!   one, a table by its relation name, a CTE reference by the CTE's name, a
//!   function by the name of its (first) function (`FigureColname`), XMLTABLE
//!   as `xmltable`, JSON_TABLE as `json_table`
//!   (`addRangeTableEntryFor{Relation,CTE,Function,TableFunc}`). An
//!   unaliased subquery or VALUES list cannot be referenced (PostgreSQL 16+;
//!   15 refuses it), and an unaliased join has no name. A name the analyzer
//!   cannot compute is [`RefName::Unknown`]: any qualified name may match it.
//! - **`qualified-columns`**: `q.c` is column `c` of the FROM item named `q`
//!   in the innermost query level that has one (`refnameNamespaceItem`);
//!   several at that level are an error in PostgreSQL. An aliased join
//!   `(a JOIN b) AS j` hides `a` and `b`; `JOIN .. USING (..) AS u` names the
//!   merged columns `u.c`.
//! - **`schema-qualified-columns`**: `s.t.c` matches only a table written
//!   without alias whose relation is `s.t` (`scanNameSpaceForRelid`): never a
//!   CTE, subquery, function or aliased table. A table written without a
//!   schema matches only if the search path finds it in `s`, which the
//!   analyzer does not know, so such a match resolves to nothing.
//! - **`unqualified-columns`**: `c` is the one FROM item of the innermost
//!   level that has a column `c` (`colNameToVar`); a level whose items might
//!   have it (tables, whose other columns the analyzer does not know) but
//!   none certainly does resolves to nothing.
//! - **`join-merged-columns`**: `USING (c)` and NATURAL joins merge `c`:
//!   unqualified, it is the left input's column for inner and left joins,
//!   the right's for right joins, and `COALESCE` of both for full joins
//!   (`buildMergedJoinVar`). A NATURAL join merges every common column; the
//!   analyzer knows the common columns only when both inputs certainly have
//!   them, so an unqualified name one input certainly has and the other
//!   might have resolves to nothing.
//! - **`visible-from-items`** (which FROM items each clause sees) is
//!   applied where the clauses are walked, in `statements`: WHERE, the
//!   target list, GROUP BY, HAVING, WINDOW, ORDER BY and LIMIT see every
//!   FROM item of their level; a JOIN's ON clause sees only that join's two
//!   inputs (`transformJoinOnClause`); a LATERAL subquery, a function in
//!   FROM and XMLTABLE/JSON_TABLE see only the FROM items before them and
//!   the left inputs of the joins they are the right input of
//!   (`transformFromClauseItem` marks them `p_lateral_only`); a non-LATERAL
//!   subquery in FROM and TABLESAMPLE arguments see none of their level.
//! - **`cte-names`**: an unqualified table name in FROM is a CTE when a
//!   WITH in view names it, innermost first (`scanNameSpaceForCTE`); a CTE
//!   sees the CTEs before it, or with RECURSIVE all of its WITH list; a
//!   schema-qualified name and the target of INSERT, UPDATE, DELETE and
//!   MERGE are never a CTE (`setTargetTable` opens the relation directly).
//! - **`column-aliases`**: `t AS a(x, y)` renames the item's columns by
//!   position; for a table the analyzer does not know the column order, so
//!   a tenant table with column aliases is refused.

use std::collections::HashSet;

use super::binding::{Term, Value};

/// Index of a range reference in the analysis arena.
pub(crate) type RefId = usize;

/// One output column of a derived table, CTE, VALUES list or statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputColumn {
    /// Its name, when the analyzer knows it (`None`: any name is possible).
    pub name: Option<String>,
    /// The tenant value every row carries in this column (or NULL), if known.
    pub value: Option<Value>,
}

/// What is known about the columns a query level produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Every column, in order.
    Positional(Vec<OutputColumn>),
    /// Some columns by name; order and completeness unknown (`SELECT *`).
    Named(Vec<OutputColumn>),
    /// Nothing is known.
    Unknown,
}

impl Output {
    pub fn columns(&self) -> &[OutputColumn] {
        match self {
            Output::Positional(c) | Output::Named(c) => c,
            Output::Unknown => &[],
        }
    }

    /// The column called `name`, when exactly one has that name.
    pub fn column(&self, name: &str) -> Option<&OutputColumn> {
        let mut found = self
            .columns()
            .iter()
            .filter(|c| c.name.as_deref() == Some(name));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// False only when every column is known and none is called `name`.
    pub fn might_have(&self, name: &str) -> bool {
        match self {
            Output::Positional(cols) => cols
                .iter()
                .any(|c| c.name.as_deref().is_none_or(|n| n == name)),
            Output::Named(_) | Output::Unknown => true,
        }
    }

    /// Renames columns positionally, as `AS alias(a, b, ..)` does.
    pub fn renamed(self, names: &[String]) -> Output {
        if names.is_empty() {
            return self;
        }
        match self {
            Output::Positional(mut cols) => {
                for (col, name) in cols.iter_mut().zip(names) {
                    col.name = Some(name.clone());
                }
                Output::Positional(cols)
            }
            // Positions are unknown: the new names cannot be matched up.
            Output::Named(_) | Output::Unknown => Output::Unknown,
        }
    }

    /// Every column with no tenant value: what is known of the columns'
    /// names without any assumption about their contents.
    pub fn without_values(&self) -> Output {
        match self {
            Output::Positional(cols) => Output::Positional(
                cols.iter()
                    .map(|c| OutputColumn {
                        name: c.name.clone(),
                        value: None,
                    })
                    .collect(),
            ),
            Output::Named(_) | Output::Unknown => Output::Unknown,
        }
    }

    /// Combines the branches of a set operation: a column carries a tenant
    /// value only when every branch puts the same value there.
    pub fn combine(left: Output, right: &Output) -> Output {
        match (left, right) {
            (Output::Positional(l), Output::Positional(r)) if l.len() == r.len() => {
                Output::Positional(
                    l.into_iter()
                        .zip(r)
                        .map(|(a, b)| OutputColumn {
                            value: (a.value == b.value).then_some(a.value).flatten(),
                            name: a.name,
                        })
                        .collect(),
                )
            }
            _ => Output::Unknown,
        }
    }
}

/// What a range reference refers to.
#[derive(Debug, Clone)]
pub(crate) enum RefKind {
    /// A tenant table: must be bound.
    Tenant {
        /// Folded table name.
        table: String,
        /// Its tenant column.
        column: String,
    },
    /// A global table: no restriction, no known columns.
    Global,
    /// A subquery, CTE, VALUES list or function: its rows were checked where
    /// they were produced; its columns may carry the tenant.
    Derived(Output),
}

/// The name PostgreSQL gives a FROM item (rule `unaliased-names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefName {
    /// Referenced by this name.
    Known(String),
    /// A name the analyzer cannot compute: any qualifier may match it.
    Unknown,
}

/// One entry of a FROM list (or an UPDATE/DELETE/INSERT/MERGE target).
#[derive(Debug, Clone)]
pub(crate) struct RangeRef {
    /// The name it is referenced by.
    pub name: RefName,
    /// For a table written without alias: the schema written, if any.
    pub schema: Option<String>,
    /// The alias, when written.
    pub alias: Option<String>,
    /// True for a table (tenant or global); false for CTEs, subqueries,
    /// functions: only tables match `schema.table.column`.
    pub relation: bool,
    pub kind: RefKind,
    /// Byte offset in the rewritten SQL.
    pub location: usize,
    /// For tenant tables: the tenant value the reference is bound to.
    pub bound: Option<Value>,
    /// A DML target named like a CTE in view (which it is not): worth
    /// saying in a message.
    pub names_a_cte: bool,
}

impl RangeRef {
    /// True when the reference certainly has a column called `column`.
    pub fn certainly_has(&self, column: &str) -> bool {
        match &self.kind {
            RefKind::Tenant { column: tc, .. } => tc == column,
            RefKind::Global => false,
            RefKind::Derived(output) => output.column(column).is_some(),
        }
    }

    /// False only when the reference certainly has no column `column`.
    pub fn might_have(&self, column: &str) -> bool {
        match &self.kind {
            RefKind::Tenant { .. } | RefKind::Global => true,
            RefKind::Derived(output) => output.might_have(column),
        }
    }

    /// The tenant value every row of this reference carries in `column`
    /// (or NULL, when null-extended), if known.
    pub fn value_of(&self, column: &str) -> Option<Value> {
        match &self.kind {
            RefKind::Tenant { column: tc, .. } if tc == column => self.bound.clone(),
            RefKind::Tenant { .. } | RefKind::Global => None,
            RefKind::Derived(output) => output.column(column).and_then(|c| c.value.clone()),
        }
    }

    pub fn is_tenant(&self) -> bool {
        matches!(self.kind, RefKind::Tenant { .. })
    }

    /// The name to qualify its columns with in messages.
    pub fn qualifier(&self) -> String {
        match &self.name {
            RefName::Known(name) => name.clone(),
            RefName::Unknown => String::new(),
        }
    }

    /// Rule `schema-qualified-columns`: whether `schema.name` denotes this
    /// reference: `Some(true)` certainly, `Some(false)` only if the search
    /// path puts the table in `schema` (unknown here), `None` not at all.
    fn matches_relation(&self, schema: &str, name: &str) -> Option<bool> {
        if !self.relation || self.alias.is_some() || self.name != RefName::Known(name.into()) {
            return None;
        }
        match &self.schema {
            Some(written) => (written == schema).then_some(true),
            None => Some(false),
        }
    }
}

/// How a join combines its sides; decides which side its ON clause filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

/// A FROM item: a reference, or a join of two items.
#[derive(Debug, Clone)]
pub(crate) enum FromNode {
    Ref(RefId),
    Join(Box<Join>),
}

#[derive(Debug, Clone)]
pub(crate) struct Join {
    pub kind: JoinKind,
    pub left: FromNode,
    pub right: FromNode,
    /// USING columns, or for a NATURAL join the columns both sides
    /// certainly have (all of them merged).
    pub using: Vec<String>,
    /// NATURAL: columns both sides have are merged even when the analyzer
    /// does not know it.
    pub natural: bool,
    /// `(a JOIN b ..) AS alias`: hides the names inside.
    pub alias: Option<String>,
    /// `JOIN b USING (..) AS alias`: names the merged columns.
    pub using_alias: Option<String>,
}

/// Candidates for a qualified name at one level: the references that are
/// certainly meant, and whether one might be.
#[derive(Default)]
struct Candidates {
    certain: Vec<Term>,
    maybe: bool,
}

impl FromNode {
    /// Every reference inside this item.
    pub fn refs(&self, out: &mut Vec<RefId>) {
        match self {
            FromNode::Ref(id) => out.push(*id),
            FromNode::Join(join) => {
                join.left.refs(out);
                join.right.refs(out);
            }
        }
    }

    fn ref_set(&self) -> Vec<RefId> {
        let mut out = Vec::new();
        self.refs(&mut out);
        out
    }

    /// The references whose rows this join's ON (or USING) clause filters:
    /// both sides of an inner join, only the nullable side of an outer join,
    /// none of a full join.
    pub fn filtered_by_on(join: &Join) -> Vec<RefId> {
        match join.kind {
            JoinKind::Inner => {
                let mut out = join.left.ref_set();
                out.extend(join.right.ref_set());
                out
            }
            JoinKind::Left => join.right.ref_set(),
            JoinKind::Right => join.left.ref_set(),
            JoinKind::Full => Vec::new(),
        }
    }

    /// Whether this item might have a column `column` (visible unqualified).
    fn might_have(&self, column: &str, arena: &[RangeRef]) -> bool {
        match self {
            FromNode::Ref(id) => arena[*id].might_have(column),
            FromNode::Join(join) => {
                join.left.might_have(column, arena) || join.right.might_have(column, arena)
            }
        }
    }

    /// Rule `unqualified-columns`: the terms an unqualified column inside
    /// this item could be (more than one means ambiguous).
    fn unqualified(&self, column: &str, arena: &[RangeRef], out: &mut Vec<Term>) {
        match self {
            FromNode::Ref(id) => {
                if arena[*id].certainly_has(column) {
                    out.push(Term::Column(*id, column.to_string()));
                }
            }
            FromNode::Join(join) => {
                if join.using.iter().any(|u| u == column) {
                    out.push(join.merged(column, arena));
                    return;
                }
                let mut left = Vec::new();
                join.left.unqualified(column, arena, &mut left);
                let mut right = Vec::new();
                join.right.unqualified(column, arena, &mut right);
                if join.natural {
                    // Rule `join-merged-columns`: a column both sides have is
                    // merged; one side certainly having it and the other
                    // perhaps leaves the analyzer not knowing which it is.
                    let uncertain = (!left.is_empty() && join.right.might_have(column, arena))
                        || (!right.is_empty() && join.left.might_have(column, arena));
                    if uncertain {
                        out.push(Term::Opaque);
                        return;
                    }
                }
                out.extend(left);
                out.extend(right);
            }
        }
    }

    /// Rules `qualified-columns` and `schema-qualified-columns`: the terms
    /// `[schema.]qualifier.column` could be inside this item.
    fn qualified(
        &self,
        schema: Option<&str>,
        qualifier: &str,
        column: &str,
        arena: &[RangeRef],
        out: &mut Candidates,
    ) {
        match self {
            FromNode::Ref(id) => {
                let r = &arena[*id];
                match schema {
                    Some(schema) => match r.matches_relation(schema, qualifier) {
                        Some(true) => out.certain.push(Term::Column(*id, column.to_string())),
                        Some(false) => out.maybe = true,
                        None => {}
                    },
                    None => match &r.name {
                        RefName::Known(name) if name == qualifier => {
                            out.certain.push(Term::Column(*id, column.to_string()));
                        }
                        RefName::Known(_) => {}
                        RefName::Unknown => out.maybe = true,
                    },
                }
            }
            FromNode::Join(join) => {
                if schema.is_none() && join.using_alias.as_deref() == Some(qualifier) {
                    if join.using.iter().any(|u| u == column) {
                        out.certain.push(join.merged(column, arena));
                    } else {
                        out.certain.push(Term::Opaque);
                    }
                }
                if let Some(alias) = &join.alias {
                    // An aliased join hides the names inside it.
                    if schema.is_none() && alias == qualifier {
                        let mut inner = Vec::new();
                        self.unqualified_through_alias(column, arena, &mut inner);
                        out.certain.push(single(inner));
                    }
                    return;
                }
                join.left.qualified(schema, qualifier, column, arena, out);
                join.right.qualified(schema, qualifier, column, arena, out);
            }
        }
    }

    fn unqualified_through_alias(&self, column: &str, arena: &[RangeRef], out: &mut Vec<Term>) {
        if let FromNode::Join(join) = self {
            let unaliased = Join {
                alias: None,
                ..(**join).clone()
            };
            FromNode::Join(Box::new(unaliased)).unqualified(column, arena, out);
        }
    }
}

impl Join {
    /// Rule `join-merged-columns`: the merged column of `USING (column)`:
    /// the left side's for inner and left joins, the right side's for right
    /// joins, COALESCE of both for full joins.
    fn merged(&self, column: &str, arena: &[RangeRef]) -> Term {
        let (left, right) = self.using_sides(column, arena);
        match self.kind {
            JoinKind::Inner | JoinKind::Left => left,
            JoinKind::Right => right,
            JoinKind::Full if left != Term::Opaque && right != Term::Opaque => {
                Term::FullMerged(Box::new((left, right)))
            }
            JoinKind::Full => Term::Opaque,
        }
    }

    /// The two columns a USING column equates, one per side.
    pub fn using_sides(&self, column: &str, arena: &[RangeRef]) -> (Term, Term) {
        let mut left = Vec::new();
        self.left.unqualified(column, arena, &mut left);
        let mut right = Vec::new();
        self.right.unqualified(column, arena, &mut right);
        (single(left), single(right))
    }
}

fn single(mut terms: Vec<Term>) -> Term {
    if terms.len() == 1 {
        terms.pop().unwrap_or(Term::Opaque)
    } else {
        Term::Opaque
    }
}

/// The FROM items one clause of a query level sees, and the level it is
/// nested in (for correlated references). A query level's WHERE sees all
/// its FROM items; an ON clause or a LATERAL item sees fewer (rule
/// `visible-from-items`): the same level then appears as a `Level` with
/// fewer items and the same parent.
pub(crate) struct Level<'p> {
    pub from: Vec<FromNode>,
    pub parent: Option<&'p Level<'p>>,
}

impl<'p> Level<'p> {
    pub fn new(parent: Option<&'p Level<'p>>) -> Self {
        Level {
            from: Vec::new(),
            parent,
        }
    }

    /// All references of this level (not of enclosing levels).
    pub fn refs(&self) -> Vec<RefId> {
        let mut out = Vec::new();
        for item in &self.from {
            item.refs(&mut out);
        }
        out
    }

    /// Resolves a column reference given as its name parts (`[col]`,
    /// `[t, col]`, `[schema, t, col]`, `[db, schema, t, col]`), searching
    /// this level then the enclosing ones, as PostgreSQL does.
    pub fn resolve(&self, parts: &[&str], arena: &[RangeRef]) -> Term {
        let mut level = Some(self);
        while let Some(current) = level {
            match parts {
                [column] => {
                    let mut found = Vec::new();
                    for item in &current.from {
                        item.unqualified(column, arena, &mut found);
                    }
                    if !found.is_empty() {
                        return single(found);
                    }
                    if current.from.iter().any(|i| i.might_have(column, arena)) {
                        // A table or derived table of unknown shape might
                        // have this column: we cannot tell which it is.
                        return Term::Opaque;
                    }
                }
                [qualifier, column] | [_, qualifier, column] | [_, _, qualifier, column] => {
                    let schema = match parts.len() {
                        2 => None,
                        _ => Some(parts[parts.len() - 3]),
                    };
                    let mut found = Candidates::default();
                    for item in &current.from {
                        item.qualified(schema, qualifier, column, arena, &mut found);
                    }
                    if !found.certain.is_empty() {
                        return single(found.certain);
                    }
                    if found.maybe {
                        return Term::Opaque;
                    }
                }
                _ => return Term::Opaque,
            }
            level = current.parent;
        }
        Term::Opaque
    }

    /// The reference `qualifier.*` expands, when it is one known reference.
    pub fn resolve_star(&self, qualifier: &[&str], arena: &[RangeRef]) -> Option<RefId> {
        let mut parts: Vec<&str> = qualifier.to_vec();
        parts.push("*");
        match self.resolve(&parts, arena) {
            Term::Column(id, _) => Some(id),
            _ => None,
        }
    }
}

/// The CTE names visible at a point, innermost first (rule `cte-names`).
pub(crate) struct CteScope<'p> {
    pub entries: Vec<(String, Output)>,
    pub parent: Option<&'p CteScope<'p>>,
}

impl<'p> CteScope<'p> {
    pub fn root() -> CteScope<'static> {
        CteScope {
            entries: Vec::new(),
            parent: None,
        }
    }

    pub fn child(parent: &'p CteScope<'p>) -> CteScope<'p> {
        CteScope {
            entries: Vec::new(),
            parent: Some(parent),
        }
    }

    /// The output of the CTE called `name`, if one is in scope.
    pub fn lookup(&self, name: &str) -> Option<&Output> {
        let mut scope = Some(self);
        while let Some(s) = scope {
            if let Some((_, out)) = s.entries.iter().rev().find(|(n, _)| n == name) {
                return Some(out);
            }
            scope = s.parent;
        }
        None
    }

    /// Sets what is known of the CTE `name` of this WITH list.
    pub fn set(&mut self, name: &str, output: Output) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = output,
            None => self.entries.push((name.to_string(), output)),
        }
    }
}

#[cfg(test)]
#[path = "scopes_tests.rs"]
mod tests;

/// Column names that appear in several USING/NATURAL positions: used only
/// to deduplicate.
pub(crate) fn dedup(names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}
