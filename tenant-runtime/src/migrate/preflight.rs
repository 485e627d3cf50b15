//! The lock preflight: what is pending on each database, and whether each
//! pending migration's locks fit the server's lock table. Reads only.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use sqlx::migrate::{Migration, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Row};
use tenant_core::ddl_locks::{
    by_relation, estimate_locks, lock_targets, LockBudget, LockKind, LockTarget, RelationName,
    TreeStats,
};

use super::model::{
    check_history, name_of, up_migrations, LockCapacity, LockRefusal, MigrationError,
    MigrationName, Options, Target,
};

/// A migration pending on one database, with its lock estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    /// Version and description.
    pub migration: MigrationName,
    /// The relation locks its transaction would hold, at most (0 when it
    /// touches no existing table).
    pub estimated_locks: u64,
}

/// What the preflight found on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePlan {
    /// The database.
    pub database: String,
    /// The migrations it lacks, in the order they will be applied.
    pub pending: Vec<PendingMigration>,
    /// Its server's lock table (read only when something is pending).
    pub capacity: Option<LockCapacity>,
    /// The most locks one migration may hold there.
    pub limit: Option<u64>,
}

/// The preflight of every database, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One entry per target.
    pub databases: Vec<DatabasePlan>,
}

impl Plan {
    /// Migrations pending over the whole fleet.
    pub fn pending(&self) -> usize {
        self.databases.iter().map(|d| d.pending.len()).sum()
    }
}

/// Reads every target and checks every pending migration, before anything
/// is applied anywhere: the first database that does not answer, has a
/// history sqlx would refuse, or would need more locks than its server
/// allows stops it with an error (so [`run`](crate::migrate::run) applies nothing).
///
/// Only the catalog and `_sqlx_migrations` are read; nothing is created
/// (not even `_sqlx_migrations`) and no table is locked.
///
/// The estimate counts the tables as they are now: a table that an
/// earlier pending migration creates, or partitions it adds, are not
/// counted.
pub async fn preflight(
    migrator: &Migrator,
    targets: &[Target],
    options: &Options,
) -> Result<Plan, MigrationError> {
    // Parse each migration once, not once per database.
    let mut parsed: HashMap<i64, Vec<LockTarget>> = HashMap::new();
    let mut databases = Vec::with_capacity(targets.len());
    for target in targets {
        let mut conn = target.connection(&[]).await?;
        let pending = pending_on(migrator, &target.name, &mut conn).await?;
        if pending.is_empty() {
            databases.push(DatabasePlan {
                database: target.name.clone(),
                pending: Vec::new(),
                capacity: None,
                limit: None,
            });
            continue;
        }
        let capacity = lock_capacity(&target.name, &mut conn).await?;
        let budget = LockBudget {
            capacity: capacity.capacity(),
            max_fraction: options.max_lock_fraction,
        };
        let mut stats_cache: HashMap<RelationName, TreeStats> = HashMap::new();
        let mut planned = Vec::with_capacity(pending.len());
        for migration in pending {
            let statements = match parsed.entry(migration.version) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    entry.insert(lock_targets(&migration.sql).map_err(|e| {
                        MigrationError::Unparseable {
                            database: target.name.clone(),
                            migration: name_of(migration),
                            message: e.to_string(),
                        }
                    })?)
                }
            };
            let (total, worst) =
                estimate_on(&target.name, &mut conn, statements, &mut stats_cache).await?;
            if !budget.allows(total) {
                let Heaviest {
                    table,
                    partitions,
                    action,
                    kind,
                    ..
                } = worst.unwrap_or_default();
                let connections =
                    (capacity.max_connections + capacity.max_prepared_transactions).max(1);
                let fraction = budget.limit().max(1) as f64 / budget.capacity.max(1) as f64;
                let needed = ((total as f64 / fraction) / connections as f64).ceil() as u64;
                return Err(MigrationError::TooManyLocks(Box::new(LockRefusal {
                    database: target.name.clone(),
                    migration: name_of(migration),
                    table,
                    partitions,
                    action,
                    kind: kind.unwrap_or(LockKind::Light),
                    estimated_locks: total,
                    capacity,
                    limit: budget.limit(),
                    needed_max_locks_per_transaction: needed
                        .max(capacity.max_locks_per_transaction + 1),
                })));
            }
            planned.push(PendingMigration {
                migration: name_of(migration),
                estimated_locks: total,
            });
        }
        databases.push(DatabasePlan {
            database: target.name.clone(),
            pending: planned,
            capacity: Some(capacity),
            limit: Some(budget.limit()),
        });
    }
    Ok(Plan { databases })
}

/// The table of a migration that takes the most locks.
#[derive(Debug, Default)]
struct Heaviest {
    locks: u64,
    kind: Option<LockKind>,
    table: String,
    partitions: u64,
    action: String,
}

