//! The admin subcommands on a fleet: when `tenancy.toml` declares
//! `[[databases]]`, `install`, `onboard`, `offboard`, `list`, `sync` and
//! `status` work across every database (URLs from the variables the
//! entries name), not on `DATABASE_URL`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tenant_core::placement::database_urls;
use tenant_runtime::connect::connect_pool;
use tenant_runtime::fleet::{Fleet, MoveOptions};
use tenant_runtime::sqlx::postgres::PgPoolOptions;
use tenant_runtime::{Offboard, Tenancy};

use crate::admin::{AdminCommand, Outcome};

/// How long the first connection to the directory database may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `command` on the fleet `config` declares.
pub async fn run(command: AdminCommand, config: &tenant_core::Config) -> Result<Outcome, String> {
    let layout = config
        .fleet_layout()
        .map_err(|e| e.to_string())?
        .ok_or("the configuration declares no `[[databases]]`")?;
    let urls =
        database_urls(&layout.databases, |v| std::env::var(v).ok()).map_err(|e| e.to_string())?;
    // The tables are discovered on the directory database: its parents
    // are the model every other database gets (install creates them).
    let (directory_name, directory_url) = &urls[layout.directory];
    let pool = connect_pool(
        directory_url,
        PgPoolOptions::new().max_connections(1),
        CONNECT_TIMEOUT,
    )
    .await
    .map_err(|e| format!("the directory database `{directory_name}`: {e}"))?;
    let discovered = match &command {
        AdminCommand::Install {
            row_level_security,
            app_role,
        } => {
            let mut builder =
                Tenancy::builder(config.clone()).row_level_security(*row_level_security);
            if let Some(role) = app_role {
                builder = builder.app_role(role.as_str());
            }
            builder
                .discover(&pool)
                .await
                .and_then(|builder| builder.build())
        }
        _ => Tenancy::discover(&pool, config.clone()).await,
    };
    pool.close().await;
    let tenancy = discovered.map_err(|e| e.to_string())?;
    if tenancy.tables().is_empty() {
        return Err(format!(
            "no tenant tables on the directory database `{directory_name}`: expected tables PARTITION BY LIST ({})",
            config.tenant_column
        ));
    }
    let fleet = Fleet::connect(&tenancy).map_err(|e| e.to_string())?;
    let result = run_on(command, &fleet).await;
    for database in fleet.databases() {
        database.pool().close().await;
    }
    result
}

