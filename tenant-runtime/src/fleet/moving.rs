//! Moving a tenant from one database of the fleet to another while it
//! keeps working: the orchestration and its record. The steps:
//!
//! 1. **prepared**: the move is recorded on the directory database, the
//!    tenant onboarded on the target, the change log and its triggers set
//!    on the source partitions.
//! 2. **copied**: the target partitions emptied and filled from one
//!    `REPEATABLE READ` snapshot of the source (`COPY`, streamed), and the
//!    change log replayed until little is left (catching up).
//! 3. **fenced**: writes of the tenant on the source fail with the
//!    retryable SQLSTATE `TNMOV`; the rest of the log is replayed, the
//!    target's sequences advanced, and every table's row count and checksum
//!    compared on both sides.
//! 4. **flipped**: the directory names the target (one transaction on the
//!    directory database, with the move's record).
//! 5. **done**: after the tenant cache's time to live (every process has
//!    looked the tenant up again), the source is offboarded (kept or
//!    dropped) and the log and the record removed.
//!
//! The record says where a move stands; running the move again resumes it
//! from there (a copy is redone from scratch, replay is idempotent), and
//! [`Fleet::abort_move`] undoes one not yet flipped. One mover per tenant:
//! a session advisory lock on the directory database, released when the
//! mover's connection goes, however it goes.

use std::time::{Duration, Instant};

use sqlx::{Acquire, PgConnection};

use tenant_core::layout::{tenant_table_name, Layout};

use super::capture::{self, MovedTable};
use super::directory::{directory_table, moves_table};
use super::reports::{MoveOptions, MoveReport, MoveStep};
use super::{unavailable, Fleet};
use crate::error::Error;
use crate::tenancy::offboard::Offboard;
use crate::Tenant;

/// Log entries replayed per target transaction.
const REPLAY_BATCH: i64 = 1_000;
/// Catching up stops when a round replays fewer entries than this (the
/// rest is replayed behind the fence), or after `CATCH_UP_ROUNDS` rounds.
const SMALL_BACKLOG: usize = 200;
const CATCH_UP_ROUNDS: usize = 20;
/// The longest the mover's DDL waits for one lock per attempt.
const DDL_LOCK_WAIT: Duration = Duration::from_millis(100);
/// How long the mover only takes its locks when all are free at once.
const NOWAIT_PHASE: Duration = Duration::from_secs(2);

/// A move's record on the directory database.
struct Record {
    source: String,
    target: String,
    /// The layout the tenant moves into (`None` in records of earlier
    /// versions: the source's).
    target_layout: Option<Layout>,
    state: MoveStep,
    applied_through: i64,
    keep_source: bool,
}

