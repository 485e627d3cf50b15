//! The registry as the application reads it: tenant handles and their
//! cache, the list of tenants, and where each partition stands.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Row};
use tenant_core::layout::Layout;

use super::ddl::map_registry_error;
use super::{CachedTenant, Tenancy};
use crate::error::Error;
use crate::router::TenantRoutes;
use crate::tenant::Tenant;

/// How long [`Tenancy::tenant`] serves a cached handle before it reads the
/// registry again, unless
/// [`TenancyBuilder::tenant_cache_ttl`](super::builder::TenancyBuilder::tenant_cache_ttl)
/// says otherwise.
///
/// Why: onboarding and offboarding often run in another process (the
/// `tenant` command, another application server). Without a bound, a
/// process would keep routing an offboarded tenant to its archive, and a
/// tenant offboarded and onboarded again to its old partitions, until it
/// restarts. Re-reading costs one primary-key lookup in the registry per
/// tenant and interval.
pub const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(10);

/// Where a tenant is in its life cycle, as recorded in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantState {
    /// Onboarded: its partitions exist and it can be used.
    Active,
    /// Offboarding started but has not finished (a crash, or a lock wait that
    /// ran out): the tenant is already unknown to [`Tenancy::tenant`]; running
    /// offboard again resumes.
    Offboarding,
}

impl TenantState {
    pub(super) fn parse(text: &str) -> TenantState {
        match text {
            "active" => TenantState::Active,
            _ => TenantState::Offboarding,
        }
    }

    /// The registry's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Active => "active",
            TenantState::Offboarding => "offboarding",
        }
    }
}

/// One row of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// The tenant id.
    pub id: String,
    /// The suffix of its partition names.
    pub partition_suffix: String,
    /// Its state.
    pub state: TenantState,
    /// Where its rows live.
    pub layout: Layout,
    /// When it was onboarded (PostgreSQL's text form of a `timestamptz`).
    pub created_at: String,
}

/// The registry's layout column; its CHECK admits the two spellings only.
pub(super) fn parse_layout(text: &str) -> Layout {
    text.parse().unwrap_or_default()
}

/// Where one partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartitionStatus {
    Missing,
    Attached {
        detach_pending: bool,
    },
    /// Exists but is not a partition of the parent.
    Standalone,
}

/// Whether `partition` exists, and whether it is attached to `parent` (and
/// half-way through a concurrent detach).
pub(super) async fn partition_status(
    connection: &mut PgConnection,
    parent: &str,
    partition: &str,
) -> Result<PartitionStatus, sqlx::Error> {
    let row = sqlx::query(
        "SELECT c.oid IS NOT NULL AS exists, i.inhrelid IS NOT NULL AS attached, \
                COALESCE(i.inhdetachpending, false) AS pending \
           FROM (SELECT to_regclass($1) AS oid) c \
           LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass($2)",
    )
    .bind(partition)
    .bind(parent)
    .fetch_one(&mut *connection)
    .await?;
    let exists: bool = row.try_get("exists")?;
    let attached: bool = row.try_get("attached")?;
    let pending: bool = row.try_get("pending")?;
    Ok(match (exists, attached) {
        (false, _) => PartitionStatus::Missing,
        (true, true) => PartitionStatus::Attached {
            detach_pending: pending,
        },
        (true, false) => PartitionStatus::Standalone,
    })
}

