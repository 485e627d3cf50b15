//! Offboarding: a resumable state machine, one function per step, because
//! `DETACH PARTITION .. CONCURRENTLY` cannot run inside a transaction.
//!
//! The steps, each safe to run again after a crash or a timeout:
//! 1. [`lock_tenant`](Tenancy::lock_tenant): the tenant's session advisory
//!    lock, so no onboarding or other offboarding of it interleaves;
//! 2. [`mark_offboarding`](Tenancy::mark_offboarding): the registry row says
//!    `offboarding`, and the tenant is unknown from then on;
//! 3. [`detach_partitions`](Tenancy::detach_partitions): each partition
//!    detached concurrently, referencing tables first, rows moved aside when
//!    the parent's own key refuses the detach;
//! 4. [`settle_held_rows`](Tenancy::settle_held_rows): rows moved aside go
//!    back into the detached tables, or go with a dropped tenant;
//! 5. [`archive_or_drop`](Tenancy::archive_or_drop): the detached tables are
//!    kept as read-only archives or dropped;
//! 6. [`forget`](Tenancy::forget): the registry row goes, the lock is freed.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tenant_core::layout::Layout;
use tenant_core::schema::{quote_ident, quote_literal, TableSchema};

use super::catalog;
use super::ddl::{
    execute_ddl, is_foreign_key_violation, lock_timeout_setting, map_registry_error,
    message_with_detail, Retry, LOCK_CLASS,
};
use super::held_rows;
use super::ownership;
use super::registry::{parse_layout, partition_status, PartitionStatus, TenantState};
use super::Tenancy;
use crate::error::Error;

/// What to do with a tenant's partitions when it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offboard {
    /// Detach them and keep them as standalone, read-only archive tables
    /// (a `COMMENT` names the tenant; a `CHECK (false) NOT VALID` constraint
    /// named `tenancy_archived` refuses new and changed rows, and triggers
    /// refuse DELETE and TRUNCATE, so a stale handle's routed write fails
    /// instead of changing the archive; the application role loses its
    /// privileges on it). A tenant in schema layout keeps its schema,
    /// renamed `tenant_t7_<tag>_archive`, out of the application role's
    /// reach; its role is dropped.
    Keep,
    /// Detach and drop them (a schema tenant: drop its schema and role).
    Drop,
}

/// The constraint that makes a kept archive read-only.
const ARCHIVED_CONSTRAINT: &str = "tenancy_archived";

/// How many times one partition's rows are moved aside before its detach
/// counts as blocked (something keeps writing rows that reference it).
const MOVES_ASIDE_PER_PARTITION: u32 = 3;

impl Tenancy {
    /// Removes a tenant: marks it offboarding in the registry (from then on
    /// it is unknown), detaches each of its partitions with `DETACH PARTITION
    /// .. CONCURRENTLY` (no ACCESS EXCLUSIVE on the parents; referencing
    /// tables first), keeps them as archive tables or drops them, and deletes
    /// the registry row.
    ///
    /// `DETACH .. CONCURRENTLY` cannot run in a transaction, so this is a
    /// resumable state machine rather than one transaction: after a crash or
    /// a timeout, call `offboard` again and it carries on where it stopped
    /// (finalizing an interrupted detach). An unknown tenant is
    /// [`Error::UnknownTenant`].
    ///
    /// PostgreSQL refuses to detach a partition whose rows are referenced.
    /// When the references are the tenant's own rows through a key the
    /// parent declares on itself (`users.manager_id REFERENCES users`), the
    /// rows are moved aside (copied to a holding table in the registry's
    /// schema when kept, then deleted), the empty partition detaches, and
    /// the kept rows go back; each step is one transaction, and the table's
    /// own triggers see neither the delete nor the rows' return. When rows
    /// outside the tenant reference the tenant's rows, or deleting could
    /// change them (an ON DELETE action of a key from outside the tenancy),
    /// nothing is moved: [`Error::OffboardBlocked`] names the cause, and the
    /// tenant stays offboarding until it is fixed and `offboard` runs again.
    ///
    /// The cached handle is dropped from this `Tenancy` at once; other
    /// processes' [`Tenancy::tenant`] find the tenant unknown once their
    /// cached handle is older than
    /// [`TenancyBuilder::tenant_cache_ttl`](super::builder::TenancyBuilder::tenant_cache_ttl).
    ///
    /// Before anything changes, every partition the registry names for the
    /// tenant is checked to be the tenant's (its bound, or once detached
    /// its comment): a table of another tenant under that name is
    /// [`Error::PartitionOwnedByAnother`], and nothing is detached or
    /// dropped.
    pub async fn offboard(&self, pool: &PgPool, id: &str, mode: Offboard) -> Result<(), Error> {
        let id = &self.inner.ids.accept(id)?;
        self.cache_remove(id);
        // A dedicated connection: its session settings and session advisory
        // lock die with it, and it is never handed back to the pool.
        let mut connection = PoolConnection::<Postgres>::detach(pool.acquire().await?);
        let result = self.offboard_on(&mut connection, id, mode).await;
        self.cache_remove(id);
        if result.is_ok() {
            let _ = sqlx::Connection::close(connection).await;
        }
        result
    }

