//! Applying: one database at a time, each migration by sqlx.

use std::borrow::Cow;
use std::collections::BTreeMap;

use futures_util::StreamExt;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::Postgres;
use tenant_core::layout::tenant_schema_name;
use tenant_core::schema::{quote_ident, quote_literal};

use super::model::{
    check_history, creates_partitioned_table, is_parents_only, name_of, up_migrations, Event,
    MigrationError, Options, SchemaFailure, Target,
};
use super::preflight::{preflight, Plan};

/// What a run did on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseReport {
    /// The database.
    pub database: String,
    /// The versions this run applied there, in order (empty: it was up to
    /// date).
    pub applied: Vec<i64>,
    /// Its tenant schemas, in schema name order (empty: no tenant in
    /// schema layout).
    pub schemas: Vec<SchemaReport>,
}

/// What a run did in one tenant schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaReport {
    /// The tenant schema (unquoted).
    pub schema: String,
    /// Its tenant's id.
    pub tenant: String,
    /// The versions this run applied there, in order.
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
    /// Migrations applied over the whole fleet (databases only, not
    /// counting tenant schemas).
    pub fn applied(&self) -> usize {
        self.databases.iter().map(|d| d.applied.len()).sum()
    }

    /// Migrations applied in tenant schemas over the whole fleet.
    pub fn applied_in_schemas(&self) -> usize {
        self.databases
            .iter()
            .flat_map(|d| &d.schemas)
            .map(|s| s.applied.len())
            .sum()
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
    let schema_migrator = schema_migrator(migrator);
    // A migration that creates a partitioned table would create one in
    // every tenant schema: refused, before anything runs, unless marked.
    let mut tenant_schemas = Vec::with_capacity(targets.len());
    for target in targets {
        let schemas = tenant_schemas_of(target, &options.registry_schema).await?;
        if !schemas.is_empty() {
            if let Some(migration) = schema_migrator
                .iter()
                .find(|m| creates_partitioned_table(&m.sql))
            {
                return Err(MigrationError::PartitionedInSchemas {
                    database: target.name.clone(),
                    migration: name_of(migration),
                });
            }
        }
        tenant_schemas.push(schemas);
    }
    let mut done: Vec<String> = Vec::new();
    let mut databases = Vec::with_capacity(targets.len());
    for (target, schemas) in targets.iter().zip(tenant_schemas) {
        let applied = apply_one(migrator, target, &done, &mut progress).await?;
        let schemas = apply_schemas(
            &schema_migrator,
            target,
            schemas,
            options.schema_parallelism.max(1),
            &done,
            &mut progress,
        )
        .await?;
        done.push(target.name.clone());
        databases.push(DatabaseReport {
            database: target.name.clone(),
            applied,
            schemas,
        });
    }
    Ok(Report { plan, databases })
}

/// The migrations tenant schemas get: all but those marked
/// [`PARENTS_ONLY_MARKER`](super::PARENTS_ONLY_MARKER).
fn schema_migrator(migrator: &Migrator) -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            migrator
                .iter()
                .filter(|m| !is_parents_only(&m.sql))
                .cloned()
                .collect(),
        ),
        ignore_missing: migrator.ignore_missing,
        locking: migrator.locking,
        no_tx: migrator.no_tx,
    }
}

