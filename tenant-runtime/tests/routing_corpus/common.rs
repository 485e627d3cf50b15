//! What the two corpus tests on real PostgreSQL share (`routing_corpus.rs`:
//! routed against the parents; `layouts_corpus.rs`: partition layout against
//! schema layout): the safe statements of the analyzer corpus, the seed, and
//! running a prepared statement in a savepoint that is rolled back.
#![allow(dead_code)]

use std::fmt::Write as _;

use sqlx::{PgConnection, Row, ValueRef};
use tenant_runtime::schema::quote_literal;
use tenant_runtime::tenant_core::{Analysis, Analyzer, Binding, Config};

/// The corpus configuration and its safe statements (included, so editing
/// them rebuilds the tests).
pub const CORPUS_CONFIG: &str = include_str!("../../../tenant-core/tests/corpus/tenancy.toml");
pub const SAFE_SQL: &str = include_str!("../../../tenant-core/tests/corpus/safe.sql");

/// Statement kinds run: PREPARE accepts them (VALUES and WITH are
/// `SELECT` or the kind of their main statement).
pub const RUNNABLE_KINDS: [&str; 5] = ["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"];

/// At most this many runs (statement x tenant) may fail on both sides (each
/// is printed with its error); more means the seed or the parameter choice
/// stopped exercising the corpus.
pub const MAX_BOTH_FAILED: usize = 5;

/// An integer parameter value that is no seeded id (see [`Candidate`]).
pub const FRESH_ID: &str = "100";

pub type Rows = Vec<Vec<Option<String>>>;

// ---------------------------------------------------------------------------
// The corpus

/// One safe statement with its header (format: top of `leaks.sql`).
#[derive(Debug, Clone)]
pub struct Case {
    pub line: usize,
    pub reason: String,
    pub lenient: bool,
    pub forbid_delete: bool,
    pub sql: String,
}

impl Case {
    pub fn location(&self) -> String {
        format!("tenant-core/tests/corpus/safe.sql:{}", self.line)
    }
}

/// `-- name: value` for a lower-case directive name.
pub fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    let (name, value) = rest.split_once(':')?;
    let is_word = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    is_word.then(|| (name, value.trim()))
}

/// Splits the corpus as `tenant-core/tests/corpus.rs` does: `-- reason:`
/// starts a case, directives follow, then SQL up to a blank line.
pub fn safe_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for (index, raw) in SAFE_SQL.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(("reason", reason)) = directive(line) {
            cases.extend(current.take());
            current = Some(Case {
                line: index + 1,
                reason: reason.to_string(),
                lenient: false,
                forbid_delete: false,
                sql: String::new(),
            });
            continue;
        }
        if line.trim().is_empty() {
            cases.extend(current.take());
            continue;
        }
        let Some(case) = current.as_mut() else {
            continue;
        };
        if case.sql.is_empty() {
            if let Some((name, value)) = directive(line) {
                match name {
                    "mode" => case.lenient = value == "lenient",
                    "config" => {
                        case.forbid_delete = value.split(',').any(|s| s.trim() == "forbid_delete")
                    }
                    _ => {}
                }
                continue;
            }
        }
        case.sql.push_str(line);
        case.sql.push('\n');
    }
    cases.extend(current);
    cases
}

pub fn corpus_config() -> Config {
    Config::from_toml_str(CORPUS_CONFIG).expect("corpus tenancy.toml")
}

pub fn analyze(case: &Case, sql: &str) -> Result<Analysis, String> {
    let mut config = corpus_config();
    if case.forbid_delete {
        config.forbid_delete = true;
    }
    let binding = if case.lenient {
        Binding::Lenient
    } else {
        Binding::Strict
    };
    Analyzer::new(config)
        .with_binding(binding)
        .analyze(sql)
        .map_err(|e| e.to_string())
}

