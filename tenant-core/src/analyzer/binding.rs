//! Binding: which equalities restrict a table reference to the tenant.
//!
//! A reference is bound when its tenant column is connected to a tenant value
//! by a chain of equalities, each taken from an AND-tree that filters that
//! reference's rows (see `scopes` for which trees filter which references).
//! The equalities are `a = b`, `a IN (b)` (and `a IN (b, b, ..)`),
//! `a = ANY(ARRAY[b])`, `(a, b) = (c, d)` and `(a, b) IN ((c, d), (c, e))`
//! pairwise where every row agrees, and `a IS NOT DISTINCT FROM v` with a
//! parameter or literal `v`. Anything else (OR, NOT, CASE, functions over
//! the column, LIKE, ranges, `<>`, IS [NOT] NULL, IS DISTINCT FROM,
//! `= ANY($1)`, `IN (subquery)`, COLLATE) never produces an equality here,
//! so it cannot bind.
//!
//! **Rule `lossy-casts`.** Tenant ids are arbitrary text. A cast is part of
//! a value's identity: `$tenant`, `$tenant::text` and `$tenant::varchar`
//! are the tenant's id itself (casts to `text` or unconstrained `varchar`
//! are the identity on text), while `$tenant::uuid` is another value, the
//! uuid that id reads as (an upper-case uuid and its lower-case form read
//! as the same uuid; `'007'::int8` and `'7'::int8` are both 7). So values
//! that differ in their casts never fall into one equivalence class:
//! `x = $1 AND $1::uuid = $tenant::uuid` does not make `x` the tenant. A
//! tenant column of type uuid, bigint, integer, smallint or numeric is bound
//! by `tenant_id = $tenant::uuid` (one cast to the column's type, compared
//! with the column directly), which matches exactly the rows whose tenant
//! column holds the value the tenant's id reads as; any longer chain
//! (`$tenant::int8::text` is `'7'` for tenant `'007'`) or a type modifier
//! (`varchar(2)` truncates) binds nothing.

use std::collections::HashMap;

use pg_query::protobuf::{self, a_const, AExprKind, BoolExprType};
use pg_query::NodeEnum;

use super::scopes::RefId;
use crate::analyzer::Binding;

/// A value a tenant column can be equated with: a parameter or a literal,
/// with the casts applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Value {
    /// How it is written, normalised (`$3`, `'acme'`, `42`, `$3::uuid`).
    pub key: String,
    /// True when this value may bind a tenant table: the `$tenant` parameter
    /// in strict mode; any parameter or literal in lenient mode.
    pub binds: bool,
}

/// One side of an equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Term {
    /// A column of a range reference.
    Column(RefId, String),
    /// A parameter or literal.
    Value(Value),
    /// The merged column of `a FULL JOIN b USING (c)`: `COALESCE(a.c, b.c)`.
    /// It equals a value only when each side's real rows hold that value, so
    /// it is used with values only, never joined to other columns.
    FullMerged(Box<(Term, Term)>),
    /// Anything the analyzer cannot follow (expressions, unresolvable names).
    Opaque,
}

/// Types a tenant value may be cast to once and still bind a tenant column
/// of that type: their `=` is exact and their input is deterministic. A
/// cast to e.g. `citext`, or a COLLATE clause, could make `=` match other
/// tenants' ids too.
const TYPED_TENANT_TYPES: &[&str] = &["uuid", "int2", "int4", "int8", "numeric"];

/// Casts that are the identity on a text value (without a type modifier).
const TEXT_IDENTITY_TYPES: &[&str] = &["text", "varchar"];

/// Recognises parameters and literals, the right-hand side of a binding.
pub(crate) struct ValueReader {
    pub binding: Binding,
    pub tenant_param: Option<i32>,
}

