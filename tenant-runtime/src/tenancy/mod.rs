//! [`Tenancy`]: the registry of tenants and the DDL that gives each one its
//! partitions.
//!
//! One type, its methods spread over files by concern (as sqlx-postgres
//! spreads `PgConnection` over `establish.rs`, `executor.rs`, ..). Each file
//! holds one `impl Tenancy` block; this one holds the type itself. From the
//! bottom up:
//!
//! - [`ddl`]: running DDL, mapping PostgreSQL's errors, the lock-timeout
//!   retry and the runtime's advisory locks. Imports nothing else here.
//! - [`catalog`] and [`partition_keys`]: what PostgreSQL's catalog (and the
//!   registry's record of partition keys) says about the tables.
//! - [`settings`]: what the registry records for every process (its tag,
//!   the application role); [`ownership`]: whose partition a table is;
//!   [`session`]: the tenant transaction unchecked SQL cannot switch.
//! - [`held_rows`]: moving a partition's rows aside so that it can detach.
//! - [`registry`]: tenant handles, their cache, `list`, partition status.
//! - [`citus`]: Citus mode: the distribution DDL, the constraints Citus
//!   refuses, tenant isolation and moves.
//! - [`install`]: the registry and the parents, and the record of partition
//!   keys (and, in Citus mode, their distribution).
//! - [`onboard`], [`offboard`] and [`keys`] (sync and key moves): the
//!   operations on tenants.
//! - [`schema_tenants`]: the same operations for tenants in schema layout
//!   (a schema and a role per tenant), which the three above call;
//!   [`relayout`]: a tenant's tables in both layouts for a while, for the
//!   fleet's moves between layouts; [`roles`]: the server-wide roles of
//!   the schema tenants, dropped together before the database is.
//! - [`builder`]: [`TenancyBuilder`](builder::TenancyBuilder), which checks
//!   the tables and makes the `Tenancy`.
//!
//! Each file imports only files listed before it (and this one, for the
//! type), so no module imports one that imports it back; a unit test of the
//! crate (`layering`) keeps it so.

pub(crate) mod builder;
pub(crate) mod catalog;
pub(crate) mod citus;
pub(crate) mod ddl;
pub(crate) mod held_rows;
pub(crate) mod install;
pub(crate) mod keys;
pub(crate) mod offboard;
pub(crate) mod onboard;
pub(crate) mod ownership;
pub(crate) mod partition_keys;
pub(crate) mod registry;
pub(crate) mod relayout;
pub(crate) mod roles;
pub(crate) mod schema_tenants;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod verify;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use tenant_core::layout::Layout;
use tenant_core::schema::TableSchema;
use tenant_core::Config;

use crate::cross_tenant::CrossTenant;
use crate::error::Error;
use crate::id::TenantIds;
use crate::router::Router;
use crate::tenant::{Tenant, TenantSession};

/// The tenancy of one application: its tenant tables (LIST-partitioned
/// parents) and the registry of tenants, with the operations that install,
/// onboard and offboard. Cheap to clone; clones share the tenant cache.
#[derive(Debug, Clone)]
pub struct Tenancy {
    inner: Arc<Inner>,
}

/// What clones of one [`Tenancy`] share: the settings the builder checked,
/// the names derived from them, and the tenant cache.
#[derive(Debug)]
struct Inner {
    config: Config,
    router: Arc<Router>,
    statement_cache_capacity: usize,
    /// [`TenancyBuilder::behind_transaction_pooler`](builder::TenancyBuilder::behind_transaction_pooler).
    transaction_pooler: bool,
    /// Referenced tables before the tables that reference them.
    tables: Vec<TableSchema>,
    registry_schema: String,
    registry: String,
    registry_sequence: String,
    select_tenant: String,
    /// The tenant lookup the application role may run (a definer function:
    /// it reads one tenant, not the whole registry).
    lookup_tenant: String,
    lock_timeout: Duration,
    retry_budget: Duration,
    registry_ready: AtomicBool,
    cache: Mutex<HashMap<String, CachedTenant>>,
    tenant_cache_ttl: Duration,
    row_level_security: bool,
    app_role: Option<String>,
    /// [`TenancyBuilder::citus`](builder::TenancyBuilder::citus).
    citus: bool,
    /// How tenant ids are taken.
    ids: TenantIds,
    /// How tenant transactions name their tenant (shared with the handles).
    session: Arc<TenantSession>,
    /// [`TenancyBuilder::tenant_key`](builder::TenancyBuilder::tenant_key),
    /// which each fleet database's copy of the tenancy starts with.
    given_tenant_key: Option<Vec<u8>>,
    /// The fleet database this copy of the tenancy serves (see
    /// [`Tenancy::for_fleet_database`]); `None` outside a fleet.
    database: Option<Arc<str>>,
    /// [`TenancyBuilder::default_layout`](builder::TenancyBuilder::default_layout),
    /// or the configuration's.
    default_layout: Layout,
}

/// A handle in the tenancy's cache, and when the registry last confirmed it.
#[derive(Debug, Clone)]
struct CachedTenant {
    tenant: Tenant,
    confirmed: Instant,
}

