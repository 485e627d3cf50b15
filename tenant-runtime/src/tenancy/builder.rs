//! [`TenancyBuilder`]: the settings of a [`Tenancy`] and the tables it
//! runs, checked before the tenancy is made.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tenant_core::layout::Layout;
use tenant_core::schema::{
    qualified_name, sort_by_dependencies, TableSchema, MAX_IDENTIFIER_BYTES,
};
use tenant_core::Config;

use super::catalog;
use super::install::{DEFAULT_REGISTRY_SCHEMA, FIND_TENANT};
use super::registry::DEFAULT_TENANT_CACHE_TTL;
use super::session::enter_function;
use super::{Inner, Tenancy};
use crate::error::Error;
use crate::id::TenantIds;
use crate::router::Router;
use crate::routing::{StatementCaching, DEFAULT_STATEMENT_CACHE_CAPACITY};
use crate::table::TenantTable;
use crate::tenant::TenantSession;

/// Builds a [`Tenancy`]: from [`TenantTable`] types, hand-made
/// [`TableSchema`]s, or tables discovered in a database.
#[derive(Debug)]
pub struct TenancyBuilder {
    config: Config,
    tables: Vec<TableSchema>,
    registry_schema: String,
    lock_timeout: Duration,
    retry_budget: Duration,
    row_level_security: bool,
    app_role: Option<String>,
    routing: bool,
    statement_caching: StatementCaching,
    statement_cache_capacity: usize,
    transaction_pooler: bool,
    tenant_cache_ttl: Duration,
    tenant_key: Option<Vec<u8>>,
    allow_invisible_tenant_ids: bool,
    /// The configurations the derives checked their tables against.
    checked_configs: Vec<(&'static str, &'static str)>,
    allow_config_override: bool,
    citus: bool,
    default_layout: Option<Layout>,
}

impl TenancyBuilder {
    /// Where [`Tenancy::onboard`] puts a new tenant: a partition of every
    /// parent ([`Layout::Partition`], the default) or a schema and role of
    /// its own ([`Layout::Schema`]). Without this, the configuration's
    /// `default_layout` decides. One tenancy holds tenants of both layouts;
    /// [`Tenancy::onboard_as`] picks per tenant.
    pub fn default_layout(mut self, layout: Layout) -> Self {
        self.default_layout = Some(layout);
        self
    }

    /// Whether the macros' queries run on the tenant's partitions (`true`,
    /// the default) or on the parents (`false`: the tenancy-wide opt-out;
    /// [`Tenant::via_parents`](crate::Tenant::via_parents) opts out one query). Routing keeps results
    /// identical and avoids the cost of partitioned parents at thousands of
    /// tenants; see the crate docs.
    pub fn routing(mut self, enabled: bool) -> Self {
        self.routing = enabled;
        self
    }

    /// How routed statements use the prepared-statement cache (default
    /// [`StatementCaching::Prepared`]).
    pub fn statement_caching(mut self, caching: StatementCaching) -> Self {
        self.statement_caching = caching;
        self
    }