/// The statements to compare for a case, each with whether its rows must be
/// equal. `TABLESAMPLE` without `REPEATABLE` draws a fresh random sample at
/// each run: the rows of two runs differ whatever the routing, so that form
/// is compared by success and data only, and a copy with `REPEATABLE (0)`
/// (the same seed over the same physical partition samples the same rows)
/// is compared row by row.
pub fn statement_forms(sql: &str) -> Vec<(String, bool)> {
    let upper = sql.to_ascii_uppercase();
    let Some(sample) = upper.find("TABLESAMPLE") else {
        return vec![(sql.to_string(), true)];
    };
    if upper.contains("REPEATABLE") {
        return vec![(sql.to_string(), true)];
    }
    match upper[sample..].find(')') {
        Some(close) => {
            let at = sample + close + 1;
            let repeatable = format!("{} REPEATABLE (0){}", &sql[..at], &sql[at..]);
            vec![(sql.to_string(), false), (repeatable, true)]
        }
        None => vec![(sql.to_string(), false)],
    }
}

// ---------------------------------------------------------------------------
// The seed

/// Global rows, then per tenant the same ids with the tenant in every payload
/// (and its index `k` in the numbers). Sort keys the corpus orders and limits
/// by (`created_at`, names) are distinct within a tenant, so `LIMIT` never
/// cuts between ties. Order lines start at 10, so the corpus's literal line
/// numbers 1 and 2 insert new lines; form_imports 1 and 2 match forms, 5 does
/// not.
pub fn seed_sql(tenant: &str, k: usize) -> String {
    let t = quote_literal(tenant);
    let plan = if k == 1 { "'free'" } else { "'pro'" };
    let country = ["'DE'", "'FR'", "NULL"][k % 3];
    format!(
        "
INSERT INTO tenants (id, name, plan_id, country_code, created_at)
  VALUES ({t}, 'Tenant ' || {t}, {plan}, {country}, now() - interval '30 days');
INSERT INTO users (tenant_id, id, email, name, role, manager_id, created_at, deleted_at) VALUES
  ({t}, 1, 'ada@' || {t}, 'Ada of ' || {t}, 'admin', NULL, now() - interval '20 days', NULL),
  ({t}, 2, 'ben@' || {t}, 'Ben of ' || {t}, 'member', 1, now() - interval '19 days', NULL),
  ({t}, 3, 'cy@' || {t}, 'Cy of ' || {t}, 'admin', 2, now() - interval '18 days', NULL),
  ({t}, 4, 'di@' || {t}, 'Di of ' || {t}, 'member', 1, now() - interval '17 days', now() - interval '1 day');
INSERT INTO customers (tenant_id, id, name, email, country_code, stripe_customer_id, created_at) VALUES
  ({t}, 1, 'Cust one of ' || {t}, 'c1@' || {t}, 'DE', 'cus_1_' || {t}, now() - interval '9 days'),
  ({t}, 2, 'Cust two of ' || {t}, NULL, 'FR', 'cus_2_' || {t}, now() - interval '6 days'),
  ({t}, 3, 'Cust three of ' || {t}, 'c3@' || {t}, NULL, NULL, now() - interval '3 days');
INSERT INTO products (tenant_id, id, sku, name, price_cents, currency) VALUES
  ({t}, 1, 'SKU-1', 'Widget of ' || {t}, 100 + {k}, 'EUR'),
  ({t}, 2, 'SKU-2', 'Gadget of ' || {t}, 250 + {k}, 'USD'),
  ({t}, 3, 'SKU-3', 'Gizmo of ' || {t}, 300 + {k}, 'EUR');
INSERT INTO orders (tenant_id, id, customer_id, status, total_cents, currency, created_at) VALUES
  ({t}, 1, 1, 'open', 500 + {k}, 'EUR', now() - interval '2 days'),
  ({t}, 2, 2, 'open', 1500 + {k}, 'EUR', now() - interval '1 day'),
  ({t}, 3, 1, 'shipped', 0, 'USD', now() - interval '5 days');
INSERT INTO order_items (tenant_id, order_id, line_no, product_id, quantity, unit_price_cents) VALUES
  ({t}, 1, 10, 1, 2 + {k}, 100),
  ({t}, 1, 11, 2, 1, 300 + {k}),
  ({t}, 2, 10, 3, 5, 300);
INSERT INTO invoices (tenant_id, id, order_id, number, amount_cents, status, issued_at, paid_at) VALUES
  ({t}, 1, 1, 'INV-1', 500 + {k}, 'paid', now() - interval '2 days', now() - interval '1 day'),
  ({t}, 2, 2, 'INV-2', 1500 + {k}, 'overdue', now() - interval '1 day', NULL);
INSERT INTO forms (tenant_id, id, owner_id, name, archived, created_at) VALUES
  ({t}, 1, 1, 'Contact of ' || {t}, false, now() - interval '1 day'),
  ({t}, 2, 2, 'Survey of ' || {t}, false, now() - interval '3 days'),
  ({t}, 3, 1, 'Old form of ' || {t}, true, now() - interval '10 days'),
  ({t}, 4, 4, 'Feedback of ' || {t}, false, now() - interval '6 days');
INSERT INTO form_submissions (tenant_id, id, form_id, submitted_by, data, score, created_at) VALUES
  ({t}, 1, 1, 2, jsonb_build_object('q', 'a', 'tenant', {t}), 80 + {k}, now() - interval '25 hours'),
  ({t}, 2, 1, NULL, jsonb_build_object('q', 'b', 'tenant', {t}), 40 + {k}, now() - interval '2 days'),
  ({t}, 3, 2, 3, jsonb_build_object('q', 'c'), 55, now() - interval '4 days'),
  ({t}, 4, 2, 2, '{{}}', NULL, now() - interval '8 days'),
  ({t}, 5, 3, 1, jsonb_build_object('q', 'd'), 10 + {k}, now() - interval '12 days'),
  ({t}, 6, 4, 4, jsonb_build_object('q', 'e', 'tenant', {t}), 95, now() - interval '3 hours');
INSERT INTO follow_ups (tenant_id, id, submission_id, assignee_id, note, due_at, done) VALUES
  ({t}, 1, 1, 1, 'Call back ' || {t}, now() + interval '1 day', false),
  ({t}, 2, 3, 2, 'Check ' || {t}, NULL, true),
  ({t}, 3, 6, NULL, 'Late ' || {t}, now() - interval '1 day', false);
INSERT INTO categories (tenant_id, id, parent_id, name) VALUES
  ({t}, 1, NULL, 'Root of ' || {t}),
  ({t}, 2, 1, 'Child of ' || {t}),
  ({t}, 3, 2, 'Grandchild of ' || {t}),
  ({t}, 4, 1, 'Sibling of ' || {t});
INSERT INTO form_imports (tenant_id, id, owner_id, name) VALUES
  ({t}, 1, 1, 'Contact v2 of ' || {t}),
  ({t}, 2, 2, 'Survey v2 of ' || {t}),
  ({t}, 5, 1, 'Imported of ' || {t});
INSERT INTO audit_log (org_id, actor_id, action, detail, created_at) VALUES
  ({t}, 1, 'form.created', jsonb_build_object('tenant', {t}), now() - interval '2 days'),
  ({t}, 2, 'form.archived', NULL, now() - interval '1 day');
INSERT INTO \"Forms\" (tenant_id, id, name) VALUES ({t}, 1, 'Legacy of ' || {t});
"
    )
}

