//! The measurement arms: the same point query on the unpartitioned table,
//! the partitioned parent and the tenant's own partition, arms interleaved
//! in slices of about two seconds, every arm replaying the same draws.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use hdrhistogram::Histogram;
use tenant_runtime::schema::quote_ident;
use tenant_runtime::sqlx::pool::PoolConnection;
use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::sqlx::{self, Connection as _, PgConnection, PgPool, Postgres, Row};
use tenant_runtime::{tenant_query_scalar, Tenant};

use crate::cpu;
use crate::dataset::Dataset;
use crate::sequence::{Draw, Sequence, Sequences};
use crate::{progress, Args};

/// Target length of one slice of one arm.
const SLICE_SECONDS: f64 = 2.0;
/// Warm-up queries per connection: more than five, so statements on the
/// parent reach the plan PostgreSQL keeps using (it may switch to a generic
/// plan on the sixth execution).
const WARMUP_QUERIES: usize = 20;
/// Warm-up passes over every tenant for the cached routed arms: the first
/// run of a pair uses the unnamed statement, the second prepares it, and
/// PostgreSQL plans the first five executions of a prepared statement
/// custom before it settles on a generic plan.
const ROUTED_WARMUP_PASSES: usize = 7;

/// What an arm queries, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmKind {
    /// `flat_items`, sqlx's default prepared statements.
    Flat,
    /// The parent `items`, sqlx's default prepared statements.
    Parent,
    /// The parent with `plan_cache_mode = force_custom_plan` on its connections.
    ParentCustom,
    /// Routed to the tenant's partition, uniform tenants, library defaults.
    RoutedUniform,
    /// Routed, Zipf(1.0) tenants, library defaults.
    RoutedZipf,
    /// Routed, uniform tenants, statement caching off.
    RoutedNocache,
    /// Routed, uniform tenants, through PgBouncer in transaction mode
    /// (`--pgbouncer-url`): the tenancy built
    /// `behind_transaction_pooler(true)` (unnamed statements, no cache),
    /// each query in its own transaction, as behind such a pooler it must.
    RoutedPgbouncer,
    /// [`RoutedPgbouncer`](ArmKind::RoutedPgbouncer) on a direct connection:
    /// the same tenancy, statements and transactions, without the pooler.
    RoutedPgbouncerDirect,
    /// The same macro on tenants in schema layout (the query rendered on
    /// `"tenant_t7_tag".items`), uniform tenants, library defaults: the
    /// schema layout's [`RoutedUniform`](ArmKind::RoutedUniform).
    SchemaUniform,
    /// Schema tenants, each query in a transaction of its own that first
    /// sets `search_path` to the tenant's schema (`set_config(.., true)`, as
    /// `Tenant::begin` does), then runs the macro's schema-qualified query:
    /// a prepared statement per tenant.
    SchemaQualifiedTx,
    /// The same transaction and `set_config`, then the query with
    /// unqualified names (`FROM items`), one prepared statement for every
    /// tenant, which PostgreSQL re-plans whenever `search_path` changed.
    SchemaSearchPathTx,
}

impl ArmKind {
    /// Every arm, in report order.
    pub const ALL: [ArmKind; 11] = [
        ArmKind::Flat,
        ArmKind::Parent,
        ArmKind::ParentCustom,
        ArmKind::RoutedUniform,
        ArmKind::RoutedZipf,
        ArmKind::RoutedNocache,
        ArmKind::RoutedPgbouncer,
        ArmKind::RoutedPgbouncerDirect,
        ArmKind::SchemaUniform,
        ArmKind::SchemaQualifiedTx,
        ArmKind::SchemaSearchPathTx,
    ];

