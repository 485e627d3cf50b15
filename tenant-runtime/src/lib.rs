//! # tenant-runtime
//!
//! The one crate applications depend on: it re-exports the checked query
//! macros and `#[derive(TenantTable)]`, and runs tenancy against PostgreSQL
//! through sqlx: [`Tenancy`] installs the LIST-partitioned parents and the
//! tenant registry, onboards and offboards tenants without an ACCESS
//! EXCLUSIVE lock on any parent, and hands out [`Tenant`] handles, the only
//! values the query macros accept as "the requesting tenant".
//!
//! The macros' queries run **on the requesting tenant's partitions**, not
//! on the parents: each call compiles to a template with a slot for every
//! tenant-table reference, which the [`Tenant`] fills with its partition
//! names (`forms` becomes `forms_t7 AS forms`). A prepared statement on a
//! parent with thousands of partitions runs a generic plan that locks all of
//! them; on the partition it runs as fast as on a plain table. Build the pool
//! with [`Tenancy::connect_options`] (a statement cache sized for one
//! statement per tenant and query: see [`StatementCaching`] and
//! [`DEFAULT_STATEMENT_CACHE_CAPACITY`]); opt out per query with
//! [`Tenant::via_parents`] or per tenancy with [`TenancyBuilder::routing`];
//! give SQL that cannot be routed a pool from [`parent_query_options`].
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, forms: tenant_runtime::tenant_core::schema::TableSchema)
//! # -> Result<(), tenant_runtime::Error> {
//! use tenant_runtime::{Offboard, Tenancy};
//!
//! let tenancy = Tenancy::builder(tenant_runtime::tenant_core::Config::default())
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
#![deny(missing_docs)]

pub use sqlx;
pub use tenant_core;
/// The checked query macros and the derive; the derive shares its name with
/// the [`TenantTable`] trait it implements (as serde's `Serialize` does).
pub use tenant_macros::{
    tenant_query, tenant_query_as, tenant_query_file, tenant_query_file_as,
    tenant_query_file_scalar, tenant_query_scalar, TenantTable,
};

#[doc(hidden)]
pub mod __private;

mod error;
mod guard;
mod id;
#[cfg(test)]
mod layering;
mod router;
mod routing;
mod table;
mod tenancy;
mod tenant;

pub use error::Error;
pub use guard::{
    Guard, GuardBuilder, GuardError, GuardMode, GuardStats, GuardedPool, DEFAULT_GUARD_CAPACITY,
};
pub use id::{validate_tenant_id, InvalidTenantId, MAX_TENANT_ID_BYTES, TENANT_SETTING};
pub use routing::{parent_query_options, StatementCaching, DEFAULT_STATEMENT_CACHE_CAPACITY};
pub use table::TenantTable;
pub use tenancy::builder::TenancyBuilder;
pub use tenancy::install::DEFAULT_REGISTRY_SCHEMA;
pub use tenancy::keys::{KeyMove, SyncProgress, SyncReport};
pub use tenancy::offboard::Offboard;
pub use tenancy::onboard::OnboardOutcome;
pub use tenancy::registry::{TenantRecord, TenantState, DEFAULT_TENANT_CACHE_TTL};
pub use tenancy::Tenancy;
pub use tenant::Tenant;
