//! [`Fleet`]: tenants spread over several PostgreSQL databases, on one
//! server or many, each query sent to its tenant's database with no proxy.
//!
//! The databases, the placement rules and the budgets come from
//! `tenancy.toml` (`[[databases]]`, `[placement]`, `[fleet]`; see
//! [`tenant_core::fleet`]). Each database holds a registry and parents of
//! its own, exactly as a tenancy of one database does; the fleet adds:
//!
//! - **the directory**: each tenant's database, in a table of the registry
//!   of one database (`fleet.directory`, the first by default). Onboarding
//!   writes it, so a later change of the rules moves no existing tenant.
//!   Lookup order: the directory, then the rules (list, range, default); a
//!   tenant no rule places is an error, never every database.
//! - **one pool per database**, sized from one connection budget, each with
//!   a statement cache sized from a per-connection memory budget.
//! - **handles that know their database** ([`Tenant::database`]); their
//!   routed SQL names partitions that carry that database's registry tag,
//!   so the same SQL on another database fails instead of reading rows.
//!
//! - **online moves** of a tenant from one database to another
//!   ([`Fleet::move_tenant`]): copy while it works, catch up from a change
//!   log, fence its writes for a moment, flip the directory, verify,
//!   offboard the source; resumable at every step.
//!
//! One type, its methods spread over files by concern: `connect` (pools),
//! `directory` (lookups, the directory and the moves' records), `admin`
//! (install, onboard, offboard, sync, list and status across every
//! database) and `moving` (the move's steps, over `capture`: the change
//! log, the fence, copy, replay and checksums), with what they return in
//! `reports`. Each imports this file, `reports` and `tenancy`; `moving`
//! also uses `capture` and the table names of `directory`.

pub(crate) mod admin;
pub(crate) mod capture;
pub(crate) mod connect;
pub(crate) mod directory;
pub(crate) mod moving;
pub(crate) mod reports;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tenant_core::placement::Placement;

use crate::error::Error;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;

pub use capture::{is_moving, MOVING_SQLSTATE};
pub use reports::{
    DatabaseStatus, DatabaseTenants, FleetOnboard, FleetSync, MoveOptions, MoveReport, MoveStep,
    Placed, PlacedBy,
};

/// The databases of a fleet, their pools and the directory. Cheap to
/// clone; clones share the pools and the caches.
#[derive(Debug, Clone)]
pub struct Fleet {
    inner: Arc<FleetInner>,
}

#[derive(Debug)]
struct FleetInner {
    databases: Vec<FleetDatabase>,
    placement: Placement,
    /// Index of the directory database.
    directory: usize,
    /// The tenancy the fleet was made from (ids are accepted by its rules).
    template: Tenancy,
    /// Each tenant's database, as the directory or the rules last said.
    placements: Mutex<HashMap<String, CachedPlacement>>,
    /// Set once this process has made sure the directory's tables exist
    /// (moves check it before each run; once is enough).
    directory_ready: std::sync::atomic::AtomicBool,
}

/// A placement in the fleet's cache.
#[derive(Debug, Clone)]
struct CachedPlacement {
    index: usize,
    by: PlacedBy,
    confirmed: std::time::Instant,
}

/// One database of the fleet: its name, its pool and the tenancy's copy
/// for it (its own registry, tenant cache and tenant key).
#[derive(Debug, Clone)]
pub struct FleetDatabase {
    name: String,
    pool: PgPool,
    tenancy: Tenancy,
}

impl FleetDatabase {
    /// Its name in `[[databases]]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The tenancy on this database: `install`, `onboard`, `sync`, `list`
    /// and the rest, for this database alone.
    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }
}

impl Fleet {
    /// The databases, in `[[databases]]` order.
    pub fn databases(&self) -> &[FleetDatabase] {
        &self.inner.databases
    }

    /// The database named `name`, or [`Error::UnknownDatabase`].
    pub fn database(&self, name: &str) -> Result<&FleetDatabase, Error> {
        self.inner
            .databases
            .get(self.index_of(name)?)
            .ok_or_else(|| self.unknown_database(name))
    }

    /// The database whose registry holds the directory.
    pub fn directory_database(&self) -> &FleetDatabase {
        &self.inner.databases[self.inner.directory]
    }

    /// The pool of the database `tenant` lives on: where its queries run.
    /// A handle that is not from a fleet is [`Error::NotAFleetTenant`].
    pub fn pool(&self, tenant: &Tenant) -> Result<&PgPool, Error> {
        let name = tenant.database().ok_or_else(|| Error::NotAFleetTenant {
            id: tenant.id().to_string(),
        })?;
        Ok(self.database(name)?.pool())
    }

    /// The handle of an active tenant, from the database the directory (or
    /// the rules) place it on. Cached as [`Tenancy::tenant`] caches, for
    /// the tenancy's `tenant_cache_ttl`; a move by another process is seen
    /// within that time. A tenant on a database that does not answer is
    /// [`Error::DatabaseUnavailable`] within the connect timeout; the
    /// other databases' tenants are not affected.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, Error> {
        let id = self.inner.template.accept_id(id)?;
        let placed = self.locate(&id).await?;
        let database = &self.inner.databases[placed.index];
        database
            .tenancy
            .tenant(&database.pool, &id)
            .await
            .map_err(|e| unavailable(&database.name, e))
    }

    fn index_of(&self, name: &str) -> Result<usize, Error> {
        self.inner
            .databases
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| self.unknown_database(name))
    }

    fn unknown_database(&self, name: &str) -> Error {
        Error::UnknownDatabase {
            name: name.to_string(),
            known: self
                .inner
                .databases
                .iter()
                .map(|d| d.name.clone())
                .collect(),
        }
    }
}

/// `error` as [`Error::DatabaseUnavailable`] of `database` when it says the
/// database could not be reached; unchanged otherwise.
pub(crate) fn unavailable(database: &str, error: Error) -> Error {
    match &error {
        Error::Database(e) if is_unreachable(e) => Error::DatabaseUnavailable {
            database: database.to_string(),
            reason: e.to_string(),
        },
        _ => error,
    }
}

/// Whether a connection-level failure (no answer, refused, the server
/// shutting down), not an error of the statement.
fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // 08: connection exception; 57P01-57P03: the server is shutting
        // down or starting.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}
