//! SQL across every tenant, on purpose: reports, support tooling,
//! maintenance, through a capability the application asks for by name.
//!
//! [`Tenancy::cross_tenant`](crate::Tenancy::cross_tenant) hands out a
//! [`CrossTenant`] with the purpose it serves; `cross_tenant_query!`,
//! `cross_tenant_query_as!` and `cross_tenant_query_scalar!` take it where
//! the tenant macros take a `&Tenant`. Their SQL is parsed at compile time
//! and refused unless it reads or maintains (or the call writes
//! `allow_writes`); every query is logged through `tracing` with the
//! statement's fingerprint, and runs as an unnamed statement: PostgreSQL
//! plans it for its own arguments at every execution (a custom plan, as
//! `plan_cache_mode = force_custom_plan` would), so a statement over the
//! parents prunes what it can and never keeps a generic plan that locks
//! every partition, and it takes no place in the connection's statement
//! cache.
//!
//! ```no_run
//! # async fn report(pool: sqlx::PgPool, tenancy: tenant_runtime::Tenancy)
//! # -> Result<(), sqlx::Error> {
//! use tenant_runtime::cross_tenant_query_as;
//!
//! #[derive(tenant_runtime::FromRow)]
//! struct Usage {
//!     tenant_id: String,
//!     forms: i64,
//! }
//!
//! let billing = tenancy.cross_tenant("monthly billing report");
//! let usage: Vec<Usage> = cross_tenant_query_as!(Usage, &billing,
//!     "SELECT tenant_id, count(*) AS forms FROM forms GROUP BY tenant_id")
//!     .fetch_all(&pool)
//!     .await?;
//! # drop(usage);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;

/// The capability to run cross-tenant SQL, with the purpose it serves
/// (logged with every query). Only a [`Tenancy`](crate::Tenancy) makes one,
/// so grepping for `cross_tenant(` finds every place that reads across
/// tenants.
#[derive(Clone)]
pub struct CrossTenant {
    purpose: Cow<'static, str>,
}

impl CrossTenant {
    pub(crate) fn new(purpose: Cow<'static, str>) -> Self {
        CrossTenant { purpose }
    }

    /// What these queries are for, as given to
    /// [`Tenancy::cross_tenant`](crate::Tenancy::cross_tenant).
    pub fn purpose(&self) -> &str {
        &self.purpose
    }
}

impl fmt::Debug for CrossTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossTenant")
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// A cross-tenant statement as the macros record it at compile time.
#[doc(hidden)]
#[derive(Debug)]
pub struct CrossTenantStatement {
    /// The SQL as written.
    pub sql: &'static str,
    /// pg_query's fingerprint of it.
    pub fingerprint: &'static str,
    /// `SELECT`, `VACUUM`, `UPDATE`, ..
    pub kind: &'static str,
    /// Whether it writes (only with `allow_writes`).
    pub writes: bool,
    /// `file:line` of the call.
    pub location: &'static str,
}

/// The `tracing` target of the record each cross-tenant query leaves.
pub const TRACING_TARGET: &str = "tenant_runtime::cross_tenant";

/// Logs one cross-tenant query as it is built.
pub(crate) fn record(handle: &CrossTenant, statement: &CrossTenantStatement) {
    if statement.writes {
        tracing::warn!(
            target: TRACING_TARGET,
            purpose = %handle.purpose,
            fingerprint = statement.fingerprint,
            kind = statement.kind,
            writes = true,
            location = statement.location,
            "cross-tenant write"
        );
    } else {
        tracing::info!(
            target: TRACING_TARGET,
            purpose = %handle.purpose,
            fingerprint = statement.fingerprint,
            kind = statement.kind,
            writes = false,
            location = statement.location,
            "cross-tenant read"
        );
    }
}
