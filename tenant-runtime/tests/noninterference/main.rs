//! The analyzer's promise, checked by PostgreSQL: a statement it accepts for
//! the requesting tenant (`007`) neither reads nor writes another tenant's
//! rows.
//!
//! The oracle is noninterference. Random statements ([`generator`]) are
//! analysed in strict mode and run for the requesting tenant in four
//! *worlds*: schemas `w1` to `w4` with the same tables and the same rows of
//! the requesting tenant (inserted first, so even their physical order is
//! the same), and different rows of every other tenant (other values, other
//! counts, other tenants, none at all). A statement that only reads and
//! writes the requesting tenant's rows (and global tables) returns the same
//! rows, fails in all of them or in none, leaves the requesting tenant's rows
//! and the global tables the same in every world, and leaves the other
//! tenants' rows as they were. Anything else means the other tenants' data
//! reached the requesting tenant's result or its statement reached theirs:
//! for an accepted statement, a false accept of the analyzer and a test
//! failure.
//!
//! A quarter of the statements come from productions aimed at the classes
//! of issue 18 ([`Class`]: DML targets named like CTEs, names a FROM item
//! cannot see yet, unaliased table functions, schema-qualified names,
//! recursive CTEs that converge late, clauses a walker can miss, lossy cast
//! chains); the figures are printed per class. The requesting tenant's id
//! looks like a number and tenant `7` has rows in two worlds, so
//! `$tenant::int8::text` reads someone else's rows where it can.
//!
//! One difference is not held against the analyzer: a division that fails
//! on another tenant's row (an error channel: the analyzer does not see the
//! order in which PostgreSQL evaluates conditions). When the worlds differ
//! and the statement made total ([`generator::without_failures`]) does not
//! interfere, the statement counts as an error channel, and its routed form,
//! which names only the requesting tenant's partitions, must not interfere at all.
//!
//! Refused statements run too, for the figures the test prints: how many of
//! them the worlds show to leak (the oracle sees leaks) and how many showed
//! nothing: leaks this data cannot reveal, forms the analyzer does not prove
//! safe (`x.tenant_id = (SELECT $tenant)`), and forms wrong only for other
//! tenant ids than `007` (`x.tenant_id = lower($tenant)`).
//!
//! * `cargo test -p tenant-runtime --test noninterference` runs
//!   `NONINTERFERENCE_CASES` statements (default 1500) of seed
//!   `NONINTERFERENCE_SEED` (default 1): deterministic, part of the test
//!   command.
//! * `NONINTERFERENCE_SECONDS=600 NONINTERFERENCE_SEED=random cargo test
//!   --release -p tenant-runtime --test noninterference -- --nocapture`
//!   runs fresh statements for ten minutes.
//! * `NONINTERFERENCE_SHOW=accepted`, `error-channel`, `refused-leaking` or
//!   `refused-quiet` prints the statements of that kind (with `--
//!   --nocapture`).
//! * A failure names its seed and case; `NONINTERFERENCE_SEED=<seed>
//!   NONINTERFERENCE_CASE=<case>` reruns that one statement.
//! * `NONINTERFERENCE_CLASS=<1..7 or name>` writes only statements of that
//!   class (with `NONINTERFERENCE_CASE`, give the class the failure named).

#[path = "../support/mod.rs"]
mod support;

mod generator;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sqlx::{PgConnection, Row, ValueRef};
use support::TestDb;
use tenant_runtime::tenant_core::route::RouteTemplate;
use tenant_runtime::tenant_core::schema::quote_ident;
use tenant_runtime::tenant_core::{Analyzer, Binding, Config};

use generator::{
    failing_division, without_failures, Class, Generator, COLLIDING_TENANT, EXTRA_COLUMNS,
    OTHER_TENANT, QUALIFIER, TABLES, TENANT,
};

const CONFIG: &str = r#"
tenant_column = "tenant_id"
global_tables = ["plans"]

[tables.tenants]
tenant_column = "id"

[tables.audit_log]
tenant_column = "org_id"
"#;

/// Every tenant that has rows in some world.
const ALL_TENANTS: [&str; 5] = [TENANT, OTHER_TENANT, "c", "d", COLLIDING_TENANT];

/// The tables of [`generator::TABLES`], the tenant tables LIST-partitioned
/// by their tenant column with one partition per tenant (`forms_007`, ...), as
/// the runtime builds them. Every key includes the tenant column, as
/// `#[derive(TenantTable)]` makes it: a unique key across tenants would let
/// one tenant's insert fail because of another's row, which no analysis of
/// the statement can prevent.
fn schema_sql() -> String {
    let mut sql = String::new();
    for table in TABLES {
        let columns: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(index, (name, ty))| {
                let ty = match ty {
                    generator::Ty::Int => "int",
                    generator::Ty::Text => "text",
                };
                // Keys and names are NOT NULL; the rest may be NULL.
                let not_null = if index < table.key_len || *name == "name" || *name == "action" {
                    " NOT NULL"
                } else {
                    ""
                };
                format!("{name} {ty}{not_null}")
            })
            .chain(
                EXTRA_COLUMNS
                    .iter()
                    .filter(|(extra_table, _)| *extra_table == table.name)
                    .map(|(_, column)| column.to_string()),
            )
            .collect();
        let key: Vec<&str> = table.columns[..table.key_len]
            .iter()
            .map(|(name, _)| *name)
            .collect();
        let _ = write!(
            sql,
            "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
            table.name,
            columns.join(", "),
            key.join(", ")
        );
        match table.tenant_column {
            Some(column) => {
                let _ = writeln!(sql, " PARTITION BY LIST ({column});");
                for tenant in ALL_TENANTS {
                    let _ = writeln!(
                        sql,
                        "CREATE TABLE {table}_{tenant} PARTITION OF {table} FOR VALUES IN ('{tenant}');",
                        table = table.name
                    );
                }
            }
            None => sql.push_str(";\n"),
        }
    }
    sql
}

