//! Bringing tenants' partitions up to the model: [`Tenancy::sync`] (missing
//! partitions, missing foreign keys, a schema tenant's missing tables) and [`Tenancy::move_parent_keys`]
//! (foreign keys declared between parents moved onto each tenant's
//! partitions).

use std::collections::HashSet;

use sqlx::PgPool;
use tenant_core::layout::Layout;
use tenant_core::schema::{quote_ident, TableSchema};

use super::ddl::{
    execute_ddl, is_foreign_key_violation, lock_timeout_setting, message_with_detail,
    tenant_transaction, Retry,
};
use super::ownership;
use super::partition_keys;
use super::registry::TenantState;
use super::Tenancy;
use crate::error::Error;

/// Progress of [`Tenancy::sync`], reported after each tenant.
#[derive(Debug, Clone)]
pub struct SyncProgress {
    /// Tenants processed so far.
    pub done: usize,
    /// Tenants to process.
    pub total: usize,
    /// The tenant just processed.
    pub tenant: String,
    /// Partitions created for it.
    pub created: usize,
    /// Foreign keys added to its existing partitions.
    pub keys_added: usize,
    /// Existing partitions given their parent's row-level security or the
    /// application role's grants, which they lacked.
    pub secured: usize,
    /// For a tenant in schema layout, the tables its schema was given (a
    /// table added to the model since it was onboarded), schema-qualified
    /// and quoted; empty in partition layout.
    pub schema_tables_added: Vec<String>,
}

/// What [`Tenancy::move_parent_keys`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMove {
    /// Keys now declared between each tenant's partitions instead of on the
    /// parents, each as `constraint on table`.
    pub moved: Vec<String>,
    /// Keys left on the parents, each as (`constraint on table`, why).
    pub kept: Vec<(String, String)>,
    /// Keys added to existing partitions.
    pub keys_added: usize,
}

/// The result of [`Tenancy::sync`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Tenants checked.
    pub tenants: usize,
    /// Partitions created.
    pub partitions_created: usize,
    /// Foreign keys added to existing partitions.
    pub keys_added: usize,
    /// Existing partitions that lacked their parent's row-level security or
    /// the application role's grants, and now have them.
    pub partitions_secured: usize,
    /// Of the tenants checked, those in schema layout.
    pub schema_tenants: usize,
    /// The schema tenants given tables, each as (tenant id, the tables its
    /// schema was given, schema-qualified and quoted), in the order synced.
    pub schema_tables_added: Vec<(String, Vec<String>)>,
}

