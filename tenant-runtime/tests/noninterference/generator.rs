//! Random SQL over the oracle's schema ([`TABLES`]), biased towards queries
//! the analyzer may accept: most tenant-table references get a tenant
//! predicate, in one of many correct forms and some subtly wrong ones, placed
//! in WHERE, in an ON clause (of inner and outer joins), in HAVING, inside
//! OR / NOT / CASE, or in an outer scope. Every column is qualified by a
//! unique alias so most statements are valid SQL; the ones that are not fail
//! the same way in every world and only cost time.
//!
//! Some integer expressions divide by a value that may be zero: a condition
//! that fails on another tenant's row tells of that row, a channel the
//! oracle measures (see `main.rs`).
//!
//! A quarter of the statements come from [`hunt`]: productions aimed at
//! the classes of issue 18, which this general mix never wrote (it names
//! every relation by a unique alias, never a CTE like a table, never a
//! schema).
//!
//! Deliberately absent, because their results do not depend on the data
//! alone and would differ between worlds with no leak: `LIMIT`/`OFFSET`
//! without an `ORDER BY` over every output (which rows survive would depend
//! on physical order), volatile functions (`random()`, `now()`), sequences
//! and system columns (`xmin`, `tableoid`).

mod hunt;

pub use hunt::{Class, QUALIFIER};

/// The requesting tenant. Its id looks like a number so that a lossy cast
/// chain (`$tenant::int8::text`) lands on [`COLLIDING_TENANT`].
pub const TENANT: &str = "007";

/// Another tenant, with rows in worlds `w1` to `w3` and a plan of the same
/// id in the global table.
pub const OTHER_TENANT: &str = "b";

/// The tenant `'007'` becomes through a numeric cast; rows in `w2` and `w3`.
pub const COLLIDING_TENANT: &str = "7";

/// How many statements in a hundred are written by a hunted class's
/// production ([`Class`]) rather than the general generator.
const HUNT_PERCENT: u32 = 25;

/// Columns the general generator never names, created after a table's
/// [`Table::columns`]: an array for subscripted targets (`tags[..]`).
pub const EXTRA_COLUMNS: &[(&str, &str)] = &[("submissions", "tags int[] NOT NULL DEFAULT '{}'")];

/// A column type, as far as the generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Int,
}

/// A table of the oracle's schema.
pub struct Table {
    pub name: &'static str,
    /// `None` for a global table.
    pub tenant_column: Option<&'static str>,
    /// Every column, the tenant column first; the next ones up to
    /// `key_len` form the primary key with it.
    pub columns: &'static [(&'static str, Ty)],
    pub key_len: usize,
}

/// The schema `main.rs` creates (same names, same types).
pub const TABLES: &[Table] = &[
    Table {
        name: "plans",
        tenant_column: None,
        columns: &[("id", Ty::Text), ("name", Ty::Text), ("price", Ty::Int)],
        key_len: 1,
    },
    Table {
        name: "tenants",
        tenant_column: Some("id"),
        columns: &[("id", Ty::Text), ("name", Ty::Text), ("plan_id", Ty::Text)],
        key_len: 1,
    },
    Table {
        name: "users",
        tenant_column: Some("tenant_id"),
        columns: &[
            ("tenant_id", Ty::Text),
            ("id", Ty::Int),
            ("name", Ty::Text),
            ("manager_id", Ty::Int),
        ],
        key_len: 2,
    },
    Table {
        name: "forms",
        tenant_column: Some("tenant_id"),
        columns: &[
            ("tenant_id", Ty::Text),
            ("id", Ty::Int),
            ("owner_id", Ty::Int),
            ("name", Ty::Text),
            ("score", Ty::Int),
        ],
        key_len: 2,
    },
    Table {
        name: "submissions",
        tenant_column: Some("tenant_id"),
        columns: &[
            ("tenant_id", Ty::Text),
            ("id", Ty::Int),
            ("form_id", Ty::Int),
            ("score", Ty::Int),
            ("note", Ty::Text),
        ],
        key_len: 2,
    },
    Table {
        name: "audit_log",
        tenant_column: Some("org_id"),
        columns: &[("org_id", Ty::Text), ("id", Ty::Int), ("action", Ty::Text)],
        key_len: 2,
    },
];

/// Tables a statement may write: the tenant tables.
fn writable_tables() -> impl Iterator<Item = &'static Table> {
    TABLES.iter().filter(|t| t.tenant_column.is_some())
}

/// Something in a FROM clause, as later expressions see it.
#[derive(Debug, Clone)]
struct Rel {
    alias: String,
    columns: Vec<(String, Ty)>,
    /// The column holding the tenant: a tenant table's, or a derived
    /// table's output that carries one through.
    tenant_column: Option<String>,
}

/// A CTE visible to the statement being generated.
#[derive(Debug, Clone)]
struct Cte {
    name: String,
    columns: Vec<(String, Ty)>,
    tenant_column: Option<String>,
}

/// The relations visible at one point: one level per enclosing query, the
/// innermost last (correlated subqueries see the outer levels).
type Scope = Vec<Vec<Rel>>;

/// A generator of statements for the tenant `$tenant`.
pub struct Generator {
    rng: fastrand::Rng,
    next_alias: u32,
    ctes: Vec<Cte>,
}

/// Nesting limit for subqueries.
const MAX_DEPTH: u32 = 3;

/// How a division that may fail starts (see [`failing_division`]).
const FAILING_DIVISION: &str = "(10 / (";

/// `10` divided by a value that is zero where `value` is 11, 21, 41 or 51:
/// scores of other tenants in worlds `w1` to `w3` that no row of tenant `a`
/// holds, so whether it fails can depend on other tenants' rows.
pub fn failing_division(value: &str) -> String {
    format!(
        "{FAILING_DIVISION}(({value}) - 11) * (({value}) - 21) * (({value}) - 41) * (({value}) - 51)))"
    )
}