/// The requesting tenant's rows and the global rows: the same in every
/// world. One plan's id is another tenant's (a global value that names a
/// tenant, as a schema-qualified reference may read).
fn tenant_a_rows() -> String {
    format!(
        "
INSERT INTO plans VALUES ('free', 'Free', 0), ('pro', 'Pro', 29), ('{OTHER_TENANT}', 'Basic', 9);
INSERT INTO tenants VALUES ('{t}', 'Tenant a', 'free');
INSERT INTO users VALUES ('{t}', 1, 'Ada', NULL), ('{t}', 2, 'Ben', 1), ('{t}', 3, 'Cy', 1);
INSERT INTO forms VALUES ('{t}', 1, 1, 'Form 1', 10), ('{t}', 2, 2, 'Form 2', NULL),
    ('{t}', 3, 1, 'Old', 30), ('{t}', 4, 3, 'Poll', 5);
INSERT INTO submissions VALUES ('{t}', 1, 1, 7, 'ok'), ('{t}', 2, 1, NULL, NULL), ('{t}', 3, 2, 3, 'late'),
    ('{t}', 4, 4, 9, 'x'), ('{t}', 5, 3, 1, 'a'), ('{t}', 6, 9, 2, 'orphan');
INSERT INTO audit_log VALUES ('{t}', 1, 'create'), ('{t}', 2, 'delete');
",
        t = TENANT
    )
}

/// Rows of another tenant: `variant` changes every value that is not a key
/// and which rows join to which; `rows` is how many per table. Variant 1
/// copies the requesting tenant's names, so a join on names across tenants matches in one
/// world and not in the others.
fn other_tenant_rows(tenant: &str, variant: i32, rows: i32) -> String {
    let mut sql = String::new();
    let plan = if variant % 2 == 0 { "pro" } else { "free" };
    let _ = writeln!(
        sql,
        "INSERT INTO tenants VALUES ('{tenant}', 'Tenant {tenant} v{variant}', '{plan}');"
    );
    for id in 1..=rows {
        let name = |stem: &str| {
            if variant == 1 {
                format!("{stem} {id}")
            } else {
                format!("{tenant}{variant} {stem} {id}")
            }
        };
        let other_id = (id * variant) % rows + 1;
        let score = if (id + variant) % 4 == 0 {
            "NULL".to_string()
        } else {
            (10 * variant + id).to_string()
        };
        let _ = writeln!(
            sql,
            "INSERT INTO users VALUES ('{tenant}', {id}, '{}', {});",
            name("User"),
            if id == 1 {
                "NULL".to_string()
            } else {
                other_id.to_string()
            }
        );
        let _ = writeln!(
            sql,
            "INSERT INTO forms VALUES ('{tenant}', {id}, {other_id}, '{}', {score});",
            name("Form")
        );
        let _ = writeln!(
            sql,
            "INSERT INTO submissions VALUES ('{tenant}', {id}, {other_id}, {score}, '{}');",
            name("note")
        );
        let _ = writeln!(
            sql,
            "INSERT INTO audit_log VALUES ('{tenant}', {id}, 'action v{variant}');"
        );
    }
    sql
}

/// The worlds: every other tenant's rows per world.
fn worlds() -> Vec<(&'static str, String)> {
    vec![
        (
            "w1",
            other_tenant_rows(OTHER_TENANT, 1, 4) + &other_tenant_rows("c", 2, 3),
        ),
        (
            "w2",
            other_tenant_rows(OTHER_TENANT, 3, 4)
                + &other_tenant_rows("c", 4, 3)
                + &other_tenant_rows(COLLIDING_TENANT, 7, 3),
        ),
        (
            "w3",
            other_tenant_rows(OTHER_TENANT, 5, 7)
                + &other_tenant_rows("d", 6, 2)
                + &other_tenant_rows(COLLIDING_TENANT, 8, 5),
        ),
        // No other tenant at all: what a statement does here is what it
        // must do everywhere. (A MERGE whose NOT MATCHED depended on other
        // tenants' rows matched in every world that had some.)
        ("w4", String::new()),
    ]
}

type Rows = Vec<Vec<Option<String>>>;

/// What a statement did in one world.
#[derive(Debug, Clone)]
struct Outcome {
    /// Its rows, sorted, or the SQLSTATE it failed with.
    result: Result<Rows, String>,
    /// Tenant the requesting tenant's rows and the global tables afterwards (empty on error).
    visible_state: Rows,
    /// Whether another tenant's rows changed.
    others_changed: bool,
}

impl Outcome {
    /// The same rows and state, or a failure in both. Not the same
    /// SQLSTATE: when several rows of a statement would fail differently
    /// (a NULL here, a duplicate key there), the first one PostgreSQL meets
    /// decides, and that order follows the plan, which legitimately differs
    /// between worlds (their tables differ in size). Whether another
    /// tenant's rows decide *if* it fails is still compared.
    fn same_as(&self, other: &Outcome) -> bool {
        match (&self.result, &other.result) {
            (Err(_), Err(_)) => true,
            (mine, theirs) => mine == theirs && self.visible_state == other.visible_state,
        }
    }
}

/// A failure of PostgreSQL: SQLSTATE and message.
struct DbError {
    code: String,
    message: String,
}

/// Runs SQL over the simple protocol; every value as text.
async fn simple(conn: &mut PgConnection, sql: &str) -> Result<Rows, DbError> {
    let rows = sqlx::raw_sql(sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) => DbError {
                code: db.code().as_deref().unwrap_or("?").to_string(),
                message: db.message().to_string(),
            },
            other => panic!("{sql}: {other}"),
        })?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let value = row.try_get_raw(i).expect("column");
                    (!value.is_null()).then(|| value.as_str().expect("text value").to_string())
                })
                .collect()
        })
        .collect())
}

