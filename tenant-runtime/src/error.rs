//! The runtime's error type.

use std::fmt;
use std::time::Duration;

use crate::id::InvalidTenantId;

/// Everything the runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tenant id is not acceptable (see [`validate_tenant_id`](crate::id::validate_tenant_id)).
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(#[from] InvalidTenantId),
    /// No active tenant has this id (never onboarded, offboarded, or being
    /// offboarded).
    #[error("unknown tenant {id:?}")]
    UnknownTenant {
        /// The id asked for.
        id: String,
    },
    /// A schema of the name a schema tenant's schema gets exists but was not
    /// made for that tenant by this registry; it is never reused.
    #[error(
        "schema {schema:?} already exists and is not this tenant's (its comment does not name it); \
         rename or drop it, or onboard the tenant in partition layout"
    )]
    SchemaConflict {
        /// The schema's name.
        schema: String,
    },
    /// A role of the name a schema tenant's role gets exists already (roles
    /// are server-wide); it is never reused.
    #[error(
        "role {role:?} already exists on this server and was not made for this tenant; \
         rename or drop it before onboarding the tenant in schema layout"
    )]
    RoleConflict {
        /// The role's name.
        role: String,
    },
    /// [`Tenancy::drop_roles`](crate::Tenancy::drop_roles): a schema-tenant
    /// role holds privileges or objects in another database too (a copy
    /// of this one, made with `CREATE DATABASE .. TEMPLATE`, shares the
    /// registry's tag and so its roles), whose schema tenants still need
    /// it; nothing was dropped.
    #[error(
        "role {role:?} still holds privileges or objects in {}: its schema tenants need it; \
         nothing was dropped: drop that database first, then call drop_roles in the last \
         database that uses these roles",
        databases.iter().map(|d| format!("database {d:?}")).collect::<Vec<_>>().join(", ")
    )]
    RolesInUse {
        /// The role.
        role: String,
        /// The other databases where it holds something.
        databases: Vec<String>,
    },
    /// The tenant is registered in another layout than the one asked for.
    #[error(
        "tenant {id:?} is onboarded in {registered} layout, not {requested}; \
         move it between layouts with a fleet move (`MoveOptions::layout`, `tenant move --layout`)"
    )]
    LayoutMismatch {
        /// The tenant.
        id: String,
        /// Its layout in the registry.
        registered: tenant_core::layout::Layout,
        /// The layout asked for.
        requested: tenant_core::layout::Layout,
    },
    /// The tenant is half-way through offboarding: run offboard again to
    /// finish before onboarding it again.
    #[error("tenant {id:?} is being offboarded; run offboard again to finish it first")]
    OffboardInProgress {
        /// The tenant.
        id: String,
    },
    /// A table that should be one of the tenant's partitions exists but is
    /// not attached to the parent (a name clash with a table made by hand).
    #[error("table {table} exists but is not a partition of {parent}; rename or drop it")]
    PartitionConflict {
        /// The parent.
        parent: String,
        /// The clashing table.
        table: String,
    },
    /// The tables given to the tenancy are inconsistent.
    #[error("invalid tenancy schema: {0}")]
    Schema(String),
    /// The registry has not been installed in this database.
    #[error(
        "the tenant registry {schema}.tenants does not exist in this database; install it first: `tenant install` (the command, with this database's URL) or Tenancy::install"
    )]
    NotInstalled {
        /// The registry's schema.
        schema: String,
    },
    /// Lock waits kept timing out (`lock_timeout`) until the retry budget ran
    /// out: something holds a conflicting lock for a long time.
    #[error("{operation} kept hitting lock_timeout; gave up after {attempts} attempts in {elapsed:?}: {last}")]
    LockTimeout {
        /// What was being done.
        operation: String,
        /// How many attempts were made.
        attempts: u32,
        /// Total time spent.
        elapsed: Duration,
        /// PostgreSQL's last message.
        last: String,
    },
    /// Offboarding cannot detach one of the tenant's partitions without
    /// touching rows outside the tenant; the tenant stays offboarding
    /// (unknown to the application) until the cause is fixed and `offboard`
    /// is called again.
    #[error("offboarding tenant {id:?} cannot detach {partition}: {reason}; the tenant stays offboarding until this is fixed and offboard runs again")]
    OffboardBlocked {
        /// The tenant.
        id: String,
        /// The partition that could not be detached.
        partition: String,
        /// Why, with PostgreSQL's message.
        reason: String,
    },
    /// Rows of a tenant's partition break a foreign key of the model that
    /// [`sync`](crate::Tenancy::sync) added to the partition: the key now
    /// refuses new such rows, but the old ones must be fixed or deleted
    /// before it can be validated (run `sync` again then).
    #[error("tenant {id:?}: rows of {partition} break a foreign key of the tenancy ({reason}); the key refuses new such rows already: fix or delete the old ones and run sync again")]
    PartitionKeyViolated {
        /// The tenant.
        id: String,
        /// The partition whose rows break the key.
        partition: String,
        /// PostgreSQL's message.
        reason: String,
    },
    /// A tenant transaction under row-level security needs the application's
    /// tenant key, and this tenancy has not loaded it.
    #[error("the tenant key of registry {schema} is not loaded: install it (`tenant install` or Tenancy::install, which loads it), call Tenancy::load_tenant_key with a connection of the tables' owner, or give it to TenancyBuilder::tenant_key")]
    TenantKeyMissing {
        /// The registry's schema.
        schema: String,
    },
    /// A table named like one of a tenant's partitions belongs to another
    /// tenant (or to nobody the registry knows): the runtime refuses to
    /// attach, detach, drop or change it.
    #[error("{table} is not tenant {tenant:?}'s partition (it is {owner}); the registry and the tables disagree: nothing was changed")]
    PartitionOwnedByAnother {
        /// The tenant the operation was for.
        tenant: String,
        /// The table.
        table: String,
        /// What the catalog says it is (its partition bound, or its comment).
        owner: String,
    },
    /// The tenancy was built with another configuration than the one the
    /// derived tables were checked against at compile time.
    #[error("table {table} was checked at compile time against another configuration than this tenancy's (keys: compiled != given): {}; build the tenancy with tenant_runtime::tenancy_config!() (the compiled configuration), or allow the difference with TenancyBuilder::allow_config_override", differences.join("; "))]
    ConfigMismatch {
        /// The derived table.
        table: String,
        /// Each key that differs, with both values.
        differences: Vec<String>,
    },
    /// The database's tables differ from the models the tenancy was built
    /// with ([`Tenancy::verify`](crate::Tenancy::verify)).
    #[error("the database's schema differs from the models in {} place{}: {}", differences.len(), if differences.len() == 1 { "" } else { "s" }, differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    SchemaDrift {
        /// Every difference, table by table.
        differences: Vec<SchemaDifference>,
    },
    /// Citus mode, but the database has no `citus` extension.
    #[error("Citus mode: the citus extension is not installed in database {database}; on the coordinator, with citus in shared_preload_libraries, run CREATE EXTENSION citus and add the workers (SELECT citus_add_node(host, port)), or build the tenancy without Citus mode")]
    CitusNotInstalled {
        /// The database the tenancy connected to.
        database: String,
    },
    /// Citus mode, and a table has a constraint Citus cannot hold; nothing
    /// was changed.
    #[error("Citus mode: table {table}, constraint {constraint}: {reason}; nothing was changed")]
    CitusUnsupported {
        /// The quoted, qualified table that has the constraint.
        table: String,
        /// The constraint's name.
        constraint: String,
        /// Why Citus cannot hold it, and the fix.
        reason: String,
    },
    /// The fleet sections of the configuration are invalid, or there are
    /// none (see [`crate::fleet`]).
    #[error("fleet configuration: {0}")]
    FleetConfig(#[from] tenant_core::fleet::FleetConfigError),
    /// A fleet was asked for, but the configuration declares no
    /// `[[databases]]`.
    #[error("the configuration declares no `[[databases]]`, so there is no fleet: add a `[[databases]]` entry (name, url_env) per database to tenancy.toml, or use Tenancy with one pool")]
    NotAFleet,
    /// No placement rule places the tenant, or its id is not of the
    /// placement's key type.
    #[error("placement: {0}")]
    Placement(#[from] tenant_core::placement::PlacementError),
    /// A database's URL (from its environment variable) does not parse.
    #[error("the database `{database}`: the URL in ${variable} is not valid: {reason}")]
    InvalidDatabaseUrl {
        /// The database.
        database: String,
        /// The variable holding its URL.
        variable: String,
        /// Why (the URL itself is not repeated: it may hold a password).
        reason: String,
    },
    /// A database of the fleet does not answer within the connect timeout.
    /// Its tenants get this error until it is back; tenants of the other
    /// databases are not affected.
    #[error("the database `{database}` is unreachable: {reason}")]
    DatabaseUnavailable {
        /// The database's name in `[[databases]]`.
        database: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// A name that is not one of the fleet's databases.
    #[error("no database `{name}` in this fleet's `[[databases]]` (it has: {})", known.join(", "))]
    UnknownDatabase {
        /// The name given.
        name: String,
        /// The fleet's databases.
        known: Vec<String>,
    },
    /// The tenant already lives on another database of the fleet.
    #[error("tenant {id:?} lives on the database `{database}`, not `{requested}`; move it (Fleet::move_tenant, `tenant move`) instead of onboarding it again")]
    TenantPlacedElsewhere {
        /// The tenant.
        id: String,
        /// Where the directory places it.
        database: String,
        /// Where it was asked to go.
        requested: String,
    },
    /// A tenant handle that does not belong to a fleet database.
    #[error("tenant {id:?}'s handle is not from a fleet (Fleet::tenant gives handles that know their database)")]
    NotAFleetTenant {
        /// The tenant.
        id: String,
    },
    /// Two databases of a fleet have registries with the same tag, so their
    /// partition names could coincide; nothing was changed.
    #[error("the registries of the databases `{first}` and `{second}` share the tag {tag:?}, so a routed query could name the same partition on both; these are one database listed twice, or a copy of one another: give each database of the fleet its own")]
    SharedRegistryTag {
        /// One database.
        first: String,
        /// The other.
        second: String,
        /// The tag.
        tag: String,
    },
    /// A tenant move that cannot be made; nothing was changed.
    #[error("cannot move tenant {id:?}: {reason}")]
    MoveRefused {
        /// The tenant.
        id: String,
        /// Why.
        reason: String,
    },
    /// Another mover is moving this tenant right now.
    #[error("tenant {id:?} is being moved by another process; wait for it, or run the move again once that process is gone (it resumes)")]
    MoveInProgress {
        /// The tenant.
        id: String,
    },
    /// A move stopped after one of its steps (the test hook of
    /// `MoveOptions::stop_after`); running it again resumes it.
    #[error("the move of tenant {id:?} stopped after step {step}; run it again to resume")]
    MoveInterrupted {
        /// The tenant.
        id: String,
        /// The last step done.
        step: String,
    },
    /// Behind the fence, a table's rows differ between source and target;
    /// the fence was lifted and the move goes back to a fresh copy when run
    /// again. The directory still names the source.
    #[error("the move of tenant {id:?} did not verify: table {table} has {on_source} on the source and {on_target} on the target; the source keeps serving it and the next run copies again")]
    MoveVerifyFailed {
        /// The tenant.
        id: String,
        /// The parent whose partitions differ.
        table: String,
        /// Rows and checksum on the source.
        on_source: String,
        /// Rows and checksum on the target.
        on_target: String,
    },
    /// An error from PostgreSQL or the connection.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// `true` for the errors a retry can cure: lock timeouts, deadlocks and
    /// serialization failures.
    pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                Some("55P03") | Some("40P01") | Some("40001")
            ),
            _ => false,
        }
    }
}

/// One difference between a model and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDifference {
    /// The table, qualified as the runtime names it.
    pub table: String,
    /// The column, when the difference is about one.
    pub column: Option<String>,
    /// What differs, with both sides.
    pub problem: String,
}

impl fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "{}.{column}: {}", self.table, self.problem),
            None => write!(f, "{}: {}", self.table, self.problem),
        }
    }
}