    /// The steps of [`offboard`](Self::offboard) on its dedicated
    /// connection, under one retry budget.
    async fn offboard_on(
        &self,
        connection: &mut PgConnection,
        id: &str,
        mode: Offboard,
    ) -> Result<(), Error> {
        let mut retry = Retry::new(
            format!("offboarding tenant {id:?}"),
            self.inner.retry_budget,
        );
        self.lock_tenant(connection, id, &mut retry).await?;
        let (suffix, layout) = self.mark_offboarding(connection, id).await?;
        if layout == Layout::Schema {
            loop {
                match self
                    .remove_schema_tenant(connection, id, &suffix, mode)
                    .await
                {
                    Ok(()) => break,
                    Err(error) => retry.failed(error).await?,
                }
            }
            return self.forget(connection, id, mode).await;
        }
        self.detach_partitions(connection, id, &suffix, mode, &mut retry)
            .await?;
        self.settle_held_rows(connection, id, &suffix, mode, &mut retry)
            .await?;
        self.archive_or_drop(connection, id, &suffix, mode, &mut retry)
            .await?;
        self.forget(connection, id, mode).await
    }

    /// Removes the partitions of tenant `id` (suffix `suffix`) as
    /// offboarding does, detached concurrently then kept or dropped, but
    /// leaves its registry row alone: the tenant lives on in schema layout
    /// (a fleet's move between layouts on one database). Resumable.
    pub(crate) async fn remove_partitions(
        &self,
        pool: &PgPool,
        id: &str,
        suffix: &str,
        mode: Offboard,
    ) -> Result<(), Error> {
        let mut connection = PoolConnection::<Postgres>::detach(pool.acquire().await?);
        let mut retry = Retry::new(
            format!("removing the partitions of tenant {id:?}"),
            self.inner.retry_budget,
        );
        self.lock_tenant(&mut connection, id, &mut retry).await?;
        self.detach_partitions(&mut connection, id, suffix, mode, &mut retry)
            .await?;
        self.settle_held_rows(&mut connection, id, suffix, mode, &mut retry)
            .await?;
        self.archive_or_drop(&mut connection, id, suffix, mode, &mut retry)
            .await?;
        let _ = sqlx::Connection::close(connection).await;
        Ok(())
    }