/// The rows of the corpus schema's `archive` tables for one tenant (see
/// [`seed_sql`]).
pub fn archive_seed_sql(tenant: &str) -> String {
    let t = quote_literal(tenant);
    format!(
        "
INSERT INTO archive.plans (tenant_id, id, name, price_cents) VALUES ({t}, 'pro', 'Archived pro of ' || {t}, 1);
INSERT INTO archive.forms (tenant_id, id, owner_id, name, archived, created_at) VALUES
  ({t}, 1, 1, 'ARCHIVE copy of form 1 of ' || {t}, true, now() - interval '100 days'),
  ({t}, 2, 2, 'ARCHIVE copy of form 2 of ' || {t}, true, now() - interval '101 days');
"
    )
}

/// The global tables' rows.
pub const GLOBAL_SEED: &str = "
INSERT INTO plans (id, name, price_cents, max_forms) VALUES ('free', 'Free', 0, 3), ('pro', 'Pro', 2900, 100);
INSERT INTO countries (code, name) VALUES ('DE', 'Germany'), ('FR', 'France');
INSERT INTO currencies (code, name, minor_units) VALUES ('EUR', 'Euro', 2), ('USD', 'US dollar', 2);
";

/// A timestamp between the seeded rows' timestamps (the value of timestamp
/// parameters).
pub async fn seeded_timestamp(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT (now() - interval '5 days')::text")
        .fetch_one(pool)
        .await
        .expect("timestamp")
}

