//! [`Tenancy`]: the registry of tenants and the DDL that gives each one its
//! partitions.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool, Postgres, Row};
use tenant_core::schema::{
    qualified_name, quote_ident, quote_literal, sort_by_dependencies, ForeignKey, TableSchema,
    MAX_IDENTIFIER_BYTES,
};
use tenant_core::Config;

use crate::catalog;
use crate::held_rows;
use crate::id::validate_tenant_id;
use crate::partition_keys;
use crate::routing::{Router, StatementCaching, TenantRoutes, DEFAULT_STATEMENT_CACHE_CAPACITY};
use crate::{Error, Tenant, TenantTable};

/// The schema that holds the registry unless configured otherwise.
pub const DEFAULT_REGISTRY_SCHEMA: &str = "tenancy";

/// First key of every advisory lock the runtime takes (`'tena'`), so its locks
/// do not collide with an application's own single-key advisory locks.
const LOCK_CLASS: i32 = 0x7465_6e61;

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
    fn parse(text: &str) -> TenantState {
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
    /// When it was onboarded (PostgreSQL's text form of a `timestamptz`).
    pub created_at: String,
}

/// What to do with a tenant's partitions when it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offboard {
    /// Detach them and keep them as standalone, read-only archive tables
    /// (a `COMMENT` names the tenant; a `CHECK (false) NOT VALID` constraint
    /// named `tenancy_archived` refuses new rows, so a stale handle's routed
    /// write fails instead of landing in the archive).
    Keep,
    /// Detach and drop them.
    Drop,
}

/// The result of [`Tenancy::onboard`].
#[derive(Debug, Clone)]
pub struct OnboardOutcome {
    /// The tenant's handle.
    pub tenant: Tenant,
    /// The partitions created by this call (unquoted names); empty when the
    /// tenant was already fully onboarded.
    pub created_partitions: Vec<String>,
}

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
}

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
    tenant_cache_ttl: Duration,
}

/// How long [`Tenancy::tenant`] serves a cached handle before it reads the
/// registry again, unless [`TenancyBuilder::tenant_cache_ttl`] says otherwise.
///
/// Why: onboarding and offboarding often run in another process (the
/// `tenant` command, another application server). Without a bound, a
/// process would keep routing an offboarded tenant to its archive, and a
/// tenant offboarded and onboarded again to its old partitions, until it
/// restarts. Re-reading costs one primary-key lookup in the registry per
/// tenant and interval.
pub const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(10);

impl TenancyBuilder {
    /// Whether the macros' queries run on the tenant's partitions (`true`,
    /// the default) or on the parents (`false`: the tenancy-wide opt-out;
    /// [`Tenant::via_parents`] opts out one query). Routing keeps results
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
    /// rows of the tenant set by [`Tenant::begin`], and onboarding puts the
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

    /// Checks the tables and builds the tenancy.
    pub fn build(self) -> Result<Tenancy, Error> {
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
        let tables: Vec<TableSchema> = sort_by_dependencies(&self.tables)
            .into_iter()
            .cloned()
            .collect();
        let registry = qualified_name(Some(&self.registry_schema), "tenants");
        let router = Arc::new(Router::new(self.routing, self.statement_caching, &tables));
        Ok(Tenancy {
            inner: Arc::new(Inner {
                router,
                statement_cache_capacity: self.statement_cache_capacity,
                config: self.config,
                tables,
                lock_timeout: self.lock_timeout,
                retry_budget: self.retry_budget,
                select_tenant: format!(
                    "SELECT partition_suffix, state FROM {registry} WHERE id = $1"
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
            }),
        })
    }
}

/// The tenancy of one application: its tenant tables (LIST-partitioned
/// parents) and the registry of tenants, with the operations that install,
/// onboard and offboard. Cheap to clone; clones share the tenant cache.
#[derive(Debug, Clone)]
pub struct Tenancy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    router: Arc<Router>,
    statement_cache_capacity: usize,
    /// Referenced tables before the tables that reference them.
    tables: Vec<TableSchema>,
    registry_schema: String,
    registry: String,
    registry_sequence: String,
    select_tenant: String,
    lock_timeout: Duration,
    retry_budget: Duration,
    registry_ready: AtomicBool,
    cache: Mutex<HashMap<String, CachedTenant>>,
    tenant_cache_ttl: Duration,
    row_level_security: bool,
    app_role: Option<String>,
}