    /// Step 1: the connection's lock timeout, and the tenant's advisory lock
    /// for the session (the steps span several transactions).
    async fn lock_tenant(
        &self,
        connection: &mut PgConnection,
        id: &str,
        retry: &mut Retry,
    ) -> Result<(), Error> {
        execute_ddl(
            connection,
            &format!(
                "SET lock_timeout = {}",
                quote_literal(&lock_timeout_setting(self.inner.lock_timeout))
            ),
        )
        .await?;
        loop {
            match sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(id)
                .execute(&mut *connection)
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) => retry.failed(error.into()).await?,
            }
        }
    }

    /// Step 2: marks the tenant `offboarding` in the registry (an
    /// interrupted offboarding finds it so already) and returns its
    /// partition suffix and layout. A tenant not in the registry is
    /// [`Error::UnknownTenant`].
    async fn mark_offboarding(
        &self,
        connection: &mut PgConnection,
        id: &str,
    ) -> Result<(String, Layout), Error> {
        let inner = &self.inner;
        let existing: Option<(String, String, String)> = sqlx::query_as(&inner.select_tenant)
            .bind(id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(map_registry_error(&inner.registry_schema))?;
        let Some((suffix, state, layout)) = existing else {
            return Err(Error::UnknownTenant { id: id.to_string() });
        };
        let layout = parse_layout(&layout);
        // Whose tables these are, before anything changes (a schema
        // tenant's schema is checked by its own step).
        let partitions = if layout == Layout::Partition {
            inner.tables.as_slice()
        } else {
            &[]
        };
        for table in partitions {
            ownership::verify(
                connection,
                &table.qualified_name(),
                &table.qualified_partition_name(&suffix),
                id,
            )
            .await?;
        }
        if TenantState::parse(&state) == TenantState::Active {
            sqlx::query(&format!(
                "UPDATE {} SET state = 'offboarding', updated_at = now() WHERE id = $1",
                inner.registry
            ))
            .bind(id)
            .execute(&mut *connection)
            .await?;
        } else {
            tracing::info!(tenant = id, "resuming an interrupted offboarding");
        }
        Ok((suffix, layout))
    }

    /// Step 3: detaches each of the tenant's partitions, referencing tables
    /// first (a referenced partition cannot leave while rows of an attached
    /// partition point into it), and drops the keys that the detached
    /// tables keep into other tenants' parents.
    async fn detach_partitions(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
        mode: Offboard,
        retry: &mut Retry,
    ) -> Result<(), Error> {
        let partitions: Vec<String> = self
            .inner
            .tables
            .iter()
            .map(|t| t.qualified_partition_name(suffix))
            .collect();
        for table in self.inner.tables.iter().rev() {
            self.detach_partition(connection, id, table, suffix, mode, retry)
                .await?;
            // Foreign keys declared on a parent stay on the detached table,
            // still pointing at the referenced parent, which no longer holds
            // this tenant's rows: drop them (keys between the tenant's own
            // partitions stay and keep the archive consistent).
            let partition = table.qualified_partition_name(suffix);
            loop {
                match drop_outside_foreign_keys(connection, &partition, &partitions).await {
                    Ok(()) => break,
                    Err(error) => retry.failed(error.into()).await?,
                }
            }
        }
        Ok(())
    }

    /// Detaches the tenant's partition of `table` (or finalizes a detach
    /// that was interrupted), moving its rows aside when the parent's own
    /// key refuses it; nothing to do once it is detached.
    async fn detach_partition(
        &self,
        connection: &mut PgConnection,
        id: &str,
        table: &TableSchema,
        suffix: &str,
        mode: Offboard,
        retry: &mut Retry,
    ) -> Result<(), Error> {
        let parent = table.qualified_name();
        let partition = table.qualified_partition_name(suffix);
        let mut moves_aside = 0;
        loop {
            let step = match partition_status(connection, &parent, &partition).await {
                Ok(PartitionStatus::Attached { detach_pending }) => {
                    ownership::verify(connection, &parent, &partition, id).await?;
                    let how = if detach_pending {
                        "FINALIZE"
                    } else if self.inner.citus {
                        // Citus refuses CONCURRENTLY ("currently
                        // unsupported"): a plain detach, ACCESS EXCLUSIVE on
                        // the parent while it runs.
                        ""
                    } else {
                        "CONCURRENTLY"
                    };
                    // Marked first: once detached, the comment is what says
                    // whose table it is (a resumed offboarding checks it).
                    match execute_ddl(connection, &ownership::mark_ddl(&partition, id)).await {
                        Ok(()) => {
                            execute_ddl(
                                connection,
                                &format!("ALTER TABLE {parent} DETACH PARTITION {partition} {how}"),
                            )
                            .await
                        }
                        Err(error) => Err(error),
                    }
                }
                Ok(_) => return Ok(()),
                Err(error) => Err(error),
            };
            match step {
                Ok(()) => {}
                Err(refusal) if is_foreign_key_violation(&refusal) => {
                    let moved = self
                        .move_referenced_rows_aside(
                            connection,
                            id,
                            table,
                            suffix,
                            mode,
                            moves_aside,
                            refusal,
                        )
                        .await;
                    match moved {
                        Ok(()) => moves_aside += 1,
                        Err(Error::Database(error)) => retry.failed(Error::Database(error)).await?,
                        Err(error) => return Err(error),
                    }
                }
                Err(error) => retry.failed(error.into()).await?,
            }
        }
    }

    /// Called when PostgreSQL refused to detach the tenant's partition of
    /// `table` because rows reference it (`refusal`): moves the partition's
    /// rows aside when they can only be referenced by each other (see
    /// [`held_rows`]), so the detach can be tried again; otherwise, or when
    /// `earlier_moves` did not help, [`Error::OffboardBlocked`]. A database
    /// error while moving is returned as such (the caller retries lock
    /// timeouts).
    #[allow(clippy::too_many_arguments)]
    async fn move_referenced_rows_aside(
        &self,
        connection: &mut PgConnection,
        id: &str,
        table: &TableSchema,
        suffix: &str,
        mode: Offboard,
        earlier_moves: u32,
        refusal: sqlx::Error,
    ) -> Result<(), Error> {
        let partition = table.qualified_partition_name(suffix);
        let blocked = |reason: String| Error::OffboardBlocked {
            id: id.to_string(),
            partition: partition.clone(),
            reason,
        };
        let refusal = message_with_detail(&refusal);
        let tenancy_tables = self.qualified_table_names();
        match held_rows::keys_into_parent(connection, table, &tenancy_tables).await? {
            held_rows::KeysIntoParent::SelfReferencing
                if earlier_moves < MOVES_ASIDE_PER_PARTITION =>
            {
                let held = held_rows::held_table(&self.inner.registry_schema, table, suffix);
                let moved = match held_rows::move_rows_aside(
                    connection,
                    &partition,
                    &held,
                    mode == Offboard::Keep,
                )
                .await
                {
                    Ok(moved) => moved,
                    // A key without an action that changes rows: the delete
                    // failed whole, nothing changed.
                    Err(error) if is_foreign_key_violation(&error) => {
                        return Err(blocked(format!(
                            "{refusal}; rows outside the tenant's partitions reference its \
                             rows: {}; delete them or point them elsewhere",
                            message_with_detail(&error)
                        )))
                    }
                    Err(error) => return Err(error.into()),
                };
                tracing::info!(
                    tenant = id,
                    partition,
                    moved,
                    "rows that reference each other through a key on the parent moved aside, so the partition can detach"
                );
                Ok(())
            }
            held_rows::KeysIntoParent::SelfReferencing => Err(blocked(format!(
                "{refusal} (still, after moving its rows aside {earlier_moves} times: is \
                 something writing to it?)"
            ))),
            held_rows::KeysIntoParent::NoSelfReference => Err(blocked(format!(
                "{refusal}; rows outside the tenant's partitions reference its rows: delete \
                 them or point them elsewhere"
            ))),
            held_rows::KeysIntoParent::Unsafe(keys) => Err(blocked(format!(
                "{refusal}; moving its rows aside (a delete) would change other rows through \
                 the ON DELETE action of {} (from outside the tenancy, or without the tenant \
                 column {}): delete the rows that reference the tenant's, or make those keys \
                 ON DELETE NO ACTION",
                keys.join(", "),
                quote_ident(&table.tenant_column)
            ))),
        }
    }

    /// Step 4: rows moved aside so that their partition could detach go
    /// back (referenced tables first), or go with a dropped tenant.
    async fn settle_held_rows(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
        mode: Offboard,
        retry: &mut Retry,
    ) -> Result<(), Error> {
        for table in &self.inner.tables {
            let partition = table.qualified_partition_name(suffix);
            let held = held_rows::held_table(&self.inner.registry_schema, table, suffix);
            loop {
                let step = match mode {
                    Offboard::Keep => held_rows::restore_held_rows(connection, &partition, &held)
                        .await
                        .map(|restored| {
                            if restored > 0 {
                                tracing::info!(
                                    tenant = id,
                                    partition,
                                    restored,
                                    "rows held aside are back in the detached partition"
                                );
                            }
                        }),
                    Offboard::Drop => held_rows::drop_held_rows(connection, &held).await,
                };
                match step {
                    Ok(()) => break,
                    Err(error) => retry.failed(error.into()).await?,
                }
            }
        }
        Ok(())
    }

    /// Step 5: the detached tables that still exist are dropped
    /// ([`Offboard::Drop`]) or marked as the tenant's archive
    /// ([`Offboard::Keep`]).
    async fn archive_or_drop(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
        mode: Offboard,
        retry: &mut Retry,
    ) -> Result<(), Error> {
        let mut existing = Vec::new();
        for table in &self.inner.tables {
            let partition = table.qualified_partition_name(suffix);
            if catalog::relation_exists(&mut *connection, &partition).await? {
                ownership::verify(connection, &table.qualified_name(), &partition, id).await?;
                existing.push(partition);
            }
        }
        let app_role = self.inner.app_role.clone().or(super::settings::read(
            connection,
            &self.inner.registry_schema,
        )
        .await?
        .app_role);
        loop {
            let step = match mode {
                Offboard::Drop if !existing.is_empty() => {
                    execute_ddl(
                        connection,
                        &format!("DROP TABLE IF EXISTS {}", existing.join(", ")),
                    )
                    .await
                }
                Offboard::Drop => Ok(()),
                Offboard::Keep => {
                    let comment = quote_literal(&ownership::archive_comment(id));
                    let mut result = Ok(());
                    for partition in &existing {
                        result = archive(
                            connection,
                            partition,
                            &comment,
                            &self.inner.registry_schema,
                            app_role.as_deref(),
                        )
                        .await;
                        if result.is_err() {
                            break;
                        }
                    }
                    result
                }
            };
            match step {
                Ok(()) => return Ok(()),
                Err(error) => retry.failed(error.into()).await?,
            }
        }
    }

    /// Step 6: deletes the registry row and frees the tenant's advisory
    /// lock.
    async fn forget(
        &self,
        connection: &mut PgConnection,
        id: &str,
        mode: Offboard,
    ) -> Result<(), Error> {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE id = $1",
            self.inner.registry
        ))
        .bind(id)
        .execute(&mut *connection)
        .await?;
        sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(id)
            .execute(&mut *connection)
            .await?;
        tracing::info!(tenant = id, ?mode, "tenant offboarded");
        Ok(())
    }
}

