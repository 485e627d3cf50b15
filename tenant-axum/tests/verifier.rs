//! The verifier with each key family: ES256 tokens pass an ES256 verifier,
//! and a token of another algorithm, or signed by another key, does not.

use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::json;
use tenant_axum::{JwtVerifier, TokenError};

const EC_PRIVATE: &[u8] = include_bytes!("keys/ec-private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec-public.pem");

fn claims(tenant: serde_json::Value) -> serde_json::Value {
    json!({ "iss": "iss", "aud": ["aud", "other"], "exp": get_current_timestamp() + 600, "org": tenant })
}

fn verifier() -> JwtVerifier {
    JwtVerifier::es256_pem(EC_PUBLIC)
        .unwrap()
        .issuer("iss")
        .audience("aud")
}

#[test]
fn es256_tokens_verify_and_the_claim_is_read_as_a_string_or_an_integer() {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    let token = encode(
        &Header::new(Algorithm::ES256),
        &claims(json!("alpha")),
        &key,
    )
    .unwrap();
    assert_eq!(verifier().tenant_claim(&token, "org").unwrap(), "alpha");
    let numeric = encode(&Header::new(Algorithm::ES256), &claims(json!(42)), &key).unwrap();
    assert_eq!(verifier().tenant_claim(&numeric, "org").unwrap(), "42");
    let float = encode(&Header::new(Algorithm::ES256), &claims(json!(4.2)), &key).unwrap();
    assert!(matches!(
        verifier().tenant_claim(&float, "org"),
        Err(TokenError::ClaimNotAnId { .. })
    ));
}

#[test]
fn another_algorithm_or_key_is_a_bad_signature() {
    // HS256 with the public key's PEM as the secret: algorithm confusion.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!("alpha")),
        &EncodingKey::from_secret(EC_PUBLIC).unwrap(),
    )
    .unwrap();
    assert_eq!(
        verifier().tenant_claim(&confused, "org"),
        Err(TokenError::BadSignature)
    );
    // A token the ES256 verifier did not sign: the payload changed.
    let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    let token = encode(
        &Header::new(Algorithm::ES256),
        &claims(json!("alpha")),
        &key,
    )
    .unwrap();
    let other = encode(&Header::new(Algorithm::ES256), &claims(json!("beta")), &key).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(
        verifier().tenant_claim(&spliced, "org"),
        Err(TokenError::BadSignature)
    );
    // Over the size limit: refused before parsing.
    let small = verifier().max_token_bytes(64);
    assert_eq!(
        small.tenant_claim(&token, "org"),
        Err(TokenError::TooLarge { max: 64 })
    );
}
