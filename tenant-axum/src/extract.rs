//! The handler argument: the requesting tenant as a checked handle.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{Tenancy, Tenant};

use crate::rejection::TenantRejection;
use crate::resolver::TenantResolver;

/// What the extractor needs from the application's state: the tenancy, a
/// pool to read its registry with, and the resolver. Cheap to clone. Put it
/// in the router's state, or implement `FromRef<YourState>` for it.
#[derive(Clone, Debug)]
pub struct TenantContext {
    tenancy: Tenancy,
    pool: PgPool,
    resolver: Arc<TenantResolver>,
}

impl TenantContext {
    /// The context of a tenancy whose registry `pool` reads.
    pub fn new(tenancy: Tenancy, pool: PgPool, resolver: TenantResolver) -> TenantContext {
        TenantContext {
            tenancy,
            pool,
            resolver: Arc::new(resolver),
        }
    }

    /// The tenancy.
    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The resolver.
    pub fn resolver(&self) -> &TenantResolver {
        &self.resolver
    }
}

/// The requesting tenant, as a handler argument:
///
/// ```ignore
/// async fn list_forms(tenant: RequestTenant, State(app): State<App>) -> .. {
///     Form::list(&tenant).fetch_all(&app.pool).await
/// }
/// ```
///
/// Extracting it reads the request with the [`TenantResolver`] of the
/// state's [`TenantContext`] and asks [`Tenancy::tenant`] (cached) for the
/// handle; a refusal is a [`TenantRejection`] response. The id is recorded
/// in the current `tracing` span's `tenant` field (see
/// [`TenantTraceLayer`](crate::TenantTraceLayer)). Extracting it twice in one
/// request resolves once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTenant(pub Tenant);

impl RequestTenant {
    /// The handle.
    pub fn into_inner(self) -> Tenant {
        self.0
    }
}

impl Deref for RequestTenant {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.0
    }
}

impl<S> FromRequestParts<S> for RequestTenant
where
    TenantContext: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<RequestTenant>() {
            return Ok(done.clone());
        }
        let context = TenantContext::from_ref(state);
        let tenant = context
            .resolver
            .resolve(parts, &context.tenancy, &context.pool)
            .await?;
        tracing::Span::current().record("tenant", tenant.id());
        let extracted = RequestTenant(tenant);
        parts.extensions.insert(extracted.clone());
        Ok(extracted)
    }
}
