//! Onboarding: a tenant's registry row and its partition of every parent,
//! in one transaction, without an ACCESS EXCLUSIVE lock on any parent.

use sqlx::{PgConnection, PgPool};
use tenant_core::schema::{quote_ident, quote_literal};

use super::ddl::{execute_ddl, map_registry_error, tenant_transaction, Retry};
use super::registry::{partition_status, PartitionStatus, TenantState};
use super::Tenancy;
use crate::error::Error;
use crate::id::validate_tenant_id;
use crate::tenant::Tenant;

/// The result of [`Tenancy::onboard`].
#[derive(Debug, Clone)]
pub struct OnboardOutcome {
    /// The tenant's handle.
    pub tenant: Tenant,
    /// The partitions created by this call (unquoted names); empty when the
    /// tenant was already fully onboarded.
    pub created_partitions: Vec<String>,
}

impl Tenancy {
    /// Creates the tenant's partition of every parent that lacks one, and
    /// records the tenant. Idempotent (a second call creates nothing) and
    /// safe under concurrency (callers for the same tenant queue on an
    /// advisory lock; the first does the work).
    ///
    /// No parent is locked in ACCESS EXCLUSIVE mode: each partition is
    /// created standalone (`LIKE parent INCLUDING ALL`), given a CHECK that
    /// implies its bound and its foreign keys, then attached (SHARE UPDATE
    /// EXCLUSIVE on the parent, which running queries do not conflict with),
    /// and the CHECK dropped. Everything runs in one transaction, so a
    /// failure or a killed connection leaves nothing behind. Each lock wait
    /// is bounded by the lock timeout and the whole is retried with backoff.
    ///
    /// The partitions get the foreign keys of the model and those the
    /// registry records that the model lacks (moved there by
    /// [`move_parent_keys`](Self::move_parent_keys) after this tenancy was
    /// built).
    pub async fn onboard(&self, pool: &PgPool, id: &str) -> Result<OnboardOutcome, Error> {
        validate_tenant_id(id)?;
        self.ensure_registry(pool).await?;
        let mut retry = Retry::new(format!("onboarding tenant {id:?}"), self.inner.retry_budget);
        loop {
            match self.onboard_once(pool, id).await {
                Ok(outcome) => {
                    if outcome.created_partitions.is_empty() {
                        tracing::debug!(tenant = id, "tenant already onboarded");
                    } else {
                        tracing::info!(
                            tenant = id,
                            partitions = outcome.created_partitions.len(),
                            "tenant onboarded"
                        );
                    }
                    self.cache_put(outcome.tenant.clone());
                    return Ok(outcome);
                }
                Err(error) => retry.failed(error).await?,
            }
        }
    }

    /// One attempt of [`onboard`](Self::onboard): one transaction, which a
    /// lock timeout rolls back whole.
    async fn onboard_once(&self, pool: &PgPool, id: &str) -> Result<OnboardOutcome, Error> {
        let mut transaction = tenant_transaction(pool, id, self.inner.lock_timeout).await?;
        let suffix = self.register(&mut transaction, id).await?;
        let missing = self.missing_partitions(&mut transaction, &suffix).await?;
        let created = if missing.is_empty() {
            Vec::new()
        } else {
            self.create_partitions(&mut transaction, id, &suffix, &missing)
                .await?
        };
        transaction.commit().await?;
        Ok(OnboardOutcome {
            tenant: self.make_tenant(id, &suffix),
            created_partitions: created,
        })
    }

