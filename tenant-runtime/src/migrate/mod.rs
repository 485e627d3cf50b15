//! Migrations across a fleet: one directory of ordinary sqlx migrations
//! applied to several databases, one at a time, in order, after a lock
//! preflight on every one of them.
//!
//! ```no_run
//! # async fn demo(eu: sqlx::PgPool, us: sqlx::PgPool) -> Result<(), tenant_runtime::migrate::MigrationError> {
//! use std::path::Path;
//! use tenant_runtime::migrate::{self, Event, Options, Target};
//!
//! let migrator = migrate::load(Path::new("migrations")).await?;
//! let targets = [Target::new("eu1", eu), Target::new("us1", us)];
//! let report = migrate::run(&migrator, &targets, &Options::default(), |event| {
//!     if let Event::MigrationApplied { database, version, description, .. } = event {
//!         println!("{database}: applied {version} {description}");
//!     }
//! })
//! .await?;
//! println!("{} migrations applied", report.applied());
//! # Ok(()) }
//! ```
//!
//! - **sqlx does the work.** The directory is read by sqlx's
//!   [`Migrator`](sqlx::migrate::Migrator) and each migration is applied by
//!   sqlx's [`Migrate`](sqlx::migrate::Migrate) on the database's
//!   connection, under sqlx's advisory lock, recorded in sqlx's
//!   `_sqlx_migrations`: a database migrated here is one `sqlx migrate run`
//!   (or `Migrator::run`) sees as migrated, and the other way round.
//! - **Resumable and idempotent.** Each migration runs in its own
//!   transaction with its record, so a failure or a kill leaves every
//!   database at a migration boundary; running again applies only what is
//!   pending on each database.
//! - **In order, stopping at the first failure.** Databases are migrated
//!   in the order given; the first failure stops the run (the later
//!   databases are not started), and the error names the database, the
//!   migration and sqlx's error, and lists the databases that are done.
//! - **Preflight first, everywhere.** Before any migration statement runs
//!   on any database, [`preflight`] reads every database (nothing is
//!   created or locked beyond catalog reads): which migrations are pending,
//!   whether an applied one was modified, and, for each pending migration,
//!   how many relation locks its transaction would hold (a statement on a
//!   partitioned parent locks every partition; see
//!   [`tenant_core::ddl_locks`]) against the server's lock table. A
//!   migration that would not fit is refused on every database.
//! - **Tenant schemas too.** After a database's own run, each of its
//!   tenants in schema layout gets the same migrations in its schema (a
//!   connection whose `search_path` is the schema, then `public`; the
//!   schema's own `_sqlx_migrations`), [`Options::schema_parallelism`] at
//!   once, each reported as [`Event::SchemaDone`]; failures are
//!   [`MigrationError::Schemas`], naming schema and tenant, and a rerun
//!   resumes each schema. A migration marked [`PARENTS_ONLY_MARKER`] runs
//!   on the database only; an unmarked one that creates a partitioned
//!   table is [`MigrationError::PartitionedInSchemas`] where tenant
//!   schemas exist, before anything runs.
//!
//! A database that does not answer is [`MigrationError::Unreachable`] after
//! its pool's `acquire_timeout`. A `-- no-transaction` migration runs
//! outside a transaction and sqlx records it only once it succeeded, so a
//! failure or a kill inside it can leave part of it applied and the next
//! run starts it again from the top: write such migrations to be rerun
//! (`IF NOT EXISTS`; drop the invalid index a failed `CREATE INDEX
//! CONCURRENTLY` leaves).

mod model;
mod preflight;
mod run;

pub use model::{
    load, Event, LockCapacity, LockRefusal, MigrationError, MigrationName, Options, SchemaFailure,
    Target, DEFAULT_SCHEMA_PARALLELISM, PARENTS_ONLY_MARKER,
};
pub use preflight::{estimate_sql_locks, preflight, DatabasePlan, PendingMigration, Plan};
pub use run::{run, DatabaseReport, Report, SchemaReport};
pub use tenant_core::ddl_locks::DEFAULT_MAX_LOCK_FRACTION;
