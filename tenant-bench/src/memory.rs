//! PostgreSQL's memory per cached statement: `pg_backend_memory_contexts`
//! of one connection before and after it prepares the routed point query for
//! K distinct tenants (one statement per tenant: the SQL names the tenant's
//! partition), and the same for the parent query.

use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::{self, ConnectOptions, Connection, PgConnection, Row};
use tenant_runtime::Tenant;

use crate::arms::{describe_error, routed_query, ArmKind, ArmResult, Context};
use crate::dataset::Dataset;
use crate::{progress, Args};

/// Memory growth of one connection over a batch of statements.
#[derive(Debug, Clone)]
pub struct StatementMemory {
    /// Executions of each statement (1, or 6: PostgreSQL considers a generic
    /// plan from the sixth execution on).
    pub executions: u32,
    /// Distinct tenants queried.
    pub tenants: usize,
    /// Growth of `sum(total_bytes)` of the backend's memory contexts.
    pub delta_bytes: i64,
    /// Growth of the connection's server-side prepared statements.
    pub prepared: i64,
}

impl StatementMemory {
    /// Bytes per server-side prepared statement added (`None` when none was).
    pub fn per_statement(&self) -> Option<f64> {
        (self.prepared > 0).then(|| self.delta_bytes as f64 / self.prepared as f64)
    }

    /// Bytes per tenant queried (includes the catalog caches of its partition).
    pub fn per_tenant(&self) -> f64 {
        self.delta_bytes as f64 / self.tenants.max(1) as f64
    }
}

/// One measurement, or why it is missing.
pub type Measured = Result<StatementMemory, String>;

/// Every memory measurement.
#[derive(Debug)]
pub struct MemoryResult {
    /// Routed, library defaults, each statement executed once.
    pub routed_1x: Measured,
    /// Routed, library defaults, each executed six times.
    pub routed_6x: Measured,
    /// Routed with statement caching off, six executions (no prepared
    /// statements stay: this is the catalog-cache cost alone).
    pub nocache_6x: Measured,
    /// The parent query, executed once.
    pub parent_1x: Measured,
    /// The parent query, executed six times.
    pub parent_6x: Measured,
}

impl MemoryResult {
    /// Bytes per prepared routed statement beyond what the same queries
    /// cost with caching off (the partitions' catalog cache entries), each
    /// executed once.
    pub fn routed_net_1x(&self) -> Option<f64> {
        net(&self.routed_1x, &self.nocache_6x)
    }

    /// The same after six executions each (generic plans built).
    pub fn routed_net_6x(&self) -> Option<f64> {
        net(&self.routed_6x, &self.nocache_6x)
    }
}

fn net(cached: &Measured, uncached: &Measured) -> Option<f64> {
    let (cached, uncached) = (cached.as_ref().ok()?, uncached.as_ref().ok()?);
    (cached.prepared > 0 && cached.tenants == uncached.tenants)
        .then(|| (cached.delta_bytes - uncached.delta_bytes) as f64 / cached.prepared as f64)
}

const MEMORY_SQL: &str = "SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts";
const PREPARED_SQL: &str = "SELECT count(*) FROM pg_prepared_statements";