/// The database's active tenants in schema layout whose schema exists, as
/// (schema, tenant id), in schema name order. None without a registry (or
/// one from before schema layout).
async fn tenant_schemas_of(
    target: &Target,
    registry_schema: &str,
) -> Result<Vec<(String, String)>, MigrationError> {
    let error = |source| MigrationError::Database {
        database: target.name.clone(),
        what: "reading the tenant registry",
        source,
        done: Vec::new(),
    };
    let registry = format!("{}.tenants", quote_ident(registry_schema));
    let has_layout: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) \
         AND attname = 'layout' AND NOT attisdropped)",
    )
    .bind(&registry)
    .fetch_one(&target.pool)
    .await
    .map_err(error)?;
    if !has_layout {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT id::text, partition_suffix FROM {registry} \
         WHERE layout = 'schema' AND state = 'active'"
    ))
    .fetch_all(&target.pool)
    .await
    .map_err(error)?;
    let mut schemas = Vec::with_capacity(rows.len());
    for (id, suffix) in rows {
        let schema = tenant_schema_name(&suffix);
        let exists: bool = sqlx::query_scalar("SELECT to_regnamespace($1) IS NOT NULL")
            .bind(quote_ident(&schema))
            .fetch_one(&target.pool)
            .await
            .map_err(error)?;
        if exists {
            schemas.push((schema, id));
        }
    }
    schemas.sort();
    Ok(schemas)
}

/// Migrates each tenant schema of `target`, `parallelism` at a time,
/// reporting each as it finishes; all are attempted, and the failures are
/// one [`MigrationError::Schemas`].
async fn apply_schemas(
    migrator: &Migrator,
    target: &Target,
    schemas: Vec<(String, String)>,
    parallelism: usize,
    done: &[String],
    progress: &mut impl FnMut(Event<'_>),
) -> Result<Vec<SchemaReport>, MigrationError> {
    let total = schemas.len();
    let database = target.name.as_str();
    let mut results =
        futures_util::stream::iter(schemas.into_iter().map(|(schema, tenant)| async move {
            let result = apply_schema(migrator, target, &schema).await;
            (schema, tenant, result)
        }))
        // No more at once than the pool's connections: the others would wait
        // for one (and time out).
        .buffer_unordered(
            parallelism.min(target.pool.options().get_max_connections().max(1) as usize),
        );
    let mut reports = Vec::with_capacity(total);
    let mut failures = Vec::new();
    let mut finished = 0;
    while let Some((schema, tenant, result)) = results.next().await {
        finished += 1;
        let (applied, error) = match result {
            Ok(applied) => (applied, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        progress(Event::SchemaDone {
            database,
            schema: &schema,
            tenant: &tenant,
            applied: &applied,
            error: error.as_deref(),
            done: finished,
            total,
        });
        match error {
            Some(error) => failures.push(SchemaFailure {
                schema,
                tenant,
                error,
            }),
            None => reports.push(SchemaReport {
                schema,
                tenant,
                applied,
            }),
        }
    }
    if !failures.is_empty() {
        failures.sort_by(|a, b| a.schema.cmp(&b.schema));
        return Err(MigrationError::Schemas {
            database: database.to_string(),
            total,
            failures,
            done: done.to_vec(),
        });
    }
    reports.sort_by(|a, b| a.schema.cmp(&b.schema));
    Ok(reports)
}

/// Applies `migrator` to one tenant schema: on a connection of its own
/// whose `search_path` is the schema, then `public` (so unqualified names
/// are the tenant's tables, and sqlx's `_sqlx_migrations` is the
/// schema's), under an advisory lock of the schema's (sqlx's own lock is
/// one per database). The connection is closed afterwards, never returned
/// to the pool with that search path.
async fn apply_schema(
    migrator: &Migrator,
    target: &Target,
    schema: &str,
) -> Result<Vec<i64>, String> {
    let mut conn = target.connection(&[]).await.map_err(|e| e.to_string())?;
    conn.close_on_drop();
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(format!("{}, public", quote_ident(schema)))
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("setting the search path: {e}"))?;
    if migrator.locking {
        sqlx::query(&format!(
            "SELECT pg_advisory_lock(hashtext({}))",
            quote_literal(&format!("tenancy migrate {schema}"))
        ))
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("taking the schema's migration lock: {e}"))?;
    }
    let label = format!("{} schema {schema}", target.name);
    apply_locked(migrator, &label, &mut conn, &[], &mut |_| {})
        .await
        .map_err(|e| e.to_string())
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