    /// The arm's name (also the prefix of its JSON keys).
    pub fn name(self) -> &'static str {
        match self {
            ArmKind::Flat => "flat",
            ArmKind::Parent => "parent",
            ArmKind::ParentCustom => "parent_custom",
            ArmKind::RoutedUniform => "routed_uniform",
            ArmKind::RoutedZipf => "routed_zipf",
            ArmKind::RoutedNocache => "routed_nocache",
            ArmKind::RoutedPgbouncer => "routed_pgbouncer",
            ArmKind::RoutedPgbouncerDirect => "routed_pgbouncer_direct",
            ArmKind::SchemaUniform => "schema_uniform",
            ArmKind::SchemaQualifiedTx => "schema_qualified_tx",
            ArmKind::SchemaSearchPathTx => "schema_search_path_tx",
        }
    }

    /// The arm called `name` (as `--arms` spells it).
    pub fn parse(name: &str) -> Result<ArmKind, String> {
        ArmKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ArmKind::ALL.iter().map(|kind| kind.name()).collect();
                format!("no arm `{name}`; the arms are {}", names.join(", "))
            })
    }

    /// Whether the arm goes through the routed query macro.
    pub fn routed(self) -> bool {
        matches!(
            self,
            ArmKind::RoutedUniform
                | ArmKind::RoutedZipf
                | ArmKind::RoutedNocache
                | ArmKind::RoutedPgbouncer
                | ArmKind::RoutedPgbouncerDirect
                | ArmKind::SchemaUniform
                | ArmKind::SchemaQualifiedTx
        )
    }

    /// Whether the arm queries the tenants in schema layout.
    pub fn schema_layout(self) -> bool {
        matches!(
            self,
            ArmKind::SchemaUniform | ArmKind::SchemaQualifiedTx | ArmKind::SchemaSearchPathTx
        )
    }

    /// Whether the arm runs each query in a transaction of its own with
    /// the transaction-pooler tenancy.
    pub fn behind_pooler(self) -> bool {
        matches!(
            self,
            ArmKind::RoutedPgbouncer | ArmKind::RoutedPgbouncerDirect
        )
    }

    /// Whether the arm keeps statements prepared across queries (and so
    /// warms every tenant's statement up first).
    fn caches_statements(self) -> bool {
        matches!(
            self,
            ArmKind::RoutedUniform
                | ArmKind::RoutedZipf
                | ArmKind::SchemaUniform
                | ArmKind::SchemaQualifiedTx
                | ArmKind::SchemaSearchPathTx
        )
    }
}

/// What the client tasks share: tenant ids and handles.
pub struct Context {
    /// Benchmark tenant ids, by index.
    pub ids: Vec<String>,
    /// Handles from the default tenancy, by index.
    pub tenants: Vec<Tenant>,
    /// Handles from the tenancy with statement caching off, by index.
    pub tenants_nocache: Vec<Tenant>,
    /// Handles from the tenancy behind a transaction pooler, by index
    /// (empty unless a pooler arm runs).
    pub tenants_pooled: Vec<Tenant>,
    /// What begins the pooler arms' transactions: `BEGIN`, plus the arms'
    /// planner settings as `SET LOCAL` (PgBouncer 1.18 refuses the
    /// `options` startup parameter that carries them on the other arms).
    pub pooled_begin: String,
    /// Handles of the tenants in schema layout, by index (empty unless a
    /// schema arm runs).
    pub tenants_schema: Vec<Tenant>,
    /// Their search paths (`"tenant_t7_tag", public`), by index.
    pub schema_search_paths: Vec<String>,
}