/// A handle in the tenancy's cache, and when the registry last confirmed it.
#[derive(Debug, Clone)]
struct CachedTenant {
    tenant: Tenant,
    confirmed: Instant,
}

/// Where one partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionStatus {
    Missing,
    Attached {
        detach_pending: bool,
    },
    /// Exists but is not a partition of the parent.
    Standalone,
}

async fn partition_status(
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

/// Turns "relation does not exist" from a registry query into
/// [`Error::NotInstalled`].
fn map_registry_error(schema: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |error| match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Error::NotInstalled {
            schema: schema.to_string(),
        },
        _ => Error::Database(error),
    }
}

/// PostgreSQL's message with its DETAIL line (which names the key and the
/// rows), for errors that carry it in a reason string.
fn message_with_detail(error: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = error else {
        return error.to_string();
    };
    match db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.detail())
    {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    }
}

/// `true` for PostgreSQL's foreign_key_violation (23503).
fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}

/// Runs DDL without preparing it (per-tenant DDL would only fill the
/// connection's statement cache).
pub(crate) async fn execute_ddl(
    connection: &mut PgConnection,
    sql: &str,
) -> Result<(), sqlx::Error> {
    tracing::debug!(sql, "tenancy ddl");
    // A bare `&str` runs through the simple-query protocol: no prepared
    // statement, no cache entry.
    sqlx::Executor::execute(&mut *connection, sql).await?;
    Ok(())
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

/// The constraint that makes a kept archive read-only.
const ARCHIVED_CONSTRAINT: &str = "tenancy_archived";

/// Marks a detached partition as an archive: a comment, and a `CHECK
/// (false) NOT VALID` that refuses every new or updated row, so a stale
/// tenant handle (held across the offboarding) cannot write into the archive
/// through a routed query. Its rows stay readable. Idempotent, for resumed
/// offboardings.
async fn archive(
    connection: &mut PgConnection,
    partition: &str,
    comment: &str,
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
    Ok(())
}

/// Retries an operation on lock timeouts, deadlocks and serialization
/// failures, with exponential backoff and jitter, within a time budget.
struct Retry {
    operation: String,
    started: Instant,
    attempts: u32,
    budget: Duration,
}

impl Retry {
    fn new(operation: String, budget: Duration) -> Retry {
        Retry {
            operation,
            started: Instant::now(),
            attempts: 0,
            budget,
        }
    }

    /// Waits before the next attempt, or turns `error` into the final error.
    async fn failed(&mut self, error: Error) -> Result<(), Error> {
        self.attempts += 1;
        let sql_error = match &error {
            Error::Database(sql_error) if Error::is_transient(sql_error) => sql_error,
            _ => return Err(error),
        };
        let elapsed = self.started.elapsed();
        let exponent = self.attempts.min(6);
        let ceiling = Duration::from_millis(20 << exponent).min(Duration::from_secs(1));
        // Jitter spreads out contenders that timed out together.
        let pause = ceiling.mul_f64(0.5 + fastrand::f64() * 0.5);
        if elapsed + pause > self.budget {
            return Err(Error::LockTimeout {
                operation: self.operation.clone(),
                attempts: self.attempts,
                elapsed,
                last: sql_error.to_string(),
            });
        }
        tracing::info!(
            operation = %self.operation,
            attempt = self.attempts,
            error = %sql_error,
            "lock wait timed out; retrying after {pause:?}"
        );
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

impl Tenancy {
    /// Starts a builder with `config` (which names the tenant column).
    pub fn builder(config: Config) -> TenancyBuilder {
        TenancyBuilder {
            config,
            tables: Vec::new(),
            registry_schema: DEFAULT_REGISTRY_SCHEMA.to_string(),
            lock_timeout: Duration::from_secs(2),
            retry_budget: Duration::from_secs(30),
            row_level_security: false,
            app_role: None,
            routing: true,
            statement_caching: StatementCaching::default(),
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            tenant_cache_ttl: DEFAULT_TENANT_CACHE_TTL,
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

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The tenant tables, referenced tables first.
    pub fn tables(&self) -> &[TableSchema] {
        &self.inner.tables
    }

    fn registry_ddl(&self) -> Vec<String> {
        let inner = &self.inner;
        vec![
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(&inner.registry_schema)
            ),
            format!("CREATE SEQUENCE IF NOT EXISTS {}", inner.registry_sequence),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    \
                 id text PRIMARY KEY,\n    \
                 partition_suffix text NOT NULL UNIQUE,\n    \
                 state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'offboarding')),\n    \
                 created_at timestamptz NOT NULL DEFAULT now(),\n    \
                 updated_at timestamptz NOT NULL DEFAULT now()\n)",
                inner.registry
            ),
            // Why: keys between a tenant's partitions live on the partitions,
            // not the parents, so the catalog alone cannot tell a later
            // discovery (the `tenant` command) which keys a new tenant's
            // partitions need. `install` records them here.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    \
                 table_schema text NOT NULL,\n    \
                 table_name text NOT NULL,\n    \
                 columns text[] NOT NULL,\n    \
                 ref_table text NOT NULL,\n    \
                 ref_columns text[] NOT NULL\n)",
                catalog::partition_keys_table(&inner.registry_schema)
            ),
        ]
    }

    /// Statements that record the foreign keys of `table`'s partitions in
    /// the registry (replacing what an earlier install recorded), so that
    /// discovery finds them again.
    fn record_partition_keys_ddl(&self, table: &TableSchema) -> Vec<String> {
        let keys = catalog::partition_keys_table(&self.inner.registry_schema);
        // An unqualified table lives in the installing session's schema.
        let schema = table
            .schema
            .as_deref()
            .map_or_else(|| "current_schema()".to_string(), quote_literal);
        let name = quote_literal(&table.name);
        let array = |items: &[String]| {
            let items: Vec<String> = items.iter().map(|item| quote_literal(item)).collect();
            format!("ARRAY[{}]::text[]", items.join(", "))
        };
        let mut statements = vec![format!(
            "DELETE FROM {keys} WHERE table_schema = {schema} AND table_name = {name}"
        )];
        statements.extend(table.foreign_keys.iter().map(|key| {
            format!(
                "INSERT INTO {keys} VALUES ({schema}, {name}, {}, {}, {})",
                array(&key.columns),
                quote_literal(&key.ref_table),
                array(&key.ref_columns)
            )
        }));
        statements
    }

    /// The statements [`install`](Self::install) runs, in order: the
    /// registry, then each parent with its indexes, the record of its
    /// partitions' foreign keys (which discovery reads back), and its
    /// row-level security, when enabled. All idempotent. Creating the application
    /// role, when one is configured, is not listed: it depends on whether the
    /// role exists.
    pub fn install_ddl(&self) -> Vec<String> {
        let mut statements = self.registry_ddl();
        for table in &self.inner.tables {
            statements.extend(table.parent_ddl());
            statements.extend(self.record_partition_keys_ddl(table));
            if self.inner.row_level_security || table.row_level_security {
                statements.extend(table.row_level_security_ddl());
            }
        }
        if let Some(role) = &self.inner.app_role {
            statements.extend(self.app_role_grants(role));
        }
        statements
    }

    /// Grants of the application role on the registry and every parent.
    fn app_role_grants(&self, role: &str) -> Vec<String> {
        let role = quote_ident(role);
        let mut schemas: Vec<String> = vec![quote_ident(&self.inner.registry_schema)];
        for table in &self.inner.tables {
            let schema = quote_ident(table.schema.as_deref().unwrap_or("public"));
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
        }
        let mut grants: Vec<String> = schemas
            .iter()
            .map(|schema| format!("GRANT USAGE ON SCHEMA {schema} TO {role}"))
            .collect();
        grants.push(format!("GRANT SELECT ON {} TO {role}", self.inner.registry));
        grants.push(format!(
            "GRANT SELECT ON {} TO {role}",
            catalog::partition_keys_table(&self.inner.registry_schema)
        ));
        for table in &self.inner.tables {
            grants.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role}",
                table.qualified_name()
            ));
        }
        grants
    }

    /// Creates the application role when it does not exist yet.
    async fn create_app_role(&self, pool: &PgPool, role: &str) -> Result<(), Error> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(pool)
                .await?;
        if exists {
            return Ok(());
        }
        let create = format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
            quote_ident(role)
        );
        match sqlx::Executor::execute(pool, create.as_str()).await {
            Ok(_) => Ok(()),
            // Another installer created it between the check and here.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn run_locked_ddl(&self, pool: &PgPool, statements: &[String]) -> Result<(), Error> {
        let mut transaction = pool.begin().await?;
        // Concurrent `CREATE .. IF NOT EXISTS` of the same object can still
        // fail on a catalog unique index: serialize installers.
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(LOCK_CLASS)
            .execute(&mut *transaction)
            .await?;
        for statement in statements {
            execute_ddl(&mut transaction, statement).await?;
        }
        transaction.commit().await?;
        self.inner.registry_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Creates the registry and the parent tables (and their indexes) that do
    /// not exist yet, in one transaction. Idempotent.
    pub async fn install(&self, pool: &PgPool) -> Result<(), Error> {
        if let Some(role) = &self.inner.app_role {
            self.create_app_role(pool, role).await?;
        }
        self.run_locked_ddl(pool, &self.install_ddl()).await?;
        tracing::info!(tables = self.inner.tables.len(), "tenancy installed");
        Ok(())
    }

    async fn ensure_registry(&self, pool: &PgPool) -> Result<(), Error> {
        if !self.inner.registry_ready.load(Ordering::Acquire) {
            self.run_locked_ddl(pool, &self.registry_ddl()).await?;
        }
        Ok(())
    }

    fn lock_timeout_setting(&self) -> String {
        format!("{}ms", self.inner.lock_timeout.as_millis().max(1))
    }

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

    async fn onboard_once(&self, pool: &PgPool, id: &str) -> Result<OnboardOutcome, Error> {
        let inner = &self.inner;
        let mut transaction = self.tenant_transaction(pool, id).await?;
        let existing: Option<(String, String)> = sqlx::query_as(&inner.select_tenant)
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?;
        let suffix = match existing {
            Some((_, state)) if TenantState::parse(&state) == TenantState::Offboarding => {
                return Err(Error::OffboardInProgress { id: id.to_string() });
            }
            Some((suffix, _)) => suffix,
            None => {
                let number: i64 = sqlx::query_scalar(&format!(
                    "SELECT nextval({})",
                    quote_literal(&inner.registry_sequence)
                ))
                .fetch_one(&mut *transaction)
                .await?;
                let suffix = format!("t{number}");
                sqlx::query(&format!(
                    "INSERT INTO {} (id, partition_suffix, state) VALUES ($1, $2, 'active')",
                    inner.registry
                ))
                .bind(id)
                .bind(&suffix)
                .execute(&mut *transaction)
                .await?;
                suffix
            }
        };

        // Which partitions are missing: only those need the parents locked
        // and the record of partition keys read (a sync of an onboarded
        // tenant reads neither).
        let mut missing = Vec::new();
        for (index, table) in inner.tables.iter().enumerate() {
            let parent = table.qualified_name();
            let partition = table.qualified_partition_name(&suffix);
            match partition_status(&mut transaction, &parent, &partition).await? {
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
        let mut created = Vec::new();
        if !missing.is_empty() {
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
                &mut transaction,
                &format!(
                    "LOCK TABLE ONLY {} IN ACCESS SHARE MODE",
                    parents.join(", ONLY ")
                ),
            )
            .await?;
            // Same tables in the same order, recorded keys added.
            let tables = self.tables_with_recorded_keys(&mut transaction).await?;
            for (table, parent) in missing.iter().map(|&index| &tables[index]).zip(parents) {
                let partition = table.qualified_partition_name(&suffix);
                let ddl = table.partition_ddl(&suffix, id);
                for step in ddl.steps() {
                    execute_ddl(&mut transaction, step).await?;
                }
                share_identity_sequences(&mut transaction, &parent, &partition).await?;
                // The partition is new and seen by no one else yet: securing it
                // here takes no lock any other tenant waits on.
                if inner.row_level_security || table.row_level_security {
                    for step in table.partition_row_level_security_ddl(&suffix) {
                        execute_ddl(&mut transaction, &step).await?;
                    }
                }
                if let Some(role) = &inner.app_role {
                    let grant = format!(
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON {partition} TO {}",
                        quote_ident(role)
                    );
                    execute_ddl(&mut transaction, &grant).await?;
                }
                created.push(ddl.partition);
            }
        }
        transaction.commit().await?;
        Ok(OnboardOutcome {
            tenant: self.make_tenant(id, &suffix),
            created_partitions: created,
        })
    }

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
    /// the kept rows go back; each step is one transaction. Row triggers on
    /// the partition see that delete. When rows outside the tenant
    /// reference the tenant's rows, or deleting could change them (an ON
    /// DELETE action of a key from outside the tenancy), nothing is moved:
    /// [`Error::OffboardBlocked`] names the cause, and the tenant stays
    /// offboarding until it is fixed and `offboard` runs again.
    ///
    /// The cached handle is dropped from this `Tenancy` at once; other
    /// processes' [`Tenancy::tenant`] find the tenant unknown once their
    /// cached handle is older than [`TenancyBuilder::tenant_cache_ttl`].
    pub async fn offboard(&self, pool: &PgPool, id: &str, mode: Offboard) -> Result<(), Error> {
        validate_tenant_id(id)?;
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

    async fn offboard_on(
        &self,
        connection: &mut PgConnection,
        id: &str,
        mode: Offboard,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        let mut retry = Retry::new(format!("offboarding tenant {id:?}"), inner.retry_budget);
        execute_ddl(
            connection,
            &format!(
                "SET lock_timeout = {}",
                quote_literal(&self.lock_timeout_setting())
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
                Ok(_) => break,
                Err(error) => retry.failed(error.into()).await?,
            }
        }

        let existing: Option<(String, String)> = sqlx::query_as(&inner.select_tenant)
            .bind(id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?;
        let Some((suffix, state)) = existing else {
            return Err(Error::UnknownTenant { id: id.to_string() });
        };
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

        let partitions: Vec<String> = inner
            .tables
            .iter()
            .map(|t| t.qualified_partition_name(&suffix))
            .collect();
        // Referencing tables first: a referenced partition cannot leave while
        // rows of an attached partition point into it.
        for table in inner.tables.iter().rev() {
            let parent = table.qualified_name();
            let partition = table.qualified_partition_name(&suffix);
            let mut moves_aside = 0;
            loop {
                let step = match partition_status(connection, &parent, &partition).await {
                    Ok(PartitionStatus::Attached { detach_pending }) => {
                        let how = if detach_pending {
                            "FINALIZE"
                        } else {
                            "CONCURRENTLY"
                        };
                        execute_ddl(
                            connection,
                            &format!("ALTER TABLE {parent} DETACH PARTITION {partition} {how}"),
                        )
                        .await
                    }
                    Ok(_) => break,
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
                                &suffix,
                                mode,
                                moves_aside,
                                refusal,
                            )
                            .await;
                        match moved {
                            Ok(()) => moves_aside += 1,
                            Err(Error::Database(error)) => {
                                retry.failed(Error::Database(error)).await?
                            }
                            Err(error) => return Err(error),
                        }
                    }
                    Err(error) => retry.failed(error.into()).await?,
                }
            }
            // Foreign keys declared on a parent stay on the detached table,
            // still pointing at the referenced parent, which no longer holds
            // this tenant's rows: drop them (keys between the tenant's own
            // partitions stay and keep the archive consistent).
            loop {
                match self
                    .drop_outside_foreign_keys(connection, &partition, &partitions)
                    .await
                {
                    Ok(()) => break,
                    Err(error) => retry.failed(error.into()).await?,
                }
            }
        }

        // Rows moved aside so that their partition could detach go back
        // (referenced tables first), or go with a dropped tenant.
        for table in &inner.tables {
            let partition = table.qualified_partition_name(&suffix);
            let held = held_rows::held_table(&inner.registry_schema, table, &suffix);
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

        let existing: Vec<&String> = {
            let mut existing = Vec::new();
            for partition in &partitions {
                if catalog::relation_exists(&mut *connection, partition).await? {
                    existing.push(partition);
                }
            }
            existing
        };
        loop {
            let step = match mode {
                Offboard::Drop if !existing.is_empty() => {
                    let list: Vec<&str> = existing.iter().map(|s| s.as_str()).collect();
                    execute_ddl(
                        connection,
                        &format!("DROP TABLE IF EXISTS {}", list.join(", ")),
                    )
                    .await
                }
                Offboard::Drop => Ok(()),
                Offboard::Keep => {
                    let comment = quote_literal(&format!("tenancy archive of tenant {id}"));
                    let mut result = Ok(());
                    for partition in &existing {
                        result = archive(connection, partition, &comment).await;
                        if result.is_err() {
                            break;
                        }
                    }
                    result
                }
            };
            match step {
                Ok(()) => break,
                Err(error) => retry.failed(error.into()).await?,
            }
        }

        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", inner.registry))
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
            held_rows::KeysIntoParent::SelfReferencing if earlier_moves < 3 => {
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

    /// Drops the top-level foreign keys of a detached partition that point
    /// outside the tenant's own partitions (their per-partition clones,
    /// `conparentid <> 0`, cannot be dropped alone and go with them).
    async fn drop_outside_foreign_keys(
        &self,
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

    /// Brings every active tenant up to the model, reporting progress after
    /// each tenant: creates its missing partitions (after a table was added
    /// to the tenancy), and adds to its existing partitions the foreign keys
    /// of the model they lack (after a key was added to a table). A key is
    /// added `NOT VALID` (a catalog update under SHARE ROW EXCLUSIVE on the
    /// tenant's two partitions), then validated under locks that let the
    /// tenant's queries run; rows that break it stop the sync with
    /// [`Error::PartitionKeyViolated`], and the next sync validates it.
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
            let (created, keys_added) = match self.onboard(pool, &id).await {
                Ok(outcome) => {
                    let suffix = outcome.tenant.partition_suffix();
                    let keys_added = self
                        .add_missing_partition_keys(pool, &id, suffix, &tables)
                        .await?;
                    (outcome.created_partitions.len(), keys_added)
                }
                // Offboarded meanwhile: nothing to do.
                Err(Error::OffboardInProgress { .. }) => (0, 0),
                Err(error) => return Err(error),
            };
            report.tenants += 1;
            report.partitions_created += created;
            report.keys_added += keys_added;
            progress(&SyncProgress {
                done: index + 1,
                total,
                tenant: id,
                created,
                keys_added,
            });
        }
        tracing::info!(
            tenants = report.tenants,
            partitions = report.partitions_created,
            keys = report.keys_added,
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
        let inner = &self.inner;
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
            let mut retry = Retry::new(
                format!("dropping foreign key {name:?} of {parent}"),
                inner.retry_budget,
            );
            loop {
                let step = async {
                    let mut transaction = pool.begin().await?;
                    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
                        .bind(self.lock_timeout_setting())
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
                    Ok(()) => break,
                    Err(error) => retry.failed(error.into()).await?,
                }
            }
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
            if tenant.state == TenantState::Active && !done.contains(&tenant.id) {
                added += self
                    .add_missing_partition_keys(pool, &tenant.id, &tenant.partition_suffix, tables)
                    .await?;
                done.insert(tenant.id);
            }
        }
        Ok(added)
    }

    /// The tenancy's tables, plus the partition keys recorded in the
    /// registry that this tenancy's own model lacks: keys that
    /// [`move_parent_keys`](Self::move_parent_keys) moved after this tenancy
    /// was built. So a process that built its tenancy before a move still
    /// gives new partitions the moved keys. A recorded key is taken only
    /// when it references its own table or one that comes before it (whose
    /// partition exists by the time the key is added).
    async fn tables_with_recorded_keys(
        &self,
        connection: &mut PgConnection,
    ) -> Result<std::borrow::Cow<'_, [TableSchema]>, Error> {
        let tables = self.inner.tables.as_slice();
        let recorded =
            catalog::recorded_partition_keys(&mut *connection, &self.inner.registry_schema).await?;
        if recorded.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(tables));
        }
        // Where an unqualified table lives (as recorded by install).
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&mut *connection)
            .await?;
        let mut merged: Option<Vec<TableSchema>> = None;
        for key in recorded {
            let position = |name: &str| {
                tables.iter().position(|table| {
                    table.name == name && table.schema.as_deref().unwrap_or(&schema) == key.schema
                })
            };
            let (Some(at), Some(referenced_at)) = (position(&key.name), position(&key.ref_table))
            else {
                continue;
            };
            let foreign_key = ForeignKey {
                columns: key.columns,
                ref_table: key.ref_table,
                ref_columns: key.ref_columns,
            };
            if tables[at].foreign_keys.contains(&foreign_key) {
                continue;
            }
            if referenced_at > at {
                tracing::warn!(
                    table = %tables[at].qualified_name(),
                    references = %foreign_key.ref_table,
                    "a recorded partition key references a table this tenancy creates later; \
                     build the tenancy again (Tenancy::discover) to give new partitions this key"
                );
                continue;
            }
            let merged = merged.get_or_insert_with(|| tables.to_vec());
            if !merged[at].foreign_keys.contains(&foreign_key) {
                merged[at].foreign_keys.push(foreign_key);
            }
        }
        Ok(merged.map_or(std::borrow::Cow::Borrowed(tables), std::borrow::Cow::Owned))
    }

    /// The quoted, qualified names of the tenancy's tables.
    fn qualified_table_names(&self) -> Vec<String> {
        self.inner
            .tables
            .iter()
            .map(TableSchema::qualified_name)
            .collect()
    }

    /// What [`move_parent_keys`](Self::move_parent_keys) would do, without
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
        let mut transaction = self.tenant_transaction(pool, id).await?;
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
        let mut transaction = self.tenant_transaction(pool, id).await?;
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

    /// A transaction holding tenant `id`'s advisory lock (so it does not
    /// interleave with an onboarding or offboarding of the tenant) with the
    /// tenancy's lock timeout. Waiting for the advisory lock is not under
    /// lock_timeout: its holder is itself bounded.
    async fn tenant_transaction(
        &self,
        pool: &PgPool,
        id: &str,
    ) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
        let mut transaction = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(self.lock_timeout_setting())
            .execute(&mut *transaction)
            .await?;
        Ok(transaction)
    }

    /// The handle of an active tenant, from the cache or the registry.
    /// A tenant never onboarded, offboarded or being offboarded is
    /// [`Error::UnknownTenant`].
    ///
    /// A cached handle is handed out for [`TenancyBuilder::tenant_cache_ttl`]
    /// after the registry last confirmed it; then the registry is read
    /// again, so onboarding and offboarding by other processes reach this
    /// one within that time.
    pub async fn tenant(&self, pool: &PgPool, id: &str) -> Result<Tenant, Error> {
        validate_tenant_id(id)?;
        let cached = self.cache_get(id);
        if let Some(entry) = &cached {
            if entry.confirmed.elapsed() < self.inner.tenant_cache_ttl {
                return Ok(entry.tenant.clone());
            }
        }
        let found: Option<(String, String)> = sqlx::query_as(&self.inner.select_tenant)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?;
        match found {
            Some((suffix, state)) if TenantState::parse(&state) == TenantState::Active => {
                // Unchanged: keep the handle, whose SQL is rendered already.
                let tenant = match cached {
                    Some(entry) if entry.tenant.partition_suffix() == suffix => entry.tenant,
                    _ => self.make_tenant(id, &suffix),
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
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(&format!(
            "SELECT id, partition_suffix, state, created_at::text FROM {} ORDER BY id",
            self.inner.registry
        ))
        .fetch_all(pool)
        .await
        .map_err(map_registry_error(&self.inner.registry_schema))?;
        Ok(rows
            .into_iter()
            .map(|(id, partition_suffix, state, created_at)| TenantRecord {
                id,
                partition_suffix,
                state: TenantState::parse(&state),
                created_at,
            })
            .collect())
    }

    /// Connect options for the application's pool: `base` with the
    /// prepared-statement cache sized for routed queries (see
    /// [`TenancyBuilder::statement_cache_capacity`]).
    pub fn connect_options(&self, base: PgConnectOptions) -> PgConnectOptions {
        base.statement_cache_capacity(self.inner.statement_cache_capacity)
    }

    fn make_tenant(&self, id: &str, suffix: &str) -> Tenant {
        Tenant::new(
            id,
            suffix,
            TenantRoutes::new(Arc::clone(&self.inner.router), suffix),
        )
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedTenant>> {
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
    fn cache_put(&self, tenant: Tenant) {
        let entry = CachedTenant {
            tenant,
            confirmed: Instant::now(),
        };
        self.cache().insert(entry.tenant.id().to_string(), entry);
    }

    fn cache_remove(&self, id: &str) {
        self.cache().remove(id);
    }
}

#[cfg(test)]
mod tests {
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