/// `sql` with every failing division made total (`(10 / greatest(1,
/// <divisor>))`): the same statement, reading the same rows, that no row can
/// make fail. `None` when `sql` has no failing division.
pub fn without_failures(sql: &str) -> Option<String> {
    sql.contains(FAILING_DIVISION)
        .then(|| sql.replace(FAILING_DIVISION, "(10 / greatest(1, "))
}

impl Generator {
    /// A generator whose statements depend only on `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            next_alias: 0,
            ctes: Vec::new(),
        }
    }

    /// One statement and the class it was written for: a quarter from the
    /// hunted classes' productions, or only `only`'s when given.
    pub fn statement(&mut self, only: Option<Class>) -> (Class, String) {
        self.next_alias = 0;
        self.ctes.clear();
        let class = match only {
            Some(class) => class,
            None if self.chance(HUNT_PERCENT) => *self.pick(&Class::HUNTED),
            None => Class::General,
        };
        (class, self.hunted(class))
    }

    /// One statement of the general mix: mostly SELECT, then each kind of
    /// DML.
    fn statement_general(&mut self) -> String {
        match self.rng.u32(0..100) {
            0..55 => self.select_statement(),
            55..67 => self.update(&Vec::new(), 0),
            67..75 => self.delete(&Vec::new(), 0),
            75..87 => self.insert(&Vec::new(), 0),
            87..93 => self.merge(),
            _ => self.writable_cte(),
        }
    }

    // -- helpers ----------------------------------------------------------

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.u32(0..100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.usize(0..items.len())]
    }

    fn alias(&mut self, stem: &str) -> String {
        self.next_alias += 1;
        format!("{stem}{}", self.next_alias)
    }

    fn int_literal(&mut self) -> String {
        self.rng.u32(0..6).to_string()
    }

    fn text_literal(&mut self) -> String {
        // Other tenants' ids among them: a wrong literal must show.
        match self.rng.u32(0..5) {
            0 => format!("'{TENANT}'"),
            1 => format!("'{OTHER_TENANT}'"),
            2 => "'x'".to_string(),
            3 => "'Form 1'".to_string(),
            _ => "''".to_string(),
        }
    }

    fn table(&mut self) -> &'static Table {
        // Tenant tables more often than the global one.
        let index = self.rng.usize(0..TABLES.len() + 3);
        &TABLES[if index >= TABLES.len() {
            3 + index % 3
        } else {
            index
        }]
    }

    fn table_rel(table: &Table, alias: &str) -> Rel {
        Rel {
            alias: alias.to_string(),
            columns: table
                .columns
                .iter()
                .map(|(name, ty)| (name.to_string(), *ty))
                .collect(),
            tenant_column: table.tenant_column.map(str::to_string),
        }
    }

    /// A qualified column of type `ty` from the scope, innermost level
    /// first most of the time.
    fn column(&mut self, scope: &Scope, ty: Ty) -> Option<String> {
        let mut candidates = Vec::new();
        for (level, rels) in scope.iter().enumerate() {
            let weight = if level + 1 == scope.len() { 4 } else { 1 };
            for rel in rels {
                for (name, column_ty) in &rel.columns {
                    if *column_ty == ty {
                        for _ in 0..weight {
                            candidates.push(format!("{}.{name}", rel.alias));
                        }
                    }
                }
            }
        }
        if candidates.is_empty() {
            None
        } else {
            Some(self.pick(&candidates).clone())
        }
    }

    /// A `score` column from the scope: the integers whose values differ
    /// between tenants (ids repeat).
    fn scores(&mut self, scope: &Scope) -> Option<String> {
        let scores: Vec<String> = scope
            .iter()
            .flatten()
            .filter(|rel| rel.columns.iter().any(|(name, _)| name == "score"))
            .map(|rel| format!("{}.score", rel.alias))
            .collect();
        (!scores.is_empty()).then(|| self.pick(&scores).clone())
    }

    // -- expressions --------------------------------------------------------

    fn expr(&mut self, scope: &Scope, ty: Ty, depth: u32) -> String {
        let deep = depth >= MAX_DEPTH;
        let roll = self.rng.u32(0..100);
        if roll < 50 || deep {
            if let Some(column) = self.column(scope, ty) {
                return column;
            }
            return match ty {
                Ty::Int => self.int_literal(),
                Ty::Text => self.text_literal(),
            };
        }
        match (ty, roll) {
            (_, 50..62) => match ty {
                Ty::Int => self.int_literal(),
                Ty::Text => {
                    if self.chance(30) {
                        "$tenant".to_string()
                    } else {
                        self.text_literal()
                    }
                }
            },
            (_, 62..75) => {
                let select = self.scalar_subquery(scope, ty, depth + 1);
                format!("({select})")
            }
            (_, 75..82) => {
                let value = self.expr(scope, ty, depth + 1);
                let fallback = self.expr(scope, ty, depth + 1);
                format!("coalesce({value}, {fallback})")
            }
            (_, 82..90) => {
                let condition = self.predicate(scope, depth + 1);
                let then = self.expr(scope, ty, depth + 1);
                let otherwise = self.expr(scope, ty, depth + 1);
                format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
            }
            (Ty::Int, _) => {
                if self.chance(40) {
                    let divisor = match self.scores(scope) {
                        Some(score) if self.chance(60) => score,
                        _ => self.expr(scope, Ty::Int, depth + 1),
                    };
                    failing_division(&divisor)
                } else if self.chance(50) {
                    let text = self.expr(scope, Ty::Text, depth + 1);
                    format!("length({text})")
                } else {
                    let left = self.expr(scope, Ty::Int, depth + 1);
                    let right = self.expr(scope, Ty::Int, depth + 1);
                    format!("({left} + {right})")
                }
            }
            (Ty::Text, _) => {
                let left = self.expr(scope, Ty::Text, depth + 1);
                if self.chance(50) {
                    format!("lower({left})")
                } else {
                    let right = self.expr(scope, Ty::Text, depth + 1);
                    format!("({left} || {right})")
                }
            }
        }
    }

    /// A one-column, at most one-row SELECT: an aggregate, so it never
    /// returns more rows than an expression may.
    fn scalar_subquery(&mut self, scope: &Scope, ty: Ty, depth: u32) -> String {
        let (from, rels) = self.sources(scope, depth);
        let mut inner = scope.clone();
        inner.push(rels);
        let value = match ty {
            Ty::Int => {
                if self.chance(50) {
                    "count(*)".to_string()
                } else {
                    let value = self.expr(&inner, Ty::Int, depth + 1);
                    format!("sum({value})::int")
                }
            }
            Ty::Text => {
                let value = self.expr(&inner, Ty::Text, depth + 1);
                if self.chance(50) {
                    format!("max({value})")
                } else {
                    format!("string_agg({value}, ',' ORDER BY {value})")
                }
            }
        };
        let filter = self.where_clause(&inner, depth);
        format!("SELECT {value} FROM {from}{filter}")
    }

    // -- predicates ---------------------------------------------------------

    /// A tenant predicate for `rel` in one of its forms, most of them
    /// correct (they bind `rel` to `$tenant` or to another bound table) and
    /// some subtly wrong.
    fn binding(&mut self, rel: &Rel, scope: &Scope) -> String {
        let Some(tenant_column) = rel.tenant_column.clone() else {
            return "true".to_string();
        };
        let column = format!("{}.{tenant_column}", rel.alias);
        let others: Vec<String> = scope
            .iter()
            .flatten()
            .filter(|other| other.alias != rel.alias)
            .filter_map(|other| {
                other
                    .tenant_column
                    .as_ref()
                    .map(|c| format!("{}.{c}", other.alias))
            })
            .collect();
        let roll = self.rng.u32(0..100);
        if roll < 30 {
            return format!("{column} = $tenant");
        }
        if roll < 45 && !others.is_empty() {
            let other = self.pick(&others).clone();
            return if self.chance(50) {
                format!("{column} = {other}")
            } else {
                format!("{other} = {column}")
            };
        }
        if roll < 80 {
            // Other correct forms.
            return match self.rng.u32(0..9) {
                0 => format!("$tenant = {column}"),
                1 => format!("{column} IN ($tenant)"),
                2 => format!("{column} IS NOT DISTINCT FROM $tenant"),
                3 => format!("{column} = ANY (ARRAY[$tenant])"),
                4 => format!("{column} = (SELECT $tenant)"),
                5 => format!("({column}, 1) = ($tenant, 1)"),
                6 => format!("{column} IN ($tenant, $tenant)"),
                7 => format!("NOT ({column} <> $tenant)"),
                _ => format!("{column} = $tenant::text"),
            };
        }
        // Wrong, or right only for some tenant ids.
        match self.rng.u32(0..15) {
            0 => format!("{column} <> $tenant"),
            1 => format!("{column} >= $tenant"),
            2 => format!("{column} = 'b'"),
            3 => format!("{column} IN ($tenant, 'b')"),
            4 => format!("{column} LIKE $tenant || '%'"),
            5 => format!("{column} IS NOT NULL"),
            6 => {
                let other = self.expr(scope, Ty::Text, MAX_DEPTH);
                format!("{column} = {other}")
            }
            7 => format!(
                "({column} = $tenant OR {}.{} IS NOT NULL)",
                rel.alias, rel.columns[1].0
            ),
            8 => format!("lower({column}) = $tenant"),
            9 => format!("{column} = coalesce(NULL, $tenant)"),
            10 => format!("{column} BETWEEN $tenant AND $tenant"),
            11 => format!("{column} = ANY (ARRAY[$tenant, 'b'])"),
            12 => format!("CASE WHEN {column} = $tenant THEN true ELSE {column} = 'b' END"),
            13 => format!("({column} = $tenant OR {column} IS NULL)"),
            _ => format!("{column} = lower($tenant)"),
        }
    }

    fn comparison(&mut self, scope: &Scope, depth: u32) -> String {
        let ty = if self.chance(50) { Ty::Int } else { Ty::Text };
        let mut left = self.expr(scope, ty, depth + 1);
        if ty == Ty::Int && self.chance(10) {
            left = failing_division(&left);
        }
        let mut right = self.expr(scope, ty, depth + 1);
        for _ in 0..3 {
            // `x.id = x.id` says nothing about the data.
            if right != left {
                break;
            }
            right = self.expr(scope, ty, depth + 1);
        }
        let op = *self.pick(&["=", "<>", "<", ">=", "IS DISTINCT FROM"]);
        format!("{left} {op} {right}")
    }

    /// Any boolean expression, tenant predicates included.
    fn predicate(&mut self, scope: &Scope, depth: u32) -> String {
        if depth >= MAX_DEPTH {
            return self.comparison(scope, MAX_DEPTH);
        }
        match self.rng.u32(0..100) {
            0..25 => {
                let rels: Vec<Rel> = scope.iter().flatten().cloned().collect();
                if rels.is_empty() {
                    return self.comparison(scope, depth);
                }
                let rel = self.pick(&rels).clone();
                self.binding(&rel, scope)
            }
            25..50 => self.comparison(scope, depth),
            50..62 => {
                let left = self.predicate(scope, depth + 1);
                let right = self.predicate(scope, depth + 1);
                format!("({left} AND {right})")
            }
            62..72 => {
                let left = self.predicate(scope, depth + 1);
                let right = self.predicate(scope, depth + 1);
                format!("({left} OR {right})")
            }
            72..76 => {
                let inner = self.predicate(scope, depth + 1);
                format!("NOT ({inner})")
            }
            76..86 => {
                let select = self.select(scope, depth + 1, Some(&[Ty::Int]));
                let not = if self.chance(25) { "NOT " } else { "" };
                format!("{not}EXISTS ({select})")
            }
            86..94 => {
                let ty = if self.chance(50) { Ty::Int } else { Ty::Text };
                let value = self.expr(scope, ty, depth + 1);
                let select = self.select(scope, depth + 1, Some(&[ty]));
                let not = if self.chance(25) { "NOT " } else { "" };
                format!("{value} {not}IN ({select})")
            }
            94..97 => {
                let ty = if self.chance(50) { Ty::Int } else { Ty::Text };
                let value = self.expr(scope, ty, depth + 1);
                format!("{value} IS NULL")
            }
            _ => {
                let condition = self.predicate(scope, depth + 1);
                let then = self.predicate(scope, depth + 1);
                let otherwise = self.predicate(scope, depth + 1);
                format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
            }
        }
    }

    /// ` WHERE ..` for the innermost level of `scope`: usually a tenant
    /// predicate per tenant relation of that level, plus other conditions.
    fn where_clause(&mut self, scope: &Scope, depth: u32) -> String {
        let mut conjuncts = Vec::new();
        let level: Vec<Rel> = scope.last().cloned().unwrap_or_default();
        for rel in &level {
            if rel.tenant_column.is_some() && self.chance(85) {
                let binding = self.binding(rel, scope);
                conjuncts.push(binding);
            }
        }
        for _ in 0..self.rng.u32(0..3) {
            let predicate = self.predicate(scope, depth + 1);
            conjuncts.push(predicate);
        }
        if conjuncts.is_empty() {
            return String::new();
        }
        if conjuncts.len() > 1 && self.chance(8) {
            // One OR where an AND belongs.
            let at = self.rng.usize(1..conjuncts.len());
            let right = conjuncts.remove(at);
            let left = conjuncts.remove(at - 1);
            conjuncts.insert(at - 1, format!("({left} OR {right})"));
        }
        format!(" WHERE {}", conjuncts.join(" AND "))
    }

    // -- FROM ---------------------------------------------------------------

    /// One FROM item and what it puts in scope. `left` are the items before
    /// it in the same FROM clause (a LATERAL item sees them).
    fn table_expression(&mut self, scope: &Scope, left: &[Rel], depth: u32) -> (String, Rel) {
        let roll = self.rng.u32(0..100);
        if roll < 14 && !self.ctes.is_empty() {
            let cte = self.pick(&self.ctes.clone()).clone();
            let alias = self.alias("c");
            let rel = Rel {
                alias: alias.clone(),
                columns: cte.columns.clone(),
                tenant_column: cte.tenant_column.clone(),
            };
            return (format!("{} {alias}", cte.name), rel);
        }
        if (14..28).contains(&roll) && depth < MAX_DEPTH {
            let lateral = !left.is_empty() && self.chance(40);
            let mut inner_scope = scope.clone();
            if lateral {
                inner_scope.push(left.to_vec());
            }
            let (select, columns, tenant_column) = self.derived_select(&inner_scope, depth + 1);
            let alias = self.alias("d");
            let rel = Rel {
                alias: alias.clone(),
                columns,
                tenant_column,
            };
            let keyword = if lateral { "LATERAL " } else { "" };
            return (format!("{keyword}({select}) {alias}"), rel);
        }
        if (28..31).contains(&roll) {
            let alias = self.alias("v");
            let rel = Rel {
                alias: alias.clone(),
                columns: vec![("n".to_string(), Ty::Int), ("t".to_string(), Ty::Text)],
                tenant_column: None,
            };
            return (
                format!("(VALUES (1, 'a'), (2, 'b'), (3, $tenant)) {alias} (n, t)"),
                rel,
            );
        }
        if (31..33).contains(&roll) {
            let alias = self.alias("g");
            let rel = Rel {
                alias: alias.clone(),
                columns: vec![("n".to_string(), Ty::Int)],
                tenant_column: None,
            };
            return (format!("generate_series(1, 3) {alias} (n)"), rel);
        }
        let table = self.table();
        let alias = self.alias(&table.name[..1]);
        let only = if self.chance(5) { "ONLY " } else { "" };
        (
            format!("{only}{} {alias}", table.name),
            Self::table_rel(table, &alias),
        )
    }

    /// A FROM clause of one to three items, joined in every way, with what
    /// it puts in scope.
    fn sources(&mut self, scope: &Scope, depth: u32) -> (String, Vec<Rel>) {
        let count = match self.rng.u32(0..100) {
            0..55 => 1,
            55..90 => 2,
            _ => 3,
        };
        let (mut sql, first) = self.table_expression(scope, &[], depth);
        let mut rels = vec![first];
        // Where the current comma-separated item starts: an ON clause sees
        // only the items of its own join tree.
        let mut group_start = 0;
        for _ in 1..count {
            let (item, rel) = self.table_expression(scope, &rels[group_start..], depth);
            let join = *self.pick(&[
                ",",
                ",",
                "JOIN",
                "JOIN",
                "JOIN",
                "LEFT JOIN",
                "LEFT JOIN",
                "RIGHT JOIN",
                "FULL JOIN",
                "CROSS JOIN",
            ]);
            let lateral = item.starts_with("LATERAL");
            if join == ","
                || join == "CROSS JOIN"
                || (lateral && join != "JOIN" && join != "LEFT JOIN")
            {
                let join = if lateral { "," } else { join };
                sql = format!(
                    "{sql}{} {item}",
                    if join == "," { "," } else { " CROSS JOIN" }
                );
                if join == "," {
                    group_start = rels.len();
                }
                rels.push(rel);
                continue;
            }
            // USING / NATURAL: equalities the analyzer must derive from the
            // join itself. Valid when the left side has a single item (a
            // shared column name would be ambiguous otherwise).
            let shares_tenant_id = |r: &Rel| r.columns.iter().any(|(n, _)| n == "tenant_id");
            if group_start + 1 == rels.len()
                && !lateral
                && shares_tenant_id(&rels[group_start])
                && shares_tenant_id(&rel)
                && self.chance(20)
            {
                let both_have_id = [&rels[group_start], &rel]
                    .iter()
                    .all(|r| r.columns.iter().any(|(n, ty)| n == "id" && *ty == Ty::Int));
                sql = match self.rng.u32(0..4) {
                    0 => format!("{sql} NATURAL {join} {item}"),
                    1 if both_have_id => format!("{sql} {join} {item} USING (tenant_id, id)"),
                    _ => format!("{sql} {join} {item} USING (tenant_id)"),
                };
                rels.push(rel);
                continue;
            }
            // The ON clause sees the items of this join tree and this one.
            let mut on_scope = scope.clone();
            let mut visible = rels[group_start..].to_vec();
            visible.push(rel.clone());
            on_scope.push(visible);
            let mut conditions = Vec::new();
            if rel.tenant_column.is_some() && self.chance(70) {
                let binding = self.binding(&rel, &on_scope);
                conditions.push(binding);
            }
            if self.chance(60) {
                // A join key: this item's integer column against one of
                // an item before it (ids repeat across tenants).
                let left_rels: Vec<Rel> = rels[group_start..].to_vec();
                let right_column = self.column(&vec![vec![rel.clone()]], Ty::Int);
                let left_column = self.column(&vec![left_rels], Ty::Int);
                if let (Some(left), Some(right)) = (left_column, right_column) {
                    conditions.push(format!("{left} = {right}"));
                }
            }
            if self.chance(40) {
                let comparison = self.comparison(&on_scope, depth + 1);
                conditions.push(comparison);
            }
            if self.chance(15) {
                // A tenant predicate on a left item, in the ON clause.
                let left_rel = self.pick(&rels[group_start..]).clone();
                let binding = self.binding(&left_rel, &on_scope);
                conditions.push(binding);
            }
            if conditions.is_empty() {
                conditions.push("true".to_string());
            }
            sql = format!("{sql} {join} {item} ON {}", conditions.join(" AND "));
            rels.push(rel);
        }
        (sql, rels)
    }

    // -- SELECT -------------------------------------------------------------

    /// A SELECT for a derived table or CTE: named output columns, sometimes
    /// carrying a tenant column through as `tenant_id`.
    fn derived_select(
        &mut self,
        scope: &Scope,
        depth: u32,
    ) -> (String, Vec<(String, Ty)>, Option<String>) {
        if self.chance(10) {
            return self.derived_union(scope, depth);
        }
        let (from, rels) = self.sources(scope, depth);
        let mut inner = scope.clone();
        inner.push(rels.clone());
        let mut outputs = Vec::new();
        let mut columns = Vec::new();
        let mut tenant_column = None;
        let carried: Vec<&Rel> = rels.iter().filter(|r| r.tenant_column.is_some()).collect();
        if !carried.is_empty() && self.chance(60) {
            let rel = self.pick(&carried);
            outputs.push(format!(
                "{}.{} AS tenant_id",
                rel.alias,
                rel.tenant_column.as_deref().unwrap_or_default()
            ));
            columns.push(("tenant_id".to_string(), Ty::Text));
            tenant_column = Some("tenant_id".to_string());
        }
        for index in 0..self.rng.u32(1..3) {
            let ty = if self.chance(50) { Ty::Int } else { Ty::Text };
            let value = if ty == Ty::Int && self.chance(15) {
                // Counted before any outer filter applies.
                "count(*) OVER ()::int".to_string()
            } else {
                self.expr(&inner, ty, depth + 1)
            };
            outputs.push(format!("{value} AS x{index}"));
            columns.push((format!("x{index}"), ty));
        }
        let filter = self.where_clause(&inner, depth);
        let limit = self.order_and_limit(outputs.len());
        // DISTINCT keeps PostgreSQL from pulling the derived table up, so a
        // tenant value it carries out does not reach the tables joined to it.
        let distinct = if self.chance(15) { "DISTINCT " } else { "" };
        (
            format!(
                "SELECT {distinct}{} FROM {from}{filter}{limit}",
                outputs.join(", ")
            ),
            columns,
            tenant_column,
        )
    }

    /// `SELECT t.<tenant>, t.<int> .. UNION [ALL] SELECT ..` over two tenant
    /// tables, each branch with its own WHERE: an outer filter on the
    /// carried `tenant_id` filters both branches.
    fn derived_union(
        &mut self,
        scope: &Scope,
        depth: u32,
    ) -> (String, Vec<(String, Ty)>, Option<String>) {
        let mut branches = Vec::new();
        for _ in 0..2 {
            let (table, link) = self.tenant_table_with_link();
            let alias = self.alias(&table.name[..1]);
            let rel = Self::table_rel(table, &alias);
            let mut inner = scope.clone();
            inner.push(vec![rel]);
            let filter = if self.chance(50) {
                self.where_clause(&inner, depth)
            } else {
                String::new()
            };
            branches.push(format!(
                "SELECT {alias}.{} AS tenant_id, {alias}.{link} AS x0 FROM {} {alias}{filter}",
                table.tenant_column.unwrap_or_default(),
                table.name
            ));
        }
        let op = *self.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
        (
            format!("({}) {op} ({})", branches[0], branches[1]),
            vec![
                ("tenant_id".to_string(), Ty::Text),
                ("x0".to_string(), Ty::Int),
            ],
            Some("tenant_id".to_string()),
        )
    }

    /// Sometimes ` ORDER BY <every output> LIMIT n`: ordered by all its
    /// outputs, which rows a LIMIT keeps depends on their values only (equal
    /// rows are indistinguishable), not on physical order. A LIMIT applied
    /// before a tenant filter outside is a leak the worlds show.
    fn order_and_limit(&mut self, outputs: usize) -> String {
        if !self.chance(10) {
            return String::new();
        }
        let positions: Vec<String> = (1..=outputs).map(|i| i.to_string()).collect();
        let limit = self.rng.u32(1..4);
        let offset = if self.chance(30) { " OFFSET 1" } else { "" };
        format!(" ORDER BY {} LIMIT {limit}{offset}", positions.join(", "))
    }

    /// A SELECT whose outputs have the types `want` (any, when `None`),
    /// possibly grouped, windowed, DISTINCT or a set operation.
    fn select(&mut self, scope: &Scope, depth: u32, want: Option<&[Ty]>) -> String {
        let types: Vec<Ty> = match want {
            Some(types) => types.to_vec(),
            None => (0..self.rng.u32(1..4))
                .map(|_| if self.chance(50) { Ty::Int } else { Ty::Text })
                .collect(),
        };
        let body = self.simple_select(scope, depth, &types);
        if depth < MAX_DEPTH && self.chance(12) {
            let other = self.simple_select(scope, depth, &types);
            let op = *self.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "EXCEPT ALL"]);
            return format!("({body}) {op} ({other})");
        }
        body
    }

    fn simple_select(&mut self, scope: &Scope, depth: u32, types: &[Ty]) -> String {
        let (from, rels) = self.sources(scope, depth);
        let mut inner = scope.clone();
        inner.push(rels);
        let filter = self.where_clause(&inner, depth);
        let distinct = if self.chance(8) { "DISTINCT " } else { "" };
        match self.rng.u32(0..100) {
            // Grouped: the first output is the key, the others aggregates.
            0..20 => {
                // Cast, so a literal key is an expression, not a position.
                let key = self.expr(&inner, types[0], MAX_DEPTH);
                let key = match types[0] {
                    Ty::Int => format!("({key})::int"),
                    Ty::Text => format!("({key})::text"),
                };
                let mut outputs = vec![key.clone()];
                for ty in &types[1..] {
                    outputs.push(match ty {
                        Ty::Int => "count(*)::int".to_string(),
                        Ty::Text => {
                            let value = self.expr(&inner, Ty::Text, MAX_DEPTH);
                            format!("max({value})")
                        }
                    });
                }
                let having = if self.chance(40) {
                    // HAVING may only name the key or aggregates.
                    let condition = if self.chance(60) {
                        let rel_bindings: Vec<Rel> = inner
                            .last()
                            .into_iter()
                            .flatten()
                            .filter(|r| r.tenant_column.is_some())
                            .cloned()
                            .collect();
                        if rel_bindings.is_empty() {
                            "count(*) > 0".to_string()
                        } else {
                            let rel = self.pick(&rel_bindings).clone();
                            let column = rel.tenant_column.clone().unwrap_or_default();
                            format!("max({}.{column}) = $tenant", rel.alias)
                        }
                    } else {
                        "count(*) > 1".to_string()
                    };
                    format!(" HAVING {condition}")
                } else {
                    String::new()
                };
                let limit = self.order_and_limit(outputs.len());
                format!(
                    "SELECT {distinct}{} FROM {from}{filter} GROUP BY {key}{having}{limit}",
                    outputs.join(", ")
                )
            }
            // A window over the filtered rows.
            20..28 if types[0] == Ty::Int => {
                let mut outputs = vec!["count(*) OVER ()::int".to_string()];
                for ty in &types[1..] {
                    let value = self.expr(&inner, *ty, depth + 1);
                    outputs.push(value);
                }
                let limit = self.order_and_limit(outputs.len());
                format!(
                    "SELECT {distinct}{} FROM {from}{filter}{limit}",
                    outputs.join(", ")
                )
            }
            _ => {
                let mut outputs = Vec::new();
                for ty in types {
                    let value = self.expr(&inner, *ty, depth + 1);
                    outputs.push(value);
                }
                let limit = self.order_and_limit(outputs.len());
                format!(
                    "SELECT {distinct}{} FROM {from}{filter}{limit}",
                    outputs.join(", ")
                )
            }
        }
    }

    /// A top-level SELECT, sometimes with CTEs (one may be named like a
    /// table, shadowing it).
    fn select_statement(&mut self) -> String {
        let mut with = Vec::new();
        let mut recursive = "";
        if self.chance(10) {
            recursive = "RECURSIVE ";
            let cte = self.recursive_cte();
            with.push(cte);
        }
        if self.chance(25) {
            for _ in 0..self.rng.u32(1..3) {
                let (select, columns, tenant_column) = self.derived_select(&Vec::new(), 1);
                let name = if self.chance(25) {
                    self.pick(&["forms", "users", "submissions"]).to_string()
                } else {
                    self.alias("cte")
                };
                if self.ctes.iter().any(|c| c.name == name) {
                    continue;
                }
                let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
                with.push(format!("{name} ({}) AS ({select})", names.join(", ")));
                self.ctes.push(Cte {
                    name,
                    columns,
                    tenant_column,
                });
            }
        }
        let body = self.select(&Vec::new(), 0, None);
        if with.is_empty() {
            body
        } else {
            format!("WITH {recursive}{} {body}", with.join(", "))
        }
    }

    /// A tenant table with an integer column other than the key's.
    fn tenant_table_with_link(&mut self) -> (&'static Table, &'static str) {
        let table = *self.pick(&[&TABLES[2], &TABLES[3], &TABLES[4]]);
        let links: Vec<&'static str> = table.columns[2..]
            .iter()
            .filter(|(_, ty)| *ty == Ty::Int)
            .map(|(name, _)| *name)
            .collect();
        (table, *self.pick(&links))
    }

    /// `rN (tenant_id, id, depth) AS (<anchor> UNION ALL <step>)`, three
    /// levels deep at most: the step joins a table to the rows found so far,
    /// and binds it (or not) through them, to `$tenant`, or wrongly.
    fn recursive_cte(&mut self) -> String {
        let name = self.alias("r");
        let (anchor_table, _) = self.tenant_table_with_link();
        let anchor_alias = self.alias(&anchor_table.name[..1]);
        let anchor = Self::table_rel(anchor_table, &anchor_alias);
        let anchor_scope: Scope = vec![vec![anchor.clone()]];
        let anchor_filter = self.where_clause(&anchor_scope, 1);
        let (step_table, link) = self.tenant_table_with_link();
        let step_alias = self.alias(&step_table.name[..1]);
        let step = Self::table_rel(step_table, &step_alias);
        let found_alias = self.alias("f");
        let found = Rel {
            alias: found_alias.clone(),
            columns: vec![
                ("tenant_id".to_string(), Ty::Text),
                ("id".to_string(), Ty::Int),
                ("depth".to_string(), Ty::Int),
            ],
            tenant_column: Some("tenant_id".to_string()),
        };
        let step_scope: Scope = vec![vec![found.clone(), step.clone()]];
        let mut on = vec![format!("{step_alias}.{link} = {found_alias}.id")];
        if self.chance(80) {
            let binding = self.binding(&step, &step_scope);
            on.push(binding);
        }
        let step_tenant_column = step_table.tenant_column.unwrap_or_default();
        let anchor_tenant_column = anchor_table.tenant_column.unwrap_or_default();
        let cte = format!(
            "{name} (tenant_id, id, depth) AS (\
             SELECT {anchor_alias}.{anchor_tenant_column}, {anchor_alias}.id, 1 \
             FROM {} {anchor_alias}{anchor_filter} \
             UNION ALL SELECT {step_alias}.{step_tenant_column}, {step_alias}.id, {found_alias}.depth + 1 \
             FROM {name} {found_alias} JOIN {} {step_alias} ON {} WHERE {found_alias}.depth < 3)",
            anchor_table.name,
            step_table.name,
            on.join(" AND ")
        );
        self.ctes.push(Cte {
            name,
            columns: found.columns,
            tenant_column: found.tenant_column,
        });
        cte
    }

    // -- DML ----------------------------------------------------------------

    fn returning(&mut self, scope: &Scope) -> String {
        if !self.chance(50) {
            return String::new();
        }
        let ty = if self.chance(50) { Ty::Int } else { Ty::Text };
        let value = self.expr(scope, ty, MAX_DEPTH - 1);
        format!(" RETURNING {value}")
    }

    /// A value for a written column: the tenant value for the tenant
    /// column (mostly), else an expression.
    fn written_value(
        &mut self,
        scope: &Scope,
        column: &str,
        ty: Ty,
        tenant_column: &str,
    ) -> String {
        if column == tenant_column {
            return match self.rng.u32(0..100) {
                0..80 => "$tenant".to_string(),
                80..88 => "'b'".to_string(),
                _ => self.expr(scope, Ty::Text, MAX_DEPTH - 1),
            };
        }
        self.expr(scope, ty, MAX_DEPTH - 1)
    }

    fn writable_table(&mut self) -> &'static Table {
        let tables: Vec<&'static Table> = writable_tables().collect();
        tables[self.rng.usize(0..tables.len())]
    }

    fn update(&mut self, scope: &Scope, depth: u32) -> String {
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        let alias = self.alias(&table.name[..1]);
        let target = Self::table_rel(table, &alias);
        let mut rels = vec![target.clone()];
        let mut from = String::new();
        if self.chance(30) {
            let (clause, more) = self.sources(scope, depth + 1);
            from = format!(" FROM {clause}");
            rels.extend(more);
        }
        let mut inner = scope.clone();
        inner.push(rels);
        // Never the key but the tenant column, so updates do not collide.
        let settable: Vec<(&str, Ty)> = table.columns[table.key_len..]
            .iter()
            .copied()
            .chain(if self.chance(10) {
                Some(table.columns[0])
            } else {
                None
            })
            .collect();
        if settable.is_empty() {
            return self.delete(scope, depth);
        }
        let (column, ty) = *self.pick(&settable);
        // SET and RETURNING see the target only: a target row joined to
        // several FROM rows takes its values from an arbitrary one of them,
        // which the plan picks (and the plan differs on the partitions).
        let mut target_scope = scope.clone();
        target_scope.push(vec![target]);
        let value = self.written_value(&target_scope, column, ty, tenant_column);
        let filter = self.where_clause(&inner, depth);
        let returning = self.returning(&target_scope);
        format!(
            "UPDATE {} {alias} SET {column} = {value}{from}{filter}{returning}",
            table.name
        )
    }

    fn delete(&mut self, scope: &Scope, depth: u32) -> String {
        let table = self.writable_table();
        let alias = self.alias(&table.name[..1]);
        let mut rels = vec![Self::table_rel(table, &alias)];
        let mut using = String::new();
        if self.chance(30) {
            let (clause, more) = self.sources(scope, depth + 1);
            using = format!(" USING {clause}");
            rels.extend(more);
        }
        let mut target_scope = scope.clone();
        target_scope.push(vec![rels[0].clone()]);
        let mut inner = scope.clone();
        inner.push(rels);
        let filter = self.where_clause(&inner, depth);
        // The target only, as in UPDATE .. FROM.
        let returning = self.returning(&target_scope);
        format!(
            "DELETE FROM {} {alias}{using}{filter}{returning}",
            table.name
        )
    }

    fn insert(&mut self, scope: &Scope, depth: u32) -> String {
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        let columns: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let source = if self.chance(50) {
            // VALUES: keys 1..6, some taken, some free.
            let values: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(index, (column, ty))| {
                    if index > 0 && index < table.key_len {
                        (self.rng.u32(1..9) + 10 * u32::from(self.chance(50))).to_string()
                    } else {
                        self.written_value(scope, column, *ty, tenant_column)
                    }
                })
                .collect();
            format!("VALUES ({})", values.join(", "))
        } else {
            // INSERT .. SELECT, keys shifted so most rows are new.
            let (from, rels) = self.sources(scope, depth + 1);
            let mut inner = scope.clone();
            inner.push(rels);
            let values: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(index, (column, ty))| {
                    if index > 0 && index < table.key_len {
                        let key = self.expr(&inner, Ty::Int, MAX_DEPTH);
                        format!("100 + {key}")
                    } else {
                        self.written_value(&inner, column, *ty, tenant_column)
                    }
                })
                .collect();
            let filter = self.where_clause(&inner, depth);
            format!("SELECT {} FROM {from}{filter}", values.join(", "))
        };
        let target_alias = self.alias("t");
        let target = Self::table_rel(table, &target_alias);
        let conflict = match self.rng.u32(0..100) {
            0..60 => String::new(),
            60..75 => " ON CONFLICT DO NOTHING".to_string(),
            _ => {
                let key: Vec<&str> = columns[..table.key_len].to_vec();
                let settable: Vec<(&str, Ty)> = table.columns[table.key_len..].to_vec();
                if settable.is_empty() {
                    " ON CONFLICT DO NOTHING".to_string()
                } else {
                    let (column, ty) = *self.pick(&settable);
                    let mut excluded_scope = scope.clone();
                    excluded_scope.push(vec![
                        target.clone(),
                        Rel {
                            alias: "excluded".to_string(),
                            ..target.clone()
                        },
                    ]);
                    let value = self.expr(&excluded_scope, ty, MAX_DEPTH - 1);
                    let filter = if self.chance(30) {
                        let condition = self.predicate(&excluded_scope, MAX_DEPTH - 1);
                        format!(" WHERE {condition}")
                    } else {
                        String::new()
                    };
                    format!(
                        " ON CONFLICT ({}) DO UPDATE SET {column} = {value}{filter}",
                        key.join(", ")
                    )
                }
            }
        };
        // Two selected rows with one key and DO NOTHING: the first inserted
        // stays, and which is first follows the plan (the partitions' plan
        // is not the parents'). Ordered by every output, equal keys arrive
        // in an order the values decide.
        let source = if source.starts_with("SELECT") && conflict == " ON CONFLICT DO NOTHING" {
            let positions: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
            format!("{source} ORDER BY {}", positions.join(", "))
        } else {
            source
        };
        let mut returning_scope = scope.clone();
        returning_scope.push(vec![target]);
        let returning = self.returning(&returning_scope);
        format!(
            "INSERT INTO {} AS {target_alias} ({}) {source}{conflict}{returning}",
            table.name,
            columns.join(", ")
        )
    }

    fn merge(&mut self) -> String {
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        let alias = self.alias(&table.name[..1]);
        let target = Self::table_rel(table, &alias);
        let scope: Scope = Vec::new();
        let (source, source_rel) = if self.chance(50) {
            let (select, columns, carried) = self.derived_select(&scope, 1);
            let source_alias = self.alias("s");
            (
                format!("({select}) {source_alias}"),
                Rel {
                    alias: source_alias,
                    columns,
                    tenant_column: carried,
                },
            )
        } else {
            let source_table = self.table();
            let source_alias = self.alias("s");
            (
                format!("{} {source_alias}", source_table.name),
                Self::table_rel(source_table, &source_alias),
            )
        };
        let both: Scope = vec![vec![target.clone(), source_rel.clone()]];
        let mut on = Vec::new();
        if self.chance(80) {
            on.push(self.binding(&target, &both));
        }
        if source_rel.tenant_column.is_some() && self.chance(70) {
            on.push(self.binding(&source_rel, &both));
        }
        on.push(self.comparison(&both, MAX_DEPTH - 1));
        let settable: Vec<(&str, Ty)> = table.columns[table.key_len..].to_vec();
        let matched = if settable.is_empty() || self.chance(25) {
            "DELETE".to_string()
        } else {
            let (column, ty) = *self.pick(&settable);
            let value = self.expr(&both, ty, MAX_DEPTH - 1);
            format!("UPDATE SET {column} = {value}")
        };
        let source_only: Scope = vec![vec![source_rel]];
        let values: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(index, (column, ty))| {
                if index > 0 && index < table.key_len {
                    let key = self.expr(&source_only, Ty::Int, MAX_DEPTH);
                    format!("200 + {key}")
                } else {
                    self.written_value(&source_only, column, *ty, tenant_column)
                }
            })
            .collect();
        let columns: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let not_matched = if self.chance(70) {
            format!(
                " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
                columns.join(", "),
                values.join(", ")
            )
        } else {
            String::new()
        };
        // A WHEN condition may bind what the join condition does not.
        let when = |generator: &mut Generator, scope: &Scope, rel: &Rel| {
            if !generator.chance(25) {
                return String::new();
            }
            let condition = if rel.tenant_column.is_some() && generator.chance(70) {
                generator.binding(rel, scope)
            } else {
                generator.comparison(scope, MAX_DEPTH - 1)
            };
            format!(" AND {condition}")
        };
        let matched_when = when(self, &both, &target);
        let not_matched = if not_matched.is_empty() {
            not_matched
        } else {
            let source_rel = source_only[0][0].clone();
            let not_matched_when = when(self, &source_only, &source_rel);
            not_matched.replacen(
                " WHEN NOT MATCHED THEN",
                &format!(" WHEN NOT MATCHED{not_matched_when} THEN"),
                1,
            )
        };
        format!(
            "MERGE INTO {} {alias} USING {source} ON {} WHEN MATCHED{matched_when} THEN {matched}{not_matched}",
            table.name,
            on.join(" AND ")
        )
    }

    /// `WITH w AS (<DML> RETURNING ..) SELECT .. FROM w ..`.
    fn writable_cte(&mut self) -> String {
        let scope: Scope = Vec::new();
        let mut dml = match self.rng.u32(0..3) {
            0 => self.update(&scope, 1),
            1 => self.delete(&scope, 1),
            _ => self.insert(&scope, 1),
        };
        if let Some(at) = dml.find(" RETURNING ") {
            dml.truncate(at);
        }
        let table_name = dml
            .split_whitespace()
            .find(|word| TABLES.iter().any(|t| t.name == *word))
            .unwrap_or("forms");
        let table = TABLES
            .iter()
            .find(|t| t.name == table_name)
            .unwrap_or(&TABLES[3]);
        dml.push_str(" RETURNING *");
        let name = self.alias("w");
        self.ctes.push(Cte {
            name: name.clone(),
            columns: table
                .columns
                .iter()
                .map(|(n, ty)| (n.to_string(), *ty))
                .collect(),
            tenant_column: table.tenant_column.map(str::to_string),
        });
        let body = self.select(&Vec::new(), 0, None);
        format!("WITH {name} AS ({dml}) {body}")
    }
}