/// Drops the top-level foreign keys of a detached partition that point
/// outside the tenant's own partitions (their per-partition clones,
/// `conparentid <> 0`, cannot be dropped alone and go with them).
async fn drop_outside_foreign_keys(
    connection: &mut PgConnection,
    partition: &str,
    own_partitions: &[String],
) -> Result<(), sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint \
          WHERE conrelid = to_regclass($1) AND contype = 'f' AND conparentid = 0 \
            AND NOT confrelid = ANY (ARRAY(SELECT to_regclass(p) FROM unnest($2::text[]) p \
                                           WHERE to_regclass(p) IS NOT NULL))",
    )
    .bind(partition)
    .bind(own_partitions)
    .fetch_all(&mut *connection)
    .await?;
    for name in names {
        execute_ddl(
            connection,
            &format!(
                "ALTER TABLE {partition} DROP CONSTRAINT IF EXISTS {}",
                quote_ident(&name)
            ),
        )
        .await?;
    }
    Ok(())
}

/// Marks a detached partition as an archive: a comment, and a `CHECK
/// (false) NOT VALID` that refuses every new or updated row, so a stale
/// tenant handle (held across the offboarding) cannot write into the archive
/// through a routed query. Its rows stay readable. Idempotent, for resumed
/// offboardings.
/// Makes a detached partition a read-only archive: its comment, a
/// `CHECK (false) NOT VALID` against inserted and updated rows, triggers
/// against DELETE and TRUNCATE (which a CHECK does not see), and no
/// privileges for the application role. Idempotent.
async fn archive(
    connection: &mut PgConnection,
    partition: &str,
    comment: &str,
    registry_schema: &str,
    app_role: Option<&str>,
) -> Result<(), sqlx::Error> {
    execute_ddl(
        connection,
        &format!("COMMENT ON TABLE {partition} IS {comment}"),
    )
    .await?;
    let marked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)",
    )
    .bind(partition)
    .bind(ARCHIVED_CONSTRAINT)
    .fetch_one(&mut *connection)
    .await?;
    if !marked {
        execute_ddl(
            connection,
            &format!(
                "ALTER TABLE {partition} ADD CONSTRAINT {ARCHIVED_CONSTRAINT} CHECK (false) NOT VALID"
            ),
        )
        .await?;
    }
    let refuse = ownership::archive_guard_function(registry_schema);
    execute_ddl(
        connection,
        &format!(
            "CREATE OR REPLACE TRIGGER tenancy_archive_no_delete BEFORE DELETE ON {partition} \
             FOR EACH ROW EXECUTE FUNCTION {refuse}()"
        ),
    )
    .await?;
    execute_ddl(
        connection,
        &format!(
            "CREATE OR REPLACE TRIGGER tenancy_archive_no_truncate BEFORE TRUNCATE ON {partition} \
             FOR EACH STATEMENT EXECUTE FUNCTION {refuse}()"
        ),
    )
    .await?;
    if let Some(role) = app_role {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(&mut *connection)
                .await?;
        if exists {
            execute_ddl(
                connection,
                &format!("REVOKE ALL ON {partition} FROM {}", quote_ident(role)),
            )
            .await?;
        }
    }
    Ok(())
}