    /// The per-connection prepared-statement cache capacity that
    /// [`Tenancy::connect_options`] sets (default
    /// [`DEFAULT_STATEMENT_CACHE_CAPACITY`], whose docs give the memory it
    /// costs the server).
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Whether the application's pool connects through a pooler in
    /// transaction mode (PgBouncer's `pool_mode = transaction`, 1.18 and
    /// others that do not track prepared statements). Default `false`.
    ///
    /// Such a pooler hands each transaction, and each statement outside
    /// one, to whichever server connection is free, so a prepared statement
    /// made on one server connection is unknown to the next. With `true`:
    ///
    /// - every statement the tenancy and the macros send is unnamed
    ///   (`persistent(false)`): the routed queries, the queries on the
    ///   parents, the tenant transaction's `set_config`/`enter`, the tenant
    ///   lookup; [`StatementCaching`] is then ignored;
    /// - [`Tenancy::connect_options`] sets sqlx's statement cache capacity
    ///   to 0, whatever [`statement_cache_capacity`](Self::statement_cache_capacity)
    ///   says: an application statement sent without `persistent(false)`
    ///   then fails loudly ("prepared statement sqlx_s_N already exists")
    ///   instead of binding a cached name that is another client's statement
    ///   on that server connection;
    /// - [`Tenancy::tenant`] and [`Tenancy::load_tenant_key`] read the
    ///   registry inside a transaction.
    ///
    /// sqlx sends an unnamed statement in two steps (Parse, Describe, Sync;
    /// then Bind, Execute, Sync), and a transaction pooler may hand the
    /// second step to another server connection unless a transaction is
    /// open. So behind such a pooler, run the macros' queries inside
    /// [`Tenant::begin`](crate::Tenant::begin) (or another transaction),
    /// and keep the administrative operations (install, onboarding,
    /// offboarding, sync: DDL, session advisory locks, `DETACH ..
    /// CONCURRENTLY`) on a direct connection. The book's PgBouncer page has
    /// the measurements and the reasons.
    pub fn behind_transaction_pooler(mut self, behind: bool) -> Self {
        self.transaction_pooler = behind;
        self
    }

    /// Citus mode (default: `citus` in `tenancy.toml`, else `false`): the
    /// database is a Citus coordinator. [`Tenancy::install`] then checks
    /// that the `citus` extension is installed and that Citus can hold
    /// every constraint of the tables (before any DDL:
    /// [`Tenancy::check_citus`]), distributes every tenant parent by its
    /// tenant column, co-located with each other, and makes the global
    /// tables reference tables ([`Tenancy::citus_ddl`]). Offboarding
    /// detaches partitions without `CONCURRENTLY`, which Citus refuses: the
    /// detach takes ACCESS EXCLUSIVE on the parent for its (short)
    /// duration. [`Tenancy::isolate`] and [`Tenancy::move_tenant`] put a
    /// tenant on shards of its own and move them. [`build`](Self::build)
    /// refuses Citus mode with row-level security: Citus 13.2 cannot
    /// distribute the tenant policy. See the book's Citus page.
    pub fn citus(mut self, enabled: bool) -> Self {
        self.citus = enabled;
        self
    }

    /// How long [`Tenancy::tenant`] hands out a cached handle before it
    /// checks the registry again (default [`DEFAULT_TENANT_CACHE_TTL`], 10 s).
    /// An onboarding or offboarding by another process (the `tenant`
    /// command, another server) reaches this one within that time: an
    /// offboarded tenant becomes [`Error::UnknownTenant`], a tenant onboarded
    /// again gets a handle on its new partitions. A check that finds the
    /// tenant unchanged keeps the handle and its rendered SQL.
    /// `Duration::ZERO` checks on every call.
    pub fn tenant_cache_ttl(mut self, ttl: Duration) -> Self {
        self.tenant_cache_ttl = ttl;
        self
    }

    /// Adds row-level security as a second wall: [`Tenancy::install`]
    /// enables and forces it on every parent with a policy admitting only the
    /// rows of the tenant set by [`Tenant::begin`](crate::Tenant::begin), and onboarding puts the
    /// same policy on each new partition. See
    /// [`TableSchema::row_level_security_ddl`].
    ///
    /// Superusers and roles with BYPASSRLS skip every policy: connect the
    /// application as a plain role (see [`app_role`](Self::app_role)).
    pub fn row_level_security(mut self, enabled: bool) -> Self {
        self.row_level_security = enabled;
        self
    }

    /// A non-owner role for the application: [`Tenancy::install`] creates it
    /// when missing (LOGIN, NOSUPERUSER, NOBYPASSRLS, no password: set one
    /// with `ALTER ROLE`, or create the role yourself) and grants it
    /// SELECT/INSERT/UPDATE/DELETE on every parent and partition and SELECT
    /// on the registry; onboarding grants the same on new partitions.
    pub fn app_role(mut self, role: impl Into<String>) -> Self {
        self.app_role = Some(role.into());
        self
    }