impl ValueReader {
    /// The value `node` stands for, if it is a parameter or literal
    /// (possibly cast: rule `lossy-casts`).
    pub fn read(&self, node: &NodeEnum) -> Option<Value> {
        let mut casts: Vec<&str> = Vec::new();
        let mut current = node;
        while let NodeEnum::TypeCast(cast) = current {
            casts.push(plain_type_name(cast.type_name.as_ref()?)?);
            current = cast.arg.as_ref()?.node.as_ref()?;
        }
        // Innermost cast first.
        casts.reverse();
        let (base, binds) = match current {
            NodeEnum::ParamRef(p) => (
                format!("${}", p.number),
                match self.binding {
                    Binding::Strict => self.tenant_param == Some(p.number),
                    Binding::Lenient => true,
                },
            ),
            NodeEnum::AConst(c) if !c.isnull => {
                let key = match c.val.as_ref()? {
                    a_const::Val::Sval(s) => quote_literal(&s.sval),
                    // An integer's key is its canonical text, so a cast to
                    // text keeps it.
                    a_const::Val::Ival(i) => i.ival.to_string(),
                    // `1e2` reads as 100: a float's text is not its key.
                    a_const::Val::Fval(f) => {
                        casts.insert(0, "numeric");
                        f.fval.clone()
                    }
                    a_const::Val::Boolval(_) | a_const::Val::Bsval(_) => return None,
                };
                (key, self.binding == Binding::Lenient)
            }
            _ => return None,
        };
        let casts = normalise_casts(&casts);
        let typed = match casts.as_slice() {
            [] => true,
            [single] => TYPED_TENANT_TYPES.contains(single),
            _ => false,
        };
        let mut key = base;
        for cast in &casts {
            key.push_str("::");
            key.push_str(cast);
        }
        Some(Value {
            key,
            binds: binds && typed,
        })
    }
}

/// Drops casts that cannot change a text value (to `text` or `varchar`
/// before any other cast) and repeats of the same cast (`::uuid::uuid`).
fn normalise_casts<'a>(casts: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = Vec::new();
    for &cast in casts {
        if out.is_empty() && TEXT_IDENTITY_TYPES.contains(&cast) {
            continue;
        }
        if out.last() == Some(&cast) {
            continue;
        }
        out.push(cast);
    }
    out
}

/// The name of a cast's type when it is a plain built-in type without
/// modifiers or array bounds (`text`, `pg_catalog.int8`); `None` otherwise.
fn plain_type_name(type_name: &protobuf::TypeName) -> Option<&str> {
    if type_name.setof
        || type_name.pct_type
        || !type_name.array_bounds.is_empty()
        || !type_name.typmods.is_empty()
    {
        return None;
    }
    let names: Vec<&str> = type_name.names.iter().filter_map(string_value).collect();
    match names.as_slice() {
        [name] | ["pg_catalog", name] => Some(name),
        _ => None,
    }
}