// ---------------------------------------------------------------------------
// Running statements

/// Runs SQL over the simple protocol; every value as text.
pub async fn simple(conn: &mut PgConnection, sql: &str) -> Result<Rows, String> {
    let rows = sqlx::raw_sql(sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) => {
                format!("{} [{}]", db.message(), db.code().as_deref().unwrap_or("?"))
            }
            other => other.to_string(),
        })?;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let value = row.try_get_raw(i).map_err(|e| e.to_string())?;
                    if value.is_null() {
                        Ok(None)
                    } else {
                        value
                            .as_str()
                            .map(|s| Some(s.to_string()))
                            .map_err(|e| e.to_string())
                    }
                })
                .collect()
        })
        .collect()
}

/// Runs SQL that must succeed (transaction control).
pub async fn must(conn: &mut PgConnection, sql: &str) {
    if let Err(error) = simple(conn, sql).await {
        panic!("{sql}: {error}");
    }
}

/// How parameter values are chosen. PostgreSQL's inferred type picks the
/// kind of value; the candidates are tried in order on the parent form and
/// the first that succeeds and does something (returns a row or changes
/// data) is used for both forms: one value per type cannot both name an
/// existing row (`id = $1`) and a new one (`INSERT .. VALUES ($1, ..)`), nor
/// match a pattern (`name ILIKE $1`), a plan, a country and a currency, nor
/// be contained in every document (`data @> $1`) and change one
/// (`data || $1`).
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The first integer parameter gets [`FRESH_ID`] instead of 1.
    pub fresh_first_integer: bool,
    /// The value of text parameters.
    pub text: &'static str,
    /// The value of json and jsonb parameters.
    pub json: &'static str,
}

pub const CANDIDATES: [Candidate; 4] = [
    Candidate {
        fresh_first_integer: false,
        text: "%",
        json: "{}",
    },
    Candidate {
        fresh_first_integer: true,
        text: "EUR",
        json: "{}",
    },
    Candidate {
        fresh_first_integer: false,
        text: "pro",
        json: r#"{"checked": true}"#,
    },
    Candidate {
        fresh_first_integer: false,
        text: "DE",
        json: r#"{"checked": true}"#,
    },
];

/// The values of one execution, from the inferred parameter types.
pub struct Values<'a> {
    pub candidate: Candidate,
    /// 1-based number of the `$tenant` parameter (strict mode).
    pub tenant_param: Option<u32>,
    pub tenant: &'a str,
    /// Lenient mode: text parameters are the tenant.
    pub lenient: bool,
    pub timestamp: &'a str,
}

