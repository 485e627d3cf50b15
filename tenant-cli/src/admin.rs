//! Administration subcommands: install, onboard, offboard, list, sync,
//! move-keys, schema.
//!
//! They work on any database whose tenant tables are LIST-partitioned by the
//! configured tenant column: the tables are discovered from the catalog, and
//! the tenant registry is created on first use.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use tenant_runtime::connect::connect_pool;
use tenant_runtime::sqlx::postgres::PgPoolOptions;
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{Offboard, Tenancy};

use crate::schema_check::SchemaCheck;

/// How long the first connection may take before the command gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Subcommands that talk to a database.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Install the tenant registry (and, with the flags, row-level security
    /// and the application role's grants) for the tenant tables of the
    /// database, as `Tenancy::install` does (idempotent).
    Install {
        /// Enable and force row-level security on every tenant table, with
        /// a policy admitting only the rows of the tenant transaction's
        /// tenant (new partitions get it when onboarded).
        #[arg(long)]
        row_level_security: bool,
        /// A non-owner role for the application: created when missing
        /// (LOGIN, no password, no superuser, no BYPASSRLS) and granted the
        /// tenant tables; partitions onboarded later are granted too.
        #[arg(long, value_name = "ROLE")]
        app_role: Option<String>,
    },
    /// Create a tenant's partition of every tenant table, or its schema
    /// (idempotent).
    Onboard {
        /// The tenant id (the value of the tenant column).
        id: String,
        /// On a fleet: the database to put it on, whatever the placement
        /// rules say (recorded in the directory).
        #[arg(long, value_name = "DATABASE")]
        on: Option<String>,
        /// The layout of a new tenant: `partition` (a partition of every
        /// tenant table) or `schema` (a schema and role of its own)
        /// [default: `default_layout` of the configuration]. A tenant
        /// onboarded already in the other layout is an error.
        #[arg(long, value_name = "LAYOUT")]
        layout: Option<tenant_runtime::tenant_core::layout::Layout>,
    },
    /// Detach a tenant's partitions and drop them (or keep them with --keep).
    Offboard {
        /// The tenant id.
        id: String,
        /// Keep the detached partitions as standalone archive tables.
        #[arg(long)]
        keep: bool,
    },
    /// List the onboarded tenants (on a fleet: with each one's database).
    List,
    /// Each database: whether it answers, its tenants and partitions (exit
    /// status 1 when one does not answer).
    Status,
    /// On a fleet: move a tenant to another database while it keeps
    /// working (copy, catch up, fence writes for a moment, flip the
    /// directory, verify, offboard the source). Run it again to resume a
    /// move that was interrupted.
    Move {
        /// The tenant id.
        id: String,
        /// The database to move it to.
        #[arg(long, value_name = "DATABASE", required_unless_present = "abort")]
        to: Option<String>,
        /// Keep the tenant's partitions on the source as archive tables
        /// instead of dropping them.
        #[arg(long)]
        keep_source: bool,
        /// The layout to move it into: `schema` or `partition` (default: the
        /// one it has). With another layout, `--to` may name the database it
        /// is on: the move then changes its layout in place.
        #[arg(long, value_name = "LAYOUT")]
        layout: Option<tenant_runtime::tenant_core::layout::Layout>,
        /// Undo the tenant's unfinished move instead (possible until the
        /// directory has flipped).
        #[arg(long, conflicts_with_all = ["to", "keep_source", "layout"])]
        abort: bool,
    },
    /// Create the missing partitions of every tenant (after adding a table)
    /// and add the foreign keys its partitions lack (after adding a key).
    Sync,
    /// Move the foreign keys declared between parent tables onto each
    /// tenant's partitions (so onboarding and offboarding stop locking every
    /// tenant), and report the keys that stay.
    MoveKeys {
        /// List the keys that would move and those that would stay; change
        /// nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the DDL that install would run for the discovered tables; with
    /// --check, compare the database with the tenant tables of a DDL file
    /// instead.
    Schema {
        /// A DDL file (what `tenant schema` printed, or the application's
        /// schema.sql): it is loaded into a scratch database on the same
        /// server, and every difference of the database's tenant tables
        /// from it is printed (exit status 1 when there is one).
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
}

/// How a subcommand that succeeded ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or nothing to report.
    Success,
    /// `schema --check` found differences (exit status 1).
    Differences,
    /// `status`: a database did not answer (exit status 1).
    Unreachable,
}

/// Runs one admin subcommand against `database_url`, or, when the
/// configuration declares `[[databases]]` and `single_database` is false,
/// across the fleet.
pub fn run(
    command: AdminCommand,
    database_url: &str,
    config: &tenant_core::Config,
    single_database: bool,
) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    if !single_database && !config.databases.is_empty() {
        return runtime.block_on(crate::fleet::run(command, config));
    }
    runtime.block_on(run_async(command, database_url, config))
}

async fn run_async(
    command: AdminCommand,
    database_url: &str,
    config: &tenant_core::Config,
) -> Result<Outcome, String> {
    // One connection within CONNECT_TIMEOUT first: a wrong URL fails in
    // seconds and says why (the URL shown without its password).
    let pool = connect_pool(
        database_url,
        PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10)),
        CONNECT_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = run_command(command, &pool, database_url, config).await;
    pool.close().await;
    result
}

