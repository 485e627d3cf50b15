//! Onboarding at scale: the latency of onboarding more tenants (three
//! partitions each) one at a time while another tenant keeps querying, next
//! to the bare `ATTACH PARTITION` the runtime's DDL cannot go below.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use tenant_runtime::schema::TableSchema;
use tenant_runtime::sqlx::{self, ConnectOptions, Connection, PgConnection};
use tenant_runtime::tenant_core::layout::Layout;
use tenant_runtime::Offboard;

use crate::arms::{describe_error, routed_query, Context};
use crate::dataset::{human_duration, schemas, Dataset};
use crate::{progress, Args};

/// Prefix of the tenants onboarded (and offboarded again) here.
const EXTRA_PREFIX: &str = "bench-extra-";
/// Prefix of those in schema layout (cleaned up with the others).
const EXTRA_SCHEMA_PREFIX: &str = "bench-extra-schema-";
/// The list value the bare-DDL probe tables are attached for.
const PROBE_TENANT: &str = "bench-bare-attach-probe";
/// Repetitions of each bare-DDL measurement (the median is reported).
const BARE_REPEATS: usize = 5;

/// The onboarding measurement.
#[derive(Debug, Clone)]
pub struct OnboardingResult {
    /// Why the measurement could not be completed (its numbers are then NaN).
    pub error: Option<String>,
    /// Tenants onboarded.
    pub tenants: usize,
    /// Median onboarding time, ms.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
    /// Slowest onboarding, ms.
    pub max_ms: f64,
    /// Routed queries of an existing tenant completed during the onboardings.
    pub reader_queries: u64,
    /// The slowest of them, ms.
    pub reader_max_ms: f64,
    /// The first error the reader met, if any.
    pub reader_error: Option<String>,
    /// Median of one `ALTER TABLE items ATTACH PARTITION` of a prepared empty table, ms.
    pub bare_attach_ms: f64,
    /// Median of the three ATTACHes (items, orders, events) in one transaction, ms.
    pub bare_attach_3_tables_ms: f64,
    /// Median of the complete DDL of three partitions (create, CHECK, attach,
    /// drop CHECK) in one transaction, what onboarding runs minus the registry, ms.
    pub bare_ddl_3_tables_ms: f64,
    /// Median offboarding time (`Offboard::Drop`), ms.
    pub offboard_p50_ms: f64,
    /// The same onboarding in schema layout, when a schema arm runs.
    pub schema: Option<SchemaOnboarding>,
}

/// Onboarding in schema layout (a schema, a role and three tables per
/// tenant), alternated one for one with the partition onboardings.
#[derive(Debug, Clone)]
pub struct SchemaOnboarding {
    /// Tenants onboarded.
    pub tenants: usize,
    /// Median onboarding time, ms.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: f64,
    /// Slowest onboarding, ms.
    pub max_ms: f64,
    /// Median offboarding time (`Offboard::Drop`: schema and role), ms.
    pub offboard_p50_ms: f64,
}

impl OnboardingResult {
    /// The result of a measurement that failed: no numbers, the reason.
    pub fn failed(message: String) -> OnboardingResult {
        OnboardingResult {
            error: Some(message),
            tenants: 0,
            p50_ms: f64::NAN,
            p99_ms: f64::NAN,
            max_ms: f64::NAN,
            reader_queries: 0,
            reader_max_ms: f64::NAN,
            reader_error: None,
            bare_attach_ms: f64::NAN,
            bare_attach_3_tables_ms: f64::NAN,
            bare_ddl_3_tables_ms: f64::NAN,
            offboard_p50_ms: f64::NAN,
            schema: None,
        }
    }
}

/// Nearest-rank percentile of `samples` (sorted ascending), `q` in 0..=1.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(f64::total_cmp);
    samples
}