    /// Adds the table of a `#[derive(TenantTable)]` type.
    pub fn table<T: TenantTable>(mut self) -> Self {
        self.tables.push(T::schema());
        if let Some(checked) = T::CHECKED_CONFIG {
            self.checked_configs.push((T::TABLE, checked));
        }
        self
    }

    /// Builds the tenancy with its configuration even where it differs
    /// from the one the derived tables were checked against at compile
    /// time (by default [`build`](Self::build) refuses that, naming each
    /// difference). Only for a configuration that changes nothing the
    /// checks relied on, such as `registry_schema`; prefer
    /// `tenancy_config!()`, which is the compiled configuration itself.
    pub fn allow_config_override(mut self, allow: bool) -> Self {
        self.allow_config_override = allow;
        self
    }

    /// Adds a table described by hand.
    pub fn schema(mut self, table: TableSchema) -> Self {
        self.tables.push(table);
        self
    }

    /// Adds several tables described by hand.
    pub fn schemas(mut self, tables: impl IntoIterator<Item = TableSchema>) -> Self {
        self.tables.extend(tables);
        self
    }

    /// Adds every table of the database LIST-partitioned by the tenant column
    /// the configuration gives it (see [`Tenancy::discover`]).
    pub async fn discover(mut self, pool: &PgPool) -> Result<Self, Error> {
        let found = catalog::discover(pool, &self.config, &self.registry_schema).await?;
        self.tables.extend(found);
        Ok(self)
    }

    /// The schema of the registry table (default [`DEFAULT_REGISTRY_SCHEMA`]).
    pub fn registry_schema(mut self, schema: impl Into<String>) -> Self {
        self.registry_schema = schema.into();
        self
    }