/// The text of a `String` node.
pub(crate) fn string_value(node: &protobuf::Node) -> Option<&str> {
    match node.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The conjuncts of an AND-tree (a single expression is one conjunct).
pub(crate) fn conjuncts(node: &NodeEnum) -> Vec<&NodeEnum> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        match n {
            NodeEnum::BoolExpr(b) if b.boolop == BoolExprType::AndExpr as i32 => {
                for arg in b.args.iter().rev() {
                    if let Some(a) = arg.node.as_ref() {
                        stack.push(a);
                    }
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `left` equals one of `right` in every row the conjunct lets through; it
/// binds only when every one of `right` is the same term.
#[derive(Debug)]
pub(crate) struct Equation<'n> {
    pub left: &'n NodeEnum,
    pub right: Vec<&'n NodeEnum>,
    /// `IS NOT DISTINCT FROM`: also true when both are NULL, so usable only
    /// with a parameter or literal on one side.
    pub null_safe: bool,
}

/// The equalities a conjunct states (see the module documentation).
/// Operator names other than a bare or `pg_catalog`-qualified `=` do not
/// count.
pub(crate) fn equations(conjunct: &NodeEnum) -> Vec<Equation<'_>> {
    let NodeEnum::AExpr(expr) = conjunct else {
        return Vec::new();
    };
    if !is_plain_equals(&expr.name) {
        return Vec::new();
    }
    let (Some(left), Some(right)) = (
        expr.lexpr.as_ref().and_then(|n| n.node.as_ref()),
        expr.rexpr.as_ref().and_then(|n| n.node.as_ref()),
    ) else {
        return Vec::new();
    };
    let kind = AExprKind::try_from(expr.kind).unwrap_or(AExprKind::Undefined);
    match kind {
        AExprKind::AexprOp => rows_equal(left, &[right], false),
        AExprKind::AexprNotDistinct => rows_equal(left, &[right], true),
        AExprKind::AexprIn => match right {
            NodeEnum::List(list) => {
                let items: Vec<&NodeEnum> =
                    list.items.iter().filter_map(|i| i.node.as_ref()).collect();
                if items.len() != list.items.len() {
                    return Vec::new();
                }
                rows_equal(left, &items, false)
            }
            _ => Vec::new(),
        },
        AExprKind::AexprOpAny => match right {
            NodeEnum::AArrayExpr(array) => {
                let items: Vec<&NodeEnum> = array
                    .elements
                    .iter()
                    .filter_map(|i| i.node.as_ref())
                    .collect();
                let nested = items.iter().any(|i| matches!(i, NodeEnum::AArrayExpr(_)));
                if items.len() != array.elements.len() || nested {
                    return Vec::new();
                }
                rows_equal(left, &items, false)
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `left` equals one of `rights`: scalars give one equation, rows one per
/// position (all rows of the same width as `left`).
fn rows_equal<'n>(
    left: &'n NodeEnum,
    rights: &[&'n NodeEnum],
    null_safe: bool,
) -> Vec<Equation<'n>> {
    if rights.is_empty() {
        return Vec::new();
    }
    match left {
        NodeEnum::RowExpr(l) => {
            let mut columns: Vec<Vec<&NodeEnum>> = vec![Vec::new(); l.args.len()];
            for right in rights {
                let NodeEnum::RowExpr(r) = right else {
                    return Vec::new();
                };
                if r.args.len() != l.args.len() {
                    return Vec::new();
                }
                for (column, arg) in columns.iter_mut().zip(&r.args) {
                    match arg.node.as_ref() {
                        Some(a) => column.push(a),
                        None => return Vec::new(),
                    }
                }
            }
            l.args
                .iter()
                .zip(columns)
                .filter_map(|(a, right)| {
                    Some(Equation {
                        left: a.node.as_ref()?,
                        right,
                        null_safe,
                    })
                })
                .collect()
        }
        _ if rights.iter().any(|r| matches!(r, NodeEnum::RowExpr(_))) => Vec::new(),
        _ => vec![Equation {
            left,
            right: rights.to_vec(),
            null_safe,
        }],
    }
}

fn is_plain_equals(name: &[protobuf::Node]) -> bool {
    let parts: Vec<&str> = name.iter().filter_map(string_value).collect();
    matches!(parts.as_slice(), ["="] | ["pg_catalog", "="])
}

/// A small union-find over terms, rebuilt per question asked (queries are
/// small; clarity beats incremental cleverness here).
#[derive(Default)]
pub(crate) struct Classes {
    index: HashMap<Term, usize>,
    parent: Vec<usize>,
    terms: Vec<Term>,
}

impl Classes {
    fn id(&mut self, term: &Term) -> usize {
        if let Some(&id) = self.index.get(term) {
            return id;
        }
        let id = self.parent.len();
        self.parent.push(id);
        self.terms.push(term.clone());
        self.index.insert(term.clone(), id);
        id
    }

    fn find(&mut self, mut id: usize) -> usize {
        while self.parent[id] != id {
            self.parent[id] = self.parent[self.parent[id]];
            id = self.parent[id];
        }
        id
    }

    /// Records `a = b`. Opaque terms never join a class, nor does the
    /// merged column of a full join (see [`Term::FullMerged`]).
    pub fn union(&mut self, a: &Term, b: &Term) {
        let joins = |t: &Term| matches!(t, Term::Column(..) | Term::Value(_));
        if !joins(a) || !joins(b) {
            return;
        }
        let (ia, ib) = (self.id(a), self.id(b));
        let (ra, rb) = (self.find(ia), self.find(ib));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }

    /// The values `term` is known to equal, in a stable order.
    pub fn values_of(&mut self, term: &Term) -> Vec<Value> {
        let Some(&id) = self.index.get(term) else {
            return Vec::new();
        };
        let root = self.find(id);
        let mut values = Vec::new();
        for other in 0..self.terms.len() {
            if matches!(self.terms[other], Term::Value(_)) && self.find(other) == root {
                if let Term::Value(v) = &self.terms[other] {
                    values.push(v.clone());
                }
            }
        }
        values.sort_by(|a, b| a.key.cmp(&b.key));
        values
    }

    /// The terms seen so far.
    pub fn terms(&self) -> Vec<Term> {
        self.terms.clone()
    }
}

#[cfg(test)]
#[path = "binding_tests.rs"]
mod statement_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn where_clause(sql: &str) -> NodeEnum {
        let parsed = pg_query::parse(sql, 0).unwrap();
        let stmt = parsed.protobuf.stmts[0].stmt.as_ref().unwrap();
        match stmt.node.as_ref().unwrap() {
            NodeEnum::SelectStmt(s) => s.where_clause.clone().unwrap().node.unwrap(),
            _ => panic!("not a select"),
        }
    }

    /// How many equations the WHERE clause of `sql` states.
    fn count(sql: &str) -> usize {
        let w = where_clause(sql);
        conjuncts(&w).iter().map(|c| equations(c).len()).sum()
    }

    #[test]
    fn only_plain_equality_conjuncts_pair() {
        assert_eq!(count("SELECT 1 FROM t WHERE a = $1 AND b = c"), 2);
        assert_eq!(count("SELECT 1 FROM t WHERE a = $1 OR b = c"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE NOT (a = $1)"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a <> $1"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a LIKE $1"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a = ANY($1)"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a = ANY(ARRAY[$1])"), 1);
        assert_eq!(count("SELECT 1 FROM t WHERE a = ANY(ARRAY[[$1]])"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a = ALL(ARRAY[$1])"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a IS NOT DISTINCT FROM $1"), 1);
        assert_eq!(count("SELECT 1 FROM t WHERE a IS DISTINCT FROM $1"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE a IN ($1)"), 1);
        assert_eq!(count("SELECT 1 FROM t WHERE a IN ($1, $2)"), 1);
        assert_eq!(count("SELECT 1 FROM t WHERE a IN (SELECT b FROM u)"), 0);
        assert_eq!(count("SELECT 1 FROM t WHERE (a, b) = ($1, $2)"), 2);
        assert_eq!(count("SELECT 1 FROM t WHERE (a, b) = ($1, $2, $3)"), 0);
        assert_eq!(
            count("SELECT 1 FROM t WHERE (a, b) IN (($1, $2), ($1, $3))"),
            2
        );
        assert_eq!(count("SELECT 1 FROM t WHERE (a, b) IN (($1, $2), $3)"), 0);
        assert_eq!(
            count("SELECT 1 FROM t WHERE a OPERATOR(pg_catalog.=) $1"),
            1
        );
        assert_eq!(count("SELECT 1 FROM t WHERE a OPERATOR(public.=) $1"), 0);
        assert_eq!(
            count("SELECT 1 FROM t WHERE (a = $1 AND (b = $2 AND c = $3))"),
            3
        );
    }

    #[test]
    fn a_row_in_list_pairs_each_position_with_every_row() {
        let w = where_clause("SELECT 1 FROM t WHERE (a, b) IN (($1, $2), ($1, $3))");
        let eqs = equations(&w);
        assert_eq!(eqs.len(), 2);
        assert_eq!(eqs[0].right.len(), 2);
        assert!(!eqs[0].null_safe);
    }

    fn read(binding: Binding, expr: &str) -> Option<Value> {
        let w = where_clause(&format!("SELECT 1 FROM t WHERE a = {expr}"));
        let eq = equations(&w).pop().unwrap();
        ValueReader {
            binding,
            tenant_param: Some(2),
        }
        .read(eq.right[0])
    }

    #[test]
    fn strict_mode_only_the_tenant_parameter_binds() {
        assert!(read(Binding::Strict, "$2").unwrap().binds);
        assert!(read(Binding::Strict, "$2::text").unwrap().binds);
        assert!(read(Binding::Strict, "$2::varchar").unwrap().binds);
        assert!(read(Binding::Strict, "CAST($2 AS uuid)").unwrap().binds);
        assert!(read(Binding::Strict, "$2::bigint").unwrap().binds);
        assert!(!read(Binding::Strict, "$1").unwrap().binds);
        assert!(!read(Binding::Strict, "'acme'").unwrap().binds);
        let binds = |expr: &str| read(Binding::Strict, expr).is_some_and(|v| v.binds);
        for refused in [
            "$2::citext",
            "$2 COLLATE \"C\"",
            "lower($2)",
            "$2::text[]",
            "$2::varchar(2)",
            "$2::char(3)",
            "$2::char",
            "$2::bpchar",
            "$2::name",
            "$2::numeric(3, 0)",
            "$2::public.text",
        ] {
            assert!(!binds(refused), "{refused} must not bind");
        }
    }

    /// Rule `lossy-casts`: a cast is part of the value.
    #[test]
    fn rule_lossy_casts_a_cast_is_part_of_the_value() {
        let key = |expr: &str| read(Binding::Strict, expr).unwrap().key;
        assert_eq!(key("$2"), "$2");
        assert_eq!(key("$2::text"), "$2");
        assert_eq!(key("$2::varchar::text"), "$2");
        assert_eq!(key("$2::uuid"), "$2::uuid");
        assert_eq!(key("$2::text::uuid::uuid"), "$2::uuid");
        assert_eq!(key("$2::int8::text"), "$2::int8::text");
        // Lossy chains are other values, which bind nothing.
        for chain in [
            "$2::int8::text",
            "$2::uuid::text",
            "$2::numeric::text",
            "$2::int4::int8",
            "$2::uuid::varchar",
        ] {
            let value = read(Binding::Strict, chain).unwrap();
            assert!(!value.binds, "{chain} must not bind");
        }
        assert_eq!(read(Binding::Lenient, "42::text").unwrap().key, "42");
        assert_eq!(read(Binding::Lenient, "1e2").unwrap().key, "1e2::numeric");
        assert!(!read(Binding::Lenient, "1e2::text").unwrap().binds);
    }

    #[test]
    fn lenient_mode_any_parameter_or_literal_binds() {
        assert!(read(Binding::Lenient, "$1").unwrap().binds);
        let lit = read(Binding::Lenient, "'it''s'").unwrap();
        assert!(lit.binds);
        assert_eq!(lit.key, "'it''s'");
        assert_eq!(read(Binding::Lenient, "42").unwrap().key, "42");
        assert!(read(Binding::Lenient, "NULL").is_none());
        assert!(read(Binding::Lenient, "true").is_none());
    }

    #[test]
    fn classes_follow_chains() {
        let v = Term::Value(Value {
            key: "$1".into(),
            binds: true,
        });
        let a = Term::Column(0, "tenant_id".into());
        let b = Term::Column(1, "tenant_id".into());
        let c = Term::Column(2, "tenant_id".into());
        let mut classes = Classes::default();
        classes.union(&a, &b);
        classes.union(&b, &v);
        classes.union(&c, &Term::Opaque);
        classes.union(&c, &Term::FullMerged(Box::new((a.clone(), v.clone()))));
        assert_eq!(classes.values_of(&a).len(), 1);
        assert!(classes.values_of(&c).is_empty());
    }
}
