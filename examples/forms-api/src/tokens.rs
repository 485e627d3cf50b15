//! Minting tokens the service accepts: for the printed examples of
//! `cargo run -p forms-api`, the tests and the benchmark. A real deployment
//! gets its tokens from its identity provider.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tenant_axum::jsonwebtoken::{encode, errors::Error, EncodingKey, Header};

use crate::{ADMIN_AUDIENCE, AUDIENCE, ISSUER, TENANT_CLAIM};

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims of a tenant token valid for `ttl`.
pub fn tenant_claims(tenant: &str, ttl: Duration) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("user@{tenant}"),
        "iat": now(),
        "exp": now() + ttl.as_secs(),
        TENANT_CLAIM: tenant,
    })
}

/// An HS256 token for `claims`.
pub fn hs256(secret: &[u8], claims: &Value) -> Result<String, Error> {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret)?,
    )
}

/// An HS256 tenant token valid for `ttl`.
pub fn tenant_token(secret: &[u8], tenant: &str, ttl: Duration) -> Result<String, Error> {
    hs256(secret, &tenant_claims(tenant, ttl))
}

/// An HS256 admin token valid for `ttl`.
pub fn admin_token(admin_secret: &[u8], ttl: Duration) -> Result<String, Error> {
    hs256(
        admin_secret,
        &json!({
            "iss": ISSUER,
            "aud": ADMIN_AUDIENCE,
            "sub": "admin",
            "exp": now() + ttl.as_secs(),
            "scope": crate::admin::ADMIN_SCOPE,
        }),
    )
}
