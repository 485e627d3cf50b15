//! Binding: which equalities restrict a table reference to the tenant.
//!
//! A reference is bound when its tenant column is connected to a tenant value
//! by a chain of `=` conjuncts, each taken from an AND-tree that filters that
//! reference's rows (see `scopes` for which trees filter which references).
//! Anything else (OR, NOT, CASE, functions over the column, LIKE, ranges,
//! `<>`, IS [NOT] NULL, IS DISTINCT FROM, `= ANY(..)`, `IN (subquery)`,
//! COLLATE) never produces an equality here, so it cannot bind.

use std::collections::HashMap;

use pg_query::protobuf::{self, a_const, AExprKind, BoolExprType};
use pg_query::NodeEnum;

use super::scopes::RefId;
use crate::analyzer::Binding;

/// A value a tenant column can be equated with: a parameter or a literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Value {
    /// How it is written, normalised (`$3`, `'acme'`, `42`).
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
    /// Anything the analyzer cannot follow (expressions, unresolvable names).
    Opaque,
}

/// Type names a parameter may be cast to and still bind: types whose `=`
/// is exact and that keep every value intact. A cast to e.g. `citext`, or a
/// COLLATE clause, could make `=` match other tenants' ids too; `name`,
/// `char(n)`, `varchar(n)` and `numeric(p, s)` truncate or round, so
/// `'acme'::varchar(2)` is tenant `ac`: any type modifier refuses the cast.
const EXACT_CAST_TYPES: &[&str] = &["text", "varchar", "uuid", "int2", "int4", "int8", "numeric"];

/// Recognises parameters and literals, the right-hand side of a binding.
pub(crate) struct ValueReader {
    pub binding: Binding,
    pub tenant_param: Option<i32>,
}

impl ValueReader {
    /// The value `node` stands for, if it is a parameter or literal
    /// (possibly cast to an exact type).
    pub fn read(&self, node: &NodeEnum) -> Option<Value> {
        match node {
            NodeEnum::ParamRef(p) => Some(Value {
                key: format!("${}", p.number),
                binds: match self.binding {
                    Binding::Strict => self.tenant_param == Some(p.number),
                    Binding::Lenient => true,
                },
            }),
            NodeEnum::AConst(c) if !c.isnull => {
                let key = match c.val.as_ref()? {
                    a_const::Val::Sval(s) => quote_literal(&s.sval),
                    a_const::Val::Ival(i) => i.ival.to_string(),
                    a_const::Val::Fval(f) => f.fval.clone(),
                    a_const::Val::Boolval(_) | a_const::Val::Bsval(_) => return None,
                };
                Some(Value {
                    key,
                    binds: self.binding == Binding::Lenient,
                })
            }
            NodeEnum::TypeCast(cast) => {
                let type_name = cast.type_name.as_ref()?;
                if !is_exact_cast(type_name) {
                    return None;
                }
                self.read(cast.arg.as_ref()?.node.as_ref()?)
            }
            _ => None,
        }
    }
}