impl Context {
    /// Looks every benchmark tenant up in the tenancies the arms use.
    pub async fn load(dataset: &Dataset, args: &Args) -> Result<Arc<Context>> {
        let started = Instant::now();
        let mut tenants = Vec::with_capacity(dataset.tenant_ids.len());
        let mut tenants_nocache = Vec::with_capacity(dataset.tenant_ids.len());
        let mut tenants_pooled = Vec::new();
        let pooler_arms = args.arms.iter().any(|kind| kind.behind_pooler());
        for id in &dataset.tenant_ids {
            tenants.push(
                dataset
                    .tenancy
                    .tenant(&dataset.pool, id)
                    .await
                    .with_context(|| format!("looking up tenant {id}"))?,
            );
            tenants_nocache.push(
                dataset
                    .tenancy_nocache
                    .tenant(&dataset.pool, id)
                    .await
                    .with_context(|| format!("looking up tenant {id}"))?,
            );
            if pooler_arms {
                tenants_pooled.push(
                    dataset
                        .tenancy_pooled
                        .tenant(&dataset.pool, id)
                        .await
                        .with_context(|| format!("looking up tenant {id}"))?,
                );
            }
        }
        let mut tenants_schema = Vec::with_capacity(dataset.schema_ids.len());
        let mut schema_search_paths = Vec::with_capacity(dataset.schema_ids.len());
        for id in &dataset.schema_ids {
            let tenant = dataset
                .tenancy
                .tenant(&dataset.pool, id)
                .await
                .with_context(|| format!("looking up schema tenant {id}"))?;
            let schema = tenant
                .tenant_schema()
                .with_context(|| format!("tenant {id} is not in schema layout"))?;
            schema_search_paths.push(format!("{}, public", quote_ident(schema)));
            tenants_schema.push(tenant);
        }
        progress!(
            "looked up {} tenant handles in {}",
            tenants.len() + tenants_schema.len(),
            crate::dataset::human_duration(started.elapsed())
        );
        let pooled_begin = match args.random_page_cost {
            RandomPageCost::Server => "BEGIN".to_string(),
            RandomPageCost::Set(cost) => format!("BEGIN; SET LOCAL random_page_cost = {cost}"),
        };
        Ok(Arc::new(Context {
            ids: dataset.tenant_ids.clone(),
            tenants,
            tenants_nocache,
            tenants_pooled,
            pooled_begin,
            tenants_schema,
            schema_search_paths,
        }))
    }
}

impl Context {
    /// How many tenants `kind` queries.
    pub fn tenant_count(&self, kind: ArmKind) -> usize {
        if kind.schema_layout() {
            self.tenants_schema.len()
        } else {
            self.tenants.len()
        }
    }
}

/// One arm's outcome.
#[derive(Debug, Clone)]
pub struct ArmResult {
    /// Which arm.
    pub kind: ArmKind,
    /// Queries completed in the measured slices.
    pub queries: u64,
    /// Measured wall time, summed over slices.
    pub seconds: f64,
    /// Median latency, microseconds (`None` without queries).
    pub p50_us: Option<f64>,
    /// 99th percentile latency, microseconds.
    pub p99_us: Option<f64>,
    /// Slowest query, microseconds.
    pub max_us: Option<f64>,
    /// Queries that failed.
    pub errors: u64,
    /// PostgreSQL's message when the arm failed (it stops at its first error).
    pub failed: Option<String>,
    /// Server-side prepared statements on the arm's busiest connection at the end.
    pub prepared_statements: Option<i64>,
    /// CPU time of this process per query, microseconds (the client side).
    pub client_cpu_us: Option<f64>,
    /// CPU time of the arm's backends per query, microseconds (`None` when
    /// the server is not on this machine).
    pub server_cpu_us: Option<f64>,
    /// Share of the machine's CPU time the hypervisor took ("steal") during
    /// the arm's slices, percent (`None` where `/proc/stat` has no such count).
    pub steal_pct: Option<f64>,
}

impl ArmResult {
    /// Queries per second, `None` for a failed arm.
    pub fn qps(&self) -> Option<f64> {
        if self.failed.is_some() || self.seconds <= 0.0 {
            None
        } else {
            Some(self.queries as f64 / self.seconds)
        }
    }
}

struct Arm {
    kind: ArmKind,
    pool: PgPool,
    /// One connection per client, held for the whole run (client i always
    /// uses connection i, as pgbench does).
    connections: Vec<Option<PoolConnection<Postgres>>>,
    cursors: Vec<usize>,
    histogram: Histogram<u64>,
    queries: u64,
    elapsed: Duration,
    errors: u64,
    failed: Option<String>,
    /// The connections' backend pids, when every one is a local process.
    backend_pids: Option<Vec<u32>>,
    /// CPU time over the measured slices; `None` once a reading failed.
    client_cpu_ns: Option<u64>,
    server_cpu_ns: Option<u64>,
    /// The machine's (steal, total) ticks over the measured slices.
    machine_ticks: Option<(u64, u64)>,
}

