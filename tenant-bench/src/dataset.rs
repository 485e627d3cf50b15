//! The data set in `tenant_bench_N`: built once, reused while N and R match.
//!
//! - `flat_items`: unpartitioned, primary key `(tenant_id, id)`, R rows per
//!   tenant;
//! - `items`, `orders`, `events`: tenant tables installed and onboarded
//!   through the runtime (one partition of each per tenant); `items` holds
//!   the same R rows per tenant, the other two stay empty;
//! - `bench_meta`: N, R and whether the build completed;
//! - with a schema arm: N more tenants in schema layout (`schema-00000` ..,
//!   a schema `tenant_t<n>_<tag>` each, holding `items`, `orders` and
//!   `events` as plain tables), `items` again with R rows each, added to a
//!   data set once and recorded in `bench_schema_meta`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use tenant_runtime::admin::DEFAULT_REGISTRY_SCHEMA;
use tenant_runtime::routing::StatementCaching;
use tenant_runtime::schema::{quote_ident, ColumnDef, TableSchema};
use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::sqlx::{self, PgConnection, PgPool, Row};
use tenant_runtime::tenant_core::layout::Layout;
use tenant_runtime::Config;
use tenant_runtime::Tenancy;

use crate::{progress, Args};

/// Tenants per `INSERT .. SELECT` while loading: one statement touching
/// every partition runs out of lock-table memory at thousands of tenants.
const LOAD_BATCH_TENANTS: usize = 250;

/// Partitions per `VACUUM (ANALYZE)` statement when the parent as a whole
/// cannot be analyzed (its inheritance sample locks every partition at once).
const VACUUM_BATCH_TABLES: usize = 200;

/// The data set's database, ready to measure.
pub struct Dataset {
    /// `tenant_bench_N`.
    pub database: String,
    /// Connect options for it (sqlx defaults; each arm adds its own).
    pub options: PgConnectOptions,
    /// The runtime's tenancy over `items`, `orders` and `events`, default settings.
    pub tenancy: Tenancy,
    /// The same tables with statement caching off (`StatementCaching::Unnamed`).
    pub tenancy_nocache: Tenancy,
    /// The same tables for a pool behind a transaction pooler
    /// (`behind_transaction_pooler(true)`).
    pub tenancy_pooled: Tenancy,
    /// The benchmark tenants' ids, in order.
    pub tenant_ids: Vec<String>,
    /// The ids of the tenants in schema layout, in order (empty unless a
    /// schema arm runs).
    pub schema_ids: Vec<String>,
    /// Rows per tenant (ids `1..=R`).
    pub rows_per_tenant: u32,
    /// "reused" or "built in ..": for the report.
    pub origin: String,
    /// A small pool for setup work and the onboarding measurement.
    pub pool: PgPool,
}

/// The id of benchmark tenant `index` (`tenant-00042`).
pub fn tenant_id(index: u32) -> String {
    format!("tenant-{index:05}")
}

/// The id of benchmark tenant `index` in schema layout (`schema-00042`).
pub fn schema_tenant_id(index: u32) -> String {
    format!("schema-{index:05}")
}

fn table(name: &str, columns: Vec<ColumnDef>) -> TableSchema {
    TableSchema {
        schema: None,
        name: name.into(),
        tenant_column: "tenant_id".into(),
        columns,
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        row_level_security: false,
    }
}

/// The three tenant tables: `items` carries the rows, `orders` and `events`
/// make onboarding create three partitions per tenant, as the issue asks.
pub fn schemas() -> Vec<TableSchema> {
    vec![
        table(
            "items",
            vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef::new("id", "bigint"),
                ColumnDef::new("payload", "text"),
            ],
        ),
        table(
            "orders",
            vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef::new("id", "bigint"),
                ColumnDef::new("total", "bigint"),
            ],
        ),
        table(
            "events",
            vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef::new("id", "bigint"),
                ColumnDef::new("kind", "text"),
            ],
        ),
    ]
}