impl Tenancy {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Where [`onboard`](Self::onboard) puts a new tenant (see
    /// [`TenancyBuilder::default_layout`](builder::TenancyBuilder::default_layout)).
    pub fn default_layout(&self) -> Layout {
        self.inner.default_layout
    }

    /// The tenant tables, referenced tables first.
    pub fn tables(&self) -> &[TableSchema] {
        &self.inner.tables
    }

    /// Connect options for the application's pool: `base` with the
    /// prepared-statement cache sized for routed queries (see
    /// [`TenancyBuilder::statement_cache_capacity`](builder::TenancyBuilder::statement_cache_capacity)),
    /// or turned off (capacity 0) for a tenancy
    /// [behind a transaction pooler](builder::TenancyBuilder::behind_transaction_pooler).
    pub fn connect_options(&self, base: PgConnectOptions) -> PgConnectOptions {
        let capacity = if self.inner.transaction_pooler {
            0
        } else {
            self.inner.statement_cache_capacity
        };
        base.statement_cache_capacity(capacity)
    }

    /// Whether this tenancy was built for a pool behind a transaction
    /// pooler (see
    /// [`TenancyBuilder::behind_transaction_pooler`](builder::TenancyBuilder::behind_transaction_pooler)).
    pub fn behind_transaction_pooler(&self) -> bool {
        self.inner.transaction_pooler
    }

    /// The capability to run SQL across every tenant, for `purpose` (a
    /// report, a support tool, a maintenance job), which the log records
    /// with each query. Only `cross_tenant_query!` and its `_as` and
    /// `_scalar` forms accept it; see [`crate::cross_tenant`].
    pub fn cross_tenant(&self, purpose: impl Into<Cow<'static, str>>) -> CrossTenant {
        CrossTenant::new(purpose.into())
    }

    /// A copy of this tenancy for the fleet database `name`: the same
    /// tables, settings and routing, but a tenant cache, registry state and
    /// tenant key of its own (each database has its own registry), and
    /// handles that name the database.
    pub(crate) fn for_fleet_database(&self, name: &str) -> Tenancy {
        let inner = &self.inner;
        let session = Arc::new(TenantSession {
            enter_sql: inner.session.enter_sql.clone(),
            enter_schema_sql: inner.session.enter_schema_sql.clone(),
            key: std::sync::OnceLock::new(),
            registry_schema: inner.session.registry_schema.clone(),
            persistent: inner.session.persistent,
        });
        if let Some(key) = &inner.given_tenant_key {
            let _ = session.key.set(key.clone());
        }
        Tenancy {
            inner: Arc::new(Inner {
                config: inner.config.clone(),
                router: Arc::clone(&inner.router),
                statement_cache_capacity: inner.statement_cache_capacity,
                transaction_pooler: inner.transaction_pooler,
                tables: inner.tables.clone(),
                registry_schema: inner.registry_schema.clone(),
                registry: inner.registry.clone(),
                registry_sequence: inner.registry_sequence.clone(),
                select_tenant: inner.select_tenant.clone(),
                lookup_tenant: inner.lookup_tenant.clone(),
                lock_timeout: inner.lock_timeout,
                retry_budget: inner.retry_budget,
                registry_ready: AtomicBool::new(false),
                cache: Mutex::new(HashMap::new()),
                tenant_cache_ttl: inner.tenant_cache_ttl,
                row_level_security: inner.row_level_security,
                app_role: inner.app_role.clone(),
                citus: inner.citus,
                ids: inner.ids,
                session,
                given_tenant_key: inner.given_tenant_key.clone(),
                database: Some(name.into()),
                default_layout: inner.default_layout,
            }),
        }
    }

    /// [`TenancyBuilder::statement_cache_capacity`](builder::TenancyBuilder::statement_cache_capacity).
    pub(crate) fn statement_cache_capacity(&self) -> usize {
        self.inner.statement_cache_capacity
    }

    /// [`TenancyBuilder::retry_budget`](builder::TenancyBuilder::retry_budget).
    pub(crate) fn retry_budget(&self) -> Duration {
        self.inner.retry_budget
    }

    /// The registry's schema.
    pub(crate) fn registry_schema(&self) -> &str {
        &self.inner.registry_schema
    }

    /// How long a cached tenant handle is trusted.
    pub(crate) fn tenant_cache_ttl(&self) -> Duration {
        self.inner.tenant_cache_ttl
    }

    /// `id` as the tenancy takes it (Unicode normal form C, invisible
    /// characters refused unless allowed), or why not.
    pub(crate) fn accept_id(&self, id: &str) -> Result<String, Error> {
        Ok(self.inner.ids.accept(id)?)
    }

    /// The quoted, qualified names of the tenancy's tables.
    fn qualified_table_names(&self) -> Vec<String> {
        self.inner
            .tables
            .iter()
            .map(TableSchema::qualified_name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::offboard::Offboard;
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    #[allow(dead_code, clippy::diverging_sub_expression)]
    fn futures_are_send(tenancy: Tenancy, pool: PgPool) {
        assert_send(tenancy.onboard(&pool, "x"));
        assert_send(tenancy.offboard(&pool, "x", Offboard::Keep));
        assert_send(tenancy.sync(&pool, |_| {}));
        assert_send(tenancy.tenant(&pool, "x"));
        assert_send(tenancy.list(&pool));
        assert_send(tenancy.install(&pool));
        assert_send(Tenancy::discover(&pool, Config::default()));
    }
}