/// PostgreSQL's message (and SQLSTATE) for a database error, sqlx's text otherwise.
pub fn describe_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 10 min at 3 significant digits; these bounds are valid.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// The connect options of an arm's pool.
fn arm_options(kind: ArmKind, dataset: &Dataset, args: &Args) -> PgConnectOptions {
    match kind {
        // No startup `options` (PgBouncer 1.18 refuses them): the planner
        // settings come with each transaction's BEGIN.
        ArmKind::RoutedPgbouncer => {
            return dataset
                .tenancy_pooled
                .connect_options(args.pgbouncer_url.clone().database(&dataset.database))
        }
        ArmKind::RoutedPgbouncerDirect => {
            return dataset
                .tenancy_pooled
                .connect_options(dataset.options.clone())
        }
        _ => {}
    }
    let base = planner_options(dataset.options.clone(), args);
    match kind {
        ArmKind::Flat | ArmKind::Parent => base,
        ArmKind::ParentCustom => tenant_runtime::routing::parent_query_options(base),
        ArmKind::RoutedUniform | ArmKind::RoutedZipf => dataset.tenancy.connect_options(base),
        ArmKind::RoutedNocache => dataset.tenancy_nocache.connect_options(base),
        ArmKind::SchemaUniform | ArmKind::SchemaQualifiedTx | ArmKind::SchemaSearchPathTx => {
            dataset.tenancy.connect_options(base)
        }
        ArmKind::RoutedPgbouncer | ArmKind::RoutedPgbouncerDirect => {
            unreachable!("returned above")
        }
    }
}

/// `options` with the planner settings every arm shares (`--random-page-cost`).
pub fn planner_options(options: PgConnectOptions, args: &Args) -> PgConnectOptions {
    match args.random_page_cost {
        RandomPageCost::Server => options,
        RandomPageCost::Set(cost) => options.options([("random_page_cost", cost.to_string())]),
    }
}

/// The `random_page_cost` every arm's connections use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RandomPageCost {
    /// Whatever the server is configured with.
    Server,
    /// This value, set per connection.
    Set(f64),
}

impl RandomPageCost {
    /// `server`, or a positive number.
    pub fn parse(text: &str) -> Result<RandomPageCost, String> {
        if text == "server" {
            return Ok(RandomPageCost::Server);
        }
        match text.parse::<f64>() {
            Ok(cost) if cost.is_finite() && cost > 0.0 => Ok(RandomPageCost::Set(cost)),
            _ => Err(format!(
                "`{text}` is neither `server` nor a positive number"
            )),
        }
    }
}

impl std::fmt::Display for RandomPageCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RandomPageCost::Server => f.write_str("the server's setting"),
            RandomPageCost::Set(cost) => write!(f, "{cost}"),
        }
    }
}