/// Reads one bigint with the simple protocol (no prepared statement is added).
async fn read_i64(connection: &mut PgConnection, sql: &str) -> Result<i64> {
    let row = sqlx::raw_sql(sql)
        .fetch_one(&mut *connection)
        .await
        .map_err(|e| anyhow!("{sql}: {}", describe_error(&e)))?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

async fn snapshot(connection: &mut PgConnection) -> Result<(i64, i64)> {
    Ok((
        read_i64(connection, MEMORY_SQL).await?,
        read_i64(connection, PREPARED_SQL).await?,
    ))
}

/// Routed point queries for `tenants[1..]`, `executions` times each, on a
/// fresh connection with `options`; `tenants[0]` warms the connection up.
async fn routed(
    options: PgConnectOptions,
    tenants: &[Tenant],
    rows: u32,
    executions: u32,
) -> Result<StatementMemory> {
    let rows = i64::from(rows);
    let (warm, sample) = tenants
        .split_first()
        .ok_or_else(|| anyhow!("no tenants to measure"))?;
    // The runtime prepares a (tenant, query) pair from its second run in
    // this process on; running each pair once on another connection first
    // makes the measured connection prepare every one of them.
    let mut priming = options.clone().connect().await.context("connecting")?;
    for tenant in tenants {
        routed_query(tenant, 1, &mut priming)
            .await
            .map_err(|e| anyhow!("{}", describe_error(&e)))?;
    }
    priming.close().await.ok();
    let mut connection = options.connect().await.context("connecting")?;
    for _ in 0..executions {
        routed_query(warm, 1, &mut connection)
            .await
            .map_err(|e| anyhow!("{}", describe_error(&e)))?;
    }
    snapshot(&mut connection).await?;
    let (memory_before, prepared_before) = snapshot(&mut connection).await?;
    for (index, tenant) in sample.iter().enumerate() {
        for _ in 0..executions {
            routed_query(tenant, index as i64 % rows + 1, &mut connection)
                .await
                .map_err(|e| anyhow!("{}", describe_error(&e)))?;
        }
    }
    let (memory_after, prepared_after) = snapshot(&mut connection).await?;
    connection.close().await.ok();
    Ok(StatementMemory {
        executions,
        tenants: sample.len(),
        delta_bytes: memory_after - memory_before,
        prepared: prepared_after - prepared_before,
    })
}

/// The parent query on a fresh connection with sqlx's defaults: memory after
/// one execution and after six (the generic plan over every partition).
async fn parent(dataset: &Dataset, tenant: &str) -> Result<(StatementMemory, StatementMemory)> {
    let mut connection = dataset
        .options
        .clone()
        .connect()
        .await
        .context("connecting")?;
    snapshot(&mut connection).await?;
    let (memory_before, prepared_before) = snapshot(&mut connection).await?;
    let mut results = Vec::new();
    for executions in 1..=6u32 {
        let _: String =
            sqlx::query_scalar("SELECT payload FROM items WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(1i64)
                .fetch_one(&mut connection)
                .await
                .map_err(|e| anyhow!("{}", describe_error(&e)))?;
        if executions == 1 || executions == 6 {
            let (memory, prepared) = snapshot(&mut connection).await?;
            results.push(StatementMemory {
                executions,
                tenants: 1,
                delta_bytes: memory - memory_before,
                prepared: prepared - prepared_before,
            });
        }
    }
    connection.close().await.ok();
    let six = results.pop().ok_or_else(|| anyhow!("no measurement"))?;
    let one = results.pop().ok_or_else(|| anyhow!("no measurement"))?;
    Ok((one, six))
}

/// Runs every memory measurement; failures are reported, not raised.
pub async fn measure(
    dataset: &Dataset,
    context: &Arc<Context>,
    args: &Args,
    arms: &[ArmResult],
) -> MemoryResult {
    let count = (args.memory_tenants as usize + 1).min(context.tenants.len());
    progress!(
        "statement memory: routed point query for {} tenants",
        count.saturating_sub(1)
    );
    let flatten = |result: Result<StatementMemory>| result.map_err(|e| format!("{e:#}"));
    let routed_options = dataset.tenancy.connect_options(dataset.options.clone());
    let nocache_options = dataset
        .tenancy_nocache
        .connect_options(dataset.options.clone());
    let rows = dataset.rows_per_tenant;
    let routed_1x =
        flatten(routed(routed_options.clone(), &context.tenants[..count], rows, 1).await);
    let routed_6x = flatten(routed(routed_options, &context.tenants[..count], rows, 6).await);
    let nocache_6x =
        flatten(routed(nocache_options, &context.tenants_nocache[..count], rows, 6).await);

    let parent_failed = arms
        .iter()
        .find(|arm| arm.kind == ArmKind::Parent)
        .and_then(|arm| arm.failed.clone());
    let (parent_1x, parent_6x) = match parent_failed {
        Some(message) => {
            let skipped = format!("skipped: the parent arm failed ({message})");
            (Err(skipped.clone()), Err(skipped))
        }
        None => {
            progress!("statement memory: parent query");
            match parent(dataset, &context.ids[0]).await {
                Ok((one, six)) => (Ok(one), Ok(six)),
                Err(error) => {
                    let message = format!("{error:#}");
                    (Err(message.clone()), Err(message))
                }
            }
        }
    };
    MemoryResult {
        routed_1x,
        routed_6x,
        nocache_6x,
        parent_1x,
        parent_6x,
    }
}