    /// The tenant's partition suffix: from its registry row, or drawn from
    /// the registry's sequence for a new row. A tenant half-way through
    /// offboarding is [`Error::OffboardInProgress`].
    async fn register(&self, connection: &mut PgConnection, id: &str) -> Result<String, Error> {
        let inner = &self.inner;
        let existing: Option<(String, String)> = sqlx::query_as(&inner.select_tenant)
            .bind(id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(map_registry_error(&inner.registry_schema))?;
        match existing {
            Some((_, state)) if TenantState::parse(&state) == TenantState::Offboarding => {
                Err(Error::OffboardInProgress { id: id.to_string() })
            }
            Some((suffix, _)) => Ok(suffix),
            None => {
                let number: i64 = sqlx::query_scalar(&format!(
                    "SELECT nextval({})",
                    quote_literal(&inner.registry_sequence)
                ))
                .fetch_one(&mut *connection)
                .await?;
                let suffix = format!("t{number}");
                sqlx::query(&format!(
                    "INSERT INTO {} (id, partition_suffix, state) VALUES ($1, $2, 'active')",
                    inner.registry
                ))
                .bind(id)
                .bind(&suffix)
                .execute(&mut *connection)
                .await?;
                Ok(suffix)
            }
        }
    }

    /// The indexes (into the tenancy's tables) of the parents that lack the
    /// tenant's partition. Only those need the parents locked and the record
    /// of partition keys read (a sync of an onboarded tenant reads neither).
    /// A table of the partition's name that is not attached is
    /// [`Error::PartitionConflict`].
    async fn missing_partitions(
        &self,
        connection: &mut PgConnection,
        suffix: &str,
    ) -> Result<Vec<usize>, Error> {
        let mut missing = Vec::new();
        for (index, table) in self.inner.tables.iter().enumerate() {
            let parent = table.qualified_name();
            let partition = table.qualified_partition_name(suffix);
            match partition_status(connection, &parent, &partition).await? {
                PartitionStatus::Attached { .. } => {}
                PartitionStatus::Standalone => {
                    return Err(Error::PartitionConflict {
                        parent,
                        table: partition,
                    })
                }
                PartitionStatus::Missing => missing.push(index),
            }
        }
        Ok(missing)
    }

    /// Creates and attaches the tenant's partitions of the parents at
    /// `missing`; returns their names.
    async fn create_partitions(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
        missing: &[usize],
    ) -> Result<Vec<String>, Error> {
        let inner = &self.inner;
        // Lock those parents as `LIKE` would, before reading the record: a
        // concurrent `move_parent_keys` has then either dropped a parent's
        // key already (after recording it, so the record shows it) or waits
        // for this onboarding to commit (and its last step finds this
        // tenant). `ONLY`: without it `LOCK TABLE` also locks every
        // partition, which waits on other tenants' work and overflows the
        // lock table at a few thousand tenants.
        let parents: Vec<String> = missing
            .iter()
            .map(|&index| inner.tables[index].qualified_name())
            .collect();
        execute_ddl(
            connection,
            &format!(
                "LOCK TABLE ONLY {} IN ACCESS SHARE MODE",
                parents.join(", ONLY ")
            ),
        )
        .await?;
        // Same tables in the same order, recorded keys added.
        let tables = self.tables_with_recorded_keys(connection).await?;
        let mut created = Vec::new();
        for (table, parent) in missing.iter().map(|&index| &tables[index]).zip(parents) {
            let partition = table.qualified_partition_name(suffix);
            let ddl = table.partition_ddl(suffix, id);
            for step in ddl.steps() {
                execute_ddl(connection, step).await?;
            }
            share_identity_sequences(connection, &parent, &partition).await?;
            // The partition is new and seen by no one else yet: securing it
            // here takes no lock any other tenant waits on.
            if inner.row_level_security || table.row_level_security {
                for step in table.partition_row_level_security_ddl(suffix) {
                    execute_ddl(connection, &step).await?;
                }
            }
            if let Some(role) = &inner.app_role {
                let grant = format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON {partition} TO {}",
                    quote_ident(role)
                );
                execute_ddl(connection, &grant).await?;
            }
            created.push(ddl.partition);
        }
        Ok(created)
    }
}

/// Points each identity column of a new partition at the parent's identity
/// sequence (`DEFAULT nextval(..)`): the partition was created without
/// identity, so rows inserted straight into it (routed queries) draw from
/// the same sequence as rows inserted through the parent.
async fn share_identity_sequences(
    connection: &mut PgConnection,
    parent: &str,
    partition: &str,
) -> Result<(), sqlx::Error> {
    let identities: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.attname::text, pg_get_serial_sequence($1, a.attname) \
           FROM pg_attribute a \
          WHERE a.attrelid = to_regclass($1) AND a.attidentity <> '' AND NOT a.attisdropped \
          ORDER BY a.attnum",
    )
    .bind(parent)
    .fetch_all(&mut *connection)
    .await?;
    for (column, sequence) in identities {
        let Some(sequence) = sequence else { continue };
        execute_ddl(
            connection,
            &format!(
                "ALTER TABLE {partition} ALTER COLUMN {} SET DEFAULT nextval({}::regclass)",
                quote_ident(&column),
                quote_literal(&sequence)
            ),
        )
        .await?;
    }
    Ok(())
}
