//! Statements shaped to meet the analyzer's known weak spots: the classes
//! of issue 18, each found by hand first as statements written to pass the
//! checker and leak. The general generator never wrote them (every column
//! qualified by a unique alias, no CTE named like a DML target, no
//! schema-qualified names, no cast chains), so its "0 false accepts" said as
//! much about its reach as about the analyzer.
//!
//! Each production writes a leaking variant and a safe one of its shape,
//! with random tables, columns, positions and values, so a run reports both
//! how many of the class the analyzer refused and how many it accepted and
//! the worlds agreed on. The leaking variants read or write rows of
//! [`OTHER_TENANT`] or, for the casts, [`COLLIDING_TENANT`], which hold
//! different rows (or none) in each world.

use super::{Generator, Table, Ty, COLLIDING_TENANT, OTHER_TENANT, TABLES};

/// What a statement was written to probe: the general mix, or one class of
/// issue 18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The general generator: joins, subqueries, CTEs, DML of every kind.
    General,
    /// 1. The target of INSERT, UPDATE, DELETE or MERGE named like a CTE
    ///    (PostgreSQL's `setTargetTable` never looks at the WITH list), also
    ///    in a writable CTE beside a sibling of that name.
    DmlTargetCte,
    /// 2. A name a LATERAL subquery, a function's arguments in FROM or a
    ///    JOIN's ON clause cannot see yet: a later FROM item of the same
    ///    alias, while PostgreSQL reads the outer item.
    FromVisibility,
    /// 3. A table function in FROM without an alias, named by PostgreSQL
    ///    after itself (`unnest`, `jsonb_to_record`, `xmltable`, ...), and an
    ///    outer item carrying that name.
    UnaliasedFunction,
    /// 4. `schema.table` and `schema.table.column`, which never name a CTE.
    SchemaQualified,
    /// 5. A recursive CTE whose columns shift the tenant out one step at a
    ///    time, more steps than a bounded fixpoint may look at.
    RecursiveChain,
    /// 6. Clauses a walker can miss: LIMIT / OFFSET / ORDER BY of a bare
    ///    VALUES (alone, in IN, in a CTE, after INSERT), subscripts in an
    ///    INSERT's or UPDATE's target columns.
    UnwalkedClause,
    /// 7. `$tenant` through a cast chain that is not the identity on text
    ///    (`'007'::int8::text` is `'7'`), and equalities that hold only
    ///    after a cast.
    LossyCast,
}

impl Class {
    /// Every class, the general mix first.
    pub const ALL: [Class; 8] = [
        Class::General,
        Class::DmlTargetCte,
        Class::FromVisibility,
        Class::UnaliasedFunction,
        Class::SchemaQualified,
        Class::RecursiveChain,
        Class::UnwalkedClause,
        Class::LossyCast,
    ];

    /// The hunted classes, in the order of issue 18.
    pub const HUNTED: [Class; 7] = [
        Class::DmlTargetCte,
        Class::FromVisibility,
        Class::UnaliasedFunction,
        Class::SchemaQualified,
        Class::RecursiveChain,
        Class::UnwalkedClause,
        Class::LossyCast,
    ];

    /// A short name for the figures.
    pub fn name(self) -> &'static str {
        match self {
            Class::General => "general",
            Class::DmlTargetCte => "1 dml-target-cte",
            Class::FromVisibility => "2 from-visibility",
            Class::UnaliasedFunction => "3 unaliased-function",
            Class::SchemaQualified => "4 schema-qualified",
            Class::RecursiveChain => "5 recursive-chain",
            Class::UnwalkedClause => "6 unwalked-clause",
            Class::LossyCast => "7 lossy-cast",
        }
    }
}

/// The schema every world's tables live in, as the statements write it:
/// the oracle runs `public.forms` as `w1.forms` in world `w1` (see
/// `main.rs`), and the configuration reads `public.forms` as `forms`.
pub const QUALIFIER: &str = "public.";

/// Casts from text that change some text values (`'007'` to `'7'`, `'1e2'`
/// to `'100'`) and back.
const LOSSY_CHAINS: &[&str] = &[
    "::int8::text",
    "::bigint::text",
    "::int4::text",
    "::int2::text",
    "::numeric::text",
    "::float8::text",
    "::int8::varchar",
    "::numeric::varchar",
];

