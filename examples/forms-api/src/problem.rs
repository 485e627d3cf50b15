//! The API's own errors, as `application/problem+json` like the tenant
//! extractor's.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenant_axum::PROBLEM_JSON;
use tenant_runtime::sqlx;

/// An error a handler answers with.
#[derive(Debug)]
pub enum ApiError {
    /// No such row for this tenant (another tenant's rows are not there).
    NotFound(&'static str),
    /// The request conflicts with the data (a key taken concurrently).
    Conflict(String),
    /// The request is well-formed but cannot be done.
    Unprocessable(String),
    /// Missing or bad admin credentials.
    Unauthorized(String),
    /// The server failed; the cause is logged, not sent.
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no such {what}"),
            ),
            ApiError::Conflict(detail) => (StatusCode::CONFLICT, "conflict", detail.clone()),
            ApiError::Unprocessable(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                detail.clone(),
            ),
            ApiError::Unauthorized(detail) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", detail.clone())
            }
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server failed; the error is in its log".into(),
            ),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "database error");
        ApiError::Internal
    }
}

impl From<tenant_runtime::Error> for ApiError {
    fn from(e: tenant_runtime::Error) -> ApiError {
        match e {
            tenant_runtime::Error::InvalidTenantId(reason) => {
                ApiError::Unprocessable(reason.to_string())
            }
            other => {
                tracing::error!(error = %other, "tenancy error");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, detail) = self.parts();
        let body = json!({
            "type": format!("urn:forms-api:problem:{kind}"),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        let mut response = (status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}
