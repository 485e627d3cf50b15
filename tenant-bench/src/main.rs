//! # tenant-bench
//!
//! The scale benchmark of partition-direct routing (issue 5): point queries
//! by `(tenant_id, id)` against an unpartitioned table, the partitioned
//! parent (sqlx's default prepared statements, and `force_custom_plan`), and
//! the tenant's own partition through the routed query macros (uniform and
//! Zipf tenant draws, and with statement caching off); then the latency of
//! onboarding more tenants at that scale next to the bare `ATTACH PARTITION`,
//! and PostgreSQL's memory per cached routed statement.
//!
//! ```text
//! cargo run --release -p tenant-bench -- --tenants 1000 --rows-per-tenant 100 --seconds 10
//! ```
//!
//! It works on the database `tenant_bench_N` of the server at `DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), building the data
//! set there once and reusing it while N and R stay the same. Progress goes
//! to stderr; stdout gets a human table and, as its last line, one JSON
//! object (see `docs/performance/tenant-bench.md`).

mod arms;
mod cpu;
mod dataset;
mod memory;
mod onboarding;
mod report;
mod sequence;

use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::{self, ConnectOptions, Connection};

/// The server used when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The pooler `scripts/setup.sh` runs, for the `routed_pgbouncer` arm.
const DEFAULT_PGBOUNCER_URL: &str = "postgres://postgres:tenant-test@127.0.0.1:6432/postgres";

/// `--pgbouncer-url`, parsed (the error names it without its password).
fn parse_pgbouncer_url(url: &str) -> Result<PgConnectOptions, String> {
    tenant_runtime::connect::connect_options(url).map_err(|error| error.to_string())
}

/// The connections of setup and measurement helpers, beyond the arms' pools
/// of `--clients` connections (one pool per arm, all open at once).
const SPARE_CONNECTIONS: u32 = 6;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "tenant-bench",
    about = "Point-query throughput and onboarding latency at N tenants: unpartitioned table, partitioned parent, routed partitions"
)]
pub struct Args {
    /// Number of tenants in the data set (database `tenant_bench_N`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tenants: u32,
    /// Rows per tenant, in both the unpartitioned table and the partitioned one.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rows_per_tenant: u32,
    /// Measured seconds per arm (split into slices of about 2 s, arms interleaved).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub seconds: u32,
    /// Concurrent clients per arm, each on its own connection.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub clients: u32,
    /// The arms to measure, comma-separated (default: the first six; the
    /// PgBouncer and schema-layout arms run only when named). Ratios to
    /// `flat` need `flat` among them. A schema arm adds N tenants in schema
    /// layout to the data set (once) and measures their onboarding.
    #[arg(long, value_delimiter = ',', value_parser = arms::ArmKind::parse, default_value = "flat,parent,parent_custom,routed_uniform,routed_zipf,routed_nocache")]
    pub arms: Vec<arms::ArmKind>,
    /// `random_page_cost` on every arm's connections, or `server` to keep
    /// the server's setting. The data set is cached in memory; with
    /// PostgreSQL's default of 4 the planner seq-scans a 100-row partition
    /// (2 pages) instead of using its primary key, for the routed and the
    /// parent arms alike.
    #[arg(long, default_value = "1.1", value_parser = arms::RandomPageCost::parse)]
    pub random_page_cost: arms::RandomPageCost,
    /// PgBouncer in transaction mode in front of the same server, for the
    /// `routed_pgbouncer` arm (its database is replaced by the data set's).
    /// The default is the pooler `scripts/setup.sh` runs.
    #[arg(long, default_value = DEFAULT_PGBOUNCER_URL, value_parser = parse_pgbouncer_url, value_name = "URL")]
    pub pgbouncer_url: PgConnectOptions,
    /// Build (or check) the data set and exit without measuring.
    #[arg(long)]
    pub prepare_only: bool,
    /// Concurrent onboardings while building the data set (distinct tenants).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub build_concurrency: u32,
    /// Tenants onboarded (then offboarded) for the onboarding latency.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub onboard_tenants: u32,
    /// Distinct tenants whose routed statements are prepared for the memory measurement.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub memory_tenants: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tenant-bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a progress line on stderr (stdout is kept for the results).
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[tenant-bench] {}", format_args!($($arg)*))
    };
}
pub(crate) use progress;

async fn run(args: Args) -> Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string());
    let admin_options = PgConnectOptions::from_str(&url)
        .with_context(|| "DATABASE_URL is not a valid PostgreSQL URL".to_string())?
        .application_name("tenant-bench");
    let server = format!("{}:{}", admin_options.get_host(), admin_options.get_port());
    let mut admin = connect_checked(&admin_options, &server).await?;
    check_connection_budget(&mut admin, &args).await?;

    let started = Instant::now();
    let dataset = dataset::ensure(&mut admin, &admin_options, &args).await?;
    admin.close().await.ok();
    if args.prepare_only {
        progress!(
            "data set {} ready, {}; --prepare-only: not measuring",
            dataset.database,
            dataset.origin
        );
        return Ok(());
    }

    let load_before = report::load_average();
    let context = arms::Context::load(&dataset, &args).await?;
    let sequences = sequence::Sequences::generate(&args);
    let plans = arms::plans(&dataset, &context, &args).await;
    let arm_results = arms::measure(&dataset, &context, &sequences, &args).await?;
    // A failure here must not throw away the arms measured above.
    let onboarding = match onboarding::measure(&dataset, &context, &args).await {
        Ok(result) => result,
        Err(error) => {
            progress!("onboarding measurement failed: {error:#}");
            onboarding::OnboardingResult::failed(format!("{error:#}"))
        }
    };
    let memory = memory::measure(&dataset, &context, &args, &arm_results).await;

    report::print(&report::Report {
        args: &args,
        database: &dataset.database,
        dataset_origin: &dataset.origin,
        arms: &arm_results,
        plans: &plans,
        onboarding: &onboarding,
        memory: &memory,
        total: started.elapsed(),
        load: (load_before, report::load_average()),
    });
    Ok(())
}

/// Connects, turning an unreachable server into one clear message.
async fn connect_checked(options: &PgConnectOptions, server: &str) -> Result<sqlx::PgConnection> {
    match tokio::time::timeout(Duration::from_secs(15), options.connect()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => bail!(
            "PostgreSQL at {server} (DATABASE_URL) is not reachable: {error}; start it (scripts/setup.sh) or set DATABASE_URL"
        ),
        Err(_) => bail!(
            "PostgreSQL at {server} (DATABASE_URL) did not answer within 15 s; start it (scripts/setup.sh) or set DATABASE_URL"
        ),
    }
}

/// Refuses a `--clients` that the server's `max_connections` cannot hold,
/// before spending minutes on a data set.
async fn check_connection_budget(admin: &mut sqlx::PgConnection, args: &Args) -> Result<()> {
    let (max, reserved): (i32, i32) = sqlx::query_as(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int",
    )
    .fetch_one(&mut *admin)
    .await
    .context("reading max_connections")?;
    let arm_pools = u32::try_from(args.arms.len()).unwrap_or(u32::MAX);
    let needed =
        arm_pools.saturating_mul(args.clients) + SPARE_CONNECTIONS + args.build_concurrency;
    let available = u32::try_from(max - reserved).unwrap_or(0);
    if needed > available {
        bail!(
            "--clients {} needs about {needed} connections but the server allows {available} (max_connections {max}); use fewer clients",
            args.clients
        );
    }
    Ok(())
}
