//! The admin routes (onboard, offboard, list tenants), behind a credential
//! of their own: a JWT signed with the admin secret, for the admin audience,
//! with the scope `tenants:admin`. A tenant's token is not one.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tenant_axum::JwtVerifier;
use tenant_runtime::Offboard;

use crate::problem::ApiError;
use crate::App;

/// The scope an admin token carries in its `scope` claim.
pub const ADMIN_SCOPE: &str = "tenants:admin";

/// Proof that the request carries a valid admin token.
#[derive(Debug)]
pub struct AdminCaller;

impl FromRequestParts<App> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let verifier: &JwtVerifier = app.admin_verifier();
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| ApiError::Unauthorized("an admin bearer token is required".into()))?;
        let scope = verifier
            .tenant_claim(token.trim(), "scope")
            .map_err(|e| ApiError::Unauthorized(format!("not an admin token: {e}")))?;
        if scope.split(' ').any(|s| s == ADMIN_SCOPE) {
            Ok(AdminCaller)
        } else {
            Err(ApiError::Unauthorized(format!(
                "the token's scope lacks {ADMIN_SCOPE}"
            )))
        }
    }
}

/// The body of `POST /admin/tenants`.
#[derive(Debug, Deserialize, Serialize)]
pub struct NewTenant {
    /// The tenant id.
    pub id: String,
}

/// A tenant as the admin routes show it.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct TenantView {
    /// The tenant id.
    pub id: String,
    /// `active`, `offboarding` or `offboarded`.
    pub state: String,
}

/// `GET /admin/tenants`.
pub async fn list_tenants(
    _admin: AdminCaller,
    State(app): State<App>,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    let records = app.tenancy().list(app.pool()).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| TenantView {
                id: r.id,
                state: r.state.as_str().to_string(),
            })
            .collect(),
    ))
}

/// `POST /admin/tenants`: onboard (idempotent).
pub async fn onboard(
    _admin: AdminCaller,
    State(app): State<App>,
    Json(new): Json<NewTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let outcome = app.tenancy().onboard(app.pool(), &new.id).await?;
    let status = if outcome.created_partitions.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(TenantView {
            id: outcome.tenant.id().to_string(),
            state: "active".into(),
        }),
    ))
}

/// `DELETE /admin/tenants/{id}`: offboard, keeping the partitions as an
/// archive. The tenant's next request is refused.
pub async fn offboard(
    _admin: AdminCaller,
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match app
        .tenancy()
        .offboard(app.pool(), &id, Offboard::Keep)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(tenant_runtime::Error::UnknownTenant { .. }) => Err(ApiError::NotFound("tenant")),
        Err(e) => Err(e.into()),
    }
}