impl Tenancy {
    /// Brings every active tenant up to the model, reporting progress after
    /// each tenant: creates its missing partitions (after a table was added
    /// to the tenancy), and adds to its existing partitions the foreign keys
    /// of the model they lack (after a key was added to a table). A key is
    /// added `NOT VALID` (a catalog update under SHARE ROW EXCLUSIVE on the
    /// tenant's two partitions), then validated under locks that let the
    /// tenant's queries run; rows that break it stop the sync with
    /// [`Error::PartitionKeyViolated`], and the next sync validates it.
    ///
    /// It also repairs what a partition lacks of the security the database
    /// asks for: the row-level security of its parent (a partition made by
    /// a process that did not apply it, or before row-level security was
    /// turned on) and the grants of the application role recorded by
    /// install, and checks that each partition is the tenant's (its bound).
    ///
    /// A tenant in schema layout is brought up to the model too: its schema
    /// gets every model table it lacks (a table added since it was
    /// onboarded), with the table's keys, the foreign keys to the tables
    /// the schema has, the CHECK on the tenant column, row-level security
    /// and the grants, in one transaction per tenant;
    /// [`SyncReport::schema_tables_added`] names them per tenant. A foreign
    /// key added to the model for a table the schema already has is not
    /// added there (only new tables are).
    pub async fn sync(
        &self,
        pool: &PgPool,
        mut progress: impl FnMut(&SyncProgress),
    ) -> Result<SyncReport, Error> {
        self.ensure_registry(pool).await?;
        let tenants: Vec<String> = self
            .list(pool)
            .await?
            .into_iter()
            .filter(|t| t.state == TenantState::Active)
            .map(|t| t.id)
            .collect();
        let tables = self
            .tables_with_recorded_keys(&mut *pool.acquire().await?)
            .await?
            .into_owned();
        let mut report = SyncReport::default();
        let total = tenants.len();
        for (index, id) in tenants.into_iter().enumerate() {
            // `onboard` keeps each tenant in its recorded layout: a schema
            // tenant's schema gets the model's tables it lacks (with their
            // keys, security and grants), a partition tenant its missing
            // partitions.
            let (created, keys_added, secured, schema_tables) = match self.onboard(pool, &id).await
            {
                Ok(outcome) if outcome.tenant.layout() == Layout::Schema => {
                    report.schema_tenants += 1;
                    (0, 0, 0, outcome.added_schema_tables)
                }
                Ok(outcome) => {
                    let suffix = outcome.tenant.partition_suffix();
                    let keys_added = self
                        .add_missing_partition_keys(pool, &id, suffix, &tables)
                        .await?;
                    (
                        outcome.created_partitions.len(),
                        keys_added,
                        outcome.secured_partitions.len(),
                        Vec::new(),
                    )
                }
                // Offboarded meanwhile: nothing to do.
                Err(Error::OffboardInProgress { .. }) => (0, 0, 0, Vec::new()),
                Err(error) => return Err(error),
            };
            report.tenants += 1;
            report.partitions_created += created;
            report.keys_added += keys_added;
            report.partitions_secured += secured;
            if !schema_tables.is_empty() {
                report
                    .schema_tables_added
                    .push((id.clone(), schema_tables.clone()));
            }
            progress(&SyncProgress {
                done: index + 1,
                total,
                tenant: id,
                created,
                keys_added,
                secured,
                schema_tables_added: schema_tables,
            });
        }
        tracing::info!(
            tenants = report.tenants,
            partitions = report.partitions_created,
            keys = report.keys_added,
            secured = report.partitions_secured,
            schema_tenants = report.schema_tenants,
            schema_tenants_given_tables = report.schema_tables_added.len(),
            "tenancy synced"
        );
        Ok(report)
    }

    /// Moves the foreign keys declared between parents (tables made with
    /// plain SQL and discovered) onto each tenant's partitions, where the
    /// derive puts them: `(tenant_id, form_id) REFERENCES forms_t7
    /// (tenant_id, id)`. A key between parents makes every onboarding's
    /// ATTACH lock the referenced parent and all its partitions (SHARE ROW
    /// EXCLUSIVE), every offboarding drop it under ACCESS EXCLUSIVE, and a
    /// self-referencing one stops PostgreSQL from detaching a tenant whose
    /// rows reference each other; keys between partitions do none of this.
    ///
    /// For each key between two tenancy tables of one schema that maps the
    /// tenant column onto itself (and has no ON DELETE/UPDATE action, MATCH
    /// FULL or deferral, which the partition keys do not reproduce): records
    /// it with the partition keys (see [`install`](Self::install)), adds it
    /// to every active tenant's partitions (`NOT VALID`, then validated, as
    /// [`sync`](Self::sync) does), and only then drops it from the parent,
    /// so the rows are never unguarded. That drop takes ACCESS EXCLUSIVE on
    /// both parents and all their partitions once, briefly, under the lock
    /// timeout and retries (one lock per partition: at many thousands of
    /// partitions, raise `max_locks_per_transaction`). A tenant whose
    /// onboarding commits while this runs gets the keys after the drop (the
    /// drop removes the copy its partitions inherited from the parent).
    /// Other keys are kept and reported with the reason. Idempotent and
    /// resumable: run it again after an error.
    ///
    /// Tenancies built before the move, in this process or another, need
    /// not be built again: [`onboard`](Self::onboard) and
    /// [`sync`](Self::sync) read the record and give partitions the moved
    /// keys their own model lacks.
    pub async fn move_parent_keys(&self, pool: &PgPool) -> Result<KeyMove, Error> {
        self.ensure_registry(pool).await?;
        let (mut report, augmented, to_drop) = self.plan_key_move(pool).await?;
        if to_drop.is_empty() {
            return Ok(report);
        }

        let changed: Vec<TableSchema> = augmented
            .into_iter()
            .filter(|table| {
                to_drop
                    .iter()
                    .any(|(parent, _)| *parent == table.qualified_name())
            })
            .collect();

        // 1. The record, so that tenants onboarded from now on (by a tenancy
        // discovered afterwards) get the keys.
        let record: Vec<String> = changed
            .iter()
            .flat_map(|table| self.record_partition_keys_ddl(table))
            .collect();
        self.run_locked_ddl(pool, &record).await?;

        // 2. Every active tenant's partitions.
        let mut keyed: HashSet<String> = HashSet::new();
        report.keys_added += self
            .add_keys_to_active_tenants(pool, &changed, &mut keyed)
            .await?;

        // 3. Only now the parents' keys.
        for (parent, name) in &to_drop {
            self.drop_parent_key(pool, parent, name).await?;
        }
        // 4. Tenants onboarded while steps 2 and 3 ran got only the parent's
        // key, as an inherited copy, and step 3 dropped it with the parent's.
        report.keys_added += self
            .add_keys_to_active_tenants(pool, &changed, &mut keyed)
            .await?;
        tracing::info!(
            moved = report.moved.len(),
            kept = report.kept.len(),
            keys_added = report.keys_added,
            "foreign keys moved from the parents to the partitions"
        );
        Ok(report)
    }