impl Fleet {
    /// Moves tenant `id` to the database `to` while it keeps working (see
    /// the module's steps). Reads keep working throughout; writes fail
    /// with the retryable SQLSTATE `TNMOV` ([`is_moving`](super::is_moving))
    /// while the fence stands (from the last replay to the flip).
    ///
    /// A move interrupted at any point (a killed process, a lost
    /// connection, an error) is resumed by calling this again with the same
    /// target, or undone with [`abort_move`](Fleet::abort_move) until it
    /// has flipped. A second mover of the same tenant at the same time is
    /// [`Error::MoveInProgress`]; a move to the database the tenant is on,
    /// or of a tenant that does not exist, is refused and changes nothing.
    pub async fn move_tenant(
        &self,
        id: &str,
        to: &str,
        options: MoveOptions,
    ) -> Result<MoveReport, Error> {
        let id = self.inner.template.accept_id(id)?;
        let target_index = self.index_of(to)?;
        if self.inner.template.citus() {
            return Err(Error::MoveRefused {
                id,
                reason: "Citus mode moves tenants with Tenancy::isolate and move_tenant".into(),
            });
        }
        self.install_directory().await?;
        let directory = self.directory_database();
        let mut lock = directory
            .pool()
            .acquire()
            .await
            .map_err(|e| unavailable(directory.name(), e.into()))?;
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtext('tenant fleet move'), hashtext($1))",
        )
        .bind(&id)
        .fetch_one(&mut *lock)
        .await?;
        if !locked {
            return Err(Error::MoveInProgress { id });
        }
        let result = self.move_locked(&id, target_index, options).await;
        let unlocked =
            sqlx::query("SELECT pg_advisory_unlock(hashtext('tenant fleet move'), hashtext($1))")
                .bind(&id)
                .execute(&mut *lock)
                .await;
        if unlocked.is_err() {
            // The lock goes with the connection.
            lock.close().await.ok();
        }
        result
    }

    async fn move_locked(
        &self,
        id: &str,
        target_index: usize,
        options: MoveOptions,
    ) -> Result<MoveReport, Error> {
        let started = Instant::now();
        let to = self.inner.databases[target_index].name.clone();
        let mut record = match self.read_move(id).await? {
            Some(record) if record.target != to => {
                return Err(Error::MoveRefused {
                    id: id.to_string(),
                    reason: format!(
                        "a move of it to `{}` is unfinished: run that move again, or abort it first",
                        record.target
                    ),
                });
            }
            Some(record) => record,
            None => self.begin_move(id, target_index, options).await?,
        };
        let source = self.database(&record.source)?.clone();
        let target = self.database(&record.target)?.clone();
        // A flipped move only has the source left to offboard (which may
        // have happened already).
        let tables = if record.state == MoveStep::Flipped {
            Vec::new()
        } else {
            self.moved_tables(id, &source, &target, record.target_layout)
                .await?
        };
        let same_database = source.name() == target.name();
        let schema = self.inner.template.registry_schema().to_string();
        let mut report = MoveReport {
            source: source.name().to_string(),
            target: target.name().to_string(),
            rows_copied: 0,
            log_entries_replayed: 0,
            fence: None,
            total: Duration::ZERO,
            rows: Vec::new(),
        };
        let stop = |step: MoveStep| -> Result<(), Error> {
            if options.stop_after == Some(step) {
                return Err(Error::MoveInterrupted {
                    id: id.to_string(),
                    step: step.as_str().to_string(),
                });
            }
            Ok(())
        };
        if record.state == MoveStep::Prepared {
            stop(MoveStep::Prepared)?;
            // A copy from scratch: the target's partitions emptied and
            // refilled from one snapshot; the log replayed from its start.
            report.rows_copied = self.copy(id, &source, &target, &tables).await?;
            record.applied_through = 0;
            self.set_move_state(id, MoveStep::Copied, 0).await?;
            record.state = MoveStep::Copied;
            stop(MoveStep::Copied)?;
        }
        if record.state == MoveStep::Copied {
            for _ in 0..CATCH_UP_ROUNDS {
                let replayed = self
                    .replay(id, &schema, &source, &target, &tables, &mut record)
                    .await?;
                report.log_entries_replayed += replayed;
                if replayed < SMALL_BACKLOG {
                    break;
                }
            }
            let mut connection = source
                .pool()
                .acquire()
                .await
                .map_err(|e| unavailable(source.name(), e.into()))?;
            self.ddl_in_one_transaction(
                &mut connection,
                &tables,
                &capture::fence_ddl(&schema, id, &tables),
            )
            .await
            .map_err(|e| unavailable(source.name(), e))?;
            self.set_move_state(id, MoveStep::Fenced, record.applied_through)
                .await?;
            record.state = MoveStep::Fenced;
            stop(MoveStep::Fenced)?;
        }
        if record.state == MoveStep::Fenced {
            let fenced = Instant::now();
            report.log_entries_replayed += self
                .replay(id, &schema, &source, &target, &tables, &mut record)
                .await?;
            // Behind the fence nothing is left to replay: a second pass
            // finds nothing, or the fence did not hold.
            let late = self
                .replay(id, &schema, &source, &target, &tables, &mut record)
                .await?;
            report.log_entries_replayed += late;
            let target_layout = match record.target_layout {
                Some(layout) => layout,
                None => self.registered_layout(&target, id).await?,
            };
            // On one database the registry row names the layout; a mover
            // that stopped after pointing it at the target (and before the
            // directory's flip) must not compare tables that are in use.
            let pointed =
                same_database && self.registered_layout(&target, id).await? == target_layout;
            if !pointed {
                report.rows = self.verify(id, &source, &target, &tables).await?;
            }
            if same_database {
                target
                    .tenancy()
                    .set_layout(target.pool(), id, target_layout)
                    .await
                    .map_err(|e| unavailable(target.name(), e))?;
            }
            self.flip(id, target.name(), target_layout).await?;
            record.state = MoveStep::Flipped;
            report.fence = Some(fenced.elapsed());
            stop(MoveStep::Flipped)?;
        }
        if record.state == MoveStep::Flipped {
            // Every process's cached placement of the tenant has expired by
            // then, so nothing reads the source partitions any more.
            tokio::time::sleep(self.inner.template.tenant_cache_ttl() * 2).await;
            let mode = if record.keep_source {
                Offboard::Keep
            } else {
                Offboard::Drop
            };
            let removed = if same_database {
                // The layout the tenant left: the one its row no longer names.
                let left = match self.registered_layout(&source, id).await? {
                    Layout::Partition => Layout::Schema,
                    Layout::Schema => Layout::Partition,
                };
                source
                    .tenancy()
                    .remove_layout(source.pool(), id, left, mode)
                    .await
            } else {
                source.tenancy().offboard(source.pool(), id, mode).await
            };
            match removed {
                Ok(()) | Err(Error::UnknownTenant { .. }) => {}
                Err(e) => return Err(unavailable(source.name(), e)),
            }
            sqlx::query(&format!(
                "DELETE FROM {} WHERE tenant_id = $1",
                capture::log_table(&schema)
            ))
            .bind(id)
            .execute(source.pool())
            .await
            .map_err(|e| unavailable(source.name(), e.into()))?;
            self.delete_move(id).await?;
            self.forget_placement(id);
        }
        report.total = started.elapsed();
        Ok(report)
    }

    /// Undoes a move that has not flipped: the fence and the capture
    /// triggers leave the source (its writes work again), the tenant is
    /// offboarded from the target and the record removed. A move that has
    /// flipped cannot be undone (run it again to finish it, then move the
    /// tenant back). Returns whether there was a move to undo.
    pub async fn abort_move(&self, id: &str) -> Result<bool, Error> {
        let id = self.inner.template.accept_id(id)?;
        self.install_directory().await?;
        let Some(record) = self.read_move(&id).await? else {
            return Ok(false);
        };
        if record.state == MoveStep::Flipped {
            return Err(Error::MoveRefused {
                id,
                reason: format!(
                    "the move to `{}` has flipped the directory already: run it again to finish it",
                    record.target
                ),
            });
        }
        let source = self.database(&record.source)?.clone();
        let target = self.database(&record.target)?.clone();
        let tables = self
            .moved_tables(&id, &source, &target, record.target_layout)
            .await?;
        let mut connection = source
            .pool()
            .acquire()
            .await
            .map_err(|e| unavailable(source.name(), e.into()))?;
        self.ddl_in_one_transaction(&mut connection, &[], &capture::unfence_ddl(&tables))
            .await
            .map_err(|e| unavailable(source.name(), e))?;
        drop(connection);
        let removed = if source.name() == target.name() {
            // One database: only the tables of the layout it was moving to.
            let layout = match record.target_layout {
                Some(layout) => layout,
                None => self.registered_layout(&target, &id).await?,
            };
            target
                .tenancy()
                .remove_layout(target.pool(), &id, layout, Offboard::Drop)
                .await
        } else {
            target
                .tenancy()
                .offboard(target.pool(), &id, Offboard::Drop)
                .await
        };
        match removed {
            Ok(()) | Err(Error::UnknownTenant { .. }) => {}
            Err(e) => return Err(unavailable(target.name(), e)),
        }
        sqlx::query(&format!(
            "DELETE FROM {} WHERE tenant_id = $1",
            capture::log_table(self.inner.template.registry_schema())
        ))
        .bind(&id)
        .execute(source.pool())
        .await
        .map_err(|e| unavailable(source.name(), e.into()))?;
        self.delete_move(&id).await?;
        self.forget_placement(&id);
        Ok(true)
    }

    /// Step 1: checks, the record, the target's partitions, the capture.
    async fn begin_move(
        &self,
        id: &str,
        target_index: usize,
        options: MoveOptions,
    ) -> Result<Record, Error> {
        self.forget_placement(id);
        let located = self.locate(id).await?;
        let source = self.inner.databases[located.index].clone();
        let target = self.inner.databases[target_index].clone();
        // The tenant exists where the directory says, the target answers.
        let current = source
            .tenancy()
            .tenant(source.pool(), id)
            .await
            .map_err(|e| unavailable(source.name(), e))?
            .layout();
        let target_layout = options.layout.unwrap_or(current);
        if located.index == target_index && target_layout == current {
            return Err(Error::MoveRefused {
                id: id.to_string(),
                reason: format!(
                    "it lives on `{}` in {current} layout already",
                    target.name()
                ),
            });
        }
        sqlx::query("SELECT 1")
            .execute(target.pool())
            .await
            .map_err(|e| unavailable(target.name(), e.into()))?;
        for table in self.inner.template.tables() {
            MovedTable::new(table, String::new(), String::new()).map_err(|reason| {
                Error::MoveRefused {
                    id: id.to_string(),
                    reason,
                }
            })?;
        }
        if target_layout == Layout::Schema {
            self.inner
                .template
                .check_schema_layout()
                .map_err(|e| Error::MoveRefused {
                    id: id.to_string(),
                    reason: e.to_string(),
                })?;
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO {} (tenant_id, source, target, state, keep_source, target_layout) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO NOTHING",
            moves_table(self.inner.template.registry_schema())
        ))
        .bind(id)
        .bind(source.name())
        .bind(target.name())
        .bind(MoveStep::Prepared.as_str())
        .bind(options.source == Offboard::Keep)
        .bind(target_layout.as_str())
        .execute(self.directory_database().pool())
        .await
        .map_err(|e| unavailable(self.directory_database().name(), e.into()))?;
        if inserted.rows_affected() == 0 {
            return Err(Error::MoveInProgress { id: id.to_string() });
        }
        Ok(Record {
            source: source.name().to_string(),
            target: target.name().to_string(),
            target_layout: Some(target_layout),
            state: MoveStep::Prepared,
            applied_through: 0,
            keep_source: options.source == Offboard::Keep,
        })
    }

    /// The tenant's tables with their partitions on both sides; onboards
    /// the tenant on the target and sets the capture on the source first
    /// (both idempotent), and loads the tenant keys row-level security
    /// needs.
    async fn moved_tables(
        &self,
        id: &str,
        source: &super::FleetDatabase,
        target: &super::FleetDatabase,
        target_layout: Option<Layout>,
    ) -> Result<Vec<MovedTable>, Error> {
        let schema = self.inner.template.registry_schema().to_string();
        for database in [source, target] {
            database
                .tenancy()
                .load_tenant_key(database.pool())
                .await
                .map_err(|e| unavailable(database.name(), e))?;
        }
        let (source_suffix, source_layout) = source
            .tenancy()
            .registered(source.pool(), id)
            .await
            .map_err(|e| unavailable(source.name(), e))?
            .ok_or_else(|| Error::UnknownTenant { id: id.to_string() })?;
        let target_layout = target_layout.unwrap_or(source_layout);
        let target_suffix = if source.name() == target.name() {
            // One database, the other layout: the same registry row (and
            // suffix) gets its tables in the target layout beside.
            target
                .tenancy()
                .add_layout(target.pool(), id, target_layout)
                .await
                .map_err(|e| unavailable(target.name(), e))?
        } else {
            target
                .tenancy()
                .onboard_as(target.pool(), id, target_layout)
                .await
                .map_err(|e| unavailable(target.name(), e))?
                .tenant
                .partition_suffix()
                .to_string()
        };
        let tables: Vec<MovedTable> = self
            .inner
            .template
            .tables()
            .iter()
            .map(|t| {
                MovedTable::new(
                    t,
                    tenant_table_name(t, &source_suffix, source_layout),
                    tenant_table_name(t, &target_suffix, target_layout),
                )
            })
            .collect::<Result<_, _>>()
            .map_err(|reason| Error::MoveRefused {
                id: id.to_string(),
                reason,
            })?;
        let mut connection = source
            .pool()
            .acquire()
            .await
            .map_err(|e| unavailable(source.name(), e.into()))?;
        self.ddl_in_one_transaction(&mut connection, &[], &capture::capture_ddl(&schema))
            .await
            .map_err(|e| unavailable(source.name(), e))?;
        self.ddl_in_one_transaction(
            &mut connection,
            &tables,
            &capture::capture_triggers_ddl(&schema, id, &tables),
        )
        .await
        .map_err(|e| unavailable(source.name(), e))?;
        Ok(tables)
    }

    /// Step 2's copy: the target emptied and filled from one snapshot.
    async fn copy(
        &self,
        id: &str,
        source: &super::FleetDatabase,
        target: &super::FleetDatabase,
        tables: &[MovedTable],
    ) -> Result<u64, Error> {
        let source_tenant = source.tenancy().tenant(source.pool(), id).await?;
        let target_tenant = target_handle(target, id).await?;
        let mut from = source
            .pool()
            .acquire()
            .await
            .map_err(|e| unavailable(source.name(), e.into()))?;
        let mut to = target
            .pool()
            .acquire()
            .await
            .map_err(|e| unavailable(target.name(), e.into()))?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *from)
            .await?;
        let copied = async {
            source_tenant.enter(&mut from).await?;
            let mut write = to.begin().await?;
            target_tenant.enter(&mut write).await?;
            for table in tables.iter().rev() {
                sqlx::query(&format!("DELETE FROM {}", table.target))
                    .execute(&mut *write)
                    .await?;
            }
            let rows = capture::copy_rows(&mut from, &mut write, tables).await?;
            write.commit().await?;
            Ok::<u64, Error>(rows)
        }
        .await;
        sqlx::raw_sql("COMMIT").execute(&mut *from).await.ok();
        copied
    }

    /// Replays the log after the record's point, batch by batch, each
    /// batch committed on the target before the record moves on (a batch
    /// replayed twice is harmless). Returns the entries replayed.
    async fn replay(
        &self,
        id: &str,
        schema: &str,
        source: &super::FleetDatabase,
        target: &super::FleetDatabase,
        tables: &[MovedTable],
        record: &mut Record,
    ) -> Result<usize, Error> {
        let target_tenant = target_handle(target, id).await?;
        let mut total = 0;
        loop {
            let entries = {
                let mut from = source
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| unavailable(source.name(), e.into()))?;
                capture::read_log(&mut from, schema, id, record.applied_through, REPLAY_BATCH)
                    .await
                    .map_err(|e| unavailable(source.name(), e.into()))?
            };
            let Some(last) = entries.last().map(|e| e.id) else {
                return Ok(total);
            };
            let mut write = target
                .pool()
                .begin()
                .await
                .map_err(|e| unavailable(target.name(), e.into()))?;
            target_tenant.enter(&mut write).await?;
            capture::apply_log(&mut write, tables, &entries).await?;
            write.commit().await?;
            total += entries.len();
            record.applied_through = last;
            self.set_move_state(id, record.state, last).await?;
            if (entries.len() as i64) < REPLAY_BATCH {
                return Ok(total);
            }
        }
    }

    /// Step 3's check: the same rows on both sides, table by table (with
    /// the target's sequences moved past them first). A difference lifts
    /// the fence and sends the move back to a fresh copy.
    async fn verify(
        &self,
        id: &str,
        source: &super::FleetDatabase,
        target: &super::FleetDatabase,
        tables: &[MovedTable],
    ) -> Result<Vec<(String, i64)>, Error> {
        let source_tenant = source.tenancy().tenant(source.pool(), id).await?;
        let target_tenant = target_handle(target, id).await?;
        // Both sides at once: this is behind the fence.
        let (before, after) = tokio::try_join!(
            async {
                let mut from = source.pool().begin().await?;
                source_tenant.enter(&mut from).await?;
                let sums = capture::checksums(&mut from, tables, true).await?;
                from.commit().await?;
                Ok::<_, Error>(sums)
            },
            async {
                let mut to = target.pool().begin().await?;
                target_tenant.enter(&mut to).await?;
                capture::advance_sequences(&mut to, tables).await?;
                let sums = capture::checksums(&mut to, tables, false).await?;
                to.commit().await?;
                Ok::<_, Error>(sums)
            }
        )?;
        for ((table, source_sum), target_sum) in tables.iter().zip(&before).zip(&after) {
            if source_sum != target_sum {
                let mut connection = source.pool().acquire().await?;
                let mut restore = capture::unfence_ddl(tables);
                let schema = self.inner.template.registry_schema().to_string();
                restore.extend(capture::capture_triggers_ddl(&schema, id, tables));
                self.ddl_in_one_transaction(&mut connection, tables, &restore)
                    .await?;
                self.set_move_state(id, MoveStep::Prepared, 0).await?;
                return Err(Error::MoveVerifyFailed {
                    id: id.to_string(),
                    table: table.parent.clone(),
                    on_source: format!("{} rows, checksum {}", source_sum.0, source_sum.1),
                    on_target: format!("{} rows, checksum {}", target_sum.0, target_sum.1),
                });
            }
        }
        Ok(tables
            .iter()
            .zip(&after)
            .map(|(t, (count, _))| (t.parent.clone(), *count))
            .collect())
    }

    /// Step 4: the directory names the target, in the same transaction as
    /// the record's new state.
    async fn flip(&self, id: &str, target: &str, layout: Layout) -> Result<(), Error> {
        let directory = self.directory_database();
        let schema = self.inner.template.registry_schema();
        let mut transaction = directory
            .pool()
            .begin()
            .await
            .map_err(|e| unavailable(directory.name(), e.into()))?;
        sqlx::query(&format!(
            "INSERT INTO {} (tenant_id, database, layout) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET database = EXCLUDED.database, \
             layout = EXCLUDED.layout, updated_at = now()",
            directory_table(schema)
        ))
        .bind(id)
        .bind(target)
        .bind(layout.as_str())
        .execute(&mut *transaction)
        .await?;
        sqlx::query(&format!(
            "UPDATE {} SET state = $2, updated_at = now() WHERE tenant_id = $1",
            moves_table(schema)
        ))
        .bind(id)
        .bind(MoveStep::Flipped.as_str())
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        self.forget_placement(id);
        Ok(())
    }

    /// The layout `database`'s registry records for `id`.
    async fn registered_layout(
        &self,
        database: &super::FleetDatabase,
        id: &str,
    ) -> Result<Layout, Error> {
        database
            .tenancy()
            .registered(database.pool(), id)
            .await
            .map_err(|e| unavailable(database.name(), e))?
            .map(|(_, layout)| layout)
            .ok_or_else(|| Error::UnknownTenant { id: id.to_string() })
    }

    async fn read_move(&self, id: &str) -> Result<Option<Record>, Error> {
        let directory = self.directory_database();
        #[allow(clippy::type_complexity)]
        let row: Option<(String, String, String, i64, bool, Option<String>)> =
            sqlx::query_as(&format!(
                "SELECT source, target, state, applied_through, keep_source, target_layout \
               FROM {} WHERE tenant_id = $1",
                moves_table(self.inner.template.registry_schema())
            ))
            .bind(id)
            .fetch_optional(directory.pool())
            .await
            .map_err(|e| unavailable(directory.name(), e.into()))?;
        row.map(
            |(source, target, state, applied_through, keep_source, target_layout)| {
                Ok(Record {
                    source,
                    target,
                    target_layout: target_layout.and_then(|layout| layout.parse().ok()),
                    state: MoveStep::parse(&state).ok_or_else(|| {
                        Error::Schema(format!("the move of {id:?} has an unknown state {state:?}"))
                    })?,
                    applied_through,
                    keep_source,
                })
            },
        )
        .transpose()
    }

    async fn set_move_state(&self, id: &str, state: MoveStep, applied: i64) -> Result<(), Error> {
        let directory = self.directory_database();
        sqlx::query(&format!(
            "UPDATE {} SET state = $2, applied_through = $3, updated_at = now() WHERE tenant_id = $1",
            moves_table(self.inner.template.registry_schema())
        ))
        .bind(id)
        .bind(state.as_str())
        .bind(applied)
        .execute(directory.pool())
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))?;
        Ok(())
    }

    async fn delete_move(&self, id: &str) -> Result<(), Error> {
        let directory = self.directory_database();
        sqlx::query(&format!(
            "DELETE FROM {} WHERE tenant_id = $1",
            moves_table(self.inner.template.registry_schema())
        ))
        .bind(id)
        .execute(directory.pool())
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))?;
        Ok(())
    }

    /// Runs `statements` in one transaction on `connection`, with the
    /// tenant's source partitions of `tables` locked first (the triggers'
    /// lock, `SHARE ROW EXCLUSIVE`: it waits for the writers in them and
    /// holds new ones back until commit).
    ///
    /// Why it is careful: a writer of two partitions could wait for the
    /// mover while the mover waits for it. So the locks are taken all at
    /// once with `NOWAIT` (a busy partition fails the attempt at once, and
    /// nobody waits for the mover) for [`NOWAIT_PHASE`]; after that each
    /// attempt may wait at most [`DDL_LOCK_WAIT`] per lock (well under
    /// PostgreSQL's deadlock timeout, so the mover gives way before a writer
    /// is picked as a deadlock's victim). Attempts repeat within the
    /// tenancy's retry budget.
    async fn ddl_in_one_transaction(
        &self,
        connection: &mut PgConnection,
        tables: &[MovedTable],
        statements: &[String],
    ) -> Result<(), Error> {
        let partitions: Vec<&str> = tables.iter().map(|t| t.source.as_str()).collect();
        let started = Instant::now();
        let budget = self.inner.template.retry_budget();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let nowait = started.elapsed() < NOWAIT_PHASE;
            let attempt = async {
                let mut transaction = connection.begin().await?;
                sqlx::query("SELECT set_config('lock_timeout', $1, true)")
                    .bind(format!("{}ms", DDL_LOCK_WAIT.as_millis()))
                    .execute(&mut *transaction)
                    .await?;
                if !partitions.is_empty() {
                    sqlx::raw_sql(&format!(
                        "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE{}",
                        partitions.join(", "),
                        if nowait { " NOWAIT" } else { "" }
                    ))
                    .execute(&mut *transaction)
                    .await?;
                }
                for statement in statements {
                    sqlx::raw_sql(statement).execute(&mut *transaction).await?;
                }
                transaction.commit().await
            }
            .await;
            match attempt {
                Ok(()) => return Ok(()),
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("55P03" | "40P01"))
                        && started.elapsed() < budget =>
                {
                    // Let the writers through, then try again.
                    let pause = if nowait {
                        1 + fastrand::u64(0..3)
                    } else {
                        5 + fastrand::u64(0..20)
                    };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("55P03" | "40P01")) =>
                {
                    return Err(Error::LockTimeout {
                        operation: "setting the tenant move's triggers".into(),
                        attempts,
                        elapsed: started.elapsed(),
                        last: db.message().to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The handle the mover enters the target's transactions with: the tenant
/// set for row-level security, but not a schema tenant's role. The mover
/// fills the tables of the layout the tenant moves into, which on one
/// database the registry names only after the flip (the role may not touch
/// partitions), and advances their sequences (the role may not `setval`).
async fn target_handle(target: &super::FleetDatabase, id: &str) -> Result<Tenant, Error> {
    let tenant = target.tenancy().tenant(target.pool(), id).await?;
    Ok(tenant.without_role())
}
