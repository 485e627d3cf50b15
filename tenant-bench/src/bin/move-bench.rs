//! # move-bench
//!
//! Moves one tenant between two databases on two local PostgreSQL servers
//! (`scripts/setup.sh` runs them on 127.0.0.1:5433 and 5434) while a writer
//! keeps inserting and updating its rows, several times back and forth, and
//! reports per move: total time, how long writes were fenced, rows copied,
//! changes replayed, and the writer's fenced (failed, retried) and delayed
//! operations.
//!
//! ```text
//! cargo run --release -p tenant-bench --bin move-bench -- --rows 100000 --moves 5
//! ```
//!
//! It creates the databases `tenant_move_bench` on both servers and drops
//! them at the end. Progress goes to stderr; stdout gets a table and, as its
//! last line, one JSON object (see `docs/performance/moves.md`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tenant_runtime::fleet::{is_moving, Fleet, MoveOptions};
use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::sqlx::{self, ConnectOptions, Connection};
use tenant_runtime::tenant_core::fleet::FleetConfig;
use tenant_runtime::tenant_core::placement::{DatabaseConfig, PlacementConfig};
use tenant_runtime::{Config, Tenancy};

const DATABASE: &str = "tenant_move_bench";
const TENANT: &str = "bench-tenant";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "move-bench",
    about = "Online tenant moves between two servers while the tenant's writer runs"
)]
struct Args {
    /// Rows of the moved tenant, over three tables (40% forms, 40%
    /// submissions, 20% notes).
    #[arg(long, default_value_t = 100_000)]
    rows: u32,
    /// Moves to make (alternately to the other server).
    #[arg(long, default_value_t = 5)]
    moves: u32,
    /// The tenant cache's time to live, in ms: the mover waits twice this
    /// after the flip before it offboards the source.
    #[arg(long, default_value_t = 1_000)]
    ttl_ms: u64,
    /// A writer operation slower than this, in ms, counts as delayed.
    #[arg(long, default_value_t = 100)]
    delayed_ms: u64,
    /// The servers' ports (127.0.0.1, user postgres).
    #[arg(long, default_value_t = 5433)]
    first_port: u16,
    /// The second server's port.
    #[arg(long, default_value_t = 5434)]
    second_port: u16,
}

const SCHEMA: &str = "
CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, title text NOT NULL,
    PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
CREATE TABLE submissions (tenant_id text NOT NULL, id bigint NOT NULL, form_id bigint NOT NULL,
    payload text NOT NULL, PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, form_id) REFERENCES forms (tenant_id, id)) PARTITION BY LIST (tenant_id);
CREATE TABLE notes (tenant_id text NOT NULL, id bigint NOT NULL, submission_id bigint NOT NULL,
    body text NOT NULL, PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id))
    PARTITION BY LIST (tenant_id);
";

/// One move's figures.
#[derive(Debug)]
struct MoveFigures {
    from: String,
    to: String,
    total: Duration,
    fence: Duration,
    rows_copied: u64,
    replayed: usize,
    writer_ops: u64,
    fenced_errors: u64,
    delayed_ops: u64,
    other_errors: u64,
    p99: Duration,
    max: Duration,
}

fn server(port: u16) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .database("postgres")
}

async fn recreate(port: u16) -> Result<String> {
    let mut admin = server(port).connect().await.with_context(|| {
        format!("the server at 127.0.0.1:{port} does not answer: run `bash scripts/setup.sh`")
    })?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/{DATABASE}"))
}