    /// Step 3 of [`move_parent_keys`](Self::move_parent_keys): drops the
    /// key `name` of `parent`, in a transaction of its own under the lock
    /// timeout, retried (it takes ACCESS EXCLUSIVE on both parents and all
    /// their partitions, briefly).
    async fn drop_parent_key(&self, pool: &PgPool, parent: &str, name: &str) -> Result<(), Error> {
        let mut retry = Retry::new(
            format!("dropping foreign key {name:?} of {parent}"),
            self.inner.retry_budget,
        );
        loop {
            let step = async {
                let mut transaction = pool.begin().await?;
                sqlx::query("SELECT set_config('lock_timeout', $1, true)")
                    .bind(lock_timeout_setting(self.inner.lock_timeout))
                    .execute(&mut *transaction)
                    .await?;
                execute_ddl(
                    &mut transaction,
                    &format!(
                        "ALTER TABLE {parent} DROP CONSTRAINT IF EXISTS {}",
                        quote_ident(name)
                    ),
                )
                .await?;
                transaction.commit().await
            };
            match step.await {
                Ok(()) => return Ok(()),
                Err(error) => retry.failed(error.into()).await?,
            }
        }
    }

    /// Adds the partition keys of `tables` to every active tenant not in
    /// `done`, then adds those tenants to `done`; returns the keys added.
    async fn add_keys_to_active_tenants(
        &self,
        pool: &PgPool,
        tables: &[TableSchema],
        done: &mut HashSet<String>,
    ) -> Result<usize, Error> {
        let mut added = 0;
        for tenant in self.list(pool).await? {
            // A schema tenant's keys are its own tables' (made from the
            // model at onboarding), not partitions of the parents.
            if tenant.layout == tenant_core::layout::Layout::Schema {
                continue;
            }
            if tenant.state == TenantState::Active && !done.contains(&tenant.id) {
                added += self
                    .add_missing_partition_keys(pool, &tenant.id, &tenant.partition_suffix, tables)
                    .await?;
                done.insert(tenant.id);
            }
        }
        Ok(added)
    }

    /// changing anything: `moved` lists the keys between parents it would
    /// move, `kept` those it would leave, and `keys_added` is 0. An empty
    /// `moved` means onboarding and offboarding lock no other tenant's
    /// tables because of keys between parents.
    pub async fn keys_between_parents(&self, pool: &PgPool) -> Result<KeyMove, Error> {
        Ok(self.plan_key_move(pool).await?.0)
    }