impl Values<'_> {
    pub fn for_types(&self, types: &[String]) -> Vec<String> {
        let mut fresh_left = self.candidate.fresh_first_integer;
        types
            .iter()
            .enumerate()
            .map(|(index, ty)| {
                if u32::try_from(index + 1).ok() == self.tenant_param {
                    return self.tenant.to_string();
                }
                match ty.as_str() {
                    "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
                        if std::mem::take(&mut fresh_left) {
                            FRESH_ID.to_string()
                        } else {
                            "1".to_string()
                        }
                    }
                    "boolean" => "true".to_string(),
                    "timestamp with time zone" | "timestamp without time zone" | "date" => {
                        self.timestamp.to_string()
                    }
                    "jsonb" | "json" => self.candidate.json.to_string(),
                    "interval" => "1 day".to_string(),
                    array if array.ends_with("[]") => "{1}".to_string(),
                    _ if self.lenient => self.tenant.to_string(),
                    _ => self.candidate.text.to_string(),
                }
            })
            .collect()
    }
}

/// What one statement did, inside a savepoint that was rolled back.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub types: Vec<String>,
    pub values: Vec<String>,
    /// Sorted.
    pub rows: Rows,
    /// Every table after the statement.
    pub dump: Rows,
}

pub async fn execute_prepared(
    conn: &mut PgConnection,
    sql: &str,
    dump_sql: &str,
    values: &dyn Fn(&[String]) -> Vec<String>,
) -> Result<Outcome, String> {
    simple(conn, &format!("PREPARE p AS {sql}")).await?;
    let types: Vec<String> = simple(
        conn,
        "SELECT t::text FROM pg_prepared_statements, \
                unnest(parameter_types) WITH ORDINALITY AS u(t, n) \
          WHERE name = 'p' ORDER BY n",
    )
    .await?
    .into_iter()
    .map(|row| row.into_iter().flatten().collect())
    .collect();
    let values = values(&types);
    let execute = if values.is_empty() {
        "EXECUTE p".to_string()
    } else {
        let literals: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
        format!("EXECUTE p({})", literals.join(", "))
    };
    let mut rows = simple(conn, &execute).await?;
    rows.sort();
    let dump = simple(conn, dump_sql).await?;
    Ok(Outcome {
        types,
        values,
        rows,
        dump,
    })
}

/// Prepares and executes `sql` in a savepoint, dumps every table, rolls
/// back. `settings` (SQL, may be empty) runs first in the savepoint, so
/// transaction-local settings end with it. The connection must be in a
/// transaction.
pub async fn run_side(
    conn: &mut PgConnection,
    settings: &str,
    sql: &str,
    dump_sql: &str,
    values: &dyn Fn(&[String]) -> Vec<String>,
) -> Result<Outcome, String> {
    // Sequences are not transactional: remember their positions so both
    // sides draw the same identity values.
    let restore_sequences: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(format('SELECT setval(%L, %s, %s);', \
                quote_ident(schemaname) || '.' || quote_ident(sequencename), \
                coalesce(last_value, start_value), (last_value IS NOT NULL)::text), ' ') \
           FROM pg_sequences",
    )
    // Unnamed: DEALLOCATE ALL below would drop a cached statement.
    .persistent(false)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| format!("reading sequence positions: {e}"))?;
    must(conn, "SAVEPOINT side").await;
    if !settings.is_empty() {
        must(conn, settings).await;
    }
    let result = execute_prepared(conn, sql, dump_sql, values).await;
    must(conn, "ROLLBACK TO SAVEPOINT side").await;
    must(conn, "RELEASE SAVEPOINT side").await;
    if let Some(restore) = restore_sequences {
        must(conn, &restore).await;
    }
    // Prepared statements are not transactional. (Only raw SQL runs on this
    // connection, so no statement of sqlx's cache is dropped with them.)
    must(conn, "DEALLOCATE ALL").await;
    result
}

pub fn show_rows(rows: &Rows) -> String {
    let mut out = String::new();
    for row in rows.iter().take(12) {
        let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
        let _ = write!(out, "\n        ({})", cells.join(", "));
    }
    if rows.len() > 12 {
        let _ = write!(out, "\n        .. {} rows in all", rows.len());
    }
    if rows.is_empty() {
        out.push_str(" (none)");
    }
    out
}

pub fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("        {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