    /// How long one DDL statement may wait for a lock before it gives up and
    /// the operation is retried (default 2 s). Short waits keep the
    /// onboarding from sitting in a parent's lock queue.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long an operation keeps retrying after lock timeouts and
    /// deadlocks, with exponential backoff, before it fails with
    /// [`Error::LockTimeout`] (default 30 s).
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// The application's tenant key, for a process that runs tenant
    /// transactions under row-level security but never installs (and whose
    /// role may not read the key): the bytes of the registry's
    /// `tenant_key.app_key`, as [`Tenancy::load_tenant_key`] reads them.
    /// Keep it secret: it lets whoever has it enter any tenant.
    pub fn tenant_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.tenant_key = Some(key.into());
        self
    }

    /// Accept tenant ids with invisible or bidirectional formatting
    /// characters (a zero-width joiner in an emoji, a right-to-left mark in
    /// an Arabic name). Off by default: such characters make two ids that
    /// look the same different tenants.
    pub fn allow_invisible_tenant_ids(mut self, allow: bool) -> Self {
        self.allow_invisible_tenant_ids = allow;
        self
    }

    /// Checks the tables and builds the tenancy.
    pub fn build(self) -> Result<Tenancy, Error> {
        if !self.allow_config_override {
            self.check_config_is_the_checked_one()?;
        }
        if self.registry_schema.is_empty() {
            return Err(Error::Schema("the registry schema name is empty".into()));
        }
        if let Some(role) = &self.app_role {
            if role.is_empty() || role.len() > MAX_IDENTIFIER_BYTES || role.contains('\0') {
                return Err(Error::Schema(format!(
                    "the application role name {role:?} is empty, longer than {MAX_IDENTIFIER_BYTES} bytes or holds a NUL"
                )));
            }
        }
        for (index, table) in self.tables.iter().enumerate() {
            if table.name.is_empty() || table.tenant_column.is_empty() {
                return Err(Error::Schema(format!(
                    "table #{index} has an empty name or tenant column"
                )));
            }
            if self.tables[..index]
                .iter()
                .any(|other| other.name == table.name && other.schema == table.schema)
            {
                return Err(Error::Schema(format!(
                    "table {} is declared twice",
                    table.qualified_name()
                )));
            }
            for fk in &table.foreign_keys {
                let known = self
                    .tables
                    .iter()
                    .any(|other| other.name == fk.ref_table && other.schema == table.schema);
                if !known {
                    return Err(Error::Schema(format!(
                        "{} references {}, which is not a tenant table of this tenancy",
                        table.qualified_name(),
                        qualified_name(table.schema.as_deref(), &fk.ref_table)
                    )));
                }
                if fk.columns.len() != fk.ref_columns.len() || fk.columns.is_empty() {
                    return Err(Error::Schema(format!(
                        "a foreign key of {} has {} columns referencing {}",
                        table.qualified_name(),
                        fk.columns.len(),
                        fk.ref_columns.len()
                    )));
                }
            }
        }
        if self.citus
            && (self.row_level_security || self.tables.iter().any(|t| t.row_level_security))
        {
            // Checked on Citus 13.2: CREATE POLICY on a distributed table
            // fails on the policy's sub-select, so install would stop half
            // way; refuse it here instead.
            return Err(Error::Schema(
                "Citus mode cannot install row-level security: Citus 13.2 refuses the tenant policy on a distributed table (\"unexpected non-SELECT command in SubLink\"); build the tenancy without row_level_security (routing, the analyzer and the guard stay)".into(),
            ));
        }
        let tables: Vec<TableSchema> = sort_by_dependencies(&self.tables)
            .into_iter()
            .cloned()
            .collect();
        let registry = qualified_name(Some(&self.registry_schema), "tenants");
        let router = Arc::new(Router::new(
            self.routing,
            self.statement_caching,
            self.transaction_pooler,
            &tables,
        ));
        // Row-level security on any table means its policies read the
        // verified tenant: tenant transactions enter through the registry.
        let verified = self.row_level_security || tables.iter().any(|t| t.row_level_security);
        let enter_sql =
            verified.then(|| format!("SELECT {}($1, $2)", enter_function(&self.registry_schema)));
        let session = Arc::new(TenantSession {
            enter_schema_sql: TenantSession::schema_enter_sql(enter_sql.as_deref()),
            enter_sql,
            key: std::sync::OnceLock::new(),
            registry_schema: self.registry_schema.clone(),
            persistent: !self.transaction_pooler,
        });
        if let Some(key) = &self.tenant_key {
            let _ = session.key.set(key.clone());
        }
        Ok(Tenancy {
            inner: Arc::new(Inner {
                router,
                statement_cache_capacity: self.statement_cache_capacity,
                transaction_pooler: self.transaction_pooler,
                default_layout: self.default_layout.unwrap_or(self.config.default_layout),
                config: self.config,
                tables,
                lock_timeout: self.lock_timeout,
                retry_budget: self.retry_budget,
                select_tenant: format!(
                    "SELECT partition_suffix, state, layout FROM {registry} WHERE id = $1"
                ),
                lookup_tenant: format!(
                    "SELECT partition_suffix, state, layout FROM {}($1)",
                    qualified_name(Some(&self.registry_schema), FIND_TENANT)
                ),
                registry_sequence: qualified_name(
                    Some(&self.registry_schema),
                    "partition_suffix_seq",
                ),
                registry,
                registry_schema: self.registry_schema,
                registry_ready: AtomicBool::new(false),
                cache: Mutex::new(HashMap::new()),
                tenant_cache_ttl: self.tenant_cache_ttl,
                row_level_security: self.row_level_security,
                app_role: self.app_role,
                citus: self.citus,
                ids: TenantIds {
                    allow_invisible: self.allow_invisible_tenant_ids,
                },
                session,
                given_tenant_key: self.tenant_key,
                database: None,
            }),
        })
    }

    /// The tenancy's configuration is the one every derived table was
    /// checked against, or the error names the table, where its
    /// configuration came from and each key that differs.
    fn check_config_is_the_checked_one(&self) -> Result<(), Error> {
        for (table, checked) in &self.checked_configs {
            let checked = Config::from_embedded(checked)
                .map_err(|e| Error::Schema(format!("table {table}: {e}")))?;
            let differences = checked.differences(&self.config);
            if !differences.is_empty() {
                return Err(Error::ConfigMismatch {
                    table: table.to_string(),
                    differences,
                });
            }
        }
        Ok(())
    }
}

