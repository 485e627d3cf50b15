//! # tenant-runtime
//!
//! The one crate applications depend on: it re-exports the checked query
//! macros and `#[derive(TenantTable)]`, and runs tenancy against PostgreSQL
//! through sqlx: [`Tenancy`] installs the LIST-partitioned parents and the
//! tenant registry, onboards and offboards tenants without an ACCESS
//! EXCLUSIVE lock on any parent, and hands out [`Tenant`] handles, the only
//! values the query macros accept as "the requesting tenant".
//!
//! ## The everyday path
//!
//! The crate root holds what an application uses every day: the macros,
//! [`TenantTable`], [`Config`], [`Tenancy`] and its [`TenancyBuilder`],
//! [`Tenant`], [`Offboard`] and [`Error`].
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, forms: tenant_runtime::schema::TableSchema)
//! # -> Result<(), tenant_runtime::Error> {
//! use tenant_runtime::{Config, Offboard, Tenancy};
//!
//! let tenancy = Tenancy::builder(Config::default())
//!     .schema(forms)
//!     .build()?;
//! tenancy.install(&pool).await?;
//! tenancy.onboard(&pool, "org-alpha").await?;
//! let alpha = tenancy.tenant(&pool, "org-alpha").await?;
//! let mut tx = alpha.begin(&pool).await?; // app.tenant_id = 'org-alpha' until commit
//! # tx.commit().await?;
//! tenancy.offboard(&pool, "org-alpha", Offboard::Keep).await?;
//! # Ok(()) }
//! ```
//!
//! ## Everything else, by module
//!
//! - [`routing`]: how the macros' queries reach the tenant's partitions, and
//!   the settings for it ([`routing::StatementCaching`],
//!   [`routing::parent_query_options`]).
//! - [`fleet`]: tenants spread over several databases ([`fleet::Fleet`]):
//!   placement rules, the directory, one pool per database.
//! - [`migrate`]: a directory of sqlx migrations applied across several
//!   databases, after a preflight that refuses a migration whose locks on
//!   a partitioned parent would not fit the server's lock table.
//! - [`guard`]: the runtime guard for SQL built at run time.
//! - [`admin`]: registry records, sync reports, key moves, defaults.
//! - [`cross_tenant`](mod@cross_tenant): SQL across every tenant on purpose
//!   (reports, support, maintenance), checked, logged and never cached.
//! - [`id`]: what a tenant id may be, and the setting that holds it.
//! - [`schema`]: the table model ([`schema::TableSchema`]) for tables
//!   described by hand.
//! - [`sqlx`] and [`tenant_core`]: the driver and the analyzer this crate
//!   is built on, re-exported so their versions match.
//!
//! The macros' queries run **on the requesting tenant's partitions**, not
//! on the parents: each call compiles to a template with a slot for every
//! tenant-table reference, which the [`Tenant`] fills with its partition
//! names (`forms` becomes `forms_t7 AS forms`). A prepared statement on a
//! parent with thousands of partitions runs a generic plan that locks all of
//! them; on the partition it runs as fast as on a plain table. Build the pool
//! with [`Tenancy::connect_options`] (a statement cache sized for one
//! statement per tenant and query: see [`routing::StatementCaching`] and
//! [`routing::DEFAULT_STATEMENT_CACHE_CAPACITY`]); opt out per query with
//! [`Tenant::via_parents`] or per tenancy with [`TenancyBuilder::routing`];
//! give SQL that cannot be routed a pool from
//! [`routing::parent_query_options`].
//!
//! A tenant can also live in a schema and a role of its own
//! ([`tenant_core::layout`]): [`Tenancy::onboard_as`] with
//! `Layout::Schema`, or `default_layout = "schema"` in `tenancy.toml`. Its
//! queries are the same checked SQL, rendered on its schema's tables, and
//! [`Tenant::begin`] takes its role and search path for the transaction.
//! Its role is the server's, not the database's: call
//! [`Tenancy::drop_roles`] before dropping a database that holds schema
//! tenants.
//!
//! The manual is the book in the repository's `docs/` directory.
#![deny(missing_docs)]

