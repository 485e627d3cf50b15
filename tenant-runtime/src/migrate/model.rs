//! The types of fleet migrations: targets, options, events, errors, and
//! the reading of the migration directory. A leaf: it imports no other
//! module of `migrate`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::PgPool;
use tenant_core::ddl_locks::{LockKind, DEFAULT_MAX_LOCK_FRACTION};

/// One database of the fleet: the name errors and progress use, and a pool
/// on it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The database's name (a `[[databases]]` name, or any label).
    pub name: String,
    /// A pool on it. One connection is used at a time.
    pub pool: PgPool,
}

impl Target {
    /// A target named `name` on `pool`.
    pub fn new(name: impl Into<String>, pool: PgPool) -> Target {
        Target {
            name: name.into(),
            pool,
        }
    }

    /// A connection of its pool, or [`MigrationError::Unreachable`] naming
    /// it, with the databases `done` before it.
    pub(crate) async fn connection(
        &self,
        done: &[String],
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, MigrationError> {
        self.pool
            .acquire()
            .await
            .map_err(|source| MigrationError::Unreachable {
                database: self.name.clone(),
                source,
                done: done.to_vec(),
            })
    }
}

/// Settings of a fleet migration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The share of a server's lock table one migration may use (0 to 1;
    /// default [`DEFAULT_MAX_LOCK_FRACTION`], one half): the lock table is
    /// shared with every session of the running application.
    pub max_lock_fraction: f64,
    /// The schema of the tenant registry (`registry_schema` of
    /// tenancy.toml; default `tenancy`): where the run finds each
    /// database's tenants in schema layout.
    pub registry_schema: String,
    /// How many tenant schemas of one database are migrated at once
    /// (default [`DEFAULT_SCHEMA_PARALLELISM`]; 0 counts as 1). Each takes
    /// a connection of the database's pool.
    pub schema_parallelism: usize,
}

/// The default of [`Options::schema_parallelism`].
pub const DEFAULT_SCHEMA_PARALLELISM: usize = 4;

/// The marker that keeps a migration out of tenant schemas: a line
/// `-- tenancy: parents-only` anywhere in its SQL. Such a migration runs on
/// each database only (for the parents and shared tables: a new
/// partitioned parent, a lookup table), and tenant schemas record nothing
/// of it.
pub const PARENTS_ONLY_MARKER: &str = "-- tenancy: parents-only";

impl Default for Options {
    fn default() -> Options {
        Options {
            max_lock_fraction: DEFAULT_MAX_LOCK_FRACTION,
            registry_schema: "tenancy".to_string(),
            schema_parallelism: DEFAULT_SCHEMA_PARALLELISM,
        }
    }
}

/// Whether `sql` carries [`PARENTS_ONLY_MARKER`] on a line of its own.
pub(crate) fn is_parents_only(sql: &str) -> bool {
    sql.lines().any(|line| line.trim() == PARENTS_ONLY_MARKER)
}

/// Whether `sql`, its `--` comments aside, creates a partitioned table
/// (`PARTITION BY`): such a migration must be marked parents-only when the
/// database has tenant schemas.
pub(crate) fn creates_partitioned_table(sql: &str) -> bool {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "PARTITION" && w[1].starts_with("BY"))
}

/// Progress of [`run`](crate::migrate::run), in order. The preflight happens before the first
/// event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A database has `pending` migrations to apply; they start now.
    DatabaseStarted {
        /// The database.
        database: &'a str,
        /// How many migrations it lacks.
        pending: usize,
    },
    /// One migration was applied and recorded (committed).
    MigrationApplied {
        /// The database.
        database: &'a str,
        /// The migration's version.
        version: i64,
        /// Its description.
        description: &'a str,
        /// How long it took.
        elapsed: Duration,
    },
    /// Every migration of the directory is now applied on this database.
    DatabaseDone {
        /// The database.
        database: &'a str,
        /// How many were applied by this run.
        applied: usize,
    },
    /// The database was up to date: nothing to apply.
    DatabaseUpToDate {
        /// The database.
        database: &'a str,
    },
    /// One tenant schema of the database was migrated (after the
    /// database's own run), or failed.
    SchemaDone {
        /// The database.
        database: &'a str,
        /// The tenant schema (unquoted).
        schema: &'a str,
        /// Its tenant's id.
        tenant: &'a str,
        /// The versions applied there by this run (empty: up to date or
        /// failed).
        applied: &'a [i64],
        /// The error, when it failed.
        error: Option<&'a str>,
        /// Tenant schemas of this database finished so far, this one
        /// included.
        done: usize,
        /// Tenant schemas of this database.
        total: usize,
    },
}

/// A tenant schema whose migration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFailure {
    /// The tenant schema (unquoted).
    pub schema: String,
    /// Its tenant's id.
    pub tenant: String,
    /// What failed (the migration and PostgreSQL's error).
    pub error: String,
}

impl fmt::Display for SchemaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "schema `{}` (tenant {:?}): {}",
            self.schema, self.tenant, self.error
        )
    }
}

/// A migration as errors name it: version and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    /// The version (the file name's number).
    pub version: i64,
    /// The description (the rest of the file name).
    pub description: String,
}

