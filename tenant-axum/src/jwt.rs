//! Verifying a bearer token and reading the tenant claim from it.
//!
//! The algorithm is fixed when the verifier is made and never read from the
//! token: a token whose header names another algorithm (`none`, or HS256
//! signed with an RSA public key as its secret) fails verification.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::error::ConfigError;

/// The shortest HMAC secret accepted: as long as the SHA-256 output
/// (RFC 7518, section 3.2).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// The longest token read; a longer one is refused before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Checks a JWT's signature and its registered claims, then reads one claim.
///
/// Made with the key and its algorithm ([`JwtVerifier::hs256`],
/// [`JwtVerifier::rs256_pem`], [`JwtVerifier::es256_pem`], ...), then told
/// the issuer and audience the tokens must carry. Expiry (`exp`, required)
/// and not-before (`nbf`, when present) are checked with a leeway of
/// [`JwtVerifier::leeway`] (default 30 s).
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    algorithm: Algorithm,
    issuer: Expectation,
    audience: Expectation,
    leeway: Duration,
    max_token_bytes: usize,
}

/// What a verifier expects of `iss` or `aud`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expectation {
    /// Not configured yet: building a resolver with it is an error.
    Unset,
    /// Explicitly not checked.
    Unchecked,
    /// One of these values.
    OneOf(Vec<String>),
}

impl fmt::Debug for JwtVerifier {
    /// The key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// HS256 with a shared secret of at least [`MIN_HMAC_SECRET_BYTES`].
    pub fn hs256(secret: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::hmac(secret, Algorithm::HS256)
    }

    /// HS384 with a shared secret of at least [`MIN_HMAC_SECRET_BYTES`].
    pub fn hs384(secret: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::hmac(secret, Algorithm::HS384)
    }

    /// HS512 with a shared secret of at least [`MIN_HMAC_SECRET_BYTES`].
    pub fn hs512(secret: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::hmac(secret, Algorithm::HS512)
    }