/// Runs the onboarding measurement and leaves the data set as it found it.
pub async fn measure(
    dataset: &Dataset,
    context: &Arc<Context>,
    args: &Args,
) -> Result<OnboardingResult> {
    let tenancy = &dataset.tenancy;
    let pool = &dataset.pool;
    cleanup(dataset).await?;

    // The reader: one existing tenant, routed, on its own connection. It
    // keeps running (uncounted) while the bare DDL is timed, so that the
    // onboarding and the DDL it is compared with share the machine with the
    // same load: on 2 cores the reader takes about one of them.
    const WARMING: u8 = 0;
    const MEASURING: u8 = 1;
    const BASELINE: u8 = 2;
    const STOPPED: u8 = 3;
    let phase = Arc::new(AtomicU8::new(WARMING));
    let mut reader_connection = tenancy
        .connect_options(dataset.options.clone())
        .connect()
        .await
        .context("connecting the reader")?;
    let reader = {
        let (phase, context) = (Arc::clone(&phase), Arc::clone(context));
        let rows = i64::from(dataset.rows_per_tenant);
        tokio::spawn(async move {
            let tenant = &context.tenants[0];
            let (mut queries, mut slowest, mut error) = (0u64, Duration::ZERO, None);
            let mut id = 0i64;
            loop {
                let now = phase.load(Ordering::Relaxed);
                if now == STOPPED {
                    break;
                }
                id = id % rows + 1;
                let before = Instant::now();
                let result = routed_query(tenant, id, &mut reader_connection).await;
                let took = before.elapsed();
                if now == MEASURING {
                    match result {
                        Ok(_) => {
                            queries += 1;
                            slowest = slowest.max(took);
                        }
                        Err(failure) => {
                            error.get_or_insert(describe_error(&failure));
                        }
                    }
                }
            }
            reader_connection.close().await.ok();
            (queries, slowest, error)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(MEASURING, Ordering::Relaxed);

    progress!(
        "onboarding {} more tenants one at a time while tenant {} keeps querying",
        args.onboard_tenants,
        context.ids[0]
    );
    let ids: Vec<String> = (0..args.onboard_tenants)
        .map(|i| format!("{EXTRA_PREFIX}{i:05}"))
        .collect();
    // With a schema arm, a tenant in schema layout after each partition
    // tenant: both at the same scale and machine load.
    let with_schema = args.arms.iter().any(|kind| kind.schema_layout());
    let schema_ids: Vec<String> = if with_schema {
        (0..args.onboard_tenants)
            .map(|i| format!("{EXTRA_SCHEMA_PREFIX}{i:05}"))
            .collect()
    } else {
        Vec::new()
    };
    if with_schema {
        progress!(
            "... alternating with {} tenants in schema layout",
            schema_ids.len()
        );
    }
    let mut onboard_ms = Vec::new();
    let mut schema_onboard_ms = Vec::new();
    let mut onboard_error = None;
    for (index, id) in ids.iter().enumerate() {
        let started = Instant::now();
        match tenancy.onboard_as(pool, id, Layout::Partition).await {
            Ok(_) => onboard_ms.push(millis(started.elapsed())),
            Err(error) => {
                onboard_error = Some(anyhow!("onboarding {id}: {error}"));
                break;
            }
        }
        if let Some(id) = schema_ids.get(index) {
            let started = Instant::now();
            match tenancy.onboard_as(pool, id, Layout::Schema).await {
                Ok(_) => schema_onboard_ms.push(millis(started.elapsed())),
                Err(error) => {
                    onboard_error = Some(anyhow!("onboarding {id} in schema layout: {error}"));
                    break;
                }
            }
        }
    }
    let bare = match onboard_error {
        None => {
            phase.store(BASELINE, Ordering::Relaxed);
            progress!("bare DDL: {BARE_REPEATS} x ATTACH PARTITION of prepared empty tables, the reader still running");
            Ok(bare_ddl(dataset).await)
        }
        Some(error) => Err(error),
    };
    phase.store(STOPPED, Ordering::Relaxed);
    let (reader_queries, reader_max, reader_error) =
        reader.await.map_err(|e| anyhow!("reader task: {e}"))?;
    let bare = match bare {
        Ok(bare) => bare,
        Err(onboard_error) => {
            cleanup(dataset).await.ok();
            return Err(onboard_error);
        }
    };

    progress!("offboarding the {} extra tenants", ids.len());
    let mut offboard_ms = Vec::new();
    for id in &ids {
        let started = Instant::now();
        tenancy
            .offboard(pool, id, Offboard::Drop)
            .await
            .with_context(|| format!("offboarding {id}"))?;
        offboard_ms.push(millis(started.elapsed()));
    }
    let mut schema_offboard_ms = Vec::new();
    for id in &schema_ids {
        let started = Instant::now();
        tenancy
            .offboard(pool, id, Offboard::Drop)
            .await
            .with_context(|| format!("offboarding {id}"))?;
        schema_offboard_ms.push(millis(started.elapsed()));
    }
    let (attach, attach_3, ddl_3) = bare?;
    let schema = with_schema.then(|| {
        let onboard_ms = sorted(schema_onboard_ms);
        SchemaOnboarding {
            tenants: onboard_ms.len(),
            p50_ms: percentile(&onboard_ms, 0.5),
            p99_ms: percentile(&onboard_ms, 0.99),
            max_ms: onboard_ms.last().copied().unwrap_or(f64::NAN),
            offboard_p50_ms: percentile(&sorted(schema_offboard_ms), 0.5),
        }
    });

    let onboard_ms = sorted(onboard_ms);
    let result = OnboardingResult {
        error: None,
        tenants: onboard_ms.len(),
        p50_ms: percentile(&onboard_ms, 0.5),
        p99_ms: percentile(&onboard_ms, 0.99),
        max_ms: onboard_ms.last().copied().unwrap_or(f64::NAN),
        reader_queries,
        reader_max_ms: millis(reader_max),
        reader_error,
        bare_attach_ms: attach,
        bare_attach_3_tables_ms: attach_3,
        bare_ddl_3_tables_ms: ddl_3,
        offboard_p50_ms: percentile(&sorted(offboard_ms), 0.5),
        schema,
    };
    progress!(
        "onboarding p50 {:.1} ms, p99 {:.1} ms; bare ATTACH {:.1} ms",
        result.p50_ms,
        result.p99_ms,
        result.bare_attach_ms
    );
    if let Some(schema) = &result.schema {
        progress!(
            "onboarding in schema layout p50 {:.1} ms, p99 {:.1} ms",
            schema.p50_ms,
            schema.p99_ms
        );
    }
    Ok(result)
}

/// Offboards tenants and drops probe tables an interrupted run left behind.
async fn cleanup(dataset: &Dataset) -> Result<()> {
    for record in dataset.tenancy.list(&dataset.pool).await? {
        if record.id.starts_with(EXTRA_PREFIX) {
            progress!("offboarding {} left over by an earlier run", record.id);
            dataset
                .tenancy
                .offboard(&dataset.pool, &record.id, Offboard::Drop)
                .await
                .with_context(|| format!("offboarding leftover {}", record.id))?;
        }
    }
    let mut connection = dataset.pool.acquire().await?;
    for table in schemas() {
        for repeat in 0..BARE_REPEATS {
            drop_probe(&mut connection, &table, &probe_suffix(repeat)).await?;
        }
    }
    Ok(())
}

fn probe_suffix(repeat: usize) -> String {
    format!("bare{repeat}")
}

async fn exec(connection: &mut PgConnection, sql: &str) -> Result<()> {
    sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .map_err(|e| anyhow!("{sql}: {}", describe_error(&e)))?;
    Ok(())
}

/// Drops a probe table (dropping an attached partition detaches it too).
async fn drop_probe(
    connection: &mut PgConnection,
    table: &TableSchema,
    suffix: &str,
) -> Result<()> {
    exec(
        connection,
        &format!(
            "DROP TABLE IF EXISTS {}",
            table.qualified_partition_name(suffix)
        ),
    )
    .await
}

/// Detaches (plain DETACH: nothing else runs now) and drops a probe table.
async fn detach_and_drop(
    connection: &mut PgConnection,
    table: &TableSchema,
    suffix: &str,
) -> Result<()> {
    exec(
        connection,
        &format!(
            "ALTER TABLE {} DETACH PARTITION {}",
            table.qualified_name(),
            table.qualified_partition_name(suffix)
        ),
    )
    .await?;
    drop_probe(connection, table, suffix).await
}

/// Medians of: one ATTACH of `items`; the three ATTACHes in one transaction;
/// the three tables' complete partition DDL in one transaction. Creating the
/// tables and detaching and dropping them is outside the timing.
async fn bare_ddl(dataset: &Dataset) -> Result<(f64, f64, f64)> {
    let mut pooled = dataset.pool.acquire().await?;
    let connection: &mut PgConnection = &mut pooled;
    let tables = schemas();
    let items = &tables[0];
    let mut attach = Vec::new();
    let mut attach_3 = Vec::new();
    let mut ddl_3 = Vec::new();
    for repeat in 0..BARE_REPEATS {
        let suffix = probe_suffix(repeat);

        let ddl = items.partition_ddl(&suffix, PROBE_TENANT);
        exec(connection, &ddl.create).await?;
        exec(connection, &ddl.add_bound_check).await?;
        let started = Instant::now();
        exec(connection, &ddl.attach).await?;
        attach.push(millis(started.elapsed()));
        detach_and_drop(connection, items, &suffix).await?;

        let ddls: Vec<_> = tables
            .iter()
            .map(|t| t.partition_ddl(&suffix, PROBE_TENANT))
            .collect();
        for ddl in &ddls {
            exec(connection, &ddl.create).await?;
            exec(connection, &ddl.add_bound_check).await?;
        }
        let started = Instant::now();
        let mut transaction = connection.begin().await?;
        for ddl in &ddls {
            exec(&mut transaction, &ddl.attach).await?;
        }
        transaction.commit().await?;
        attach_3.push(millis(started.elapsed()));
        for table in &tables {
            detach_and_drop(connection, table, &suffix).await?;
        }

        let started = Instant::now();
        let mut transaction = connection.begin().await?;
        for ddl in &ddls {
            for step in ddl.steps() {
                exec(&mut transaction, step).await?;
            }
        }
        transaction.commit().await?;
        ddl_3.push(millis(started.elapsed()));
        for table in &tables {
            detach_and_drop(connection, table, &suffix).await?;
        }
    }
    progress!(
        "bare DDL done: ATTACH items {}",
        human_duration(Duration::from_secs_f64(
            percentile(&sorted(attach.clone()), 0.5) / 1000.0
        ))
    );
    Ok((
        percentile(&sorted(attach), 0.5),
        percentile(&sorted(attach_3), 0.5),
        percentile(&sorted(ddl_3), 0.5),
    ))
}
