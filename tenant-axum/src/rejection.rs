//! Why a request got no tenant, as an `application/problem+json` response
//! (RFC 9457).
//!
//! Bodies name the check that failed and the source it concerns, never a
//! token, and never whether some other tenant exists: sources that disagree
//! are refused before the registry is asked, and an unknown tenant answers
//! like an inaccessible one unless the resolver is told to reveal it.

use axum::http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::jwt::TokenError;

/// The media type of the bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A request refused by the tenant extractor. Its response is
/// `application/problem+json` with the status of [`TenantRejection::status`]
/// and a `type` of `urn:tenant-axum:problem:<kind>` ([`TenantRejection::kind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// No source named a tenant, or a required one is absent (401).
    #[error("the request names no tenant: it needs {expected}")]
    MissingCredentials {
        /// The sources the resolver reads, in words.
        expected: String,
    },
    /// The bearer token failed verification (401).
    #[error("invalid bearer token: {0}")]
    InvalidToken(TokenError),
    /// `Authorization` itself is unusable (401).
    #[error("invalid credentials: {reason}")]
    InvalidCredentials {
        /// What is wrong with it.
        reason: String,
    },
    /// A source is present but unusable: a host that is not UTF-8, a header
    /// sent twice (400).
    #[error("{source_name} is malformed: {reason}")]
    MalformedSource {
        /// The source, in words.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Under "all must agree", two sources name different tenants (403).
    #[error("{first} and {second} name different tenants")]
    SourcesDisagree {
        /// One source, in words.
        first: String,
        /// Another, in words.
        second: String,
    },
    /// The id is not one a tenant can have (quotes are fine; NUL, control
    /// characters, over-long ids are not) (400).
    #[error("the tenant id from {source_name} is not a valid tenant id: {reason}")]
    InvalidTenantId {
        /// The source, in words.
        source_name: String,
        /// Why, from the runtime.
        reason: String,
    },
    /// The tenant is unknown, offboarded or being offboarded, answered
    /// without saying which (403; see [`TenantRejection::UnknownTenant`]).
    #[error("this tenant is not available")]
    TenantNotAvailable,
    /// The tenant is not in the registry, when the resolver reveals it
    /// ([`ResolverBuilder::reveal_unknown_tenants`](crate::ResolverBuilder::reveal_unknown_tenants)) (404).
    #[error("no such tenant")]
    UnknownTenant,
    /// The registry could not be read (503); the cause is logged, not sent.
    #[error("the tenant registry is unavailable; try again")]
    RegistryUnavailable,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
}

impl TenantRejection {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            TenantRejection::MissingCredentials { .. }
            | TenantRejection::InvalidToken(_)
            | TenantRejection::InvalidCredentials { .. } => StatusCode::UNAUTHORIZED,
            TenantRejection::MalformedSource { .. } | TenantRejection::InvalidTenantId { .. } => {
                StatusCode::BAD_REQUEST
            }
            TenantRejection::SourcesDisagree { .. } | TenantRejection::TenantNotAvailable => {
                StatusCode::FORBIDDEN
            }
            TenantRejection::UnknownTenant => StatusCode::NOT_FOUND,
            TenantRejection::RegistryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem's kind, the last part of its `type` URI.
    pub fn kind(&self) -> &'static str {
        match self {
            TenantRejection::MissingCredentials { .. } => "missing-credentials",
            TenantRejection::InvalidToken(_) => "invalid-token",
            TenantRejection::InvalidCredentials { .. } => "invalid-credentials",
            TenantRejection::MalformedSource { .. } => "malformed-source",
            TenantRejection::SourcesDisagree { .. } => "sources-disagree",
            TenantRejection::InvalidTenantId { .. } => "invalid-tenant-id",
            TenantRejection::TenantNotAvailable => "tenant-not-available",
            TenantRejection::UnknownTenant => "unknown-tenant",
            TenantRejection::RegistryUnavailable => "registry-unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            TenantRejection::MissingCredentials { .. } => "Credentials required",
            TenantRejection::InvalidToken(_) => "Invalid bearer token",
            TenantRejection::InvalidCredentials { .. } => "Invalid credentials",
            TenantRejection::MalformedSource { .. } => "Malformed request",
            TenantRejection::SourcesDisagree { .. } => "Tenant sources disagree",
            TenantRejection::InvalidTenantId { .. } => "Invalid tenant id",
            TenantRejection::TenantNotAvailable => "Tenant not available",
            TenantRejection::UnknownTenant => "Unknown tenant",
            TenantRejection::RegistryUnavailable => "Tenant registry unavailable",
        }
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:tenant-axum:problem:{}", self.kind()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // RFC 6750: a 401 for a bearer-protected resource says so.
        match &self {
            TenantRejection::InvalidToken(_) | TenantRejection::InvalidCredentials { .. } => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            TenantRejection::MissingCredentials { .. } => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        response
    }
}