async fn drop_database(port: u16) {
    if let Ok(mut admin) = server(port).connect().await {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let result = run(&args).await;
    drop_database(args.first_port).await;
    drop_database(args.second_port).await;
    result
}

async fn run(args: &Args) -> Result<()> {
    let urls: HashMap<String, String> = HashMap::from([
        (
            "MOVE_BENCH_ONE".to_string(),
            recreate(args.first_port).await?,
        ),
        (
            "MOVE_BENCH_TWO".to_string(),
            recreate(args.second_port).await?,
        ),
    ]);
    let first = PgPoolOptions::new()
        .max_connections(2)
        .connect(&urls["MOVE_BENCH_ONE"])
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&first).await?;
    let config = Config {
        databases: vec![
            DatabaseConfig {
                name: "one".into(),
                url_env: "MOVE_BENCH_ONE".into(),
                pool_size: Some(6),
            },
            DatabaseConfig {
                name: "two".into(),
                url_env: "MOVE_BENCH_TWO".into(),
                pool_size: Some(6),
            },
        ],
        placement: Some(PlacementConfig {
            default: Some("one".into()),
            ..PlacementConfig::default()
        }),
        fleet: Some(FleetConfig::default()),
        ..Config::default()
    };
    let tenancy = Tenancy::builder(config)
        .tenant_cache_ttl(Duration::from_millis(args.ttl_ms))
        .discover(&first)
        .await?
        .build()?;
    first.close().await;
    let fleet = Fleet::connect_with(&tenancy, |v| urls.get(v).cloned())?;
    fleet.install().await?;
    fleet.onboard(TENANT).await?;
    let forms = i64::from(args.rows) * 2 / 5;
    let notes = i64::from(args.rows) - 2 * forms;
    eprintln!(
        "loading {} rows ({forms} forms, {forms} submissions, {notes} notes)",
        args.rows
    );
    let pool = fleet.pool(&fleet.tenant(TENANT).await?)?.clone();
    for sql in [
        "INSERT INTO forms SELECT $1, g, 'form ' || g FROM generate_series(1, $2) g",
        "INSERT INTO submissions SELECT $1, g, g, repeat('x', 64) FROM generate_series(1, $2) g",
        "INSERT INTO notes SELECT $1, g, g, 'note ' || g FROM generate_series(1, $3) g",
    ] {
        sqlx::query(sql)
            .bind(TENANT)
            .bind(forms)
            .bind(notes)
            .execute(&pool)
            .await?;
    }

    let mut figures = Vec::new();
    let mut next_note = notes + 1;
    for round in 0..args.moves {
        let to = if round % 2 == 0 { "two" } else { "one" };
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(writer(
            fleet.clone(),
            Arc::clone(&stop),
            next_note,
            forms,
            Duration::from_millis(args.delayed_ms),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!("move {} of {}: to `{to}`", round + 1, args.moves);
        let report = fleet
            .move_tenant(TENANT, to, MoveOptions::default())
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        let stats = writer.await?;
        next_note = stats.next_note;
        figures.push(MoveFigures {
            from: report.source,
            to: report.target,
            total: report.total,
            fence: report.fence.unwrap_or_default(),
            rows_copied: report.rows_copied,
            replayed: report.log_entries_replayed,
            writer_ops: stats.ops,
            fenced_errors: stats.fenced,
            delayed_ops: stats.delayed,
            other_errors: stats.other,
            p99: Duration::from_micros(stats.latency.value_at_quantile(0.99)),
            max: Duration::from_micros(stats.latency.max()),
        });
    }
    for database in fleet.databases() {
        database.pool().close().await;
    }
    print_report(args, &figures);
    Ok(())
}

struct WriterStats {
    ops: u64,
    fenced: u64,
    delayed: u64,
    other: u64,
    latency: Histogram<u64>,
    next_note: i64,
}

/// Inserts a note and renames a form per operation, in one transaction,
/// until stopped; a fenced operation is retried after 5 ms.
async fn writer(
    fleet: Fleet,
    stop: Arc<AtomicBool>,
    mut next_note: i64,
    forms: i64,
    delayed: Duration,
) -> WriterStats {
    let mut stats = WriterStats {
        ops: 0,
        fenced: 0,
        delayed: 0,
        other: 0,
        latency: Histogram::new(3).expect("a histogram"),
        next_note,
    };
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let result = async {
            let handle = fleet.tenant(TENANT).await?;
            let mut tx = fleet.pool(&handle)?.begin().await?;
            sqlx::query("INSERT INTO notes VALUES ($1, $2, 1, 'written during the move')")
                .bind(TENANT)
                .bind(next_note)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE forms SET title = 'renamed ' || $2 WHERE tenant_id = $1 AND id = $3",
            )
            .bind(TENANT)
            .bind(next_note)
            .bind(next_note % forms + 1)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<(), tenant_runtime::Error>(())
        }
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok(()) => {
                stats.ops += 1;
                next_note += 1;
                stats
                    .latency
                    .record(elapsed.as_micros() as u64)
                    .unwrap_or_default();
                if elapsed > delayed {
                    stats.delayed += 1;
                }
            }
            Err(tenant_runtime::Error::Database(e)) if is_moving(&e) => {
                stats.fenced += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => {
                stats.other += 1;
                eprintln!("writer: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    stats.next_note = next_note;
    stats
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn print_report(args: &Args, figures: &[MoveFigures]) {
    println!(
        "{} rows over 3 tables, tenant cache TTL {} ms (the mover waits 2x after the flip)",
        args.rows, args.ttl_ms
    );
    println!("move\tfrom\tto\ttotal_ms\tfence_ms\tcopied\treplayed\twrites\tfenced\tdelayed\terrors\tp99_ms\tmax_ms");
    for (i, f) in figures.iter().enumerate() {
        println!(
            "{}\t{}\t{}\t{}\t{:.1}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}\t{:.1}",
            i + 1,
            f.from,
            f.to,
            f.total.as_millis(),
            f.fence.as_secs_f64() * 1e3,
            f.rows_copied,
            f.replayed,
            f.writer_ops,
            f.fenced_errors,
            f.delayed_ops,
            f.other_errors,
            f.p99.as_secs_f64() * 1e3,
            f.max.as_secs_f64() * 1e3
        );
    }
    let total = median(figures.iter().map(|f| f.total).collect());
    let fence = median(figures.iter().map(|f| f.fence).collect());
    println!(
        "median: total {} ms, fence {:.1} ms",
        total.as_millis(),
        fence.as_secs_f64() * 1e3
    );
    let json = serde_json::json!({
        "rows": args.rows,
        "ttl_ms": args.ttl_ms,
        "median_total_ms": total.as_millis() as u64,
        "median_fence_ms": fence.as_secs_f64() * 1e3,
        "moves": figures.iter().map(|f| serde_json::json!({
            "from": f.from, "to": f.to,
            "total_ms": f.total.as_millis() as u64,
            "fence_ms": f.fence.as_secs_f64() * 1e3,
            "rows_copied": f.rows_copied, "replayed": f.replayed,
            "writes": f.writer_ops, "fenced": f.fenced_errors,
            "delayed": f.delayed_ops, "errors": f.other_errors,
            "p99_ms": f.p99.as_secs_f64() * 1e3, "max_ms": f.max.as_secs_f64() * 1e3,
        })).collect::<Vec<_>>(),
    });
    println!("{json}");
}