impl Tenancy {
    /// Starts a builder with `config` (which names the tenant column).
    pub fn builder(config: Config) -> TenancyBuilder {
        let registry_schema = config
            .registry_schema
            .clone()
            .unwrap_or_else(|| DEFAULT_REGISTRY_SCHEMA.to_string());
        TenancyBuilder {
            citus: config.citus,
            config,
            tables: Vec::new(),
            registry_schema,
            lock_timeout: Duration::from_secs(2),
            retry_budget: Duration::from_secs(30),
            row_level_security: false,
            app_role: None,
            routing: true,
            statement_caching: StatementCaching::default(),
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            transaction_pooler: false,
            tenant_cache_ttl: DEFAULT_TENANT_CACHE_TTL,
            tenant_key: None,
            checked_configs: Vec::new(),
            allow_config_override: false,
            allow_invisible_tenant_ids: false,
            default_layout: None,
        }
    }

    /// A tenancy over the given tables, with default settings.
    pub fn from_schemas(
        config: Config,
        tables: impl IntoIterator<Item = TableSchema>,
    ) -> Result<Tenancy, Error> {
        Tenancy::builder(config).schemas(tables).build()
    }

    /// A tenancy over every table of the database that is LIST-partitioned
    /// by a single column which the configuration names as that table's
    /// tenant column; the registry schema is left out. Works on a database
    /// the runtime has never seen (tables made with plain SQL).
    pub async fn discover(pool: &PgPool, config: Config) -> Result<Tenancy, Error> {
        Tenancy::builder(config).discover(pool).await?.build()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Error, Tenancy, TenantTable};

    /// Checked against the defaults: tenant-runtime has no tenancy.toml.
    #[derive(TenantTable)]
    #[tenant(table = "notes")]
    #[allow(dead_code)]
    struct Note {
        #[tenant(primary_key)]
        id: i64,
        tenant_id: String,
    }

    #[test]
    fn a_tenancy_with_another_configuration_than_the_checked_one_is_refused_naming_the_keys() {
        let checked = crate::tenancy_config!();
        assert!(Tenancy::builder(checked).table::<Note>().build().is_ok());

        let other =
            Config::from_toml_str("global_tables = [\"plans\"]\nforbid_delete = true\n").unwrap();
        match Tenancy::builder(other.clone()).table::<Note>().build() {
            Err(Error::ConfigMismatch { table, differences }) => {
                assert_eq!(table, "notes");
                assert_eq!(differences.len(), 2, "{differences:?}");
                assert!(
                    differences[0].starts_with("forbid_delete: false != true"),
                    "{differences:?}"
                );
                assert!(
                    differences[1].starts_with("global_tables: [] != [\"plans\"]"),
                    "{differences:?}"
                );
            }
            other => panic!("expected a configuration mismatch, got {other:?}"),
        }
        let citus = Config::from_toml_str("citus = true").unwrap();
        let refused = Tenancy::builder(citus.clone())
            .table::<Note>()
            .allow_config_override(true)
            .row_level_security(true)
            .build();
        assert!(
            matches!(&refused, Err(Error::Schema(m)) if m.contains("row-level security")),
            "{refused:?}"
        );
        assert!(Tenancy::builder(citus)
            .table::<Note>()
            .allow_config_override(true)
            .build()
            .unwrap()
            .citus());
        let allowed = Tenancy::builder(other)
            .table::<Note>()
            .allow_config_override(true)
            .build();
        assert!(allowed.is_ok());
    }
}