    fn hmac(secret: &[u8], algorithm: Algorithm) -> Result<JwtVerifier, ConfigError> {
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(ConfigError::WeakSecret {
                len: secret.len(),
                min: MIN_HMAC_SECRET_BYTES,
            });
        }
        Self::with_key(DecodingKey::from_secret(secret), algorithm)
    }

    /// RS256 with an RSA public key in PEM (`-----BEGIN PUBLIC KEY-----`
    /// or `-----BEGIN RSA PUBLIC KEY-----`).
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::rsa(public_key_pem, Algorithm::RS256)
    }

    /// RS384 with an RSA public key in PEM.
    pub fn rs384_pem(public_key_pem: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::rsa(public_key_pem, Algorithm::RS384)
    }

    /// RS512 with an RSA public key in PEM.
    pub fn rs512_pem(public_key_pem: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::rsa(public_key_pem, Algorithm::RS512)
    }

    fn rsa(pem: &[u8], algorithm: Algorithm) -> Result<JwtVerifier, ConfigError> {
        Self::with_key(DecodingKey::from_rsa_pem(pem), algorithm)
    }

    /// ES256 (P-256) with an EC public key in PEM.
    pub fn es256_pem(public_key_pem: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::ec(public_key_pem, Algorithm::ES256)
    }

    /// ES384 (P-384) with an EC public key in PEM.
    pub fn es384_pem(public_key_pem: &[u8]) -> Result<JwtVerifier, ConfigError> {
        Self::ec(public_key_pem, Algorithm::ES384)
    }

    fn ec(pem: &[u8], algorithm: Algorithm) -> Result<JwtVerifier, ConfigError> {
        Self::with_key(DecodingKey::from_ec_pem(pem), algorithm)
    }

    /// The verifier of a parsed key, or why the key did not parse.
    fn with_key(
        key: jsonwebtoken::errors::Result<DecodingKey>,
        algorithm: Algorithm,
    ) -> Result<JwtVerifier, ConfigError> {
        let key = key.map_err(|e| ConfigError::InvalidKey {
            algorithm: format!("{algorithm:?}"),
            reason: e.to_string(),
        })?;
        Ok(JwtVerifier {
            key,
            algorithm,
            issuer: Expectation::Unset,
            audience: Expectation::Unset,
            leeway: Duration::from_secs(30),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        })
    }

    /// The issuer (`iss`) a token must name.
    pub fn issuer(self, issuer: impl Into<String>) -> JwtVerifier {
        self.issuers([issuer.into()])
    }

    /// Issuers (`iss`) of which a token must name one.
    pub fn issuers(mut self, issuers: impl IntoIterator<Item = String>) -> JwtVerifier {
        self.issuer = Expectation::OneOf(issuers.into_iter().collect());
        self
    }

    /// Accept any issuer. Only when the key is the issuer's alone.
    pub fn any_issuer(mut self) -> JwtVerifier {
        self.issuer = Expectation::Unchecked;
        self
    }

    /// The audience (`aud`) a token must include.
    pub fn audience(self, audience: impl Into<String>) -> JwtVerifier {
        self.audiences([audience.into()])
    }

    /// Audiences (`aud`) of which a token must include one.
    pub fn audiences(mut self, audiences: impl IntoIterator<Item = String>) -> JwtVerifier {
        self.audience = Expectation::OneOf(audiences.into_iter().collect());
        self
    }

    /// Accept any audience. Only when the key signs tokens for this service
    /// alone: otherwise a token minted for another service works here.
    pub fn any_audience(mut self) -> JwtVerifier {
        self.audience = Expectation::Unchecked;
        self
    }

    /// How far `exp` and `nbf` may be off, for clocks that differ.
    pub fn leeway(mut self, leeway: Duration) -> JwtVerifier {
        self.leeway = leeway;
        self
    }

    /// The longest token accepted, in bytes (default
    /// [`DEFAULT_MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, max: usize) -> JwtVerifier {
        self.max_token_bytes = max;
        self
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// An issuer and an audience are configured (or explicitly waived), and
    /// the crypto backend is usable.
    pub(crate) fn check_ready(&self) -> Result<(), ConfigError> {
        if self.issuer == Expectation::Unset {
            return Err(ConfigError::IssuerNotSet);
        }
        if self.audience == Expectation::Unset {
            return Err(ConfigError::AudienceNotSet);
        }
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(ConfigError::NoCryptoProvider);
        }
        Ok(())
    }

    fn validation(&self) -> Validation {
        let mut validation = Validation::new(self.algorithm);
        validation.algorithms = vec![self.algorithm];
        validation.leeway = self.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required: HashSet<String> = ["exp".to_string()].into();
        match &self.issuer {
            Expectation::OneOf(issuers) => {
                validation.set_issuer(issuers);
                required.insert("iss".into());
            }
            Expectation::Unchecked | Expectation::Unset => validation.iss = None,
        }
        match &self.audience {
            Expectation::OneOf(audiences) => {
                validation.set_audience(audiences);
                required.insert("aud".into());
            }
            Expectation::Unchecked | Expectation::Unset => validation.validate_aud = false,
        }
        validation.required_spec_claims = required;
        validation
    }

    /// Verifies `token` and returns the value of `claim` as a tenant id (a
    /// string, or an integer written in decimal).
    pub fn tenant_claim(&self, token: &str, claim: &str) -> Result<String, TokenError> {
        if token.len() > self.max_token_bytes {
            return Err(TokenError::TooLarge {
                max: self.max_token_bytes,
            });
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
            token,
            &self.key,
            &self.validation(),
        )
        .map_err(|e| TokenError::from_kind(e.kind()))?;
        match data.claims.get(claim) {
            None | Some(Value::Null) => Err(TokenError::ClaimMissing {
                claim: claim.to_string(),
            }),
            Some(Value::String(id)) => Ok(id.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            Some(_) => Err(TokenError::ClaimNotAnId {
                claim: claim.to_string(),
            }),
        }
    }
}

/// Why a bearer token was refused. The messages name the check that failed
/// and never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than the verifier reads.
    #[error("the token is longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Not three base64url parts with JSON in them.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The signature does not match the key, or the token names another
    /// algorithm than the one configured.
    #[error("the token's signature or algorithm is not the one this service accepts")]
    BadSignature,
    /// `exp` is in the past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not include the configured audience.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// A registered claim the verifier requires is absent.
    #[error("the token lacks the required claim {claim:?}")]
    RequiredClaimMissing {
        /// The claim's name.
        claim: String,
    },
    /// The tenant claim is absent.
    #[error("the token has no {claim:?} claim")]
    ClaimMissing {
        /// The claim's name.
        claim: String,
    },
    /// The tenant claim is neither a string nor an integer.
    #[error("the token's {claim:?} claim is not a string or an integer")]
    ClaimNotAnId {
        /// The claim's name.
        claim: String,
    },
}

impl TokenError {
    fn from_kind(kind: &ErrorKind) -> TokenError {
        match kind {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => TokenError::RequiredClaimMissing {
                claim: claim.clone(),
            },
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey => TokenError::BadSignature,
            _ => TokenError::Malformed,
        }
    }
}
