//! `tenant migrate DIR`: a directory of sqlx migrations applied to every
//! database of the fleet (the `[[databases]]` of the configuration, else
//! the one of `DATABASE_URL`), one at a time, after a lock preflight on all
//! of them (see `tenant_runtime::migrate`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tenant_core::placement::database_urls;
use tenant_runtime::connect::connect_pool;
use tenant_runtime::migrate::{self, Event, MigrationError, Options, Plan, Target};
use tenant_runtime::sqlx::postgres::PgPoolOptions;

/// How long the first connection to each database may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The name `DATABASE_URL`'s database goes by when there is no fleet.
const SINGLE: &str = "DATABASE_URL";

/// `tenant migrate` arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The directory of sqlx migrations (`<version>_<description>.sql`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Check every database (pending migrations, their history, the locks
    /// each pending migration would hold) and apply nothing.
    #[arg(long)]
    preflight_only: bool,
    /// The share of a server's lock table one migration may use.
    #[arg(long, value_name = "FRACTION", default_value_t = migrate::DEFAULT_MAX_LOCK_FRACTION,
          value_parser = parse_fraction)]
    max_lock_fraction: f64,
    /// How many tenant schemas of a database are migrated at once (tenants
    /// in schema layout get every migration not marked
    /// `-- tenancy: parents-only`, after their database).
    #[arg(long, value_name = "N", default_value_t = migrate::DEFAULT_SCHEMA_PARALLELISM as u16,
          value_parser = clap::value_parser!(u16).range(1..))]
    schema_parallelism: u16,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!(
            "expected a number above 0 and at most 1, got {text:?}"
        )),
    }
}

/// How `tenant migrate` ended.
pub enum Outcome {
    /// Done (or, with `--preflight-only`, every pending migration fits).
    Success,
    /// The preflight refused a migration (exit status 1).
    Refused(String),
    /// Anything else that failed (exit status 2).
    Failed(String),
}

/// Runs `tenant migrate`.
pub fn run(
    args: &MigrateArgs,
    database_url: &str,
    config: &tenant_core::Config,
    single_database: bool,
) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Outcome::Failed(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(run_async(args, database_url, config, single_database))
}

async fn run_async(
    args: &MigrateArgs,
    database_url: &str,
    config: &tenant_core::Config,
    single_database: bool,
) -> Outcome {
    let urls = if single_database || config.databases.is_empty() {
        vec![(SINGLE.to_string(), database_url.to_string())]
    } else {
        match database_urls(&config.databases, |v| std::env::var(v).ok()) {
            Ok(urls) => urls,
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    };
    // Read the directory before connecting anywhere.
    let migrator = match migrate::load(&args.dir).await {
        Ok(migrator) => migrator,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut targets = Vec::with_capacity(urls.len());
    for (name, url) in &urls {
        match connect_pool(
            url,
            PgPoolOptions::new()
                .max_connections(1 + u32::from(args.schema_parallelism))
                .acquire_timeout(Duration::from_secs(10)),
            CONNECT_TIMEOUT,
        )
        .await
        {
            Ok(pool) => targets.push(Target::new(name.clone(), pool)),
            Err(e) => {
                close(&targets).await;
                return Outcome::Failed(format!(
                    "database `{name}` is unreachable: {e}; nothing was applied on any database"
                ));
            }
        }
    }
    let options = Options {
        max_lock_fraction: args.max_lock_fraction,
        registry_schema: config
            .registry_schema
            .clone()
            .unwrap_or_else(|| Options::default().registry_schema),
        schema_parallelism: usize::from(args.schema_parallelism),
    };
    let outcome = if args.preflight_only {
        match migrate::preflight(&migrator, &targets, &options).await {
            Ok(plan) => {
                print_plan(&plan);
                Outcome::Success
            }
            Err(e) => failure(e),
        }
    } else {
        apply(&migrator, &targets, &options).await
    };
    close(&targets).await;
    outcome
}

async fn close(targets: &[Target]) {
    for target in targets {
        target.pool.close().await;
    }
}

fn failure(e: MigrationError) -> Outcome {
    match e {
        MigrationError::TooManyLocks(_) => Outcome::Refused(e.to_string()),
        other => Outcome::Failed(other.to_string()),
    }
}

fn print_plan(plan: &Plan) {
    for database in &plan.databases {
        if database.pending.is_empty() {
            println!("`{}`: up to date", database.database);
            continue;
        }
        let limit = database
            .limit
            .map(|l| format!("; a migration may hold {l} locks"))
            .unwrap_or_default();
        println!(
            "`{}`: {} pending{limit}",
            database.database,
            database.pending.len()
        );
        for pending in &database.pending {
            println!(
                "  {} {}: at most {} relation locks",
                pending.migration.version, pending.migration.description, pending.estimated_locks
            );
        }
    }
    println!(
        "preflight passed: {} migrations pending on {} databases; nothing applied",
        plan.pending(),
        plan.databases.len()
    );
}

async fn apply(
    migrator: &tenant_runtime::sqlx::migrate::Migrator,
    targets: &[Target],
    options: &Options,
) -> Outcome {
    // Hidden by indicatif when stderr is not a terminal.
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} {bar:40} {pos}/{len} migrations {msg}")
    {
        bar.set_style(style);
    }
    let result = migrate::run(migrator, targets, options, |event| match event {
        Event::DatabaseStarted { database, pending } => {
            bar.set_prefix(database.to_string());
            bar.set_length(pending as u64);
            bar.set_position(0);
        }
        Event::MigrationApplied {
            database,
            version,
            description,
            elapsed,
        } => {
            bar.inc(1);
            bar.set_message(description.to_string());
            bar.suspend(|| {
                println!("`{database}`: applied {version} {description} ({elapsed:.1?})")
            });
        }
        Event::DatabaseDone { database, applied } => {
            bar.suspend(|| println!("`{database}`: done, {applied} migrations applied"));
        }
        Event::DatabaseUpToDate { database } => {
            bar.suspend(|| println!("`{database}`: up to date"));
        }
        Event::SchemaDone {
            database,
            schema,
            tenant,
            applied,
            error,
            done,
            total,
        } => {
            bar.suspend(|| match error {
                Some(error) => println!(
                    "`{database}`: schema {schema} (tenant {tenant:?}) failed ({done}/{total}): {error}"
                ),
                None => println!(
                    "`{database}`: schema {schema} (tenant {tenant:?}): {} migrations applied ({done}/{total})",
                    applied.len()
                ),
            });
        }
    })
    .await;
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            let schemas: usize = report.databases.iter().map(|d| d.schemas.len()).sum();
            println!(
                "migrated {} databases: {} migrations applied; {schemas} tenant schemas: {} migrations applied",
                report.databases.len(),
                report.applied(),
                report.applied_in_schemas()
            );
            Outcome::Success
        }
        Err(e) => failure(e),
    }
}