    /// The keys declared on the parents, sorted into movable and kept; the
    /// tables with the movable keys added as partition keys; and the
    /// `(parent, constraint)` pairs to drop.
    #[allow(clippy::type_complexity)]
    async fn plan_key_move(
        &self,
        pool: &PgPool,
    ) -> Result<(KeyMove, Vec<TableSchema>, Vec<(String, String)>), Error> {
        let tenancy_tables = self.qualified_table_names();
        let mut report = KeyMove::default();
        let mut augmented: Vec<TableSchema> = self.inner.tables.clone();
        let mut to_drop: Vec<(String, String)> = Vec::new();
        let mut connection = pool.acquire().await?;
        for table in augmented.iter_mut() {
            for key in partition_keys::parent_keys(&mut connection, table, &tenancy_tables).await? {
                let label = format!("{} on {}", quote_ident(&key.name), table.qualified_name());
                match &key.unmovable {
                    Some(reason) => report.kept.push((label, reason.clone())),
                    None => {
                        let per_partition = key.per_partition(&table.tenant_column);
                        if !table.foreign_keys.contains(&per_partition) {
                            table.foreign_keys.push(per_partition);
                        }
                        to_drop.push((table.qualified_name(), key.name.clone()));
                        report.moved.push(label);
                    }
                }
            }
        }
        Ok((report, augmented, to_drop))
    }

    /// Adds the foreign keys of `tables` that the existing partitions of
    /// tenant `id` lack (see [`partition_keys`]); returns how many were
    /// added.
    async fn add_missing_partition_keys(
        &self,
        pool: &PgPool,
        id: &str,
        suffix: &str,
        tables: &[TableSchema],
    ) -> Result<usize, Error> {
        let mut added = 0;
        for table in tables {
            if table.foreign_keys.is_empty() {
                continue;
            }
            let mut retry = Retry::new(
                format!("adding foreign keys to tenant {id:?}'s {}", table.name),
                self.inner.retry_budget,
            );
            loop {
                match self.add_partition_keys_once(pool, id, table, suffix).await {
                    Ok(count) => {
                        added += count;
                        break;
                    }
                    Err(error) => retry.failed(error).await?,
                }
            }
        }
        Ok(added)
    }

    async fn add_partition_keys_once(
        &self,
        pool: &PgPool,
        id: &str,
        table: &TableSchema,
        suffix: &str,
    ) -> Result<usize, Error> {
        let partition = table.qualified_partition_name(suffix);
        let mut transaction = tenant_transaction(pool, id, self.inner.lock_timeout).await?;
        let still_active = matches!(
            sqlx::query_as::<_, (String, String)>(&self.inner.select_tenant)
                .bind(id)
                .fetch_optional(&mut *transaction)
                .await?,
            Some((_, state)) if TenantState::parse(&state) == TenantState::Active
        );
        if !still_active {
            return Ok(0);
        }
        ownership::verify(&mut transaction, &table.qualified_name(), &partition, id).await?;
        let missing = partition_keys::missing_keys(&mut transaction, table, suffix).await?;
        let statements = table.partition_ddl(suffix, id).add_foreign_keys;
        for index in &missing {
            execute_ddl(
                &mut transaction,
                &format!("{} NOT VALID", statements[*index]),
            )
            .await?;
        }
        let own_partitions: Vec<String> = self
            .inner
            .tables
            .iter()
            .map(|t| t.qualified_partition_name(suffix))
            .collect();
        let unvalidated =
            partition_keys::unvalidated_keys(&mut transaction, &partition, &own_partitions).await?;
        transaction.commit().await?;
        if unvalidated.is_empty() {
            return Ok(missing.len());
        }

        // Validated apart, so the scan does not run under the SHARE ROW
        // EXCLUSIVE locks of the ADD.
        let mut transaction = tenant_transaction(pool, id, self.inner.lock_timeout).await?;
        for name in unvalidated {
            let validate = format!(
                "ALTER TABLE {partition} VALIDATE CONSTRAINT {}",
                quote_ident(&name)
            );
            match execute_ddl(&mut transaction, &validate).await {
                Err(error) if is_foreign_key_violation(&error) => {
                    return Err(Error::PartitionKeyViolated {
                        id: id.to_string(),
                        partition,
                        reason: message_with_detail(&error),
                    })
                }
                result => result?,
            }
        }
        transaction.commit().await?;
        if !missing.is_empty() {
            tracing::info!(
                tenant = id,
                partition,
                keys = missing.len(),
                "foreign keys added"
            );
        }
        Ok(missing.len())
    }
}