async fn must(conn: &mut PgConnection, sql: &str) -> Rows {
    match simple(conn, sql).await {
        Ok(rows) => rows,
        Err(e) => panic!("{sql}: {} [{}]", e.message, e.code),
    }
}

/// One query dumping the given rows of every table, table by table.
fn dump_sql(of_tenant_a: bool) -> String {
    TABLES
        .iter()
        .map(|table| {
            let filter = match (table.tenant_column, of_tenant_a) {
                (Some(column), true) => format!(" WHERE t.{column} = '{TENANT}'"),
                (Some(column), false) => format!(" WHERE t.{column} <> '{TENANT}'"),
                (None, true) => String::new(),
                (None, false) => " WHERE false".to_string(),
            };
            format!(
                "SELECT '{name}', coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') \
                 FROM {name} t{filter}",
                name = table.name
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

struct Oracle {
    _db: TestDb,
    conn: PgConnection,
    worlds: Vec<&'static str>,
    /// The other tenants' rows of each world, as loaded.
    pristine_others: Vec<Rows>,
    dump_visible: String,
    dump_others: String,
}

/// What the worlds said about one statement.
enum Verdict {
    /// PREPARE failed: not valid SQL for this schema (the same in every
    /// world, since the schemas are the same).
    Invalid,
    /// It took too long somewhere: not compared.
    TimedOut,
    /// Same outcome everywhere, other tenants untouched.
    Noninterfering { failed: bool },
    /// The worlds disagree, or another tenant's rows changed.
    Interfering(String),
    /// The worlds disagree only because a division failed on another
    /// tenant's row: made total, the same statement does not interfere. The
    /// analyzer accepts such statements (it does not see evaluation order);
    /// routing must close the channel.
    ErrorChannel(String),
}

impl Oracle {
    async fn new() -> Oracle {
        let db = TestDb::new(1).await;
        let mut conn = db.connect().await;
        let names: Vec<&'static str> = worlds().iter().map(|(name, _)| *name).collect();
        for (name, others) in worlds() {
            // Tenant a first: its rows sit in the same place in every world.
            let sql = format!(
                "CREATE SCHEMA {name}; SET search_path TO {name}; {} {} {others}",
                schema_sql(),
                tenant_a_rows()
            );
            must(&mut conn, &sql).await;
        }
        // No statistics from autovacuum mid-run: plans stay alike. (Set on
        // the tables that hold rows; a partitioned parent takes no options.)
        let leaves: Vec<(String, String)> = sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind = 'r' AND n.nspname LIKE 'w_'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list the worlds' tables");
        for (schema, table) in leaves {
            must(
                &mut conn,
                &format!("ALTER TABLE {schema}.{table} SET (autovacuum_enabled = false)"),
            )
            .await;
        }
        must(&mut conn, "RESET search_path").await;
        let dump_visible = dump_sql(true);
        let dump_others = dump_sql(false);
        let mut oracle = Oracle {
            _db: db,
            conn,
            worlds: names.clone(),
            pristine_others: Vec::new(),
            dump_visible,
            dump_others,
        };
        for name in names {
            must(&mut oracle.conn, &format!("SET search_path TO {name}")).await;
            let others = must(&mut oracle.conn, &oracle.dump_others.clone()).await;
            oracle.pristine_others.push(others);
        }
        must(&mut oracle.conn, "RESET search_path").await;
        oracle
    }

    /// Runs `sql` (positional `$1` the tenant, if `uses_tenant`) in one
    /// world, in a transaction that is rolled back. `None`: PREPARE failed.
    async fn run(&mut self, world: usize, sql: &str, uses_tenant: bool) -> Option<Outcome> {
        let name = self.worlds[world];
        let sql = &in_world(sql, name);
        must(
            &mut self.conn,
            &format!("BEGIN; SET LOCAL search_path TO {name}; SET LOCAL statement_timeout = '5s'"),
        )
        .await;
        let (prepare, execute) = if uses_tenant {
            (
                format!("PREPARE q(text) AS {sql}"),
                format!("EXECUTE q('{TENANT}')"),
            )
        } else {
            (format!("PREPARE q AS {sql}"), "EXECUTE q".to_string())
        };
        if simple(&mut self.conn, &prepare).await.is_err() {
            must(&mut self.conn, "ROLLBACK").await;
            return None;
        }
        let outcome = match simple(&mut self.conn, &execute).await {
            Ok(mut rows) => {
                rows.sort();
                let visible_state = must(&mut self.conn, &self.dump_visible.clone()).await;
                let others = must(&mut self.conn, &self.dump_others.clone()).await;
                Outcome {
                    result: Ok(rows),
                    visible_state,
                    others_changed: others != self.pristine_others[world],
                }
            }
            Err(error) => Outcome {
                result: Err(error.code),
                visible_state: Vec::new(),
                others_changed: false,
            },
        };
        must(&mut self.conn, "ROLLBACK; DEALLOCATE ALL").await;
        Some(outcome)
    }

    /// Rolled-back writes leave dead rows, more in one world than another;
    /// vacuuming now and then keeps the worlds' tables, and so their plans,
    /// alike.
    async fn vacuum(&mut self) {
        must(&mut self.conn, "VACUUM").await;
    }

    /// Partition-direct routing: `routed` (the statement naming tenant
    /// the requesting tenant's partitions) does in the first world what `parent` does.
    async fn compare_routed(
        &mut self,
        parent: &str,
        routed: &str,
        uses_tenant: bool,
    ) -> Result<Routed, String> {
        let Some(expected) = self.run(0, parent, uses_tenant).await else {
            return Ok(Routed::Same);
        };
        match self.run(0, routed, uses_tenant).await {
            None => Err("    the routed statement does not prepare".to_string()),
            Some(outcome) if outcome.same_as(&expected) => Ok(Routed::Same),
            Some(outcome)
                if [&outcome.result, &expected.result]
                    .iter()
                    .any(|result| fails_by_evaluation_order(result)) =>
            {
                Ok(Routed::FailedByEvaluationOrder)
            }
            Some(outcome) => Err(format!(
                "    routed it returned {} where on the parents it returned {}{}",
                describe(&outcome.result),
                describe(&expected.result),
                if outcome.result == expected.result {
                    " (and left different rows)"
                } else {
                    ""
                }
            )),
        }
    }

    async fn judge(&mut self, sql: &str, uses_tenant: bool) -> Verdict {
        let mut outcomes = Vec::new();
        for world in 0..self.worlds.len() {
            match self.run(world, sql, uses_tenant).await {
                Some(outcome) => outcomes.push(outcome),
                None => return Verdict::Invalid,
            }
        }
        if outcomes
            .iter()
            .any(|o| o.result.as_ref().err().is_some_and(|code| code == "57014"))
        {
            return Verdict::TimedOut;
        }
        let mut differences = String::new();
        for (world, outcome) in outcomes.iter().enumerate() {
            if outcome.others_changed {
                let _ = writeln!(
                    differences,
                    "    in {} it changed another tenant's rows",
                    self.worlds[world]
                );
            }
            if world > 0 && !outcome.same_as(&outcomes[0]) {
                let what = if outcome.result != outcomes[0].result {
                    format!(
                        "returned {} where {} returned {}",
                        describe(&outcome.result),
                        self.worlds[0],
                        describe(&outcomes[0].result)
                    )
                } else {
                    "left the requesting tenant's rows or the global tables different".to_string()
                };
                let _ = writeln!(differences, "    in {} it {what}", self.worlds[world]);
            }
        }
        if differences.is_empty() {
            Verdict::Noninterfering {
                failed: outcomes[0].result.is_err(),
            }
        } else {
            Verdict::Interfering(differences)
        }
    }
}

/// `sql` with its schema-qualified names ([`QUALIFIER`], `public.`) in the
/// world's schema: every world's tables are the same tables, in its own
/// schema.
fn in_world(sql: &str, world: &str) -> String {
    sql.replace(QUALIFIER, &format!("{world}."))
}

/// What routing did to a statement the worlds agreed on.
enum Routed {
    /// The same rows, the same writes, or a failure in both.
    Same,
    /// One side failed with an error whose occurrence depends on the order
    /// in which PostgreSQL evaluates conditions (a scalar subquery returning
    /// more than one row, a division by zero), the other did not: the plans
    /// on the partitions and on the parents differ, and PostgreSQL promises
    /// no order. Not a difference in which rows the statement reads.
    FailedByEvaluationOrder,
}

/// Whether `result` is a failure that another evaluation order could skip.
fn fails_by_evaluation_order(result: &Result<Rows, String>) -> bool {
    matches!(result, Err(code) if code == "21000" || code == "22012")
}

fn describe(result: &Result<Rows, String>) -> String {
    match result {
        Ok(rows) => {
            let shown: Vec<String> = rows.iter().take(4).map(|row| format!("{row:?}")).collect();
            format!("{} rows {}", rows.len(), shown.join(" "))
        }
        Err(code) => format!("error {code}"),
    }
}

/// The statement as the macros run it for the requesting tenant: on its
/// partitions (`forms_007`, ...), as [`schema_sql`] names them.
fn on_partitions_of_a(template: &RouteTemplate) -> String {
    template.render(|slot| Some(quote_ident(&format!("{}_{TENANT}", slot.table))))
}

fn analyzer(binding: Binding) -> Analyzer {
    Analyzer::new(Config::from_toml_str(CONFIG).expect("oracle tenancy config"))
        .with_binding(binding)
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    )
}

/// `NONINTERFERENCE_SEED`: a number, `random`, or unset (1).
fn base_seed() -> u64 {
    match std::env::var("NONINTERFERENCE_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
        Ok(_) => env_number("NONINTERFERENCE_SEED").unwrap_or(1),
        Err(_) => 1,
    }
}

/// Counts of one binding mode.
#[derive(Debug, Default)]
struct Tally {
    accepted: u64,
    /// Accepted but not valid SQL for the schema (PREPARE failed).
    accepted_invalid: u64,
    accepted_noninterfering: u64,
    /// Accepted, and failed in every world.
    accepted_failed_everywhere: u64,
    /// Accepted; on the parents a division failed on another tenant's row
    /// (see [`Verdict::ErrorChannel`]).
    accepted_error_channel: u64,
    /// Accepted and not judged: lenient mode bound it to a literal, i.e.
    /// to another tenant than the one the worlds run it for.
    accepted_unjudged: u64,
    refused: u64,
    refused_invalid: u64,
    /// Refused, and the worlds show the leak.
    refused_interfering: u64,
    /// Refused, and nothing showed in these worlds.
    refused_noninterfering: u64,
}

impl Tally {
    fn count(&mut self, accepted: bool, verdict: &Verdict, judged: bool) {
        match (accepted, verdict) {
            (_, Verdict::TimedOut) => {}
            (true, _) if !judged => {
                self.accepted += 1;
                self.accepted_unjudged += 1;
            }
            (true, Verdict::Invalid) => {
                self.accepted += 1;
                self.accepted_invalid += 1;
            }
            (true, Verdict::Noninterfering { failed }) => {
                self.accepted += 1;
                if *failed {
                    self.accepted_failed_everywhere += 1;
                } else {
                    self.accepted_noninterfering += 1;
                }
            }
            (true, Verdict::Interfering(_)) => self.accepted += 1,
            (true, Verdict::ErrorChannel(_)) => {
                self.accepted += 1;
                self.accepted_error_channel += 1;
            }
            (false, Verdict::Invalid) => {
                self.refused += 1;
                self.refused_invalid += 1;
            }
            (false, Verdict::Noninterfering { .. }) => {
                self.refused += 1;
                self.refused_noninterfering += 1;
            }
            (false, Verdict::Interfering(_) | Verdict::ErrorChannel(_)) => {
                self.refused += 1;
                self.refused_interfering += 1;
            }
        }
    }
}

/// What one class of statements came to (see [`Class`]).
#[derive(Debug, Default)]
struct ClassTally {
    generated: u64,
    /// Strict mode accepted it and every world did the same.
    strict_accepted_agreeing: u64,
    /// Lenient mode accepted it, bound to `$1`, and every world did the same.
    lenient_accepted_agreeing: u64,
    /// Accepted, routable, and compared on the requesting tenant's
    /// partitions.
    routed: u64,
    /// Strict mode refused it and the worlds showed the leak.
    refused_leaking: u64,
    /// Strict mode accepted it and the worlds disagreed.
    strict_false_accepts: u64,
    /// Lenient mode accepted it, bound to `$1`, and the worlds disagreed.
    lenient_false_accepts: u64,
}

/// `NONINTERFERENCE_CLASS`: only statements of that class, by number (`1`
/// to `7`, issue 18's classes) or name (`lossy-cast`, `general`).
fn only_class() -> Option<Class> {
    let wanted = std::env::var("NONINTERFERENCE_CLASS").ok()?;
    let class = Class::ALL.into_iter().find(|class| {
        let name = class.name();
        name == wanted
            || name
                .split_once(' ')
                .is_some_and(|(number, rest)| number == wanted || rest == wanted)
    });
    Some(class.unwrap_or_else(|| {
        let names: Vec<&str> = Class::ALL.iter().map(|class| class.name()).collect();
        panic!("NONINTERFERENCE_CLASS={wanted:?} names no class; one of {names:?}")
    }))
}

/// The per-class figures as a table.
fn class_table(tallies: &std::collections::BTreeMap<Class, ClassTally>) -> String {
    let mut table = format!(
        "{:<22} {:>9} {:>8} {:>8} {:>7} {:>9} {:>7} {:>7}\n",
        "class", "generated", "strict", "lenient", "routed", "refused", "FALSE", "FALSE"
    );
    let _ = writeln!(
        table,
        "{:<22} {:>9} {:>8} {:>8} {:>7} {:>9} {:>7} {:>7}",
        "", "", "accepted", "accepted", "", "leaking", "strict", "lenient"
    );
    for (class, tally) in tallies {
        let _ = writeln!(
            table,
            "{:<22} {:>9} {:>8} {:>8} {:>7} {:>9} {:>7} {:>7}",
            class.name(),
            tally.generated,
            tally.strict_accepted_agreeing,
            tally.lenient_accepted_agreeing,
            tally.routed,
            tally.refused_leaking,
            tally.strict_false_accepts,
            tally.lenient_false_accepts
        );
    }
    table
}

/// Each statement is judged in both binding modes from one execution:
/// strict mode (the macros) sees `$tenant`, lenient mode (the guard's
/// default) sees the positional `$1` that strict mode turned it into, and the
/// worlds run that SQL with `$1` = `007`. Lenient mode accepts a statement bound
/// throughout to another value, such as `'b'`, by design (it is then that
/// tenant's statement); so a lenient acceptance is judged when the analysis
/// says it binds its tenant tables to `$1` (or has none).
#[tokio::test]
async fn accepted_statements_never_see_nor_touch_other_tenants_rows() {
    let seed = base_seed();
    let single_case = env_number("NONINTERFERENCE_CASE");
    let deadline =
        env_number("NONINTERFERENCE_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let cases = env_number("NONINTERFERENCE_CASES").unwrap_or(1500);
    let show = std::env::var("NONINTERFERENCE_SHOW").unwrap_or_default();
    let only = only_class();
    let mut class_tallies: std::collections::BTreeMap<Class, ClassTally> = Class::ALL
        .into_iter()
        .filter(|class| only.is_none_or(|only| only == *class))
        .map(|class| (class, ClassTally::default()))
        .collect();

    let strict = analyzer(Binding::Strict);
    let lenient = analyzer(Binding::Lenient);
    let mut oracle = Oracle::new().await;
    let (mut generated, mut unparsable, mut timed_out) = (0u64, 0u64, 0u64);
    let mut strict_tally = Tally::default();
    let mut lenient_tally = Tally::default();
    let mut false_accepts = Vec::new();
    let mut routed_compared = 0u64;
    let mut error_channels_closed_by_routing = 0u64;
    let mut routing_failures = Vec::new();
    let mut routed_failed_by_evaluation_order = 0u64;
    let mut case = single_case.unwrap_or(0);
    loop {
        let done = match (single_case, deadline) {
            (Some(only), _) => case > only,
            (None, Some(deadline)) => Instant::now() >= deadline,
            (None, None) => case >= cases,
        };
        if done {
            break;
        }
        let (class, sql) = Generator::new(seed.wrapping_add(case)).statement(only);
        case += 1;
        let class_tally = class_tallies.entry(class).or_default();
        class_tally.generated += 1;
        if generated > 0 && generated % 500 == 0 {
            oracle.vacuum().await;
        }
        generated += 1;
        let Ok(analysis) = strict.analyze(&sql) else {
            unparsable += 1;
            continue;
        };
        let lenient_analysis = lenient
            .analyze(&analysis.sql)
            .expect("the SQL strict mode parsed parses");
        let mut verdict = oracle
            .judge(&analysis.sql, analysis.tenant_param.is_some())
            .await;
        if matches!(verdict, Verdict::TimedOut) {
            timed_out += 1;
        }
        // Lenient mode binds any single value; judged are the statements it
        // binds to `$1`, the parameter carrying the requesting tenant.
        let lenient_binds_tenant_a = lenient_analysis
            .statements
            .iter()
            .all(|statement| statement.tenant_values.iter().all(|value| value == "$1"));
        // An accepted statement whose worlds differ: is a failing division
        // all that differs?
        if let (Verdict::Interfering(differences), Some(total)) =
            (&verdict, without_failures(&analysis.sql))
        {
            if analysis.is_ok() || (lenient_analysis.is_ok() && lenient_binds_tenant_a) {
                let total_verdict = oracle.judge(&total, analysis.tenant_param.is_some()).await;
                if matches!(total_verdict, Verdict::Noninterfering { .. }) {
                    verdict = Verdict::ErrorChannel(differences.clone());
                }
            }
        }
        for (mode, mode_analysis, tally, judged) in [
            ("strict", &analysis, &mut strict_tally, true),
            (
                "lenient",
                &lenient_analysis,
                &mut lenient_tally,
                lenient_binds_tenant_a,
            ),
        ] {
            let accepted = mode_analysis.is_ok();
            tally.count(accepted, &verdict, judged);
            match (accepted, judged, &verdict, mode) {
                (true, true, Verdict::Noninterfering { .. }, "strict") => {
                    class_tally.strict_accepted_agreeing += 1
                }
                (true, true, Verdict::Noninterfering { .. }, _) => {
                    class_tally.lenient_accepted_agreeing += 1
                }
                (true, true, Verdict::Interfering(_), "strict") => {
                    class_tally.strict_false_accepts += 1
                }
                (true, true, Verdict::Interfering(_), _) => class_tally.lenient_false_accepts += 1,
                (false, _, Verdict::Interfering(_) | Verdict::ErrorChannel(_), "strict") => {
                    class_tally.refused_leaking += 1
                }
                _ => {}
            }
            let kind = match (accepted, &verdict) {
                (true, Verdict::ErrorChannel(_)) if show == "error-channel" => "error-channel",
                (true, _) => "accepted",
                (false, Verdict::Interfering(_) | Verdict::ErrorChannel(_)) => "refused-leaking",
                (false, _) => "refused-quiet",
            };
            if single_case.is_some() || show == kind {
                let rules: Vec<&str> = mode_analysis.violations().map(|v| v.rule.name()).collect();
                println!("{mode} {kind} {rules:?}: {}", mode_analysis.original_sql);
            }
            if let (true, true, Verdict::Interfering(differences)) = (accepted, judged, &verdict) {
                let case = case - 1;
                false_accepts.push((class, format!(
                    "{mode} mode accepted case {case} of seed {seed}, class {} \
                     (NONINTERFERENCE_SEED={seed} NONINTERFERENCE_CASE={case}{}):\n  {}\n{differences}",
                    class.name(),
                    only.map(|class| format!(" NONINTERFERENCE_CLASS={:?}", class.name()))
                        .unwrap_or_default(),
                    mode_analysis.original_sql
                )));
            }
        }
        // What the macros run: the accepted statement on the requesting tenant's
        // partitions.
        let template = RouteTemplate::from_analysis(&analysis);
        if analysis.is_ok() && template.is_routable() && matches!(verdict, Verdict::ErrorChannel(_))
        {
            // On the partitions no other tenant's row is there to fail on.
            let routed_sql = on_partitions_of_a(&template);
            match oracle
                .judge(&routed_sql, analysis.tenant_param.is_some())
                .await
            {
                Verdict::Noninterfering { .. } => error_channels_closed_by_routing += 1,
                Verdict::Invalid | Verdict::TimedOut => {}
                Verdict::Interfering(differences) | Verdict::ErrorChannel(differences) => {
                    let case = case - 1;
                    routing_failures.push(format!(
                        "case {case} of seed {seed} \
                         (NONINTERFERENCE_SEED={seed} NONINTERFERENCE_CASE={case}):\n  {}\n  \
                         routed, it still depends on other tenants' rows: {routed_sql}\n{differences}",
                        analysis.sql
                    ));
                }
            }
        }
        if analysis.is_ok()
            && template.is_routable()
            && matches!(verdict, Verdict::Noninterfering { .. })
        {
            let routed_sql = on_partitions_of_a(&template);
            routed_compared += 1;
            class_tally.routed += 1;
            let routed = oracle
                .compare_routed(&analysis.sql, &routed_sql, analysis.tenant_param.is_some())
                .await;
            if let Ok(Routed::FailedByEvaluationOrder) = routed {
                routed_failed_by_evaluation_order += 1;
            }
            if let Err(difference) = routed {
                let case = case - 1;
                routing_failures.push(format!(
                    "case {case} of seed {seed} \
                     (NONINTERFERENCE_SEED={seed} NONINTERFERENCE_CASE={case}):\n  {}\n  routed: {routed_sql}\n{difference}",
                    analysis.sql
                ));
            }
        }
        if single_case.is_some() {
            match &verdict {
                Verdict::Interfering(differences) => println!("interfering:\n{differences}"),
                Verdict::ErrorChannel(differences) => println!(
                    "interfering only through a failing division (made total, it does not):\n{differences}"
                ),
                Verdict::Noninterfering { failed } => {
                    println!("noninterfering (failed in every world: {failed})")
                }
                Verdict::Invalid => println!("not valid SQL here"),
                Verdict::TimedOut => println!("timed out"),
            }
        }
    }
    println!(
        "noninterference, seed {seed}: {generated} statements, {unparsable} unparsable, \
         {timed_out} timed out, {routed_compared} routed and compared, \
         {error_channels_closed_by_routing} error channels closed by routing, \
         {routed_failed_by_evaluation_order} failed on one side only by evaluation order\n\
         strict: {strict_tally:#?}\nlenient: {lenient_tally:#?}\n{}",
        class_table(&class_tallies)
    );
    if !false_accepts.is_empty() {
        // Every class's first few: a hunt before a fix finds hundreds.
        let mut shown = Vec::new();
        for class in Class::ALL {
            let of_class: Vec<&String> = false_accepts
                .iter()
                .filter(|(c, _)| *c == class)
                .map(|(_, text)| text)
                .collect();
            shown.extend(of_class.iter().take(3).map(|text| text.as_str()));
            if of_class.len() > 3 {
                shown.push("  (and more of this class)\n");
            }
        }
        panic!(
            "{} accepted statement(s) read or wrote other tenants' rows:\n\n{}",
            false_accepts.len(),
            shown.join("\n")
        );
    }
    assert!(
        routing_failures.is_empty(),
        "{} statement(s) did something else on the requesting tenant's partitions than on the parents:\n\n{}",
        routing_failures.len(),
        routing_failures.join("\n")
    );
    if single_case.is_none() && deadline.is_none() && cases >= 1000 {
        // The run must have exercised the oracle, not only produced noise:
        // enough accepted statements that ran, and leaks it did see.
        for (mode, tally) in [("strict", &strict_tally), ("lenient", &lenient_tally)] {
            assert!(
                tally.accepted_noninterfering * 10 >= generated,
                "{mode}: too few accepted statements ran: {tally:#?}"
            );
            assert!(
                tally.refused_interfering * 20 >= generated,
                "{mode}: too few refused statements showed their leak: {tally:#?}"
            );
        }
        assert!(
            routed_compared * 10 >= generated,
            "too few statements were routed: {routed_compared} of {generated}"
        );
        // Every hunted class reached both sides: statements the analyzer
        // accepted and PostgreSQL ran alike in every world, and leaks the
        // worlds showed and the analyzer refused.
        for (class, tally) in &class_tallies {
            assert!(
                tally.strict_accepted_agreeing > 0 && tally.refused_leaking > 0,
                "class {} reached only one side: {tally:?}",
                class.name()
            );
        }
    }
}

/// The oracle itself: statements known to leak are seen to, and statements
/// known to be safe are not.
#[tokio::test]
async fn the_worlds_tell_leaking_statements_from_safe_ones() {
    let mut oracle = Oracle::new().await;
    let leaking = [
        "SELECT name FROM forms",
        "SELECT count(*) FROM submissions",
        "SELECT f.name FROM forms f WHERE f.tenant_id = $1 OR f.score > 20",
        "SELECT f.name FROM forms f LEFT JOIN users u ON u.id = f.owner_id WHERE f.tenant_id = $1",
        "SELECT f.name FROM forms f WHERE f.tenant_id = $1 AND EXISTS (SELECT 1 FROM users u WHERE u.id = 5)",
        "UPDATE forms SET score = 0 WHERE id = 1",
        "INSERT INTO audit_log VALUES ('b', 99, 'x')",
        "DELETE FROM users WHERE tenant_id >= $1 AND id = 3",
        "UPDATE forms f SET name = (SELECT max(u.name) FROM users u) WHERE f.tenant_id = $1",
    ];
    let safe = [
        "SELECT name FROM forms WHERE tenant_id = $1",
        "SELECT f.name, u.name FROM forms f LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.owner_id WHERE f.tenant_id = $1",
        "SELECT count(*), max(p.name) FROM submissions s, plans p WHERE s.tenant_id = $1",
        "UPDATE forms SET score = 0 WHERE tenant_id = $1 RETURNING id",
        "INSERT INTO audit_log VALUES ($1, 99, 'x')",
        "DELETE FROM users WHERE tenant_id = $1 AND id = 3",
        "SELECT 1 / (SELECT count(*) - 4 FROM forms WHERE tenant_id = $1)",
    ];
    let cases = leaking
        .iter()
        .map(|sql| (*sql, true))
        .chain(safe.iter().map(|sql| (*sql, false)));
    for (sql, leaks) in cases {
        match (oracle.judge(sql, sql.contains("$1")).await, leaks) {
            (Verdict::Interfering(_), true) | (Verdict::Noninterfering { .. }, false) => {}
            (Verdict::ErrorChannel(_), _) => unreachable!("judge never says ErrorChannel"),
            (Verdict::Noninterfering { .. }, true) => {
                panic!("the worlds did not show the leak of: {sql}")
            }
            (Verdict::Interfering(differences), false) => {
                panic!("a safe statement was judged leaking: {sql}\n{differences}")
            }
            (Verdict::Invalid, _) => panic!("not valid here: {sql}"),
            (Verdict::TimedOut, _) => panic!("timed out: {sql}"),
        }
    }
}

/// The error channel, in the oracle's terms: an accepted statement whose
/// division meets another tenant's score on the parents fails in one world
/// only; made total it does not interfere, and routed it does not either.
/// (Random statements rarely show it: PostgreSQL prunes other tenants'
/// partitions in most plans of the generator's statements.)
#[tokio::test]
async fn a_failing_division_is_an_error_channel_that_routing_closes() {
    let mut oracle = Oracle::new().await;
    let division = failing_division("s.score");
    let sql = format!(
        "SELECT count(*) FROM (SELECT DISTINCT f.tenant_id FROM forms f WHERE f.tenant_id = $tenant) d \
         JOIN submissions s ON s.tenant_id = d.tenant_id AND {division} > 0"
    );
    let analysis = analyzer(Binding::Strict).analyze(&sql).unwrap();
    assert!(analysis.is_ok(), "the analyzer accepts it: {sql}");
    // With these few rows PostgreSQL joins with a nested loop that looks up
    // `s` per row of `d` and prunes the other tenants' partitions at run
    // time; with more rows it hashes, and scans them all. Ask for the latter.
    must(&mut oracle.conn, "SET enable_nestloop = off").await;
    match oracle.judge(&analysis.sql, true).await {
        Verdict::Interfering(differences) => assert!(
            differences.contains("error 22012"),
            "it fails (division by zero) in some world only: {differences}"
        ),
        Verdict::Noninterfering { failed } => panic!(
            "on the parents the division should meet another tenant's row, but every world \
             {}: {sql}",
            if failed { "failed" } else { "ran it" }
        ),
        Verdict::Invalid => panic!("not valid here: {sql}"),
        Verdict::TimedOut | Verdict::ErrorChannel(_) => panic!("unexpected verdict: {sql}"),
    }
    let total = without_failures(&analysis.sql).expect("it has a failing division");
    assert!(
        matches!(
            oracle.judge(&total, true).await,
            Verdict::Noninterfering { failed: false }
        ),
        "made total it does not interfere: {total}"
    );
    let routed = on_partitions_of_a(&RouteTemplate::from_analysis(&analysis));
    assert!(
        matches!(
            oracle.judge(&routed, true).await,
            Verdict::Noninterfering { failed: false }
        ),
        "routed it does not interfere: {routed}"
    );
}

/// Issue 18's classes, one leaking statement and its safe twin each: the
/// worlds show the leak and the analyzer refuses it; the twin is accepted
/// and the same in every world. (Before the analyzer's fixes, strict mode
/// accepted every leaking statement here.)
#[tokio::test]
async fn each_hunted_class_leaks_in_the_worlds_and_is_refused() {
    let values: Vec<String> = (1..=16).map(|i| format!("({i})")).collect();
    let values = values.join(", ");
    let chain = |last: &str| {
        let columns: Vec<String> = (1..=12).map(|i| format!("c{i}")).collect();
        let mut anchor = vec!["$tenant::text".to_string(); 11];
        anchor.push(last.to_string());
        let mut step: Vec<String> = columns[1..].iter().map(|c| format!("r.{c}")).collect();
        step.push("r.c12".to_string());
        format!(
            "WITH RECURSIVE r({}, n, name) AS (SELECT {}, 0, NULL::text UNION ALL \
             SELECT {}, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.c1 AND f.id = 1 \
             WHERE r.n < 14) SELECT name FROM r",
            columns.join(", "),
            anchor.join(", "),
            step.join(", ")
        )
    };
    let cases: Vec<(Class, String, String)> = vec![
        (
            Class::DmlTargetCte,
            "WITH forms AS (SELECT $tenant::text AS tenant_id) DELETE FROM forms f WHERE f.id = 1 RETURNING f.id".into(),
            "WITH forms AS (SELECT $tenant::text AS tenant_id) DELETE FROM forms f WHERE f.id = 1 AND f.tenant_id = $tenant RETURNING f.id".into(),
        ),
        (
            Class::FromVisibility,
            "SELECT (SELECT count(*) FROM LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l, forms x \
             WHERE x.tenant_id = $tenant) FROM (SELECT 'b'::text AS tenant_id) x".into(),
            "SELECT (SELECT count(*) FROM LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l, forms x \
             WHERE x.tenant_id = $tenant) FROM (SELECT $tenant::text AS tenant_id) x".into(),
        ),
        (
            Class::UnaliasedFunction,
            "SELECT l.n FROM (SELECT $tenant::text AS unnest) unnest, LATERAL (SELECT count(*) AS n \
             FROM unnest(ARRAY['b']), forms g WHERE g.tenant_id = unnest.unnest) l".into(),
            "SELECT l.n FROM (SELECT $tenant::text AS unnest) unnest, LATERAL (SELECT count(*) AS n \
             FROM unnest(ARRAY['b']) AS fn, forms g WHERE g.tenant_id = unnest.unnest) l".into(),
        ),
        (
            Class::SchemaQualified,
            format!("WITH forms AS (SELECT tenant_id, id FROM forms WHERE tenant_id = $tenant) SELECT x.tenant_id, x.id FROM {QUALIFIER}forms x"),
            "WITH forms AS (SELECT tenant_id, id FROM forms WHERE tenant_id = $tenant) SELECT x.tenant_id, x.id FROM forms x".into(),
        ),
        (Class::RecursiveChain, chain("'b'::text"), chain("$tenant::text")),
        (
            Class::UnwalkedClause,
            format!("VALUES {values} LIMIT (SELECT count(*) FROM forms)"),
            format!("VALUES {values} LIMIT (SELECT count(*) FROM forms WHERE tenant_id = $tenant)"),
        ),
        (
            Class::LossyCast,
            "SELECT count(*) FROM forms f WHERE f.tenant_id = $tenant::int8::text".into(),
            "SELECT count(*) FROM forms f WHERE f.tenant_id = $tenant::text".into(),
        ),
    ];
    assert_eq!(
        cases.iter().map(|(class, ..)| *class).collect::<Vec<_>>(),
        Class::HUNTED,
        "one pair per hunted class"
    );
    let strict = analyzer(Binding::Strict);
    let mut oracle = Oracle::new().await;
    for (class, leaking, safe) in cases {
        let class = class.name();
        let analysis = strict.analyze(&leaking).expect("parses");
        assert!(!analysis.is_ok(), "{class}: the analyzer refuses {leaking}");
        match oracle
            .judge(&analysis.sql, analysis.tenant_param.is_some())
            .await
        {
            Verdict::Interfering(_) => {}
            Verdict::Noninterfering { .. } => {
                panic!("{class}: the worlds did not show the leak of {leaking}")
            }
            Verdict::Invalid => panic!("{class}: not valid here: {leaking}"),
            Verdict::TimedOut | Verdict::ErrorChannel(_) => panic!("{class}: {leaking}"),
        }
        let analysis = strict.analyze(&safe).expect("parses");
        assert!(
            analysis.is_ok(),
            "{class}: the analyzer accepts {safe}: {:?}",
            analysis
                .violations()
                .map(|v| v.rule.name())
                .collect::<Vec<_>>()
        );
        match oracle
            .judge(&analysis.sql, analysis.tenant_param.is_some())
            .await
        {
            Verdict::Noninterfering { failed: false } => {}
            Verdict::Interfering(differences) => {
                panic!("{class}: the safe twin was judged leaking: {safe}\n{differences}")
            }
            Verdict::Noninterfering { failed: true } => {
                panic!("{class}: the safe twin failed everywhere: {safe}")
            }
            Verdict::Invalid => panic!("{class}: not valid here: {safe}"),
            Verdict::TimedOut | Verdict::ErrorChannel(_) => panic!("{class}: {safe}"),
        }
    }
}