/// Casts that are the identity on every text value.
const IDENTITY_CASTS: &[&str] = &["", "::text", "::varchar", "::text::text"];

impl Generator {
    /// One statement of `class` (a hunted one).
    pub(super) fn hunted(&mut self, class: Class) -> String {
        match class {
            Class::General => self.statement_general(),
            Class::DmlTargetCte => self.dml_target_named_like_a_cte(),
            Class::FromVisibility => self.name_not_yet_visible(),
            Class::UnaliasedFunction => self.unaliased_function(),
            Class::SchemaQualified => self.schema_qualified(),
            Class::RecursiveChain => self.recursive_chain(),
            Class::UnwalkedClause => self.unwalked_clause(),
            Class::LossyCast => self.lossy_cast(),
        }
    }

    /// Whether this statement is the leaking variant of its shape.
    fn leaks(&mut self) -> bool {
        self.chance(60)
    }

    /// A tenant table whose tenant column is `tenant_id` (users, forms,
    /// submissions).
    fn table_with_tenant_id(&mut self) -> &'static Table {
        &TABLES[2 + self.rng.usize(0..3)]
    }

    /// A condition on `alias` of `table` that other tenants' rows meet too
    /// (ids repeat across tenants; names are never NULL).
    fn condition_others_meet(&mut self, table: &Table, alias: &str) -> String {
        let int_columns: Vec<&str> = table.columns[1..]
            .iter()
            .filter(|(_, ty)| *ty == Ty::Int)
            .map(|(name, _)| *name)
            .collect();
        if !int_columns.is_empty() && self.chance(70) {
            let column = *self.pick(&int_columns);
            let value = self.rng.u32(1..4);
            format!("{alias}.{column} = {value}")
        } else {
            let text_column = table.columns[1..]
                .iter()
                .find(|(_, ty)| *ty == Ty::Text)
                .map(|(name, _)| *name)
                .unwrap_or("id");
            format!("{alias}.{text_column} IS NOT NULL")
        }
    }

    /// A non-key column of `table` and a value for it.
    fn assignment(&mut self, table: &Table) -> Option<String> {
        let settable: Vec<(&str, Ty)> = table.columns[table.key_len..].to_vec();
        if settable.is_empty() {
            return None;
        }
        let (column, ty) = *self.pick(&settable);
        let value = match ty {
            Ty::Int => self.rng.u32(0..9).to_string(),
            Ty::Text => "'z'".to_string(),
        };
        Some(format!("{column} = {value}"))
    }

    /// A VALUES row for every column of `table`: `tenant` in the tenant
    /// column, `key` in the other key columns.
    fn row_for(&mut self, table: &Table, tenant: &str, key: u32) -> String {
        let values: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(index, (name, ty))| {
                if Some(*name) == table.tenant_column {
                    tenant.to_string()
                } else if index < table.key_len {
                    key.to_string()
                } else {
                    match ty {
                        Ty::Int => self.rng.u32(0..9).to_string(),
                        Ty::Text => "'new'".to_string(),
                    }
                }
            })
            .collect();
        format!("({})", values.join(", "))
    }

    fn column_list(table: &Table) -> String {
        table
            .columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    // -- 1. DML targets and CTE names -------------------------------------

    /// `WITH forms AS (..) DELETE FROM forms ..`: the CTE is bound, the
    /// target is the table; bound or not, as the variant says.
    fn dml_target_named_like_a_cte(&mut self) -> String {
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        let leaks = self.leaks();
        let alias = self.alias(&table.name[..1]);
        let cte_body = match self.rng.u32(0..3) {
            0 => format!("SELECT $tenant::text AS {tenant_column}"),
            1 => format!(
                "SELECT * FROM {} WHERE {tenant_column} = $tenant",
                table.name
            ),
            _ => "SELECT 1 AS x".to_string(),
        };
        let bind = if leaks {
            String::new()
        } else {
            format!(" AND {alias}.{tenant_column} = $tenant")
        };
        let condition = self.condition_others_meet(table, &alias);
        let qualifier = if self.chance(20) { QUALIFIER } else { "" };
        let target = format!("{qualifier}{} {alias}", table.name);
        let dml = match self.rng.u32(0..4) {
            0 => format!("DELETE FROM {target} WHERE {condition}{bind} RETURNING {alias}.id"),
            1 => match self.assignment(table) {
                Some(set) => format!("UPDATE {target} SET {set} WHERE {condition}{bind}"),
                None => format!("DELETE FROM {target} WHERE {condition}{bind}"),
            },
            2 => {
                let tenant = if leaks {
                    format!("'{OTHER_TENANT}'")
                } else {
                    "$tenant".to_string()
                };
                let key = 50 + self.rng.u32(0..5);
                let row = self.row_for(table, &tenant, key);
                format!(
                    "INSERT INTO {qualifier}{} ({}) VALUES {row} ON CONFLICT DO NOTHING",
                    table.name,
                    Self::column_list(table)
                )
            }
            _ => {
                let action = match self.assignment(table) {
                    Some(set) => format!("UPDATE SET {set}"),
                    None => "DELETE".to_string(),
                };
                let key = table.columns[1].0;
                let on = if table.columns[1].1 == Ty::Int {
                    format!("{alias}.{key} = s.n")
                } else {
                    format!("{alias}.{key} IS NOT NULL")
                };
                format!(
                    "MERGE INTO {target} USING (VALUES (1), (2)) s (n) ON {on}{bind} WHEN MATCHED THEN {action}"
                )
            }
        };
        if self.chance(30) {
            // A writable CTE whose sibling carries the target's name.
            let dml = if dml.contains(" RETURNING ") {
                dml
            } else {
                format!("{dml} RETURNING 1")
            };
            return format!(
                "WITH {} AS ({cte_body}), w AS ({dml}) SELECT count(*) FROM w",
                table.name
            );
        }
        format!("WITH {} AS ({cte_body}) {dml}", table.name)
    }

    // -- 2. Visibility of FROM items --------------------------------------

    /// An outer `x` holding another tenant's id, and inside a subquery a
    /// LATERAL item, a function's argument or an ON clause naming `x`
    /// before a later FROM item `x` bound to the tenant.
    fn name_not_yet_visible(&mut self) -> String {
        let outer_value = if self.leaks() {
            format!("'{OTHER_TENANT}'")
        } else {
            "$tenant".to_string()
        };
        let read = self.table_with_tenant_id();
        let later = self.table_with_tenant_id();
        let count = match self.rng.u32(0..3) {
            0 => format!(
                "SELECT count(*) FROM LATERAL (SELECT f.id FROM {} f WHERE f.tenant_id = x.tenant_id) l, {} x WHERE x.tenant_id = $tenant",
                read.name, later.name
            ),
            1 => format!(
                "SELECT count(*) FROM generate_series(1, (SELECT count(*)::int FROM {} f WHERE f.tenant_id = x.tenant_id)) g, {} x WHERE x.tenant_id = $tenant",
                read.name, later.name
            ),
            _ => {
                let first = self.table_with_tenant_id();
                format!(
                    "SELECT count(*) FROM {} y JOIN {} f ON f.tenant_id = x.tenant_id AND f.id = y.id, {} x WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant",
                    first.name, read.name, later.name
                )
            }
        };
        format!("SELECT ({count}) FROM (SELECT {outer_value}::text AS tenant_id) x")
    }

    // -- 3. Names of unaliased FROM items ---------------------------------

    /// An outer item named like an unaliased table function, and a
    /// reference `function.column` beside that function: PostgreSQL reads
    /// the function's column (another tenant's id), not the outer item's.
    fn unaliased_function(&mut self) -> String {
        let other = OTHER_TENANT;
        let functions: [(String, &str, &str); 8] = [
            (
                format!("jsonb_to_record('{{\"tenant_id\": \"{other}\"}}') AS (tenant_id text)"),
                "jsonb_to_record",
                "tenant_id",
            ),
            (
                format!("json_to_record('{{\"tenant_id\": \"{other}\"}}') AS (tenant_id text)"),
                "json_to_record",
                "tenant_id",
            ),
            (format!("unnest(ARRAY['{other}'])"), "unnest", "unnest"),
            (
                format!("regexp_split_to_table('{other}', ',')"),
                "regexp_split_to_table",
                "regexp_split_to_table",
            ),
            (
                format!("string_to_table('{other}', ',')"),
                "string_to_table",
                "string_to_table",
            ),
            (
                format!("jsonb_each_text('{{\"k\": \"{other}\"}}')"),
                "jsonb_each_text",
                "value",
            ),
            (
                format!(
                    "XMLTABLE('/r' PASSING ('<r><t>{other}</t></r>'::xml) COLUMNS tenant_id text PATH 't')"
                ),
                "xmltable",
                "tenant_id",
            ),
            (format!("lower('{other}')"), "lower", "lower"),
        ];
        let (call, name, column) = functions[self.rng.usize(0..functions.len())].clone();
        // The safe variant aliases the function, so `name.column` is the
        // outer item's, bound to the tenant.
        let call = if self.leaks() {
            call
        } else if let Some(at) = call.find(" AS (") {
            format!("{} AS fn{}", &call[..at], &call[at + 3..])
        } else {
            format!("{call} AS fn")
        };
        let table = self.table_with_tenant_id();
        let output = if self.chance(50) {
            "count(*)"
        } else {
            "max(g.id)"
        };
        format!(
            "SELECT l.n FROM (SELECT $tenant::text AS {column}) {name}, \
             LATERAL (SELECT {output} AS n FROM {call}, {} g WHERE g.tenant_id = {name}.{column}) l",
            table.name
        )
    }

    // -- 4. Schema-qualified names and CTEs -------------------------------

    /// `public.t` and `public.t.column` beside a CTE named `t`: PostgreSQL
    /// reads the table, never the CTE.
    fn schema_qualified(&mut self) -> String {
        let leaks = self.leaks();
        let qualifier = if leaks { QUALIFIER } else { "" };
        match self.rng.u32(0..3) {
            0 => {
                // The outer global table holds a plan whose id is another
                // tenant's.
                let table = self.table_with_tenant_id();
                format!(
                    "SELECT plans.id, (WITH plans AS (SELECT $tenant::text AS id) \
                     SELECT count(*) FROM plans, {} f WHERE f.tenant_id = {qualifier}plans.id) FROM plans",
                    table.name
                )
            }
            1 => {
                let table = self.writable_table();
                let tenant_column = table.tenant_column.unwrap_or_default();
                let columns = Self::column_list(table);
                format!(
                    "WITH {name} AS (SELECT {columns} FROM {name} WHERE {tenant_column} = $tenant) \
                     SELECT x.{tenant_column}, x.id FROM {qualifier}{name} x",
                    name = table.name
                )
            }
            _ => {
                let table = self.writable_table();
                let tenant_column = table.tenant_column.unwrap_or_default();
                format!(
                    "WITH {name} AS (SELECT * FROM {name} WHERE {tenant_column} = $tenant) \
                     SELECT count(*) FROM forms f JOIN {qualifier}{name} ON f.tenant_id = $tenant",
                    name = table.name
                )
            }
        }
    }

    // -- 5. Recursive CTEs that do not converge soon ----------------------

    /// `WITH RECURSIVE r(c1, .., ck, n, name)`: each step shifts the
    /// columns left, so whatever the last column holds reaches `c1`, the
    /// one the join binds, after `k - 1` steps.
    fn recursive_chain(&mut self) -> String {
        let length = self.rng.u32(2..18) as usize;
        let last = if self.leaks() {
            format!("'{OTHER_TENANT}'::text")
        } else {
            "$tenant::text".to_string()
        };
        let table = self.table_with_tenant_id();
        let columns: Vec<String> = (1..=length).map(|i| format!("c{i}")).collect();
        let mut anchor: Vec<String> = vec!["$tenant::text".to_string(); length - 1];
        anchor.push(last);
        let mut step: Vec<String> = columns[1..].iter().map(|c| format!("r.{c}")).collect();
        step.push(format!("r.c{length}"));
        let steps = length as u32 + self.rng.u32(0..3);
        let output = if self.chance(50) { "name" } else { "count(*)" };
        format!(
            "WITH RECURSIVE r({}, n, name) AS (\
             SELECT {}, 0, NULL::text \
             UNION ALL SELECT {}, r.n + 1, f.{} FROM r JOIN {} f ON f.tenant_id = r.c1 AND f.id = 1 \
             WHERE r.n < {steps}) SELECT {output} FROM r",
            columns.join(", "),
            anchor.join(", "),
            step.join(", "),
            if table.name == "submissions" { "note" } else { "name" },
            table.name
        )
    }

    // -- 6. Clauses that must be walked -----------------------------------

    /// A count of some table in a clause the walker could skip; bound to
    /// the tenant in the safe variant.
    fn counted(&mut self) -> String {
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        if self.leaks() {
            format!("(SELECT count(*) FROM {})", table.name)
        } else {
            format!(
                "(SELECT count(*) FROM {} WHERE {tenant_column} = $tenant)",
                table.name
            )
        }
    }

    fn unwalked_clause(&mut self) -> String {
        let count = self.counted();
        let values: Vec<String> = (1..=16).map(|i| format!("({i})")).collect();
        let values = values.join(", ");
        match self.rng.u32(0..7) {
            0 => format!("VALUES {values} LIMIT {count}"),
            1 => format!("VALUES {values} OFFSET {count}"),
            2 => format!("VALUES (1), (2), (3) ORDER BY column1 * ({count} - 9) LIMIT 1"),
            3 => {
                let table = self.table_with_tenant_id();
                format!(
                    "SELECT x.id FROM {} x WHERE x.tenant_id = $tenant AND x.id IN (VALUES (1), (2), (3), (4), (5) LIMIT greatest(0, {count} - 3))",
                    table.name
                )
            }
            4 => format!("WITH v(n) AS (VALUES {values} OFFSET {count}) SELECT n FROM v"),
            5 => {
                // Keys of their own per row; the tenants table has none.
                let table = self.table_with_tenant_id();
                let rows: Vec<String> = (0..12)
                    .map(|i| self.row_for(table, "$tenant", 60 + i))
                    .collect();
                format!(
                    "INSERT INTO {} ({}) VALUES {} LIMIT {count}",
                    table.name,
                    Self::column_list(table),
                    rows.join(", ")
                )
            }
            _ => {
                let tags = format!("tags[{count}]");
                if self.chance(50) {
                    format!(
                        "INSERT INTO submissions (tenant_id, id, form_id, {tags}) VALUES ($tenant, 70, 1, 5)"
                    )
                } else {
                    format!(
                        "UPDATE submissions SET {tags} = 5 WHERE tenant_id = $tenant AND id = 1"
                    )
                }
            }
        }
    }

    // -- 7. Lossy casts ---------------------------------------------------

    fn lossy_cast(&mut self) -> String {
        let leaks = self.leaks();
        let chain = if leaks {
            *self.pick(LOSSY_CHAINS)
        } else {
            *self.pick(IDENTITY_CASTS)
        };
        let tenant = format!("$tenant{chain}");
        let table = self.writable_table();
        let tenant_column = table.tenant_column.unwrap_or_default();
        let alias = self.alias(&table.name[..1]);
        let key = table.columns[1].0;
        match self.rng.u32(0..7) {
            0 => format!(
                "SELECT {alias}.{key}, {alias}.{} FROM {} {alias} WHERE {alias}.{tenant_column} = {tenant}",
                table.columns[2].0, table.name
            ),
            1 => format!(
                "SELECT count(*) FROM {} {alias} WHERE ({alias}.{tenant_column}, true) = ({tenant}, true)",
                table.name
            ),
            2 => format!(
                "SELECT count(*) FROM {} {alias} WHERE {alias}.{tenant_column} IN ({tenant})",
                table.name
            ),
            3 => {
                // Equal to the tenant only after a cast: `d.k` is not the
                // tenant's id, whatever the cast says.
                let cast = if leaks { "::numeric" } else { "::text" };
                let value = if leaks {
                    format!("'{COLLIDING_TENANT}'")
                } else {
                    "$tenant".to_string()
                };
                format!(
                    "SELECT count(*) FROM {} {alias}, (SELECT {value}::text AS k) d \
                     WHERE {alias}.{tenant_column} = d.k AND d.k{cast} = $tenant{cast}",
                    table.name
                )
            }
            4 => format!(
                "UPDATE {} {alias} SET {tenant_column} = {tenant} WHERE {alias}.{tenant_column} = $tenant RETURNING {alias}.{key}",
                table.name
            ),
            5 => {
                let key = 80 + self.rng.u32(0..5);
                let row = self.row_for(table, &tenant, key);
                format!(
                    "INSERT INTO {} ({}) VALUES {row}",
                    table.name,
                    Self::column_list(table)
                )
            }
            _ => format!(
                "DELETE FROM {} {alias} WHERE {alias}.{tenant_column} = {tenant} RETURNING {alias}.{key}",
                table.name
            ),
        }
    }
}