/// A tenancy over [`schemas`]; `caching` overrides the library's default.
pub fn make_tenancy(caching: Option<StatementCaching>) -> Result<Tenancy> {
    make_tenancy_with(caching, false)
}

/// [`make_tenancy`], built for a pool behind a transaction pooler when
/// `pooled`.
pub fn make_tenancy_with(caching: Option<StatementCaching>, pooled: bool) -> Result<Tenancy> {
    let mut builder = Tenancy::builder(Config::default())
        .schemas(schemas())
        .behind_transaction_pooler(pooled);
    if let Some(caching) = caching {
        builder = builder.statement_caching(caching);
    }
    builder.build().context("building the tenancy")
}

/// Makes sure `tenant_bench_N` holds a complete data set for N and R:
/// reuses it when `bench_meta` says so, else drops and rebuilds it.
pub async fn ensure(
    admin: &mut PgConnection,
    admin_options: &PgConnectOptions,
    args: &Args,
) -> Result<Dataset> {
    let database = format!("tenant_bench_{}", args.tenants);
    let options = admin_options.clone().database(&database);
    let tenancy = make_tenancy(None)?;
    let tenancy_nocache = make_tenancy(Some(StatementCaching::Unnamed))?;
    let tenancy_pooled = make_tenancy_with(None, true)?;
    let tenant_ids: Vec<String> = (0..args.tenants).map(tenant_id).collect();

    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&mut *admin)
            .await
            .context("looking up the benchmark database")?;
    if exists {
        let pool = setup_pool(&options, 2).await?;
        match reusable(&pool, args).await {
            Ok(Some(origin)) => {
                progress!("data set {database}: {origin}");
                return Dataset {
                    database,
                    options,
                    tenancy,
                    tenancy_nocache,
                    tenancy_pooled,
                    tenant_ids,
                    schema_ids: Vec::new(),
                    rows_per_tenant: args.rows_per_tenant,
                    origin,
                    pool,
                }
                .with_schema_tenants(args)
                .await;
            }
            Ok(None) => {
                progress!("data set {database}: built for other settings or incomplete; rebuilding")
            }
            Err(error) => progress!("data set {database}: not reusable ({error:#}); rebuilding"),
        }
        pool.close().await;
    }

    let quoted = quote_ident(&database);
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        .execute(&mut *admin)
        .await
        .with_context(|| format!("dropping {database}"))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
        .execute(&mut *admin)
        .await
        .with_context(|| format!("creating {database}"))?;

    let pool = setup_pool(&options, args.build_concurrency + 1).await?;
    let started = Instant::now();
    build(&pool, &tenancy, &tenant_ids, args).await?;
    let seconds = started.elapsed().as_secs_f64();
    sqlx::query("UPDATE bench_meta SET complete = true, built_at = now(), build_seconds = $1")
        .bind(seconds)
        .execute(&pool)
        .await?;
    let origin = format!("built in {}", human_duration(started.elapsed()));
    progress!("data set {database}: {origin}");
    Dataset {
        database,
        options,
        tenancy,
        tenancy_nocache,
        tenancy_pooled,
        tenant_ids,
        schema_ids: Vec::new(),
        rows_per_tenant: args.rows_per_tenant,
        origin,
        pool,
    }
    .with_schema_tenants(args)
    .await
}

impl Dataset {
    /// Adds the N tenants in schema layout when a schema arm runs (once:
    /// `bench_schema_meta` records a complete addition), and lists them.
    async fn with_schema_tenants(mut self, args: &Args) -> Result<Dataset> {
        if !args.arms.iter().any(|kind| kind.schema_layout()) {
            return Ok(self);
        }
        let ids: Vec<String> = (0..args.tenants).map(schema_tenant_id).collect();
        let done: Option<bool> = sqlx::query_scalar(
            "SELECT complete FROM bench_schema_meta WHERE tenants = $1 AND rows_per_tenant = $2",
        )
        .bind(i64::from(args.tenants))
        .bind(i64::from(args.rows_per_tenant))
        .fetch_optional(&self.pool)
        .await
        .or_else(|error| match &error {
            // No such table: a data set from before the schema arms.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
            _ => Err(error),
        })
        .context("reading bench_schema_meta")?;
        if done == Some(true) {
            progress!(
                "data set {}: {} schema tenants reused",
                self.database,
                ids.len()
            );
        } else {
            let started = Instant::now();
            add_schema_tenants(&self.pool, &self.tenancy, &ids, args).await?;
            progress!(
                "data set {}: {} schema tenants added in {}",
                self.database,
                ids.len(),
                human_duration(started.elapsed())
            );
        }
        self.schema_ids = ids;
        Ok(self)
    }
}

