//! Applying: one database at a time, each migration by sqlx.

use std::collections::BTreeMap;

use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::Postgres;

use super::model::{check_history, name_of, up_migrations, Event, MigrationError, Options, Target};
use super::preflight::{preflight, Plan};

/// What a run did on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseReport {
    /// The database.
    pub database: String,
    /// The versions this run applied there, in order (empty: it was up to
    /// date).
    pub applied: Vec<i64>,
}

/// What a run did, database by database, and the preflight it started
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The preflight of every database.
    pub plan: Plan,
    /// One entry per database, in order.
    pub databases: Vec<DatabaseReport>,
}

impl Report {
    /// Migrations applied over the whole fleet.
    pub fn applied(&self) -> usize {
        self.databases.iter().map(|d| d.applied.len()).sum()
    }
}

/// Runs [`preflight`] on every target, then applies the pending migrations
/// of `migrator` to each target in order, one database at a time,
/// reporting each step to `progress`.
///
/// Stops at the first failure (the error lists the databases completed
/// before it). Each migration commits with its record in
/// `_sqlx_migrations`, so running again after a failure or a kill applies
/// only what is still pending on each database.
pub async fn run(
    migrator: &Migrator,
    targets: &[Target],
    options: &Options,
    mut progress: impl FnMut(Event<'_>),
) -> Result<Report, MigrationError> {
    let plan = preflight(migrator, targets, options).await?;
    let mut done: Vec<String> = Vec::new();
    let mut databases = Vec::with_capacity(targets.len());
    for target in targets {
        let applied = apply_one(migrator, target, &done, &mut progress).await?;
        done.push(target.name.clone());
        databases.push(DatabaseReport {
            database: target.name.clone(),
            applied,
        });
    }
    Ok(Report { plan, databases })
}

async fn apply_one(
    migrator: &Migrator,
    target: &Target,
    done: &[String],
    progress: &mut impl FnMut(Event<'_>),
) -> Result<Vec<i64>, MigrationError> {
    let database = target.name.as_str();
    let mut conn = target.connection(done).await?;
    if migrator.locking {
        // sqlx's advisory lock: one migrator per database at a time.
        conn.lock()
            .await
            .map_err(|e| bookkeeping(database, "taking sqlx's migration lock", e, done))?;
    }
    let result = apply_locked(migrator, database, &mut conn, done, progress).await;
    if migrator.locking {
        // A failed migration rolled back; the session is usable. When it
        // is not, closing the connection releases the advisory lock.
        if conn.unlock().await.is_err() {
            conn.close_on_drop();
        }
    }
    result
}

async fn apply_locked(
    migrator: &Migrator,
    database: &str,
    conn: &mut PoolConnection<Postgres>,
    done: &[String],
    progress: &mut impl FnMut(Event<'_>),
) -> Result<Vec<i64>, MigrationError> {
    conn.ensure_migrations_table()
        .await
        .map_err(|e| bookkeeping(database, "creating _sqlx_migrations", e, done))?;
    // Read again under the lock: another run may have applied some since
    // the preflight.
    let applied_list = conn
        .list_applied_migrations()
        .await
        .map_err(|e| bookkeeping(database, "reading the migration history", e, done))?;
    let mut applied: BTreeMap<i64, (Vec<u8>, bool)> = applied_list
        .into_iter()
        .map(|m| (m.version, (m.checksum.into_owned(), true)))
        .collect();
    if let Some(version) = conn
        .dirty_version()
        .await
        .map_err(|e| bookkeeping(database, "reading the migration history", e, done))?
    {
        applied.insert(version, (Vec::new(), false));
    }
    check_history(migrator, database, &applied, done.to_vec())?;
    let pending: Vec<_> = up_migrations(migrator)
        .filter(|m| !applied.contains_key(&m.version))
        .collect();
    if pending.is_empty() {
        progress(Event::DatabaseUpToDate { database });
        return Ok(Vec::new());
    }
    progress(Event::DatabaseStarted {
        database,
        pending: pending.len(),
    });
    let mut versions = Vec::with_capacity(pending.len());
    for migration in pending {
        let elapsed = conn.apply(migration).await.map_err(|e| match e {
            MigrateError::ExecuteMigration(source, _) | MigrateError::Execute(source) => {
                MigrationError::Apply {
                    database: database.to_string(),
                    migration: name_of(migration),
                    source,
                    done: done.to_vec(),
                }
            }
            other => MigrationError::History {
                database: database.to_string(),
                problem: format!("{}: {other}", name_of(migration)),
                done: done.to_vec(),
            },
        })?;
        versions.push(migration.version);
        progress(Event::MigrationApplied {
            database,
            version: migration.version,
            description: &migration.description,
            elapsed,
        });
    }
    progress(Event::DatabaseDone {
        database,
        applied: versions.len(),
    });
    Ok(versions)
}

fn bookkeeping(
    database: &str,
    what: &'static str,
    e: MigrateError,
    done: &[String],
) -> MigrationError {
    match e {
        MigrateError::Execute(source) | MigrateError::ExecuteMigration(source, _) => {
            MigrationError::Database {
                database: database.to_string(),
                what,
                source,
                done: done.to_vec(),
            }
        }
        other => MigrationError::History {
            database: database.to_string(),
            problem: format!("{what}: {other}"),
            done: done.to_vec(),
        },
    }
}
