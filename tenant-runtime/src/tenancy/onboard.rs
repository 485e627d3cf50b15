//! Onboarding: a tenant's registry row and its partition of every parent,
//! in one transaction, without an ACCESS EXCLUSIVE lock on any parent.

use sqlx::{PgConnection, PgPool, Row};
use tenant_core::layout::Layout;
use tenant_core::schema::{quote_ident, quote_literal, TableSchema, POLICY_NAME};

use super::ddl::{execute_ddl, map_registry_error, tenant_transaction, Retry};
use super::registry::{parse_layout, partition_status, PartitionStatus, TenantState};
use super::session::current_tenant_function;
use super::{ownership, settings, Tenancy};
use crate::error::Error;
use crate::id::InvalidTenantId;
use crate::tenant::Tenant;

/// The result of [`Tenancy::onboard`].
#[derive(Debug, Clone)]
pub struct OnboardOutcome {
    /// The tenant's handle.
    pub tenant: Tenant,
    /// The partitions created by this call (unquoted names); empty when the
    /// tenant was already fully onboarded.
    pub created_partitions: Vec<String>,
    /// The schema created by this call for a tenant in schema layout
    /// (unquoted; also its role's name); `None` when it existed already,
    /// and in partition layout.
    pub created_schema: Option<String>,
    /// Tables given by this call to a schema tenant onboarded earlier (a
    /// table added to the model since), schema-qualified and quoted as
    /// `"tenant_t7_k3x9q2".follow_ups`; empty in partition layout.
    pub added_schema_tables: Vec<String>,
    /// Existing partitions that lacked the row-level security of their
    /// parent or the application role's grants, and now have them (see
    /// [`Tenancy::sync`]).
    pub secured_partitions: Vec<String>,
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
    ///
    /// Every partition that already exists is checked to be this tenant's
    /// (its bound, not its name: [`Error::PartitionOwnedByAnother`]) and
    /// given what the parent's row-level security and the registry's
    /// application role ask for, if it lacks it. For a tenant column of
    /// another type than text (uuid, bigint, ..), the id must be the
    /// canonical text of its value (`'7'`, not `'007'`): two ids that read
    /// as one value would be one tenant.
    ///
    /// A new tenant goes to the tenancy's
    /// [default layout](Self::default_layout); a tenant already onboarded
    /// keeps its own (see [`onboard_as`](Self::onboard_as)).
    pub async fn onboard(&self, pool: &PgPool, id: &str) -> Result<OnboardOutcome, Error> {
        self.onboard_with(pool, id, None).await
    }

    /// [`onboard`](Self::onboard) in the given layout. In schema layout the
    /// tenant gets a schema and a role of its own (`tenant_t7_<tag>`, named
    /// from the registry's sequence, never from the id), every model table
    /// as a plain table in it (keys, indexes, foreign keys between them, a
    /// CHECK that the tenant column holds the id, row-level security when
    /// the tenancy or the parent has it), in one transaction that locks no
    /// parent. The onboarding role needs `CREATEROLE` (or to be superuser).
    ///
    /// A schema or role of that name that this registry did not make is
    /// [`Error::SchemaConflict`] or [`Error::RoleConflict`], never reused. A
    /// tenant onboarded already in the other layout is
    /// [`Error::LayoutMismatch`] (a fleet moves tenants between layouts).
    pub async fn onboard_as(
        &self,
        pool: &PgPool,
        id: &str,
        layout: Layout,
    ) -> Result<OnboardOutcome, Error> {
        self.onboard_with(pool, id, Some(layout)).await
    }

