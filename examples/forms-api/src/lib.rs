//! A forms service over HTTP: the console example's model behind axum, the
//! requesting tenant taken from a verified JWT (and, when the URL names it,
//! checked against the path or the subdomain).
//!
//! The library holds the router and its set-up so that the tests and the
//! load benchmark run the very service `cargo run -p forms-api` serves.
//!
//! | route | what |
//! |---|---|
//! | `GET /forms`, `POST /forms` | the tenant's forms; create one |
//! | `GET /forms/{id}`, `PUT /forms/{id}` | read, change one |
//! | `GET /forms/{id}/submissions`, `POST /forms/{id}/submissions` | its submissions |
//! | the same under `/t/{tenant}/..` | the path names the tenant too |
//! | `GET /admin/tenants`, `POST /admin/tenants`, `DELETE /admin/tenants/{id}` | admin token only |

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{delete, get};
use axum::Router;
use tenant_axum::{
    ConfigError, JwtVerifier, Policy, Source, TenantContext, TenantResolver, TenantTraceLayer,
};
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::Tenancy;

pub mod admin;
pub mod forms;
pub mod model;
pub mod problem;
pub mod setup;
pub mod tokens;

/// The issuer the service's tokens carry.
pub const ISSUER: &str = "https://auth.forms.example";
/// The audience of tenant tokens.
pub const AUDIENCE: &str = "forms-api";
/// The audience of admin tokens.
pub const ADMIN_AUDIENCE: &str = "forms-api-admin";
/// The claim that names the tenant.
pub const TENANT_CLAIM: &str = "tenant_id";

/// How the service checks requests.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Verifies tenant tokens (issuer [`ISSUER`], audience [`AUDIENCE`]).
    pub tenant_tokens: JwtVerifier,
    /// The secret of admin tokens (HS256, audience [`ADMIN_AUDIENCE`]).
    pub admin_secret: Vec<u8>,
    /// How the token, the path and the subdomain combine.
    pub policy: Policy,
    /// The domain under which `<tenant>.<domain>` names a tenant, if any.
    pub base_domain: Option<String>,
}

impl Settings {
    /// HS256 tenant tokens signed with `secret`; the defaults otherwise.
    pub fn hs256(secret: &[u8], admin_secret: &[u8]) -> Result<Settings, ConfigError> {
        Ok(Settings {
            tenant_tokens: JwtVerifier::hs256(secret)?
                .issuer(ISSUER)
                .audience(AUDIENCE),
            admin_secret: admin_secret.to_vec(),
            policy: Policy::AllMustAgree,
            base_domain: None,
        })
    }

    /// The resolver these settings describe: the token's claim first
    /// (required), then the path parameter `{tenant}`, then the subdomain.
    pub fn resolver(&self) -> Result<TenantResolver, ConfigError> {
        let mut builder = TenantResolver::builder()
            .source(Source::jwt_claim(TENANT_CLAIM, self.tenant_tokens.clone()))
            .source(Source::path_param("tenant"))
            .policy(self.policy);
        if let Some(domain) = &self.base_domain {
            builder = builder.source(Source::subdomain(domain)?);
        }
        builder.build()
    }
}

/// The service's state: the tenant context and the admin verifier.
#[derive(Clone, Debug)]
pub struct App {
    tenants: TenantContext,
    admin: Arc<JwtVerifier>,
}

impl App {
    /// The state for `tenancy` on `pool` under `settings`.
    pub fn new(tenancy: Tenancy, pool: PgPool, settings: &Settings) -> Result<App, ConfigError> {
        let admin = JwtVerifier::hs256(&settings.admin_secret)?
            .issuer(ISSUER)
            .audience(ADMIN_AUDIENCE);
        Ok(App {
            tenants: TenantContext::new(tenancy, pool, settings.resolver()?),
            admin: Arc::new(admin),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        self.tenants.pool()
    }

    /// The tenancy.
    pub fn tenancy(&self) -> &Tenancy {
        self.tenants.tenancy()
    }

    /// Verifies admin tokens.
    pub fn admin_verifier(&self) -> &JwtVerifier {
        &self.admin
    }
}

impl FromRef<App> for TenantContext {
    fn from_ref(app: &App) -> TenantContext {
        app.tenants.clone()
    }
}

/// The service's routes.
pub fn router(app: App) -> Router {
    let tenant_routes = Router::new()
        .route("/forms", get(forms::list_forms).post(forms::create_form))
        .route("/forms/{id}", get(forms::get_form).put(forms::update_form))
        .route("/stats", get(forms::stats))
        .route(
            "/forms/{id}/submissions",
            get(forms::list_submissions).post(forms::create_submission),
        );
    Router::new()
        .merge(tenant_routes.clone())
        .nest("/t/{tenant}", tenant_routes)
        .route(
            "/admin/tenants",
            get(admin::list_tenants).post(admin::onboard),
        )
        .route("/admin/tenants/{id}", delete(admin::offboard))
        .route("/health", get(|| async { "ok" }))
        .layer(TenantTraceLayer::new())
        .with_state(app)
}