fn is_exact_cast(type_name: &protobuf::TypeName) -> bool {
    if type_name.setof
        || type_name.pct_type
        || !type_name.array_bounds.is_empty()
        || !type_name.typmods.is_empty()
    {
        return false;
    }
    let names: Vec<&str> = type_name.names.iter().filter_map(string_value).collect();
    match names.as_slice() {
        [name] | ["pg_catalog", name] => EXACT_CAST_TYPES.contains(name),
        _ => false,
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

/// The pairs of expressions a conjunct equates: `a = b`, `a IN (b)`, and
/// `(a, b) = (c, d)` (pairwise). Operator names other than a bare or
/// `pg_catalog`-qualified `=` do not count.
pub(crate) fn equated_pairs(conjunct: &NodeEnum) -> Vec<(&NodeEnum, &NodeEnum)> {
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
    if expr.kind == AExprKind::AexprOp as i32 {
        match (left, right) {
            (NodeEnum::RowExpr(l), NodeEnum::RowExpr(r)) if l.args.len() == r.args.len() => l
                .args
                .iter()
                .zip(&r.args)
                .filter_map(|(a, b)| Some((a.node.as_ref()?, b.node.as_ref()?)))
                .collect(),
            (NodeEnum::RowExpr(_), _) | (_, NodeEnum::RowExpr(_)) => Vec::new(),
            _ => vec![(left, right)],
        }
    } else if expr.kind == AExprKind::AexprIn as i32 {
        // `col IN (x)` is `col = x`; with several items the column may equal
        // any of them, which binds nothing.
        match right {
            NodeEnum::List(list) if list.items.len() == 1 => list.items[0]
                .node
                .as_ref()
                .map(|item| vec![(left, item)])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
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

    /// Records `a = b`. Opaque terms never join a class.
    pub fn union(&mut self, a: &Term, b: &Term) {
        if *a == Term::Opaque || *b == Term::Opaque {
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

    fn pairs(sql: &str) -> usize {
        let w = where_clause(sql);
        conjuncts(&w).iter().map(|c| equated_pairs(c).len()).sum()
    }

    #[test]
    fn only_plain_equality_conjuncts_pair() {
        assert_eq!(pairs("SELECT 1 FROM t WHERE a = $1 AND b = c"), 2);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a = $1 OR b = c"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE NOT (a = $1)"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a <> $1"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a LIKE $1"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a = ANY($1)"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a IS NOT DISTINCT FROM $1"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a IN ($1)"), 1);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a IN ($1, $2)"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE a IN (SELECT b FROM u)"), 0);
        assert_eq!(pairs("SELECT 1 FROM t WHERE (a, b) = ($1, $2)"), 2);
        assert_eq!(
            pairs("SELECT 1 FROM t WHERE a OPERATOR(pg_catalog.=) $1"),
            1
        );
        assert_eq!(pairs("SELECT 1 FROM t WHERE a OPERATOR(public.=) $1"), 0);
        assert_eq!(
            pairs("SELECT 1 FROM t WHERE (a = $1 AND (b = $2 AND c = $3))"),
            3
        );
    }

    fn read(binding: Binding, expr: &str) -> Option<Value> {
        let w = where_clause(&format!("SELECT 1 FROM t WHERE a = {expr}"));
        let pair = equated_pairs(&w)[0];
        ValueReader {
            binding,
            tenant_param: Some(2),
        }
        .read(pair.1)
    }

    #[test]
    fn strict_mode_only_the_tenant_parameter_binds() {
        assert!(read(Binding::Strict, "$2").unwrap().binds);
        assert!(read(Binding::Strict, "$2::text").unwrap().binds);
        assert!(read(Binding::Strict, "CAST($2 AS uuid)").unwrap().binds);
        assert!(read(Binding::Strict, "$2::bigint").unwrap().binds);
        assert!(!read(Binding::Strict, "$1").unwrap().binds);
        assert!(!read(Binding::Strict, "'acme'").unwrap().binds);
        assert!(read(Binding::Strict, "$2::citext").is_none());
        assert!(read(Binding::Strict, "$2 COLLATE \"C\"").is_none());
        assert!(read(Binding::Strict, "lower($2)").is_none());
        assert!(read(Binding::Strict, "$2::text[]").is_none());
        assert!(read(Binding::Strict, "$2::varchar(2)").is_none());
        assert!(read(Binding::Strict, "$2::char(3)").is_none());
        assert!(read(Binding::Strict, "$2::char").is_none());
        assert!(read(Binding::Strict, "$2::name").is_none());
        assert!(read(Binding::Strict, "$2::numeric(3, 0)").is_none());
        assert!(read(Binding::Strict, "$2::varchar").unwrap().binds);
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
        assert_eq!(classes.values_of(&a).len(), 1);
        assert!(classes.values_of(&c).is_empty());
    }
}