impl fmt::Display for MigrationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} ({})", self.version, self.description)
    }
}

/// Why a statement of a pending migration would take too many locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRefusal {
    /// The database.
    pub database: String,
    /// The migration.
    pub migration: MigrationName,
    /// The table contributing most of the locks.
    pub table: String,
    /// Its partitions (all levels).
    pub partitions: u64,
    /// The statement that locks it, e.g. `ALTER TABLE .. ALTER COLUMN TYPE`,
    /// and where it starts in the migration (`line:column`).
    pub action: String,
    /// What that statement does to the table's partitions.
    pub kind: LockKind,
    /// The relation locks the migration's transaction would hold, all
    /// statements together (an upper bound).
    pub estimated_locks: u64,
    /// The server's lock table.
    pub capacity: LockCapacity,
    /// The most locks one migration may hold ([`Options::max_lock_fraction`]
    /// of the capacity).
    pub limit: u64,
    /// The `max_locks_per_transaction` at which the migration would fit.
    pub needed_max_locks_per_transaction: u64,
}

impl fmt::Display for LockRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.capacity;
        write!(
            f,
            "database `{}`: {} would hold about {} relation locks in one transaction ({} on `{}` \
             locks it{}), more than the {} a migration may take ({} of the \
             server's lock table of {} = max_locks_per_transaction {} x (max_connections {} + \
             max_prepared_transactions {})); nothing was applied on any database. Raise \
             max_locks_per_transaction to at least {} (a server restart), or split the change \
             so that one migration locks fewer partitions: {}",
            self.database,
            self.migration,
            self.estimated_locks,
            self.action,
            self.table,
            match self.partitions {
                0 => String::new(),
                1 => " and its partition".to_string(),
                n => format!(" and its {n} partitions"),
            },
            self.limit,
            fraction_text(self.limit, c.capacity()),
            c.capacity(),
            c.max_locks_per_transaction,
            c.max_connections,
            c.max_prepared_transactions,
            self.needed_max_locks_per_transaction,
            split_hint(self.kind),
        )
    }
}

/// How to split a change of this kind.
fn split_hint(kind: LockKind) -> &'static str {
    match kind {
        LockKind::IndexBuild => {
            "CREATE INDEX ON ONLY the parent, then each partition's index (CONCURRENTLY, in \
             `-- no-transaction` migrations) attached with ALTER INDEX .. ATTACH PARTITION"
        }
        LockKind::Drop | LockKind::Truncate | LockKind::DropIndex => {
            "drop, detach or truncate the partitions a batch per migration first"
        }
        LockKind::ForeignKey => {
            "add the key to the partitions a batch per migration first (the parent's key then \
             adopts theirs), or move keys onto the partitions (`tenant move-keys`)"
        }
        LockKind::Rewrite => {
            "instead of rewriting every partition at once, add a new column (no rewrite), fill \
             it a batch of partitions per migration, then swap the columns"
        }
        LockKind::ParentOnly
        | LockKind::Light
        | LockKind::DropColumn
        | LockKind::DropConstraint => {
            "this change applies to every partition at once (PostgreSQL refuses it on the \
             parent ONLY), so raising the setting is the fix, or fewer tenants per database"
        }
    }
}

fn fraction_text(limit: u64, capacity: u64) -> String {
    if limit == capacity {
        "all".into()
    } else if limit * 2 == capacity || limit * 2 + 1 == capacity {
        "half".into()
    } else {
        format!("{limit}/{capacity}")
    }
}