async fn discover(pool: &PgPool, config: &tenant_core::Config) -> Result<Tenancy, String> {
    Tenancy::discover(pool, config.clone())
        .await
        .map_err(|e| e.to_string())
}

fn require_tables(tenancy: &Tenancy, config: &tenant_core::Config) -> Result<(), String> {
    if tenancy.tables().is_empty() {
        return Err(format!(
            "no tenant tables in this database: expected tables PARTITION BY LIST ({})",
            config.tenant_column
        ));
    }
    Ok(())
}

/// After an onboarding or offboarding: says on stderr when keys between
/// parents made it lock other tenants' tables, and what moves them. Best
/// effort: the command already succeeded.
async fn note_keys_between_parents(tenancy: &Tenancy, pool: &PgPool) {
    if let Ok(plan) = tenancy.keys_between_parents(pool).await {
        if !plan.moved.is_empty() {
            eprintln!(
                "note: {} foreign keys are declared between parent tables, so onboarding and \
                 offboarding lock the referenced parents for every tenant; `tenant move-keys` \
                 moves them onto each tenant's partitions (`--dry-run` lists them)",
                plan.moved.len()
            );
        }
    }
}

async fn run_command(
    command: AdminCommand,
    pool: &PgPool,
    database_url: &str,
    config: &tenant_core::Config,
) -> Result<Outcome, String> {
    match command {
        AdminCommand::Install {
            row_level_security,
            app_role,
        } => install(pool, config, row_level_security, app_role).await?,
        AdminCommand::Move { .. } => {
            return Err(
                "moving a tenant needs a fleet: declare its databases with `[[databases]]` in tenancy.toml"
                    .into(),
            );
        }
        AdminCommand::Onboard { on: Some(_), .. } => {
            return Err(
                "--on names a database of a fleet, and the configuration declares no `[[databases]]`"
                    .into(),
            );
        }
        AdminCommand::Onboard {
            id,
            on: None,
            layout,
        } => {
            let tenancy = discover(pool, config).await?;
            require_tables(&tenancy, config)?;
            // Without --layout: the configuration's default for a new
            // tenant, its own layout for an onboarded one.
            let outcome = match layout {
                Some(layout) => tenancy.onboard_as(pool, &id, layout).await,
                None => tenancy.onboard(pool, &id).await,
            }
            .map_err(|e| e.to_string())?;
            if let Some(schema) = &outcome.created_schema {
                println!("onboarded tenant {id:?} in schema layout: schema {schema}");
            } else if outcome.created_partitions.is_empty() {
                println!(
                    "tenant {id:?} was already onboarded ({} layout)",
                    outcome.tenant.layout()
                );
            } else {
                println!(
                    "onboarded tenant {id:?}: {}",
                    outcome.created_partitions.join(", ")
                );
            }
            note_keys_between_parents(&tenancy, pool).await;
        }
        AdminCommand::Offboard { id, keep } => {
            let tenancy = discover(pool, config).await?;
            let mode = if keep { Offboard::Keep } else { Offboard::Drop };
            tenancy
                .offboard(pool, &id, mode)
                .await
                .map_err(|e| e.to_string())?;
            if keep {
                println!("offboarded tenant {id:?}; its partitions are kept as archive tables");
            } else {
                println!("offboarded tenant {id:?}; its partitions were dropped");
            }
            note_keys_between_parents(&tenancy, pool).await;
        }
        AdminCommand::List => {
            let tenancy = discover(pool, config).await?;
            let tenants = tenancy.list(pool).await.map_err(|e| e.to_string())?;
            if tenants.is_empty() {
                println!("no tenants");
            }
            for tenant in tenants {
                println!(
                    "{:?}\t{}\t{}\t{}\t{}",
                    tenant.id,
                    tenant.state.as_str(),
                    tenant.layout,
                    tenant.partition_suffix,
                    tenant.created_at
                );
            }
            let unsecured = tenancy
                .unsecured_partitions(pool)
                .await
                .map_err(|e| e.to_string())?;
            for partition in &unsecured {
                eprintln!(
                    "warning: partition {partition} lacks its parent's row-level security or the application role's grants"
                );
            }
            if !unsecured.is_empty() {
                eprintln!(
                    "warning: {} partitions are not secured like their parents: `tenant sync` repairs them",
                    unsecured.len()
                );
            }
        }
        AdminCommand::Status => {
            let tenancy = discover(pool, config).await?;
            let tenants = tenancy.list(pool).await.map_err(|e| e.to_string())?;
            let active = tenants
                .iter()
                .filter(|t| t.state == tenant_runtime::admin::TenantState::Active)
                .count();
            let parents: Vec<String> = tenancy
                .tables()
                .iter()
                .map(|t| t.qualified_name())
                .collect();
            let partitions: i64 = tenant_runtime::sqlx::query_scalar(
                "SELECT count(*) FROM pg_inherits \
                  WHERE inhparent = ANY (ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) x))",
            )
            .bind(&parents)
            .fetch_one(pool)
            .await
            .map_err(|e| e.to_string())?;
            println!("database\treachable\ttenants\tpartitions");
            println!("(DATABASE_URL)\tyes\t{active}\t{partitions}");
        }
        AdminCommand::Sync => {
            let tenancy = discover(pool, config).await?;
            require_tables(&tenancy, config)?;
            let mut bar: Option<ProgressBar> = None;
            let report = tenancy
                .sync(pool, |progress| {
                    let bar = bar.get_or_insert_with(|| {
                        // Hidden by indicatif when stderr is not a terminal.
                        let bar = ProgressBar::new(progress.total as u64);
                        if let Ok(style) = ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} tenants ({eta} left) {msg}",
                        ) {
                            bar.set_style(style);
                        }
                        bar
                    });
                    bar.set_position(progress.done as u64);
                    bar.set_message(progress.tenant.clone());
                })
                .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let report = report.map_err(|e| e.to_string())?;
            println!(
                "synced {} tenants across {} tables: {} partitions created, {} foreign keys added, {} partitions secured",
                report.tenants,
                tenancy.tables().len(),
                report.partitions_created,
                report.keys_added,
                report.partitions_secured
            );
            print_schema_tables_added(&report);
        }
        AdminCommand::MoveKeys { dry_run } => {
            let tenancy = discover(pool, config).await?;
            require_tables(&tenancy, config)?;
            let report = if dry_run {
                tenancy.keys_between_parents(pool).await
            } else {
                tenancy.move_parent_keys(pool).await
            }
            .map_err(|e| e.to_string())?;
            let (moved, kept) = if dry_run {
                ("would move", "would keep")
            } else {
                ("moved", "kept")
            };
            for key in &report.moved {
                println!("{moved} {key} onto the partitions");
            }
            for (key, why) in &report.kept {
                println!("{kept} {key} on the parent: {why}");
            }
            if dry_run {
                println!(
                    "{} foreign keys would move, {} would stay; nothing changed",
                    report.moved.len(),
                    report.kept.len()
                );
            } else {
                println!(
                    "{} foreign keys moved, {} kept, {} added to existing partitions",
                    report.moved.len(),
                    report.kept.len(),
                    report.keys_added
                );
            }
        }
        AdminCommand::Schema { check: Some(file) } => {
            return crate::schema_check::check(pool, database_url, config, &file)
                .await
                .map(|found| match found {
                    SchemaCheck::Matches => Outcome::Success,
                    SchemaCheck::Differs => Outcome::Differences,
                });
        }
        AdminCommand::Schema { check: None } => {
            let tenancy = discover(pool, config).await?;
            for statement in tenancy.install_ddl() {
                println!("{statement};");
            }
        }
    }
    Ok(Outcome::Success)
}

