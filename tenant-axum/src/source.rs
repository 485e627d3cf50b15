//! Where in a request a tenant id can come from, and reading it there.
//!
//! Each source answers one of three ways: the request does not carry it
//! ([`Found::Absent`]), it names a tenant ([`Found::Present`]), or it is
//! there but unusable ([`Found::Invalid`]: a forged token, a host that is
//! not UTF-8). An unusable source fails the request under every policy: a
//! bad credential never falls through to a weaker source.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use axum::http::HeaderName;

use crate::error::ConfigError;
use crate::jwt::JwtVerifier;
use crate::rejection::TenantRejection;

/// One place a tenant id is read from. Made with [`Source::jwt_claim`],
/// [`Source::subdomain`], [`Source::path_param`] or
/// [`Source::trusted_header`].
#[derive(Clone, Debug)]
pub struct Source {
    kind: SourceKind,
    required: bool,
}

#[derive(Clone, Debug)]
enum SourceKind {
    JwtClaim {
        claim: String,
        verifier: Arc<JwtVerifier>,
    },
    Subdomain {
        /// Lower case, no leading or trailing dot.
        base: String,
    },
    PathParam {
        name: String,
    },
    Header {
        name: HeaderName,
    },
}

/// What one source found in a request.
#[derive(Debug)]
pub(crate) enum Found {
    /// The request does not carry this source.
    Absent,
    /// The source names this tenant id.
    Present(String),
    /// The source is there but unusable.
    Invalid(TenantRejection),
}

impl Source {
    /// The claim `claim` of the bearer token in `Authorization`, verified by
    /// `verifier` (signature, algorithm, expiry, not-before, issuer,
    /// audience). Required by default: a request without a token is 401
    /// even when another source names a tenant (see [`Source::optional`]).
    pub fn jwt_claim(claim: impl Into<String>, verifier: JwtVerifier) -> Source {
        Source {
            kind: SourceKind::JwtClaim {
                claim: claim.into(),
                verifier: Arc::new(verifier),
            },
            required: true,
        }
    }