/// Everything a fleet migration can fail with. Errors of the preflight
/// come before anything was applied anywhere; errors of the apply phase
/// list the databases that were completed (`done`): run again to resume.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The migration directory could not be read (missing, or a file name
    /// sqlx does not accept).
    #[error("cannot read the migrations in {}: {source}", dir.display())]
    Load {
        /// The directory.
        dir: PathBuf,
        /// sqlx's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// No connection to the database.
    #[error("database `{database}` is unreachable: {source}{}", done_text(done))]
    Unreachable {
        /// The database.
        database: String,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
        /// The databases completed before (apply phase only).
        done: Vec<String>,
    },
    /// A query of the preflight or of sqlx's bookkeeping failed.
    #[error("database `{database}`: {what}: {source}{}", done_text(done))]
    Database {
        /// The database.
        database: String,
        /// What was being done.
        what: &'static str,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
        /// The databases completed before (apply phase only).
        done: Vec<String>,
    },
    /// A migration failed (its transaction was rolled back: the database
    /// has every migration before it and none after).
    #[error(
        "database `{database}`: {migration} failed: {source}{}",
        done_text(done)
    )]
    Apply {
        /// The database.
        database: String,
        /// The migration.
        migration: MigrationName,
        /// sqlx's (PostgreSQL's) error.
        #[source]
        source: sqlx::Error,
        /// The databases completed before this one.
        done: Vec<String>,
    },
    /// sqlx refused the database's migration history (a migration applied
    /// there is missing from the directory, or was modified after it was
    /// applied, or a `-- no-transaction` migration failed half-way).
    #[error("database `{database}`: {problem}{}", done_text(done))]
    History {
        /// The database.
        database: String,
        /// What is wrong, naming the migration.
        problem: String,
        /// The databases completed before (apply phase only).
        done: Vec<String>,
    },
    /// The preflight could not parse a pending migration's SQL, so cannot
    /// tell which tables it locks.
    #[error("database `{database}`: cannot check the locks of {migration}: its SQL does not parse: {message}")]
    Unparseable {
        /// The first database where it is pending.
        database: String,
        /// The migration.
        migration: MigrationName,
        /// PostgreSQL's parser's message, with `line:column`.
        message: String,
    },
    /// A pending migration would hold more relation locks than the server's
    /// lock table allows a migration: refused before anything was applied.
    #[error("{0}")]
    TooManyLocks(Box<LockRefusal>),
    /// A migration creates a partitioned table (`PARTITION BY`) but is not
    /// marked [`PARENTS_ONLY_MARKER`], and a database has tenant schemas:
    /// it would create a partitioned table in each. Refused before
    /// anything was applied.
    #[error(
        "database `{database}` has tenants in schema layout and {migration} creates a \
         partitioned table (PARTITION BY), which would be created in every tenant schema too; \
         add a line `-- tenancy: parents-only` to it (it then runs on the database only); \
         nothing was applied on any database"
    )]
    PartitionedInSchemas {
        /// The first database with tenant schemas.
        database: String,
        /// The migration.
        migration: MigrationName,
    },
    /// The database's own migrations were applied, but some of its tenant
    /// schemas failed (the others are migrated). Run again to resume:
    /// each schema gets only what it lacks.
    #[error(
        "database `{database}`: {} of {total} tenant schemas failed: {}{}",
        failures.len(),
        failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        done_text(done)
    )]
    Schemas {
        /// The database.
        database: String,
        /// Its tenant schemas.
        total: usize,
        /// Those that failed, in schema name order.
        failures: Vec<SchemaFailure>,
        /// The databases completed before this one.
        done: Vec<String>,
    },
}

fn done_text(done: &[String]) -> String {
    if done.is_empty() {
        "; no database was completed by this run".into()
    } else {
        format!(
            "; completed by this run: {}; run again to resume",
            done.iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Reads a directory of sqlx migrations (`<version>_<description>.sql`,
/// or `.up.sql`/`.down.sql` pairs) with sqlx's own resolver.
pub async fn load(dir: &Path) -> Result<Migrator, MigrationError> {
    Migrator::new(dir)
        .await
        .map_err(|source| MigrationError::Load {
            dir: dir.to_path_buf(),
            source,
        })
}

/// The migrations [`run`] applies, in order: sqlx's up (or simple)
/// migrations.
pub(super) fn up_migrations(
    migrator: &Migrator,
) -> impl Iterator<Item = &sqlx::migrate::Migration> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
}

pub(super) fn name_of(migration: &sqlx::migrate::Migration) -> MigrationName {
    MigrationName {
        version: migration.version,
        description: migration.description.to_string(),
    }
}

/// The server's lock table: `max_locks_per_transaction *
/// (max_connections + max_prepared_transactions)` relation (and other)
/// locks for all sessions together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockCapacity {
    /// `max_locks_per_transaction`.
    pub max_locks_per_transaction: u64,
    /// `max_connections`.
    pub max_connections: u64,
    /// `max_prepared_transactions`.
    pub max_prepared_transactions: u64,
}

impl LockCapacity {
    /// The number of locks the table holds.
    pub fn capacity(&self) -> u64 {
        self.max_locks_per_transaction
            .saturating_mul(self.max_connections + self.max_prepared_transactions)
    }
}

/// The checks sqlx's migrator makes before applying (see
/// `Migrator::run`), with errors naming the database and migration:
/// a failed (dirty) migration, an applied migration missing from the
/// directory (unless the migrator ignores missing ones), or modified since.
/// `applied`: version -> (checksum, success).
pub(super) fn check_history(
    migrator: &Migrator,
    database: &str,
    applied: &BTreeMap<i64, (Vec<u8>, bool)>,
    done: Vec<String>,
) -> Result<(), MigrationError> {
    let problem = |problem: String| MigrationError::History {
        database: database.to_string(),
        problem,
        done: done.clone(),
    };
    for (version, (checksum, success)) in applied {
        let known = up_migrations(migrator).find(|m| m.version == *version);
        if !success {
            return Err(problem(format!(
                "migration {version}{} failed part-way (a `-- no-transaction` migration): repair \
                 the database by hand, then delete its row from _sqlx_migrations",
                known
                    .map(|m| format!(" ({})", m.description))
                    .unwrap_or_default()
            )));
        }
        match known {
            None if !migrator.ignore_missing => {
                return Err(problem(format!(
                    "migration {version} was applied here but is not in the migration directory"
                )));
            }
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => {
                return Err(problem(format!(
                    "{} was modified after it was applied here: restore its file, and put the \
                     change in a new migration",
                    name_of(m)
                )));
            }
            _ => {}
        }
    }
    Ok(())
}
