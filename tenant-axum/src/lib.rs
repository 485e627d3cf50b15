//! # tenant-axum
//!
//! The requesting tenant from an axum request. A [`TenantResolver`] reads
//! the tenant id from one or more [`Source`]s (a claim of a verified JWT,
//! the subdomain, a path parameter, a header set by a trusted gateway),
//! combines them by a [`Policy`] (all must agree, or first match), and turns
//! the id into a checked [`Tenant`](tenant_runtime::Tenant) handle through
//! [`Tenancy::tenant`](tenant_runtime::Tenancy::tenant), so an unknown or
//! offboarded tenant is refused. Handlers take it as an argument,
//! [`RequestTenant`]; refusals are `application/problem+json` responses
//! ([`TenantRejection`]): 401 for missing or bad credentials, 403 when
//! sources disagree or the tenant is not available, 400 for malformed
//! input, never a 500 for what a client sent.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tenant_axum::{JwtVerifier, Policy, RequestTenant, Source, TenantContext, TenantResolver};
//!
//! # async fn demo(tenancy: tenant_runtime::Tenancy, pool: tenant_runtime::sqlx::PgPool)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwtVerifier::hs256(std::env::var("JWT_SECRET")?.as_bytes())?
//!     .issuer("https://auth.example.com")
//!     .audience("forms-api");
//! let resolver = TenantResolver::builder()
//!     .source(Source::jwt_claim("tenant_id", verifier))
//!     .source(Source::path_param("tenant"))
//!     .policy(Policy::AllMustAgree)
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/t/{tenant}/whoami", get(|tenant: RequestTenant| async move {
//!         tenant.id().to_string()
//!     }))
//!     .with_state(TenantContext::new(tenancy, pool, resolver));
//! # Ok(()) }
//! ```
//!
//! The book's page "Web services" explains the sources, the policies and
//! what each status means.
#![deny(missing_docs)]

mod error;
mod extract;
mod jwt;
mod rejection;
mod resolver;
mod source;
mod trace;

pub use error::ConfigError;
pub use extract::{RequestTenant, TenantContext};
pub use jwt::{JwtVerifier, TokenError, DEFAULT_MAX_TOKEN_BYTES, MIN_HMAC_SECRET_BYTES};
pub use rejection::{TenantRejection, PROBLEM_JSON};
pub use resolver::{Policy, ResolvedId, ResolverBuilder, TenantResolver};
pub use source::Source;
pub use trace::{TenantTrace, TenantTraceLayer};

/// The JWT crate this one verifies with, for minting test tokens and
/// choosing algorithms with the same version.
pub use jsonwebtoken;