/// Onboards the schema tenants (registry upgraded first: `install` is
/// idempotent and adds what a newer runtime needs), loads their rows and
/// analyzes their `items`.
async fn add_schema_tenants(
    pool: &PgPool,
    tenancy: &Tenancy,
    ids: &[String],
    args: &Args,
) -> Result<()> {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_schema_meta;
         CREATE TABLE bench_schema_meta (
             tenants bigint NOT NULL,
             rows_per_tenant bigint NOT NULL,
             complete boolean NOT NULL DEFAULT false
         );",
    )
    .execute(pool)
    .await
    .context("creating bench_schema_meta")?;
    tenancy
        .install(pool)
        .await
        .context("installing the tenancy (again)")?;
    onboard_all_as(pool, tenancy, ids, args.build_concurrency, Layout::Schema).await?;
    let started = Instant::now();
    progress!(
        "loading {} rows into each schema tenant's items",
        args.rows_per_tenant
    );
    let mut tables = Vec::with_capacity(ids.len());
    for id in ids {
        let tenant = tenancy.tenant(pool, id).await?;
        let schema = tenant
            .tenant_schema()
            .with_context(|| format!("{id} is not in schema layout"))?;
        let table = format!("{}.items", quote_ident(schema));
        sqlx::query(&format!(
            "INSERT INTO {table} (tenant_id, id, payload)
             SELECT $1, g, 'payload of ' || $1 || ' #' || g FROM generate_series(1::bigint, $2::bigint) AS g"
        ))
        .bind(id)
        .bind(i64::from(args.rows_per_tenant))
        .execute(pool)
        .await
        .with_context(|| format!("loading {table}"))?;
        tables.push(table);
    }
    for batch in tables.chunks(VACUUM_BATCH_TABLES) {
        sqlx::raw_sql(&format!("VACUUM (ANALYZE) {}", batch.join(", ")))
            .execute(pool)
            .await
            .context("VACUUM (ANALYZE) of the schema tenants' items")?;
    }
    progress!(
        "loaded and analyzed in {}",
        human_duration(started.elapsed())
    );
    sqlx::query(
        "INSERT INTO bench_schema_meta (tenants, rows_per_tenant, complete) VALUES ($1, $2, true)",
    )
    .bind(i64::try_from(ids.len()).unwrap_or(i64::MAX))
    .bind(i64::from(args.rows_per_tenant))
    .execute(pool)
    .await?;
    Ok(())
}

async fn setup_pool(options: &PgConnectOptions, connections: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options.clone())
        .await
        .context("connecting to the benchmark database")
}

/// `Some(description)` when the database holds a complete data set for
/// exactly these N and R.
async fn reusable(pool: &PgPool, args: &Args) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT tenants, rows_per_tenant, complete, built_at::text AS built_at, build_seconds FROM bench_meta",
    )
    .fetch_optional(pool)
    .await
    .context("reading bench_meta")?;
    let Some(row) = row else { return Ok(None) };
    let tenants: i64 = row.try_get("tenants")?;
    let rows: i64 = row.try_get("rows_per_tenant")?;
    let complete: bool = row.try_get("complete")?;
    if !complete || tenants != i64::from(args.tenants) || rows != i64::from(args.rows_per_tenant) {
        return Ok(None);
    }
    // The registry must still list every benchmark tenant (a hand-made
    // offboarding would otherwise fail the measurement much later).
    let registered: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.tenants WHERE state = 'active' AND id LIKE 'tenant-%'",
        quote_ident(DEFAULT_REGISTRY_SCHEMA)
    ))
    .fetch_one(pool)
    .await
    .context("reading the tenant registry")?;
    if registered != i64::from(args.tenants) {
        return Ok(None);
    }
    let built_at: Option<String> = row.try_get("built_at")?;
    let seconds: Option<f64> = row.try_get("build_seconds")?;
    Ok(Some(format!(
        "reused (built {} in {})",
        built_at.unwrap_or_default(),
        human_duration(Duration::from_secs_f64(seconds.unwrap_or(0.0).max(0.0)))
    )))
}

