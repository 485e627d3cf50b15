//! Mistakes in how a resolver is configured: found when it is built, at
//! start-up, never at the first request.

/// A resolver or verifier that cannot work as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A resolver needs at least one source.
    #[error("the tenant resolver has no source: add a JWT claim, subdomain, path parameter or header source")]
    NoSource,
    /// An HMAC secret shorter than the hash.
    #[error("the HMAC secret is {len} bytes long; use at least {min} random bytes")]
    WeakSecret {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A public key that does not parse.
    #[error("the {algorithm} public key is not usable: {reason}")]
    InvalidKey {
        /// The algorithm it was meant for.
        algorithm: String,
        /// What the parser said.
        reason: String,
    },
    /// No issuer configured and none waived.
    #[error("the JWT verifier checks no issuer: call .issuer(..) with the issuer your tokens carry, or .any_issuer() if the key is that issuer's alone")]
    IssuerNotSet,
    /// No audience configured and none waived.
    #[error("the JWT verifier checks no audience: call .audience(..) with this service's audience, or .any_audience() if the key signs tokens for this service alone")]
    AudienceNotSet,
    /// jsonwebtoken found both or neither of its crypto backends.
    #[error("jsonwebtoken has no usable crypto provider (both or neither of its 'rust_crypto' and 'aws_lc_rs' features are enabled); install one with jsonwebtoken::crypto::CryptoProvider::install_default at start-up")]
    NoCryptoProvider,
    /// A base domain for the subdomain source that is not a host name.
    #[error("{domain:?} is not a base domain for subdomains (expected a host name such as \"forms.example.com\")")]
    InvalidBaseDomain {
        /// What was given.
        domain: String,
    },
    /// A header name that HTTP does not allow.
    #[error("{name:?} is not a valid HTTP header name")]
    InvalidHeaderName {
        /// What was given.
        name: String,
    },
    /// The same kind of source twice (their answers could only disagree or
    /// repeat each other).
    #[error("the tenant resolver has the source {what} twice")]
    DuplicateSource {
        /// The source, as in messages.
        what: String,
    },
}
