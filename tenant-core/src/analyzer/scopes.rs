//! Scopes: the range references of each query level, their join trees, CTE
//! names, and how column names resolve, following PostgreSQL's rules closely
//! enough to be sound (when in doubt a name resolves to nothing, which can
//! only make the analyzer refuse more, never accept more).

use std::collections::HashSet;

use super::binding::{Term, Value};

/// Index of a range reference in the analysis arena.
pub(crate) type RefId = usize;

/// One output column of a derived table, CTE, VALUES list or statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputColumn {
    /// Its name, when it has one.
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

/// One entry of a FROM list (or an UPDATE/DELETE/INSERT/MERGE target).
#[derive(Debug, Clone)]
pub(crate) struct RangeRef {
    /// The name it is referenced by: its alias, else its relation name.
    pub name: Option<String>,
    /// Schema of an unaliased, qualified table (for `schema.table.col`).
    pub schema: Option<String>,
    /// The alias, when written.
    pub alias: Option<String>,
    pub kind: RefKind,
    /// Byte offset in the rewritten SQL.
    pub location: usize,
    /// For tenant tables: the tenant value the reference is bound to.
    pub bound: Option<Value>,
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

    /// `table (alias a)` as shown in messages, and the qualifier to write.
    pub fn qualifier(&self) -> String {
        self.name.clone().unwrap_or_default()
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
    /// USING columns (or, for NATURAL joins, the tenant columns both sides
    /// certainly have).
    pub using: Vec<String>,
    /// `(a JOIN b ..) AS alias`: hides the names inside.
    pub alias: Option<String>,
    /// `JOIN b USING (..) AS alias`: names the merged columns.
    pub using_alias: Option<String>,
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

    /// Resolves an unqualified column inside this item: the terms it could
    /// be (more than one means ambiguous).
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
                } else {
                    join.left.unqualified(column, arena, out);
                    join.right.unqualified(column, arena, out);
                }
            }
        }
    }

    /// Resolves `qualifier.column` inside this item.
    fn qualified(
        &self,
        schema: Option<&str>,
        qualifier: &str,
        column: &str,
        arena: &[RangeRef],
        out: &mut Vec<Term>,
    ) {
        match self {
            FromNode::Ref(id) => {
                let r = &arena[*id];
                let schema_matches = match schema {
                    None => true,
                    Some(s) => r.alias.is_none() && r.schema.as_deref().unwrap_or("public") == s,
                };
                if r.name.as_deref() == Some(qualifier) && schema_matches {
                    out.push(Term::Column(*id, column.to_string()));
                }
            }
            FromNode::Join(join) => {
                if schema.is_none() && join.using_alias.as_deref() == Some(qualifier) {
                    if join.using.iter().any(|u| u == column) {
                        out.push(join.merged(column, arena));
                    } else {
                        out.push(Term::Opaque);
                    }
                }
                if let Some(alias) = &join.alias {
                    // An aliased join hides the names inside it.
                    if schema.is_none() && alias == qualifier {
                        let mut inner = Vec::new();
                        self.unqualified_through_alias(column, arena, &mut inner);
                        out.push(single(inner));
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
            if join.using.iter().any(|u| u == column) {
                out.push(join.merged(column, arena));
            } else {
                join.left.unqualified(column, arena, out);
                join.right.unqualified(column, arena, out);
            }
        }
    }
}

impl Join {
    /// The merged column of `USING (column)`: the left side's for inner and
    /// left joins, the right side's for right joins, COALESCE for full joins.
    fn merged(&self, column: &str, arena: &[RangeRef]) -> Term {
        let side = match self.kind {
            JoinKind::Inner | JoinKind::Left => &self.left,
            JoinKind::Right => &self.right,
            JoinKind::Full => return Term::Opaque,
        };
        let mut out = Vec::new();
        side.unqualified(column, arena, &mut out);
        single(out)
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

/// One query level: its FROM items, and the level it is nested in (for
/// correlated references).
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
    /// `[t, col]`, `[schema, t, col]`), searching this level then the
    /// enclosing ones, as PostgreSQL does.
    pub fn resolve(&self, parts: &[&str], arena: &[RangeRef]) -> Term {
        let mut level = Some(self);
        while let Some(current) = level {
            let mut found = Vec::new();
            match parts {
                [column] => {
                    for item in &current.from {
                        item.unqualified(column, arena, &mut found);
                    }
                    if found.is_empty() && !current.from.is_empty() {
                        // A global table or derived table of unknown shape might
                        // have this column: we cannot tell which it is.
                        return Term::Opaque;
                    }
                }
                [qualifier, column] => {
                    for item in &current.from {
                        item.qualified(None, qualifier, column, arena, &mut found);
                    }
                }
                [schema, qualifier, column] | [_, schema, qualifier, column] => {
                    for item in &current.from {
                        item.qualified(Some(schema), qualifier, column, arena, &mut found);
                    }
                }
                _ => return Term::Opaque,
            }
            if !found.is_empty() {
                return single(found);
            }
            level = current.parent;
        }
        Term::Opaque
    }
}

/// The CTE names visible at a point, innermost first.
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
}

/// Column names that appear in several USING/NATURAL positions: used only
/// to deduplicate.
pub(crate) fn dedup(names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}