async fn build(pool: &PgPool, tenancy: &Tenancy, ids: &[String], args: &Args) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE bench_meta (
             tenants bigint NOT NULL,
             rows_per_tenant bigint NOT NULL,
             complete boolean NOT NULL DEFAULT false,
             built_at timestamptz,
             build_seconds double precision
         );
         CREATE TABLE flat_items (
             tenant_id text NOT NULL,
             id bigint NOT NULL,
             payload text NOT NULL,
             PRIMARY KEY (tenant_id, id)
         );",
    )
    .execute(pool)
    .await
    .context("creating bench_meta and flat_items")?;
    sqlx::query("INSERT INTO bench_meta (tenants, rows_per_tenant) VALUES ($1, $2)")
        .bind(i64::from(args.tenants))
        .bind(i64::from(args.rows_per_tenant))
        .execute(pool)
        .await?;
    tenancy
        .install(pool)
        .await
        .context("installing the tenancy")?;

    onboard_all(pool, tenancy, ids, args.build_concurrency).await?;
    load_rows(pool, ids, args.rows_per_tenant).await?;
    vacuum_analyze(pool).await
}

/// Onboards every tenant with `concurrency` tasks on distinct tenants
/// (onboarding serializes per tenant id, not across tenants).
async fn onboard_all(
    pool: &PgPool,
    tenancy: &Tenancy,
    ids: &[String],
    concurrency: u32,
) -> Result<()> {
    onboard_all_as(pool, tenancy, ids, concurrency, Layout::Partition).await
}

/// [`onboard_all`] in `layout`.
async fn onboard_all_as(
    pool: &PgPool,
    tenancy: &Tenancy,
    ids: &[String],
    concurrency: u32,
    layout: Layout,
) -> Result<()> {
    let total = ids.len();
    let ids: Arc<Vec<String>> = Arc::new(ids.to_vec());
    let next = Arc::new(AtomicU32::new(0));
    let progress = Arc::new(Mutex::new(Progress::new(total)));
    let what = match layout {
        Layout::Partition => "3 partitions each",
        Layout::Schema => "schema layout: a schema, a role and 3 tables each",
    };
    progress!("onboarding {total} tenants ({what}) with {concurrency} concurrent tasks");
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (pool, tenancy, ids, next, progress) = (
            pool.clone(),
            tenancy.clone(),
            Arc::clone(&ids),
            Arc::clone(&next),
            Arc::clone(&progress),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(index) else {
                    return Ok::<(), anyhow::Error>(());
                };
                tenancy
                    .onboard_as(&pool, id, layout)
                    .await
                    .with_context(|| format!("onboarding {id}"))?;
                progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .tick();
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| anyhow!("onboarding task: {e}"))??;
    }
    Ok(())
}