    async fn onboard_with(
        &self,
        pool: &PgPool,
        id: &str,
        layout: Option<Layout>,
    ) -> Result<OnboardOutcome, Error> {
        let id = &self.inner.ids.accept(id)?;
        if layout.unwrap_or(self.inner.default_layout) == Layout::Schema {
            self.check_schema_layout()?;
        }
        self.ensure_registry(pool).await?;
        let mut retry = Retry::new(format!("onboarding tenant {id:?}"), self.inner.retry_budget);
        loop {
            match self.onboard_once(pool, id, layout).await {
                Ok(outcome) => {
                    if outcome.created_partitions.is_empty() && outcome.created_schema.is_none() {
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
    async fn onboard_once(
        &self,
        pool: &PgPool,
        id: &str,
        requested: Option<Layout>,
    ) -> Result<OnboardOutcome, Error> {
        let mut transaction = tenant_transaction(pool, id, self.inner.lock_timeout).await?;
        self.check_canonical_id(&mut transaction, id).await?;
        let (suffix, layout) = self.register(&mut transaction, id, requested).await?;
        if layout == Layout::Schema {
            let (created_schema, added_schema_tables) = self
                .ensure_schema_tenant(&mut transaction, id, &suffix)
                .await?;
            transaction.commit().await?;
            return Ok(OnboardOutcome {
                tenant: self.make_tenant(id, &suffix, layout),
                created_partitions: Vec::new(),
                created_schema,
                added_schema_tables,
                secured_partitions: Vec::new(),
            });
        }
        let missing = self
            .missing_partitions(&mut transaction, id, &suffix)
            .await?;
        let secured = self
            .secure_partitions(&mut transaction, &suffix, &missing)
            .await?;
        let created = if missing.is_empty() {
            Vec::new()
        } else {
            self.create_partitions(&mut transaction, id, &suffix, &missing)
                .await?
        };
        transaction.commit().await?;
        Ok(OnboardOutcome {
            tenant: self.make_tenant(id, &suffix, layout),
            created_partitions: created,
            created_schema: None,
            added_schema_tables: Vec::new(),
            secured_partitions: secured,
        })
    }

    /// For a tenant column whose type is not text, `id` must be the text
    /// that value reads back as: `'007'` and `'7'` are one bigint, and a
    /// partition bound holds the value, not the text.
    async fn check_canonical_id(
        &self,
        connection: &mut PgConnection,
        id: &str,
    ) -> Result<(), Error> {
        let mut checked: Vec<&str> = Vec::new();
        for table in &self.inner.tables {
            let Some(sql_type) = tenant_column_type(table) else {
                continue;
            };
            if checked.contains(&sql_type) {
                continue;
            }
            checked.push(sql_type);
            // The type comes from the model (code or the catalog), never
            // from a request; the id is a bind parameter.
            let canonical: Result<String, sqlx::Error> =
                sqlx::query_scalar(&format!("SELECT ($1::text)::{sql_type}::text"))
                    .bind(id)
                    .fetch_one(&mut *connection)
                    .await;
            let canonical = match canonical {
                Ok(canonical) => canonical,
                Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("22")) => {
                    return Err(InvalidTenantId::NotOfColumnType {
                        sql_type: sql_type.to_string(),
                        reason: e.message().to_string(),
                    }
                    .into())
                }
                Err(e) => return Err(e.into()),
            };
            if canonical != id {
                return Err(InvalidTenantId::NotCanonical {
                    sql_type: sql_type.to_string(),
                    canonical,
                }
                .into());
            }
        }
        Ok(())
    }

    /// The tenant's partition suffix and layout: from its registry row, or
    /// drawn from the registry's sequence for a new row (in the `requested`
    /// layout, else the default). A tenant half-way through offboarding is
    /// [`Error::OffboardInProgress`]; one registered in another layout than
    /// `requested` is [`Error::LayoutMismatch`].
    async fn register(
        &self,
        connection: &mut PgConnection,
        id: &str,
        requested: Option<Layout>,
    ) -> Result<(String, Layout), Error> {
        let inner = &self.inner;
        let existing: Option<(String, String, String)> = sqlx::query_as(&inner.select_tenant)
            .bind(id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(map_registry_error(&inner.registry_schema))?;
        match existing {
            Some((_, state, _)) if TenantState::parse(&state) == TenantState::Offboarding => {
                Err(Error::OffboardInProgress { id: id.to_string() })
            }
            Some((suffix, _, layout)) => {
                let layout = parse_layout(&layout);
                match requested {
                    Some(requested) if requested != layout => Err(Error::LayoutMismatch {
                        id: id.to_string(),
                        registered: layout,
                        requested,
                    }),
                    _ => Ok((suffix, layout)),
                }
            }
            None => {
                let layout = requested.unwrap_or(inner.default_layout);
                let number: i64 = sqlx::query_scalar(&format!(
                    "SELECT nextval({})",
                    quote_literal(&inner.registry_sequence)
                ))
                .fetch_one(&mut *connection)
                .await?;
                let tag = settings::read(connection, &inner.registry_schema)
                    .await?
                    .tag;
                let suffix = settings::partition_suffix(number, &tag);
                sqlx::query(&format!(
                    "INSERT INTO {} (id, partition_suffix, state, layout) VALUES ($1, $2, 'active', $3)",
                    inner.registry
                ))
                .bind(id)
                .bind(&suffix)
                .bind(layout.as_str())
                .execute(&mut *connection)
                .await?;
                Ok((suffix, layout))
            }
        }
    }

    /// The indexes (into the tenancy's tables) of the parents that lack the
    /// tenant's partition. Only those need the parents locked and the record
    /// of partition keys read (a sync of an onboarded tenant reads neither).
    /// An attached partition of another tenant under the expected name is
    /// [`Error::PartitionOwnedByAnother`]; a table of that name that is not
    /// attached is [`Error::PartitionConflict`].
    pub(super) async fn missing_partitions(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
    ) -> Result<Vec<usize>, Error> {
        let mut missing = Vec::new();
        for (index, table) in self.inner.tables.iter().enumerate() {
            let parent = table.qualified_name();
            let partition = table.qualified_partition_name(suffix);
            match partition_status(connection, &parent, &partition).await? {
                PartitionStatus::Attached { .. } => {
                    ownership::verify(connection, &parent, &partition, id).await?;
                }
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
    pub(super) async fn create_partitions(
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
        let app_role = self.recorded_app_role(connection).await?;
        let mut created = Vec::new();
        for (table, parent) in missing.iter().map(|&index| &tables[index]).zip(parents) {
            let partition = table.qualified_partition_name(suffix);
            let ddl = table.partition_ddl(suffix, id);
            for step in ddl.steps() {
                execute_ddl(connection, step).await?;
            }
            execute_ddl(connection, &ownership::mark_ddl(&partition, id)).await?;
            share_identity_sequences(connection, &parent, &partition).await?;
            // The partition is new and seen by no one else yet: securing it
            // here takes no lock any other tenant waits on. Row-level
            // security follows the parent's (the database says, not this
            // process's settings), so whoever onboards secures alike.
            let rls = self
                .parent_has_row_level_security(connection, &parent)
                .await?
                || inner.row_level_security
                || table.row_level_security;
            if rls {
                for step in self.partition_rls_ddl(table, suffix) {
                    execute_ddl(connection, &step).await?;
                }
            }
            if let Some(role) = &app_role {
                execute_ddl(connection, &grant_ddl(&partition, role)).await?;
            }
            created.push(ddl.partition);
        }
        Ok(created)
    }

    /// The policy DDL of `table`'s partition for `suffix`.
    fn partition_rls_ddl(&self, table: &TableSchema, suffix: &str) -> Vec<String> {
        table.partition_row_level_security_ddl(
            suffix,
            &current_tenant_function(&self.inner.registry_schema),
        )
    }

    /// The application role recorded in the registry (by install), or this
    /// tenancy's own.
    pub(super) async fn recorded_app_role(
        &self,
        connection: &mut PgConnection,
    ) -> Result<Option<String>, Error> {
        let recorded = settings::read(connection, &self.inner.registry_schema)
            .await?
            .app_role;
        Ok(recorded.or_else(|| self.inner.app_role.clone()))
    }

    pub(super) async fn parent_has_row_level_security(
        &self,
        connection: &mut PgConnection,
        parent: &str,
    ) -> Result<bool, Error> {
        let rls: Option<bool> =
            sqlx::query_scalar("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass($1)")
                .bind(parent)
                .fetch_optional(&mut *connection)
                .await?;
        Ok(rls.unwrap_or(false))
    }

    /// Gives the tenant's existing partitions (all but `missing`) what their
    /// parent's row-level security and the recorded application role ask
    /// for, where they lack it: partitions onboarded by a process that did
    /// not know (the `tenant` command before this check existed), or made
    /// before row-level security was turned on. Returns their names.
    async fn secure_partitions(
        &self,
        connection: &mut PgConnection,
        suffix: &str,
        missing: &[usize],
    ) -> Result<Vec<String>, Error> {
        let app_role = self.recorded_app_role(connection).await?;
        let mut secured = Vec::new();
        for (index, table) in self.inner.tables.iter().enumerate() {
            if missing.contains(&index) {
                continue;
            }
            let parent = table.qualified_name();
            let partition = table.qualified_partition_name(suffix);
            let state =
                partition_security(connection, &parent, &partition, app_role.as_deref()).await?;
            let mut fixed = false;
            if (state.parent_rls || self.inner.row_level_security || table.row_level_security)
                && !state.rls_ok
            {
                for step in self.partition_rls_ddl(table, suffix) {
                    execute_ddl(connection, &step).await?;
                }
                fixed = true;
            }
            if let (Some(role), false) = (&app_role, state.grants_ok) {
                execute_ddl(connection, &grant_ddl(&partition, role)).await?;
                fixed = true;
            }
            if fixed {
                tracing::warn!(
                    partition,
                    "partition lacked its parent's row-level security or the application role's grants; fixed"
                );
                secured.push(table.partition_name(suffix));
            }
        }
        Ok(secured)
    }
}

/// `GRANT` of the application's privileges on a partition.
fn grant_ddl(partition: &str, role: &str) -> String {
    format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {partition} TO {}",
        quote_ident(role)
    )
}

/// The tenant column's type when it is not text (whose values are their
/// own canonical text).
fn tenant_column_type(table: &TableSchema) -> Option<&str> {
    let column = table
        .columns
        .iter()
        .find(|c| c.name == table.tenant_column)?;
    let sql_type = column.sql_type.trim();
    let lower = sql_type.to_ascii_lowercase();
    let text_like = matches!(lower.as_str(), "text" | "varchar" | "character varying")
        || lower.starts_with("varchar(")
        || lower.starts_with("character varying(");
    (!text_like).then_some(sql_type)
}

/// What a partition has of the security its parent and the registry ask for.
pub(super) struct PartitionSecurity {
    /// The parent has row-level security enabled.
    pub(super) parent_rls: bool,
    /// The partition has row-level security enabled and forced, and the
    /// runtime's policy reading the verified tenant.
    pub(super) rls_ok: bool,
    /// The application role (when one is recorded) has its privileges on it.
    pub(super) grants_ok: bool,
}

/// Reads [`PartitionSecurity`] of one partition from the catalog.
pub(super) async fn partition_security(
    connection: &mut PgConnection,
    parent: &str,
    partition: &str,
    app_role: Option<&str>,
) -> Result<PartitionSecurity, sqlx::Error> {
    let row = sqlx::query(
        "SELECT coalesce(p.relrowsecurity, false) AS parent_rls,                 coalesce(c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (                     SELECT 1 FROM pg_policy pol                      WHERE pol.polrelid = c.oid AND pol.polname = $3                        AND pg_get_expr(pol.polqual, pol.polrelid) LIKE '%current_tenant()%'), false) AS rls_ok,                 coalesce($4::text IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $4) OR (                     has_table_privilege($4, c.oid, 'SELECT') AND has_table_privilege($4, c.oid, 'INSERT')                     AND has_table_privilege($4, c.oid, 'UPDATE') AND has_table_privilege($4, c.oid, 'DELETE')), true) AS grants_ok            FROM (SELECT to_regclass($1) AS parent, to_regclass($2) AS part) n            LEFT JOIN pg_class p ON p.oid = n.parent            LEFT JOIN pg_class c ON c.oid = n.part",
    )
    .bind(parent)
    .bind(partition)
    .bind(POLICY_NAME)
    .bind(app_role)
    .fetch_one(&mut *connection)
    .await?;
    Ok(PartitionSecurity {
        parent_rls: row.try_get("parent_rls")?,
        rls_ok: row.try_get("rls_ok")?,
        grants_ok: row.try_get("grants_ok")?,
    })
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