/// The relation locks one transaction running the statements behind
/// `targets` would hold on this database, at most, and the table taking
/// most of them.
async fn estimate_on(
    database: &str,
    conn: &mut PoolConnection<Postgres>,
    targets: &[LockTarget],
    cache: &mut HashMap<RelationName, TreeStats>,
) -> Result<(u64, Option<Heaviest>), MigrationError> {
    let mut total = 0u64;
    let mut worst: Option<Heaviest> = None;
    for (relation, on_it) in by_relation(targets) {
        let mut stats = match cache.get(&relation) {
            Some(stats) => *stats,
            None => {
                let dropped_index = on_it.iter().all(|t| t.kind == LockKind::DropIndex);
                let stats = tree_stats(database, conn, &relation, dropped_index).await?;
                cache.insert(relation.clone(), stats);
                stats
            }
        };
        for target in &on_it {
            if let (LockKind::DropColumn | LockKind::DropConstraint, Some(object)) =
                (target.kind, target.object.as_deref())
            {
                let n = dropped_indexes(database, conn, &relation, target.kind, object).await?;
                stats.dropped_indexes = stats.dropped_indexes.saturating_add(n);
            }
        }
        let kinds: Vec<LockKind> = on_it.iter().map(|t| t.kind).collect();
        let locks = estimate_locks(&stats, &kinds);
        total = total.saturating_add(locks);
        if worst.as_ref().is_none_or(|w| locks > w.locks) {
            let heaviest = on_it.iter().max_by_key(|t| t.kind);
            let action = heaviest
                .map(|t| format!("{} at {}", t.action, t.position))
                .unwrap_or_default();
            worst = Some(Heaviest {
                locks,
                kind: heaviest.map(|t| t.kind),
                table: relation.to_string(),
                partitions: stats.tables.saturating_sub(1),
                action,
            });
        }
    }
    Ok((total, worst))
}

/// The relation locks one transaction running `sql` on `target` would
/// hold, at most, as the preflight estimates them for a migration (see
/// [`tenant_core::ddl_locks::estimate_locks`]). Reads the catalog only.
pub async fn estimate_sql_locks(target: &Target, sql: &str) -> Result<u64, MigrationError> {
    let targets = lock_targets(sql).map_err(|e| MigrationError::Unparseable {
        database: target.name.clone(),
        migration: MigrationName {
            version: 0,
            description: "the SQL given".into(),
        },
        message: e.to_string(),
    })?;
    let mut conn = target.connection(&[]).await?;
    let (total, _) = estimate_on(&target.name, &mut conn, &targets, &mut HashMap::new()).await?;
    Ok(total)
}

/// The migrations of `migrator` not yet applied on this database, after
/// the checks sqlx's migrator makes (a failed, missing or modified applied
/// migration is an error), without creating `_sqlx_migrations`.
async fn pending_on<'m>(
    migrator: &'m Migrator,
    database: &str,
    conn: &mut PoolConnection<Postgres>,
) -> Result<Vec<&'m Migration>, MigrationError> {
    let db_err = |what: &'static str| {
        move |source| MigrationError::Database {
            database: database.to_string(),
            what,
            source,
            done: Vec::new(),
        }
    };
    // Where sqlx would find it: the first schema of search_path.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut **conn)
        .await
        .map_err(db_err("reading the migration history"))?;
    let mut applied: BTreeMap<i64, (Vec<u8>, bool)> = BTreeMap::new();
    if exists {
        let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(&mut **conn)
            .await
            .map_err(db_err("reading the migration history"))?;
        for row in rows {
            let version: i64 = row
                .try_get("version")
                .map_err(db_err("reading the migration history"))?;
            let checksum: Vec<u8> = row
                .try_get("checksum")
                .map_err(db_err("reading the migration history"))?;
            let success: bool = row
                .try_get("success")
                .map_err(db_err("reading the migration history"))?;
            applied.insert(version, (checksum, success));
        }
    }
    check_history(migrator, database, &applied, Vec::new())?;
    Ok(up_migrations(migrator)
        .filter(|m| !applied.contains_key(&m.version))
        .collect())
}