/// `tenant install`: the registry, and row-level security and the
/// application role when asked, for the discovered tables.
async fn install(
    pool: &PgPool,
    config: &tenant_core::Config,
    row_level_security: bool,
    app_role: Option<String>,
) -> Result<(), String> {
    let mut builder = Tenancy::builder(config.clone()).row_level_security(row_level_security);
    if let Some(role) = &app_role {
        builder = builder.app_role(role.as_str());
    }
    let tenancy = builder
        .discover(pool)
        .await
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    tenancy.install(pool).await.map_err(|e| e.to_string())?;
    let registry = config
        .registry_schema
        .as_deref()
        .unwrap_or(tenant_runtime::admin::DEFAULT_REGISTRY_SCHEMA);
    let tables: Vec<String> = tenancy
        .tables()
        .iter()
        .map(|table| table.qualified_name())
        .collect();
    if tables.is_empty() {
        println!(
            "installed the tenant registry in schema {registry}; no tenant tables yet (tables PARTITION BY LIST ({}) are found on the next command)",
            config.tenant_column
        );
        if row_level_security || app_role.is_some() {
            eprintln!(
                "note: with no tenant tables, --row-level-security and --app-role secured nothing: run `tenant install` again once the tables exist"
            );
        }
    } else {
        println!(
            "installed the tenant registry in schema {registry} for {} tenant tables: {}",
            tables.len(),
            tables.join(", ")
        );
    }
    if row_level_security && !tables.is_empty() {
        println!("row-level security: enabled and forced on every tenant table");
    }
    if let Some(role) = &app_role {
        println!("application role {role:?}: granted the tenant tables");
    }
    // Partitions onboarded before this install lack what it just added.
    let unsecured = tenancy
        .unsecured_partitions(pool)
        .await
        .map_err(|e| e.to_string())?;
    if !unsecured.is_empty() {
        eprintln!(
            "note: {} existing partitions are not secured like their parents yet: `tenant sync` secures them",
            unsecured.len()
        );
    }
    Ok(())
}

/// The tables `sync` gave schema tenants, one line per tenant (nothing when
/// none was given any).
pub(crate) fn print_schema_tables_added(report: &tenant_runtime::admin::SyncReport) {
    for (tenant, tables) in &report.schema_tables_added {
        println!("  schema tenant {tenant}: added {}", tables.join(", "));
    }
}