impl Tenancy {
    /// The registry's `(partition_suffix, state, layout)` of `id`. Behind a
    /// transaction pooler the two steps of sqlx's unnamed statement run in
    /// one transaction, so they reach the same server connection.
    async fn lookup_tenant(
        &self,
        pool: &PgPool,
        id: &str,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let found = self.lookup_with(pool, &self.inner.lookup_tenant, id).await;
        match found {
            // A registry installed by an earlier version has no
            // `find_tenant` until install runs again: every tenant it holds
            // is a partition tenant, which `lookup_tenant` finds.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42883") => {
                let legacy = format!(
                    "SELECT partition_suffix, state, 'partition'::text FROM {}($1)",
                    tenant_core::schema::qualified_name(
                        Some(&self.inner.registry_schema),
                        "lookup_tenant"
                    )
                );
                self.lookup_with(pool, &legacy, id).await
            }
            other => other,
        }
    }

    async fn lookup_with(
        &self,
        pool: &PgPool,
        sql: &str,
        id: &str,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let query = sqlx::query_as(sql).bind(id);
        if !self.inner.transaction_pooler {
            return query.fetch_optional(pool).await;
        }
        let mut transaction = pool.begin().await?;
        let found = query
            .persistent(false)
            .fetch_optional(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(found)
    }

    /// The handle of an active tenant, from the cache or the registry.
    /// A tenant never onboarded, offboarded or being offboarded is
    /// [`Error::UnknownTenant`].
    ///
    /// A cached handle is handed out for
    /// [`TenancyBuilder::tenant_cache_ttl`](super::builder::TenancyBuilder::tenant_cache_ttl)
    /// after the registry last confirmed it; then the registry is read
    /// again, so onboarding and offboarding by other processes reach this
    /// one within that time.
    ///
    /// The id is taken in Unicode normal form C; an id with invisible
    /// characters is refused unless the tenancy allows them (see
    /// [`crate::id`]). The registry is read through its `lookup_tenant`
    /// function, so an application role needs no access to the registry's
    /// table (every tenant's id).
    pub async fn tenant(&self, pool: &PgPool, id: &str) -> Result<Tenant, Error> {
        let id = &self.inner.ids.accept(id)?;
        let cached = self.cache_get(id);
        if let Some(entry) = &cached {
            if entry.confirmed.elapsed() < self.inner.tenant_cache_ttl {
                return Ok(entry.tenant.clone());
            }
        }
        let found = self
            .lookup_tenant(pool, id)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?;
        match found {
            Some((suffix, state, layout)) if TenantState::parse(&state) == TenantState::Active => {
                let layout = parse_layout(&layout);
                // Unchanged: keep the handle, whose SQL is rendered already.
                let tenant = match cached {
                    Some(entry)
                        if entry.tenant.partition_suffix() == suffix
                            && entry.tenant.layout() == layout =>
                    {
                        entry.tenant
                    }
                    _ => self.make_tenant(id, &suffix, layout),
                };
                self.cache_put(tenant.clone());
                Ok(tenant)
            }
            _ => {
                self.cache_remove(id);
                Err(Error::UnknownTenant { id: id.to_string() })
            }
        }
    }

    /// Every tenant in the registry, ordered by id.
    pub async fn list(&self, pool: &PgPool) -> Result<Vec<TenantRecord>, Error> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(&format!(
            "SELECT id, partition_suffix, state, layout, created_at::text FROM {} ORDER BY id",
            self.inner.registry
        ))
        .fetch_all(pool)
        .await
        .map_err(map_registry_error(&self.inner.registry_schema))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, partition_suffix, state, layout, created_at)| TenantRecord {
                    id,
                    partition_suffix,
                    state: TenantState::parse(&state),
                    layout: parse_layout(&layout),
                    created_at,
                },
            )
            .collect())
    }

    /// The partitions of this tenancy's parents that lack what their parent
    /// and the registry ask for: the parent's row-level security (enabled,
    /// forced, the runtime's policy reading the verified tenant) or the
    /// recorded application role's privileges. [`sync`](Self::sync)
    /// repairs them. One catalog query for every tenant.
    pub async fn unsecured_partitions(&self, pool: &PgPool) -> Result<Vec<String>, Error> {
        let mut connection = pool.acquire().await?;
        let app_role = super::settings::read(&mut connection, &self.inner.registry_schema)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?
            .app_role
            .or_else(|| self.inner.app_role.clone());
        let parents: Vec<String> = self
            .inner
            .tables
            .iter()
            .map(|t| t.qualified_name())
            .collect();
        let unsecured: Vec<String> = sqlx::query_scalar(
            "SELECT c.oid::regclass::text \
               FROM pg_inherits i \
               JOIN pg_class p ON p.oid = i.inhparent \
               JOIN pg_class c ON c.oid = i.inhrelid \
              WHERE i.inhparent = ANY (ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) x)) \
                AND ((p.relrowsecurity AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND EXISTS ( \
                        SELECT 1 FROM pg_policy pol \
                         WHERE pol.polrelid = c.oid AND pol.polname = $2 \
                           AND pg_get_expr(pol.polqual, pol.polrelid) LIKE '%current_tenant()%'))) \
                  OR ($3::text IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $3) \
                      AND NOT (has_table_privilege($3, c.oid, 'SELECT') AND has_table_privilege($3, c.oid, 'INSERT') \
                           AND has_table_privilege($3, c.oid, 'UPDATE') AND has_table_privilege($3, c.oid, 'DELETE')))) \
              ORDER BY 1",
        )
        .bind(&parents)
        .bind(tenant_core::schema::POLICY_NAME)
        .bind(app_role)
        .fetch_all(&mut *connection)
        .await?;
        Ok(unsecured)
    }

    /// The registry's tag, which every partition name carries (drawn once
    /// per registry at install).
    pub(crate) async fn registry_tag(&self, pool: &PgPool) -> Result<String, Error> {
        let mut connection = pool.acquire().await?;
        Ok(
            super::settings::read(&mut connection, &self.inner.registry_schema)
                .await
                .map_err(map_registry_error(&self.inner.registry_schema))?
                .tag,
        )
    }

    /// A new handle of tenant `id` in `layout`, whose partitions (or
    /// schema) are named with suffix `suffix`.
    pub(super) fn make_tenant(&self, id: &str, suffix: &str, layout: Layout) -> Tenant {
        Tenant::new(
            id,
            suffix,
            TenantRoutes::new(Arc::clone(&self.inner.router), suffix, layout),
            Arc::clone(&self.inner.session),
            self.inner.database.clone(),
        )
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, CachedTenant>> {
        // The map stays consistent even if a holder panicked.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_get(&self, id: &str) -> Option<CachedTenant> {
        self.cache().get(id).cloned()
    }

    /// Caches `tenant` as just confirmed by the registry.
    pub(super) fn cache_put(&self, tenant: Tenant) {
        let entry = CachedTenant {
            tenant,
            confirmed: Instant::now(),
        };
        self.cache().insert(entry.tenant.id().to_string(), entry);
    }

    /// Forgets the cached handle of `id`, if any.
    pub(super) fn cache_remove(&self, id: &str) {
        self.cache().remove(id);
    }
}