/// Onboarding progress with an ETA that allows for the per-tenant cost
/// growing with the number of partitions (ATTACH gets slower as they add up).
struct Progress {
    total: usize,
    done: usize,
    step: usize,
    started: Instant,
    window_started: Instant,
    window_first: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            step: (total / 10).clamp(1, 500),
            started: Instant::now(),
            window_started: Instant::now(),
            window_first: 0,
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        if self.done % self.step != 0 && self.done != self.total {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let window = self.window_started.elapsed().as_secs_f64();
        self.window_started = Instant::now();
        let done = self.done as f64;
        let total = self.total as f64;
        let step = (self.done - self.window_first) as f64;
        self.window_first = self.done;
        // Fit cost(k) = a + b*k from the mean over all tenants so far
        // (a + b*done/2) and over the last window (a + b*(done - step/2)).
        let mean_all = elapsed / done;
        let mean_window = window / step;
        let spread = (done - step) / 2.0;
        let b = if spread > 0.0 {
            ((mean_window - mean_all) / spread).max(0.0)
        } else {
            0.0
        };
        let a = (mean_all - b * done / 2.0).max(0.0);
        let remaining = total - done;
        let eta = a * remaining + b * (total * total - done * done) / 2.0;
        progress!(
            "onboarded {}/{} tenants ({} tables), elapsed {}, {:.0} ms/tenant lately, ETA {}",
            self.done,
            self.total,
            self.done * 3,
            human_duration(Duration::from_secs_f64(elapsed)),
            mean_window * 1000.0,
            human_duration(Duration::from_secs_f64(eta.max(0.0)))
        );
    }
}

/// Loads R rows per tenant into `items` (through the parent) and
/// `flat_items`, a few hundred tenants per statement.
async fn load_rows(pool: &PgPool, ids: &[String], rows: u32) -> Result<()> {
    let started = Instant::now();
    let batches = ids.len().div_ceil(LOAD_BATCH_TENANTS);
    progress!(
        "loading {} rows into items and flat_items in {batches} batches",
        ids.len() as u64 * u64::from(rows)
    );
    for (number, batch) in ids.chunks(LOAD_BATCH_TENANTS).enumerate() {
        for target in ["items", "flat_items"] {
            let sql = format!(
                "INSERT INTO {} (tenant_id, id, payload)
                 SELECT t, g, 'payload of ' || t || ' #' || g
                 FROM unnest($1::text[]) AS t, generate_series(1::bigint, $2::bigint) AS g",
                quote_ident(target)
            );
            sqlx::query(&sql)
                .bind(batch)
                .bind(i64::from(rows))
                .execute(pool)
                .await
                .with_context(|| format!("loading batch {} into {target}", number + 1))?;
        }
        if (number + 1) % 10 == 0 || number + 1 == batches {
            progress!(
                "loaded {}/{batches} batches, elapsed {}",
                number + 1,
                human_duration(started.elapsed())
            );
        }
    }
    Ok(())
}

/// VACUUM (sets hint bits and the visibility map, so no arm pays for that
/// on its first reads) and ANALYZE both tables.
async fn vacuum_analyze(pool: &PgPool) -> Result<()> {
    let started = Instant::now();
    progress!("VACUUM (ANALYZE) flat_items and items");
    sqlx::raw_sql("VACUUM (ANALYZE) flat_items")
        .execute(pool)
        .await
        .context("VACUUM (ANALYZE) flat_items")?;
    if let Err(error) = sqlx::raw_sql("VACUUM (ANALYZE) items").execute(pool).await {
        // At thousands of partitions the parent's inheritance sample locks
        // them all in one transaction and may exhaust the lock table.
        progress!(
            "VACUUM (ANALYZE) items failed ({}); vacuuming its partitions in batches (no parent-level statistics)",
            crate::arms::describe_error(&error)
        );
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'items'::regclass ORDER BY 1",
        )
        .fetch_all(pool)
        .await?;
        for batch in partitions.chunks(VACUUM_BATCH_TABLES) {
            // regclass::text is already quoted where needed.
            sqlx::raw_sql(&format!("VACUUM (ANALYZE) {}", batch.join(", ")))
                .execute(pool)
                .await
                .context("VACUUM (ANALYZE) of items partitions")?;
        }
    }
    progress!(
        "vacuumed and analyzed in {}",
        human_duration(started.elapsed())
    );
    Ok(())
}

/// `1h02m`, `3m05s`, `12.3s`, `250ms`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 3600.0 {
        let whole = seconds as u64;
        format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
    } else if seconds >= 60.0 {
        let whole = seconds as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else if seconds >= 1.0 {
        format!("{seconds:.1}s")
    } else {
        format!("{:.0}ms", seconds * 1000.0)
    }
}
