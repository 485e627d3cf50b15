//! Tokens that must not pass: each is 401 `invalid-token`, and no body
//! echoes the token.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use forms_api::tokens::{hs256, now, tenant_claims};
use reqwest::StatusCode;
use serde_json::json;
use tenant_axum::jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tenant_axum::JwtVerifier;

use crate::support::{problem, Server, RSA_PRIVATE, RSA_PUBLIC, SECRET};

fn claims() -> serde_json::Value {
    tenant_claims("alpha", Duration::from_secs(600))
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> serde_json::Value {
    let mut claims = claims();
    change(claims.as_object_mut().unwrap());
    claims
}

async fn assert_refused(server: &Server, what: &str, token: &str, expected_kind: &str) {
    let response = server.get("/forms", token).await;
    let (status, kind, body) = problem(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(kind, expected_kind, "{what}: {body}");
    if token.len() > 16 {
        assert!(!body.contains(token), "{what}: the body echoes the token");
    }
}

#[tokio::test]
async fn expired_early_foreign_forged_and_unsigned_tokens_are_401() {
    let server = Server::start(&["alpha"]).await;
    assert_eq!(
        server.get("/forms", &server.token("alpha")).await.status(),
        StatusCode::OK
    );

    let cases = [
        (
            "expired",
            hs256(
                SECRET,
                &with(|c| {
                    c.insert("exp".into(), json!(now() - 3600));
                }),
            ),
        ),
        (
            "not yet valid",
            hs256(
                SECRET,
                &with(|c| {
                    c.insert("nbf".into(), json!(now() + 3600));
                }),
            ),
        ),
        (
            "wrong issuer",
            hs256(
                SECRET,
                &with(|c| {
                    c.insert("iss".into(), json!("https://evil.example"));
                }),
            ),
        ),
        (
            "wrong audience",
            hs256(
                SECRET,
                &with(|c| {
                    c.insert("aud".into(), json!("another-service"));
                }),
            ),
        ),
        (
            "no expiry",
            hs256(
                SECRET,
                &with(|c| {
                    c.remove("exp");
                }),
            ),
        ),
        (
            "no audience",
            hs256(
                SECRET,
                &with(|c| {
                    c.remove("aud");
                }),
            ),
        ),
        (
            "wrong signature",
            hs256(b"another secret that is long enough, 32+", &claims()),
        ),
        (
            "no tenant claim",
            hs256(
                SECRET,
                &with(|c| {
                    c.remove("tenant_id");
                }),
            ),
        ),
        (
            "tenant claim not a string",
            hs256(
                SECRET,
                &with(|c| {
                    c.insert("tenant_id".into(), json!(["alpha"]));
                }),
            ),
        ),
    ];
    for (what, token) in cases {
        assert_refused(&server, what, &token.unwrap(), "invalid-token").await;
    }

    // alg none: a valid-looking token with no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert_refused(&server, "alg none", &token, "invalid-token").await;
    }
    // The signature of a real token on other claims.
    let real = server.token("alpha");
    let signature = real.rsplit('.').next().unwrap();
    let forged_payload =
        URL_SAFE_NO_PAD.encode(tenant_claims("beta", Duration::from_secs(600)).to_string());
    let spliced = format!(
        "{}.{forged_payload}.{signature}",
        real.split('.').next().unwrap()
    );
    assert_refused(&server, "spliced payload", &spliced, "invalid-token").await;
    for garbage in ["x", "a.b.c", "....", "eyJ.eyJ.eyJ"] {
        assert_refused(&server, garbage, garbage, "invalid-token").await;
    }
}

#[tokio::test]
async fn rs256_tokens_pass_and_hs256_signed_with_the_public_key_does_not() {
    let server = Server::start_with(&["alpha"], |s| {
        s.tenant_tokens = JwtVerifier::rs256_pem(RSA_PUBLIC)
            .unwrap()
            .issuer(forms_api::ISSUER)
            .audience(forms_api::AUDIENCE);
    })
    .await;
    let rs = encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_eq!(server.get("/forms", &rs).await.status(), StatusCode::OK);

    // Algorithm confusion: HS256 with the RSA public key as the HMAC secret.
    let confused = hs256(RSA_PUBLIC, &claims()).unwrap();
    assert_refused(
        &server,
        "HS256 with the public key",
        &confused,
        "invalid-token",
    )
    .await;
    // And a token of the right secret but the wrong family.
    let hs = hs256(SECRET, &claims()).unwrap();
    assert_refused(&server, "HS256 on an RS256 service", &hs, "invalid-token").await;
}

#[tokio::test]
async fn a_valid_token_for_an_unknown_tenant_is_403_without_saying_more() {
    let server = Server::start(&["alpha"]).await;
    let token = server.token("ghost");
    let (status, kind, body) = problem(server.get("/forms", &token).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "tenant-not-available")
    );
    assert!(!body.contains("ghost"), "{body}");
}
