//! What operators and tools handle besides the everyday path: the records of
//! the registry, what onboarding, [`sync`](crate::Tenancy::sync) and key
//! moves report, and the defaults of the registry and the tenant cache.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, tenancy: tenant_runtime::Tenancy)
//! # -> Result<(), tenant_runtime::Error> {
//! use tenant_runtime::admin::TenantState;
//!
//! for record in tenancy.list(&pool).await? {
//!     if record.state == TenantState::Offboarding {
//!         println!("{} stopped half-way through offboarding", record.id);
//!     }
//! }
//! let report = tenancy
//!     .sync(&pool, |progress| eprintln!("{}/{}", progress.done, progress.total))
//!     .await?;
//! println!("{} partitions created", report.partitions_created);
//! let keys = tenancy.keys_between_parents(&pool).await?;
//! println!("{} keys between parents could move", keys.moved.len());
//! # Ok(()) }
//! ```

pub use crate::error::SchemaDifference;
pub use crate::tenancy::install::DEFAULT_REGISTRY_SCHEMA;
pub use crate::tenancy::keys::{KeyMove, SyncProgress, SyncReport};
pub use crate::tenancy::onboard::OnboardOutcome;
pub use crate::tenancy::registry::{TenantRecord, TenantState, DEFAULT_TENANT_CACHE_TTL};