    /// The first label of the host under `base_domain`: `alpha` for
    /// `alpha.forms.example.com` with base `forms.example.com`. Read from
    /// `Host` (HTTP/1.1) or the URI's authority (HTTP/2), without the port,
    /// in lower case. A host outside the base domain carries no tenant; one
    /// with more than one label before it is refused (400).
    pub fn subdomain(base_domain: &str) -> Result<Source, ConfigError> {
        let base = base_domain.trim_matches('.').to_ascii_lowercase();
        let valid = !base.is_empty()
            && base.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(ConfigError::InvalidBaseDomain {
                domain: base_domain.to_string(),
            });
        }
        Ok(Source {
            kind: SourceKind::Subdomain { base },
            required: false,
        })
    }

    /// The route's path parameter `name` (`/t/{tenant}/forms` with name
    /// `tenant`). A route without it carries no tenant from this source.
    pub fn path_param(name: impl Into<String>) -> Source {
        Source {
            kind: SourceKind::PathParam { name: name.into() },
            required: false,
        }
    }

    /// The header `name`, **only behind a gateway that sets it and strips
    /// it from clients' requests**: anything a client can send, it can
    /// forge. Sent twice, it is refused (400).
    pub fn trusted_header(name: &str) -> Result<Source, ConfigError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::InvalidHeaderName {
                name: name.to_string(),
            }
        })?;
        Ok(Source {
            kind: SourceKind::Header { name },
            required: false,
        })
    }

    /// A request without this source is refused (401), whatever the other
    /// sources say.
    pub fn required(mut self) -> Source {
        self.required = true;
        self
    }

    /// A request may lack this source (the other sources decide).
    pub fn optional(mut self) -> Source {
        self.required = false;
        self
    }

    /// Whether a request must carry this source.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// Whether this source is a verified credential (a JWT claim).
    pub fn is_credential(&self) -> bool {
        matches!(self.kind, SourceKind::JwtClaim { .. })
    }

    /// A verifier's issuer and audience are set (or waived).
    pub(crate) fn check_ready(&self) -> Result<(), ConfigError> {
        match &self.kind {
            SourceKind::JwtClaim { verifier, .. } => verifier.check_ready(),
            _ => Ok(()),
        }
    }

    /// Two sources of the same kind and name: a resolver has each once.
    pub(crate) fn same_place(&self, other: &Source) -> bool {
        match (&self.kind, &other.kind) {
            (SourceKind::JwtClaim { .. }, SourceKind::JwtClaim { .. })
            | (SourceKind::Subdomain { .. }, SourceKind::Subdomain { .. }) => true,
            (SourceKind::PathParam { name: a }, SourceKind::PathParam { name: b }) => a == b,
            (SourceKind::Header { name: a }, SourceKind::Header { name: b }) => a == b,
            _ => false,
        }
    }

    /// What this source found in the request.
    pub(crate) async fn read(&self, parts: &mut Parts) -> Found {
        match &self.kind {
            SourceKind::JwtClaim { claim, verifier } => read_bearer(parts, claim, verifier),
            SourceKind::Subdomain { base } => self.read_subdomain(parts, base),
            SourceKind::PathParam { name } => self.read_path_param(parts, name).await,
            SourceKind::Header { name } => self.read_header(parts, name),
        }
    }

    fn read_subdomain(&self, parts: &Parts, base: &str) -> Found {
        let host = match parts.headers.get(HOST) {
            Some(value) => match value.to_str() {
                Ok(host) => host.to_string(),
                Err(_) => return self.malformed("the host is not visible ASCII"),
            },
            None => match parts.uri.host() {
                Some(host) => host.to_string(),
                None => return Found::Absent,
            },
        };
        if host.starts_with('[') {
            return Found::Absent; // an IPv6 literal has no subdomain
        }
        let name = host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _port)| name)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let Some(label) = name
            .strip_suffix(base)
            .and_then(|rest| rest.strip_suffix('.'))
        else {
            return Found::Absent;
        };
        if label.is_empty() {
            return Found::Absent;
        }
        if label.contains('.') {
            return self.malformed("the host has more than one label before the base domain");
        }
        Found::Present(label.to_string())
    }

    async fn read_path_param(&self, parts: &mut Parts, name: &str) -> Found {
        use axum::extract::rejection::RawPathParamsRejection;
        match RawPathParams::from_request_parts(parts, &()).await {
            Ok(params) => match params.iter().find(|(key, _)| *key == name) {
                Some((_, value)) => Found::Present(value.to_string()),
                None => Found::Absent,
            },
            Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
                self.malformed("a path segment is not UTF-8")
            }
            Err(_) => Found::Absent,
        }
    }

    fn read_header(&self, parts: &Parts, name: &HeaderName) -> Found {
        let mut values = parts.headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Found::Absent;
        };
        if values.next().is_some() {
            return self.malformed("the header is sent more than once");
        }
        match std::str::from_utf8(value.as_bytes()) {
            Ok(id) => Found::Present(id.to_string()),
            Err(_) => self.malformed("the header is not UTF-8"),
        }
    }

    fn malformed(&self, reason: &str) -> Found {
        Found::Invalid(TenantRejection::MalformedSource {
            source_name: self.to_string(),
            reason: reason.to_string(),
        })
    }
}

/// The bearer token of `Authorization`, verified, and its tenant claim.
fn read_bearer(parts: &Parts, claim: &str, verifier: &JwtVerifier) -> Found {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Found::Absent;
    };
    if values.next().is_some() {
        return Found::Invalid(TenantRejection::InvalidCredentials {
            reason: "Authorization is sent more than once".into(),
        });
    }
    let Ok(value) = value.to_str() else {
        return Found::Invalid(TenantRejection::InvalidCredentials {
            reason: "Authorization is not visible ASCII".into(),
        });
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) carries no bearer token.
        return Found::Absent;
    }
    let token = token.trim();
    if token.is_empty() {
        return Found::Invalid(TenantRejection::InvalidCredentials {
            reason: "the bearer token is empty".into(),
        });
    }
    match verifier.tenant_claim(token, claim) {
        Ok(id) => Found::Present(id),
        Err(e) => Found::Invalid(TenantRejection::InvalidToken(e)),
    }
}