async fn run_on(command: AdminCommand, fleet: &Fleet) -> Result<Outcome, String> {
    match command {
        AdminCommand::Install { .. } => {
            fleet.install().await.map_err(|e| e.to_string())?;
            let names: Vec<&str> = fleet.databases().iter().map(|d| d.name()).collect();
            println!(
                "installed the tenant registry and {} tenant tables on {} databases: {}; the directory is on `{}`",
                fleet.databases()[0].tenancy().tables().len(),
                names.len(),
                names.join(", "),
                fleet.directory_database().name()
            );
        }
        AdminCommand::Onboard { id, on, layout } => {
            // Without --layout, each database's tenancy has the
            // configuration's default layout.
            let onboarded = match (on, layout) {
                (Some(database), layout) => fleet.onboard_on_as(&id, &database, layout).await,
                (None, Some(layout)) => fleet.onboard_as(&id, layout).await,
                (None, None) => fleet.onboard(&id).await,
            }
            .map_err(|e| e.to_string())?;
            if let Some(schema) = &onboarded.outcome.created_schema {
                println!(
                    "onboarded tenant {id:?} on `{}` in schema layout: schema {schema}",
                    onboarded.database
                );
            } else if onboarded.outcome.created_partitions.is_empty() {
                println!(
                    "tenant {id:?} was already onboarded on `{}`",
                    onboarded.database
                );
            } else {
                println!(
                    "onboarded tenant {id:?} on `{}`: {}",
                    onboarded.database,
                    onboarded.outcome.created_partitions.join(", ")
                );
            }
        }
        AdminCommand::Offboard { id, keep } => {
            let mode = if keep { Offboard::Keep } else { Offboard::Drop };
            let database = fleet.offboard(&id, mode).await.map_err(|e| e.to_string())?;
            if keep {
                println!("offboarded tenant {id:?} on `{database}`; its partitions are kept as archive tables");
            } else {
                println!("offboarded tenant {id:?} on `{database}`; its partitions were dropped");
            }
        }
        AdminCommand::List => {
            let mut unreachable = 0;
            let mut any = false;
            for database in fleet.list().await {
                match database.tenants {
                    Ok(tenants) => {
                        for tenant in tenants {
                            any = true;
                            println!(
                                "{:?}\t{}\t{}\t{}\t{}\t{}",
                                tenant.id,
                                database.database,
                                tenant.state.as_str(),
                                tenant.layout,
                                tenant.partition_suffix,
                                tenant.created_at
                            );
                        }
                    }
                    Err(e) => {
                        unreachable += 1;
                        eprintln!("warning: database `{}`: {e}", database.database);
                    }
                }
            }
            if !any {
                println!("no tenants");
            }
            if unreachable > 0 {
                eprintln!("warning: {unreachable} databases could not be listed; their tenants are missing above");
            }
        }
        AdminCommand::Move {
            id, abort: true, ..
        } => {
            if fleet.abort_move(&id).await.map_err(|e| e.to_string())? {
                println!("aborted the move of tenant {id:?}; it stays where it was");
            } else {
                println!("tenant {id:?} has no unfinished move");
            }
        }
        AdminCommand::Move {
            id,
            to,
            keep_source,
            layout,
            ..
        } => {
            let to = to.ok_or("--to DATABASE is required")?;
            let options = MoveOptions {
                source: if keep_source {
                    Offboard::Keep
                } else {
                    Offboard::Drop
                },
                layout,
                ..MoveOptions::default()
            };
            let report = fleet
                .move_tenant(&id, &to, options)
                .await
                .map_err(|e| e.to_string())?;
            let fence = report
                .fence
                .map(|d| format!("writes fenced for {} ms", d.as_millis()))
                .unwrap_or_else(|| "resumed after the fence".into());
            let into = layout
                .map(|layout| format!(" ({layout} layout)"))
                .unwrap_or_default();
            println!(
                "moved tenant {id:?} from `{}` to `{}`{into}: {} rows copied, {} changes replayed, {fence}, {:.1} s in all",
                report.source,
                report.target,
                report.rows_copied,
                report.log_entries_replayed,
                report.total.as_secs_f64()
            );
            for (table, rows) in &report.rows {
                println!("  {table}: {rows} rows verified");
            }
        }
        AdminCommand::Status => {
            if !print_status(fleet).await {
                return Ok(Outcome::Unreachable);
            }
        }
        AdminCommand::Sync => {
            let mut bar: Option<ProgressBar> = None;
            let results = fleet
                .sync(|database, progress| {
                    let bar = bar.get_or_insert_with(|| {
                        // Hidden by indicatif when stderr is not a terminal.
                        let bar = ProgressBar::new(progress.total as u64);
                        if let Ok(style) = ProgressStyle::with_template(
                            "{prefix} {bar:40} {pos}/{len} tenants {msg}",
                        ) {
                            bar.set_style(style);
                        }
                        bar
                    });
                    bar.set_prefix(database.to_string());
                    bar.set_length(progress.total as u64);
                    bar.set_position(progress.done as u64);
                    bar.set_message(progress.tenant.clone());
                })
                .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let mut failed = Vec::new();
            for sync in results {
                match sync.result {
                    Ok(report) => {
                        println!(
                            "`{}`: synced {} tenants: {} partitions created, {} foreign keys added, {} partitions secured",
                            sync.database,
                            report.tenants,
                            report.partitions_created,
                            report.keys_added,
                            report.partitions_secured
                        );
                        crate::admin::print_schema_tables_added(&report);
                    }
                    Err(e) => {
                        eprintln!("error: `{}`: {e}", sync.database);
                        failed.push(sync.database);
                    }
                }
            }
            if !failed.is_empty() {
                return Err(format!(
                    "sync failed on {} of {} databases ({}); the others are synced; run it again when they answer",
                    failed.len(),
                    fleet.databases().len(),
                    failed.join(", ")
                ));
            }
        }
        AdminCommand::MoveKeys { .. } | AdminCommand::Schema { .. } => {
            return Err(
                "this subcommand works on one database: run it with --single-database and --database-url (or DATABASE_URL) for each database of the fleet"
                    .into(),
            );
        }
    }
    Ok(Outcome::Success)
}

/// One line per database: reachable, tenants, partitions. False when one
/// did not answer.
async fn print_status(fleet: &Fleet) -> bool {
    println!("database\treachable\ttenants\tpartitions");
    let mut all = true;
    for status in fleet.status().await {
        all &= status.reachable;
        println!(
            "{}\t{}\t{}\t{}{}",
            status.database,
            if status.reachable { "yes" } else { "no" },
            status.tenants,
            status.partitions,
            status.error.map(|e| format!("\t({e})")).unwrap_or_default()
        );
    }
    all
}