async fn lock_capacity(
    database: &str,
    conn: &mut PoolConnection<Postgres>,
) -> Result<LockCapacity, MigrationError> {
    let row = sqlx::query(
        "SELECT current_setting('max_locks_per_transaction')::bigint, \
                current_setting('max_connections')::bigint, \
                current_setting('max_prepared_transactions')::bigint",
    )
    .fetch_one(&mut **conn)
    .await
    .map_err(|source| MigrationError::Database {
        database: database.to_string(),
        what: "reading the lock table settings",
        source,
        done: Vec::new(),
    })?;
    let get = |i: usize| -> Result<u64, MigrationError> {
        let value: i64 = row.try_get(i).map_err(|source| MigrationError::Database {
            database: database.to_string(),
            what: "reading the lock table settings",
            source,
            done: Vec::new(),
        })?;
        Ok(u64::try_from(value).unwrap_or(0))
    };
    Ok(LockCapacity {
        max_locks_per_transaction: get(0)?,
        max_connections: get(1)?,
        max_prepared_transactions: get(2)?,
    })
}

/// The catalog's counts for the partition tree of `relation` (of the table
/// of `relation` when it names an index and `index_to_table`): nothing
/// when it does not exist (yet). The name is bound, never spliced.
async fn tree_stats(
    database: &str,
    conn: &mut PoolConnection<Postgres>,
    relation: &RelationName,
    index_to_table: bool,
) -> Result<TreeStats, MigrationError> {
    let row = sqlx::query(
        "WITH named AS ( \
           SELECT to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2) \
                                   ELSE quote_ident($1) || '.' || quote_ident($2) END) AS oid \
         ), target AS ( \
           SELECT CASE WHEN $3 AND c.relkind IN ('i', 'I') \
                       THEN (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid) \
                       ELSE c.oid END AS oid \
             FROM named JOIN pg_class c ON c.oid = named.oid \
         ), tree AS ( \
           SELECT target.oid AS relid FROM target \
           UNION \
           SELECT t.relid FROM target, pg_partition_tree(target.oid) t \
         ) \
         SELECT (SELECT count(*) FROM tree), \
                (SELECT count(*) FROM pg_index i JOIN tree ON i.indrelid = tree.relid), \
                (SELECT count(*) FROM pg_class c JOIN tree ON c.oid = tree.relid \
                  WHERE c.reltoastrelid <> 0), \
                (SELECT count(*) FROM pg_index i JOIN target ON i.indrelid = target.oid)",
    )
    .bind(relation.schema.as_deref())
    .bind(&relation.name)
    .bind(index_to_table)
    .fetch_one(&mut **conn)
    .await
    .map_err(|source| MigrationError::Database {
        database: database.to_string(),
        what: "reading the partitions of the tables a migration alters",
        source,
        done: Vec::new(),
    })?;
    let get = |i: usize| -> u64 {
        row.try_get::<i64, _>(i)
            .ok()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    };
    Ok(TreeStats {
        tables: get(0),
        indexes: get(1),
        toast: get(2),
        own_indexes: get(3),
        dropped_indexes: 0,
    })
}

/// The indexes of the tree of `relation` that a `DROP COLUMN object` drops
/// with the column (those on it, and, not knowing better, those on an
/// expression or with a predicate), or that a `DROP CONSTRAINT object`
/// drops (the constraint's index and its partitions' indexes).
async fn dropped_indexes(
    database: &str,
    conn: &mut PoolConnection<Postgres>,
    relation: &RelationName,
    kind: LockKind,
    object: &str,
) -> Result<u64, MigrationError> {
    let count: i64 = sqlx::query_scalar(
        "WITH target AS ( \
           SELECT to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2) \
                                   ELSE quote_ident($1) || '.' || quote_ident($2) END) AS oid \
         ), tree AS ( \
           SELECT target.oid AS relid FROM target WHERE target.oid IS NOT NULL \
           UNION \
           SELECT t.relid FROM target, pg_partition_tree(target.oid) t \
         ), constraint_index AS ( \
           SELECT c.conindid AS oid FROM pg_constraint c, target \
            WHERE c.conrelid = target.oid AND c.conname = $4 AND c.conindid <> 0 \
         ) \
         SELECT CASE WHEN $3 THEN \
           (SELECT count(*) FROM pg_index i JOIN tree ON i.indrelid = tree.relid \
             WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL \
                OR EXISTS (SELECT 1 FROM pg_attribute a \
                            WHERE a.attrelid = i.indrelid AND a.attname = $4 \
                              AND a.attnum = ANY (i.indkey::int2[]))) \
         ELSE \
           (SELECT count(*) FROM ( \
              SELECT oid FROM constraint_index \
              UNION \
              SELECT t.relid FROM constraint_index, pg_partition_tree(constraint_index.oid) t \
            ) dropped) \
         END",
    )
    .bind(relation.schema.as_deref())
    .bind(&relation.name)
    .bind(kind == LockKind::DropColumn)
    .bind(object)
    .fetch_one(&mut **conn)
    .await
    .map_err(|source| MigrationError::Database {
        database: database.to_string(),
        what: "reading the indexes a migration drops",
        source,
        done: Vec::new(),
    })?;
    Ok(u64::try_from(count).unwrap_or(0))
}