/// The sqlx this crate runs on: applications use it (`tenant_runtime::sqlx`)
/// so that pools, connections and errors are the runtime's own types.
pub use sqlx;
/// The analyzer behind the macros, the CLI and the guard: for SQL checked at
/// run time ([`Tenant::route_sql`] takes its
/// [`RouteTemplate`](tenant_core::route::RouteTemplate)).
pub use tenant_core;
/// The configuration read from `tenancy.toml`.
pub use tenant_core::Config;
/// `tenancy_config!()`: the configuration the macros checked this crate's
/// queries against, embedded at build time. Build the [`Tenancy`] with it so
/// a deployed binary runs with exactly that configuration.
pub use tenant_macros::tenancy_config;
/// `#[derive(FromRow)]` for row types of `tenant_query_as!` that are not
/// tenant tables: fields read by name (`#[row(rename = "column")]`), through
/// this crate's sqlx, so the application needs no sqlx dependency of its own.
pub use tenant_macros::FromRow;
/// The cross-tenant macros: SQL over every tenant on purpose, through a
/// [`CrossTenant`] (see [`cross_tenant`](mod@cross_tenant)).
pub use tenant_macros::{cross_tenant_query, cross_tenant_query_as, cross_tenant_query_scalar};
/// The checked query macros and the derive; the derive shares its name with
/// the [`TenantTable`] trait it implements (as serde's `Serialize` does).
pub use tenant_macros::{
    tenant_query, tenant_query_as, tenant_query_file, tenant_query_file_as,
    tenant_query_file_scalar, tenant_query_scalar, TenantTable,
};

// The derives name `::tenant_runtime::..`; this makes those paths resolve
// inside this crate too.
extern crate self as tenant_runtime;

pub use cross_tenant::CrossTenant;
pub use error::Error;
pub use table::TenantTable;
pub use tenancy::builder::TenancyBuilder;
pub use tenancy::citus::{ShardTransferMode, TenantPlacement};
pub use tenancy::offboard::Offboard;
pub use tenancy::Tenancy;
pub use tenant::Tenant;

pub mod admin;
pub mod checked;
pub mod connect;
pub mod cross_tenant;
pub mod fleet;
pub mod guard;
pub mod id;
pub mod migrate;
pub mod routing;
/// The table model: a [`TableSchema`](schema::TableSchema) describes a
/// tenant table by hand (what `#[derive(TenantTable)]` produces), with the
/// names of its partitions and the quoting helpers.
pub mod schema {
    pub use tenant_core::schema::*;
}

#[doc(hidden)]
pub mod __private;

/// The README and the guide's pages, included so that their Rust examples
/// are doctests and keep compiling as the API changes. They are `no_run`:
/// compiling is the check, running would need a database per example.
#[cfg(doctest)]
mod book {
    #[doc = include_str!("../../README.md")]
    mod readme {}
    #[doc = include_str!("../../docs/guide/macros.md")]
    mod macros {}
    #[doc = include_str!("../../docs/guide/configuration.md")]
    mod configuration {}
    #[doc = include_str!("../../docs/guide/pgbouncer.md")]
    mod pgbouncer {}
    #[doc = include_str!("../../docs/guide/running-tenants.md")]
    mod running_tenants {}
    #[doc = include_str!("../../docs/guide/routing.md")]
    mod routing {}
    #[doc = include_str!("../../docs/guide/rls-and-guard.md")]
    mod rls_and_guard {}
    #[doc = include_str!("../../docs/guide/cross-tenant.md")]
    mod cross_tenant {}
    #[doc = include_str!("../../docs/guide/citus.md")]
    mod citus {}
    #[doc = include_str!("../../docs/guide/fleet.md")]
    mod fleet {}
    #[doc = include_str!("../../docs/guide/migrations.md")]
    mod migrations {}
}
mod error;
#[cfg(test)]
mod layering;
mod router;
mod table;
mod tenancy;
mod tenant;