/// The plan PostgreSQL picks for each arm's query (first line of EXPLAIN,
/// costs dropped), for tenant 0 and id 1, on a connection with the arms'
/// planner settings: `(label, plan)`.
pub async fn plans(dataset: &Dataset, context: &Context, args: &Args) -> Vec<(String, String)> {
    // `tenant_first`: whether `$1` is the tenant id (else `$1` is the id, `$2` the tenant).
    let explain = |label: &'static str, sql: String, custom: bool, tenant_first: bool| async move {
        let mut options = planner_options(dataset.options.clone(), args);
        if custom {
            options = tenant_runtime::routing::parent_query_options(options);
        }
        let result = async {
            let mut connection = sqlx::ConnectOptions::connect(&options).await?;
            let explain = format!("EXPLAIN {sql}");
            let query = sqlx::query_scalar(&explain);
            let query = if tenant_first {
                query.bind(&context.ids[0]).bind(1i64)
            } else {
                query.bind(1i64).bind(&context.ids[0])
            };
            let lines: Vec<String> = query.persistent(false).fetch_all(&mut connection).await?;
            sqlx::Connection::close(connection).await.ok();
            Ok::<_, sqlx::Error>(lines)
        }
        .await;
        let plan = match result {
            Ok(lines) => lines
                .first()
                .map(|line| match line.find("  (cost=") {
                    Some(end) => line[..end].to_string(),
                    None => line.clone(),
                })
                .unwrap_or_default(),
            Err(error) => format!("EXPLAIN failed: {}", describe_error(&error)),
        };
        (label.to_string(), plan)
    };
    let point =
        |table: &str| format!("SELECT payload FROM {table} WHERE tenant_id = $1 AND id = $2");
    let analyzer = tenant_runtime::tenant_core::Analyzer::new(tenant_runtime::Config::default());
    let (routed_sql, tenant_first) = match analyzer.analyze(ROUTED_POINT_QUERY) {
        Ok(analysis) => (
            context.tenants[0].route_sql(
                &tenant_runtime::tenant_core::route::RouteTemplate::from_analysis(&analysis),
            ),
            analysis.tenant_param == Some(1),
        ),
        Err(error) => return vec![("routed".into(), format!("analysis failed: {error}"))],
    };
    vec![
        explain("flat", point("flat_items"), false, true).await,
        explain("parent_custom", point("items"), true, true).await,
        explain("routed", routed_sql, false, tenant_first).await,
    ]
}

/// The routed arms' query, as written in [`routed_query`].
const ROUTED_POINT_QUERY: &str = "SELECT payload FROM items WHERE tenant_id = $tenant AND id = $1";