impl fmt::Display for Source {
    /// How messages name the source (never with a value from a request).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SourceKind::JwtClaim { claim, .. } => write!(f, "the bearer token's {claim:?} claim"),
            SourceKind::Subdomain { base } => write!(f, "the subdomain of {base}"),
            SourceKind::PathParam { name } => write!(f, "the path parameter {{{name}}}"),
            SourceKind::Header { name } => write!(f, "the header {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(
        build: impl FnOnce(axum::http::request::Builder) -> axum::http::request::Builder,
    ) -> Parts {
        build(Request::builder().uri("/forms"))
            .body(())
            .expect("test request")
            .into_parts()
            .0
    }

    fn present(found: Found) -> String {
        match found {
            Found::Present(id) => id,
            other => panic!("expected a tenant, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_subdomain_is_the_first_label_under_the_base_in_lower_case_without_the_port() {
        let source = Source::subdomain("Forms.Example.com.").unwrap();
        let p = &mut parts(|b| b.header(HOST, "Alpha.forms.example.COM:8443"));
        assert_eq!(present(source.read(p).await), "alpha");
        for host in [
            "forms.example.com",
            "example.com",
            "alpha.other.com",
            "[::1]:80",
            "evilforms.example.com",
        ] {
            let p = &mut parts(|b| b.header(HOST, host));
            assert!(matches!(source.read(p).await, Found::Absent), "{host}");
        }
        let p = &mut parts(|b| b.header(HOST, "a.b.forms.example.com"));
        assert!(matches!(
            source.read(p).await,
            Found::Invalid(TenantRejection::MalformedSource { .. })
        ));
        let p = &mut parts(|b| b.header(HOST, &b"\xffalpha.forms.example.com"[..]));
        assert!(matches!(
            source.read(p).await,
            Found::Invalid(TenantRejection::MalformedSource { .. })
        ));
    }

    #[test]
    fn a_base_domain_or_header_name_that_cannot_work_is_a_configuration_error() {
        for bad in ["", ".", "forms..example.com", "forms.example.com/x", "x y"] {
            assert!(
                matches!(
                    Source::subdomain(bad),
                    Err(ConfigError::InvalidBaseDomain { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Source::trusted_header("x tenant"),
            Err(ConfigError::InvalidHeaderName { .. })
        ));
    }

    #[tokio::test]
    async fn a_header_sent_twice_or_not_utf8_is_refused() {
        let source = Source::trusted_header("x-tenant-id").unwrap();
        let p = &mut parts(|b| b.header("x-tenant-id", "alpha"));
        assert_eq!(present(source.read(p).await), "alpha");
        let p = &mut parts(|b| {
            b.header("x-tenant-id", "alpha")
                .header("x-tenant-id", "beta")
        });
        assert!(matches!(source.read(p).await, Found::Invalid(_)));
        let p = &mut parts(|b| b.header("x-tenant-id", &b"\xff"[..]));
        assert!(matches!(source.read(p).await, Found::Invalid(_)));
        let p = &mut parts(|b| b);
        assert!(matches!(source.read(p).await, Found::Absent));
    }

    #[tokio::test]
    async fn another_authorization_scheme_is_no_token_and_an_empty_bearer_is_refused() {
        let verifier = JwtVerifier::hs256(&[7; 32])
            .unwrap()
            .any_issuer()
            .any_audience();
        let source = Source::jwt_claim("tenant_id", verifier);
        let p = &mut parts(|b| b.header(AUTHORIZATION, "Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
        assert!(matches!(source.read(p).await, Found::Absent));
        let p = &mut parts(|b| b.header(AUTHORIZATION, "Bearer "));
        assert!(matches!(
            source.read(p).await,
            Found::Invalid(TenantRejection::InvalidCredentials { .. })
        ));
        let p = &mut parts(|b| b.header(AUTHORIZATION, "bearer not.a.jwt"));
        assert!(matches!(
            source.read(p).await,
            Found::Invalid(TenantRejection::InvalidToken(_))
        ));
    }
}