/// Runs one point query of `kind` for `draw` on `connection`.
async fn point_query(
    kind: ArmKind,
    connection: &mut PgConnection,
    context: &Context,
    draw: Draw,
) -> Result<String, sqlx::Error> {
    let index = draw.tenant as usize;
    let id = i64::from(draw.id);
    match kind {
        ArmKind::Flat => {
            sqlx::query_scalar("SELECT payload FROM flat_items WHERE tenant_id = $1 AND id = $2")
                .bind(&context.ids[index])
                .bind(id)
                .fetch_one(connection)
                .await
        }
        ArmKind::Parent | ArmKind::ParentCustom => {
            sqlx::query_scalar("SELECT payload FROM items WHERE tenant_id = $1 AND id = $2")
                .bind(&context.ids[index])
                .bind(id)
                .fetch_one(connection)
                .await
        }
        ArmKind::RoutedUniform | ArmKind::RoutedZipf => {
            routed_query(&context.tenants[index], id, connection).await
        }
        ArmKind::RoutedNocache => {
            routed_query(&context.tenants_nocache[index], id, connection).await
        }
        ArmKind::RoutedPgbouncer | ArmKind::RoutedPgbouncerDirect => {
            // Behind a transaction pooler the two steps of sqlx's unnamed
            // statement must reach one server connection: a transaction.
            let mut transaction = connection.begin_with(context.pooled_begin.clone()).await?;
            let payload =
                routed_query(&context.tenants_pooled[index], id, &mut transaction).await?;
            transaction.commit().await?;
            Ok(payload)
        }
        ArmKind::SchemaUniform => {
            routed_query(&context.tenants_schema[index], id, connection).await
        }
        ArmKind::SchemaQualifiedTx | ArmKind::SchemaSearchPathTx => {
            let mut transaction = connection.begin().await?;
            sqlx::query("SELECT set_config('search_path', $1, true)")
                .bind(&context.schema_search_paths[index])
                .execute(&mut *transaction)
                .await?;
            let tenant = &context.tenants_schema[index];
            let payload = if kind == ArmKind::SchemaQualifiedTx {
                routed_query(tenant, id, &mut transaction).await?
            } else {
                sqlx::query_scalar("SELECT payload FROM items WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.id())
                    .bind(id)
                    .fetch_one(&mut *transaction)
                    .await?
            };
            transaction.commit().await?;
            Ok(payload)
        }
    }
}

/// The routed point query: the macro sends it to the tenant's partition
/// of `items`, with the caching policy of the tenancy that made `tenant`.
pub async fn routed_query(
    tenant: &Tenant,
    id: i64,
    connection: &mut PgConnection,
) -> Result<String, sqlx::Error> {
    tenant_query_scalar!(
        tenant,
        "SELECT payload FROM items WHERE tenant_id = $tenant AND id = $1",
        id
    )
    .fetch_one(connection)
    .await
}

/// Builds the arm's pool, takes one connection per client and warms each
/// up. A warm-up error fails the arm (it is reported, not raised).
async fn prepare_arm(
    kind: ArmKind,
    dataset: &Dataset,
    context: &Context,
    warmup: &Sequence,
    args: &Args,
) -> Result<Arm> {
    let clients = args.clients;
    // Lazy: connecting can fail like a query can (the parent arm at 10,000
    // partitions runs the lock table out of memory), and that fails the arm,
    // not the run.
    let pool = PgPoolOptions::new()
        .max_connections(clients)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(120))
        .connect_lazy_with(arm_options(kind, dataset, args));
    let mut arm = Arm {
        kind,
        pool,
        connections: Vec::new(),
        cursors: vec![0; clients as usize],
        histogram: new_histogram(),
        queries: 0,
        elapsed: Duration::ZERO,
        errors: 0,
        failed: None,
        backend_pids: Some(Vec::new()),
        client_cpu_ns: Some(0),
        server_cpu_ns: Some(0),
        machine_ticks: Some((0, 0)),
    };
    for client in 0..clients as usize {
        let mut connection = match arm.pool.acquire().await {
            Ok(connection) => connection,
            Err(error) => {
                arm.errors += 1;
                arm.failed
                    .get_or_insert(format!("connecting: {}", describe_error(&error)));
                continue;
            }
        };
        if arm.failed.is_none() && kind.caches_statements() {
            // Steady state, as on a long-running server: every tenant's
            // statement prepared on this connection (the runtime prepares a
            // pair on its second run) and past PostgreSQL's five custom
            // plans. The cold pass is timed and reported apart.
            let started = Instant::now();
            'passes: for pass in 0..ROUTED_WARMUP_PASSES {
                let pass_started = Instant::now();
                for tenant in 0..context.tenant_count(kind) {
                    let draw = Draw {
                        tenant: tenant as u32,
                        id: 1,
                    };
                    if let Err(error) = point_query(kind, &mut connection, context, draw).await {
                        arm.errors += 1;
                        arm.failed = Some(format!("during warm-up: {}", describe_error(&error)));
                        break 'passes;
                    }
                }
                if pass < 2 {
                    progress!(
                        "arm {} client {client}: warm-up pass {} over {} tenants: {:.0} queries/s",
                        kind.name(),
                        pass + 1,
                        context.tenant_count(kind),
                        context.tenant_count(kind) as f64 / pass_started.elapsed().as_secs_f64()
                    );
                }
            }
            progress!(
                "arm {} client {client}: warmed every tenant {ROUTED_WARMUP_PASSES}x in {:.1}s",
                kind.name(),
                started.elapsed().as_secs_f64()
            );
        }
        if arm.failed.is_none() {
            for offset in 0..WARMUP_QUERIES {
                let draw = warmup[(client * WARMUP_QUERIES + offset) % warmup.len()];
                if let Err(error) = point_query(kind, &mut connection, context, draw).await {
                    arm.errors += 1;
                    arm.failed = Some(format!("during warm-up: {}", describe_error(&error)));
                    break;
                }
            }
        }
        // Through a pooler the backend changes with every transaction.
        let pid = match kind {
            ArmKind::RoutedPgbouncer => None,
            _ => backend_pid(&mut connection).await,
        };
        arm.backend_pids = arm.backend_pids.take().zip(pid).map(|(mut pids, pid)| {
            pids.push(pid);
            pids
        });
        arm.connections.push(Some(connection));
    }
    if let Some(message) = &arm.failed {
        progress!("arm {} failed {message}", kind.name());
    }
    Ok(arm)
}

/// The connection's backend pid if that backend runs on this machine.
async fn backend_pid(connection: &mut PgConnection) -> Option<u32> {
    // Simple protocol: no prepared statement is added to the connection.
    let row = sqlx::raw_sql("SELECT pg_backend_pid()")
        .fetch_one(connection)
        .await
        .ok()?;
    let pid: i32 = row.try_get(0).ok()?;
    let pid = u32::try_from(pid).ok()?;
    cpu::is_local_backend(pid).then_some(pid)
}

/// Adds the CPU time spent between two readings to `total` (`None` once
/// any reading failed).
fn add_cpu(total: &mut Option<u64>, before: Option<u64>, after: Option<u64>) {
    *total = match (*total, before, after) {
        (Some(total), Some(before), Some(after)) => Some(total + after.saturating_sub(before)),
        _ => None,
    };
}

struct ClientOutcome {
    connection: PoolConnection<Postgres>,
    cursor: usize,
    histogram: Histogram<u64>,
    queries: u64,
    error: Option<String>,
}

/// Runs one slice of `arm`: every client replays its sequence from where it
/// stopped last time until the deadline.
async fn run_slice(
    arm: &mut Arm,
    context: &Arc<Context>,
    sequences: &Arc<Vec<Sequence>>,
    duration: Duration,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let server_cpu = |arm: &Arm| arm.backend_pids.as_deref().and_then(cpu::backends_cpu_ns);
    let (client_before, server_before) = (cpu::own_cpu_ns(), server_cpu(arm));
    let machine_before = cpu::machine_ticks();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..arm.connections.len() {
        let Some(mut connection) = arm.connections[client].take() else {
            continue;
        };
        let (context, sequences, stop) = (
            Arc::clone(context),
            Arc::clone(sequences),
            Arc::clone(&stop),
        );
        let mut cursor = arm.cursors[client];
        let kind = arm.kind;
        tasks.push((
            client,
            tokio::spawn(async move {
                let sequence = &sequences[client];
                let mut histogram = new_histogram();
                let mut queries = 0;
                let mut error = None;
                loop {
                    let before = Instant::now();
                    if before >= deadline || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let draw = sequence[cursor % sequence.len()];
                    cursor += 1;
                    match point_query(kind, &mut connection, &context, draw).await {
                        Ok(_) => {
                            let nanos = before.elapsed().as_nanos();
                            histogram.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
                            queries += 1;
                        }
                        Err(failure) => {
                            error = Some(describe_error(&failure));
                            stop.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                ClientOutcome {
                    connection,
                    cursor,
                    histogram,
                    queries,
                    error,
                }
            }),
        ));
    }
    for (client, task) in tasks {
        match task.await {
            Ok(outcome) => {
                arm.connections[client] = Some(outcome.connection);
                arm.cursors[client] = outcome.cursor;
                // Same bounds on both sides: adding cannot fail.
                let _ = arm.histogram.add(&outcome.histogram);
                arm.queries += outcome.queries;
                if let Some(error) = outcome.error {
                    arm.errors += 1;
                    arm.failed.get_or_insert(error);
                }
            }
            Err(join_error) => {
                arm.errors += 1;
                arm.failed
                    .get_or_insert(format!("client task ended abnormally: {join_error}"));
            }
        }
    }
    arm.elapsed += started.elapsed();
    add_cpu(&mut arm.client_cpu_ns, client_before, cpu::own_cpu_ns());
    let server_after = server_cpu(arm);
    add_cpu(&mut arm.server_cpu_ns, server_before, server_after);
    arm.machine_ticks = match (arm.machine_ticks, machine_before, cpu::machine_ticks()) {
        (Some((steal, total)), Some(before), Some(after)) => Some((
            steal + after.steal.saturating_sub(before.steal),
            total + after.total.saturating_sub(before.total),
        )),
        _ => None,
    };
}

/// Server-side prepared statements on the arm's connections (the largest count).
async fn prepared_statements(arm: &mut Arm) -> Option<i64> {
    let mut most = None;
    for connection in arm.connections.iter_mut().flatten() {
        // Simple protocol: this query adds no prepared statement itself.
        let row = sqlx::raw_sql("SELECT count(*) FROM pg_prepared_statements")
            .fetch_one(&mut **connection)
            .await
            .ok()?;
        let count: i64 = row.try_get(0).ok()?;
        most = Some(most.map_or(count, |m: i64| m.max(count)));
    }
    most
}

/// Prepares every arm, then runs them interleaved: `seconds` per arm in
/// slices of about two seconds, the starting arm rotating each round.
pub async fn measure(
    dataset: &Dataset,
    context: &Arc<Context>,
    sequences: &Sequences,
    args: &Args,
) -> Result<Vec<ArmResult>> {
    let mut arms = Vec::new();
    for &kind in &args.arms {
        progress!(
            "preparing arm {} ({} connections)",
            kind.name(),
            args.clients
        );
        arms.push(prepare_arm(kind, dataset, context, &sequences.warmup, args).await?);
    }
    let total = f64::from(args.seconds);
    let rounds = (total / SLICE_SECONDS).round().max(1.0) as usize;
    let slice = Duration::from_secs_f64(total / rounds as f64);
    progress!(
        "measuring {} arms x {}s: {rounds} rounds of {:.2}s slices",
        arms.len(),
        args.seconds,
        slice.as_secs_f64()
    );
    for round in 0..rounds {
        let mut line = Vec::new();
        for step in 0..arms.len() {
            let index = (round + step) % arms.len();
            let arm = &mut arms[index];
            if arm.failed.is_some() {
                continue;
            }
            let sequences = if arm.kind == ArmKind::RoutedZipf {
                &sequences.zipf
            } else {
                &sequences.uniform
            };
            let (queries_before, elapsed_before) = (arm.queries, arm.elapsed);
            run_slice(arm, context, sequences, slice).await;
            let seconds = (arm.elapsed - elapsed_before).as_secs_f64();
            match &arm.failed {
                Some(message) => {
                    progress!("arm {} failed: {message}", arm.kind.name());
                    line.push(format!("{} FAILED", arm.kind.name()));
                }
                None => line.push(format!(
                    "{} {:.0}",
                    arm.kind.name(),
                    (arm.queries - queries_before) as f64 / seconds.max(1e-9)
                )),
            }
        }
        progress!("round {}/{rounds} qps: {}", round + 1, line.join(", "));
    }

    let mut results = Vec::new();
    for mut arm in arms {
        let prepared = if arm.kind.routed() && !arm.kind.behind_pooler() && arm.failed.is_none() {
            prepared_statements(&mut arm).await
        } else {
            None
        };
        let has_queries = arm.queries > 0;
        let quantile =
            |q: f64| has_queries.then(|| arm.histogram.value_at_quantile(q) as f64 / 1000.0);
        let per_query = |ns: Option<u64>| {
            ns.filter(|_| has_queries)
                .map(|ns| ns as f64 / arm.queries as f64 / 1000.0)
        };
        results.push(ArmResult {
            kind: arm.kind,
            queries: arm.queries,
            seconds: arm.elapsed.as_secs_f64(),
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
            max_us: has_queries.then(|| arm.histogram.max() as f64 / 1000.0),
            errors: arm.errors,
            failed: arm.failed.clone(),
            prepared_statements: prepared,
            client_cpu_us: per_query(arm.client_cpu_ns),
            server_cpu_us: per_query(arm.server_cpu_ns),
            steal_pct: arm
                .machine_ticks
                .filter(|&(_, total)| total > 0)
                .map(|(steal, total)| steal as f64 * 100.0 / total as f64),
        });
        // Give the connections back and close them: later phases use their own.
        arm.connections.clear();
        arm.pool.close().await;
    }
    Ok(results)
}
