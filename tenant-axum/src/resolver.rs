//! From a request to a tenant id, then to a checked [`Tenant`] handle.

use axum::http::request::Parts;
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{Error as RuntimeError, Tenancy, Tenant};

use crate::error::ConfigError;
use crate::rejection::TenantRejection;
use crate::source::{Found, Source};

/// How the answers of several sources become one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Every source the request carries must name the same tenant, and at
    /// least one must; otherwise 403 (disagree) or 401 (none). The safe
    /// choice when a URL names the tenant beside a token: the token for
    /// alpha with `/t/beta/..` is refused, without asking whether beta
    /// exists.
    #[default]
    AllMustAgree,
    /// The first source, in the order they were added, that the request
    /// carries decides; the others are still read, and one that is present
    /// but invalid (a forged token) still fails the request. Put the token
    /// first: a source ahead of it lets the URL or a header choose the
    /// tenant.
    FirstMatch,
}

/// Reads the requesting tenant from a request: built once at start-up with
/// [`TenantResolver::builder`], shared by every request.
#[derive(Clone, Debug)]
pub struct TenantResolver {
    sources: Vec<Source>,
    policy: Policy,
    reveal_unknown_tenants: bool,
}

/// Configures a [`TenantResolver`]; [`ResolverBuilder::build`] checks it.
#[derive(Debug, Default)]
#[must_use]
pub struct ResolverBuilder {
    sources: Vec<Source>,
    policy: Policy,
    reveal_unknown_tenants: bool,
}

impl ResolverBuilder {
    /// Adds a source; their order matters under [`Policy::FirstMatch`].
    pub fn source(mut self, source: Source) -> ResolverBuilder {
        self.sources.push(source);
        self
    }

    /// How several sources combine (default [`Policy::AllMustAgree`]).
    pub fn policy(mut self, policy: Policy) -> ResolverBuilder {
        self.policy = policy;
        self
    }

    /// Answer 404 "unknown tenant" for a tenant that is not in the
    /// registry, instead of the default 403 "not available" that also
    /// covers offboarded tenants. Revealing helps clients tell a typo from
    /// a revoked tenant; it also lets anyone who can name a tenant (a
    /// subdomain, a path) learn which tenants exist.
    pub fn reveal_unknown_tenants(mut self, reveal: bool) -> ResolverBuilder {
        self.reveal_unknown_tenants = reveal;
        self
    }

    /// The resolver, or the first thing that keeps it from working (no
    /// source, a verifier with no issuer or audience, the same source twice).
    pub fn build(self) -> Result<TenantResolver, ConfigError> {
        if self.sources.is_empty() {
            return Err(ConfigError::NoSource);
        }
        for (i, source) in self.sources.iter().enumerate() {
            if self.sources[..i].iter().any(|s| s.same_place(source)) {
                return Err(ConfigError::DuplicateSource {
                    what: source.to_string(),
                });
            }
            source.check_ready()?;
        }
        Ok(TenantResolver {
            sources: self.sources,
            policy: self.policy,
            reveal_unknown_tenants: self.reveal_unknown_tenants,
        })
    }
}

/// A tenant id read from a request, before the registry was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedId {
    /// The id as the source gave it.
    pub id: String,
    /// The source that decided (under [`Policy::AllMustAgree`], the first
    /// of those that agreed), in words.
    pub source_name: String,
}

impl TenantResolver {
    /// A builder with no source and [`Policy::AllMustAgree`].
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The sources, in order.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The tenant id the request names, by the policy; no database access.
    pub async fn resolve_id(&self, parts: &mut Parts) -> Result<ResolvedId, TenantRejection> {
        let mut named: Vec<(&Source, String)> = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            match source.read(parts).await {
                Found::Present(id) => named.push((source, id)),
                Found::Invalid(rejection) => return Err(rejection),
                Found::Absent if source.is_required() => return Err(self.missing()),
                Found::Absent => {}
            }
        }
        let Some((first, id)) = named.first() else {
            return Err(self.missing());
        };
        if self.policy == Policy::AllMustAgree {
            if let Some((other, _)) = named.iter().find(|(_, other_id)| other_id != id) {
                return Err(TenantRejection::SourcesDisagree {
                    first: first.to_string(),
                    second: other.to_string(),
                });
            }
        }
        Ok(ResolvedId {
            id: id.clone(),
            source_name: first.to_string(),
        })
    }

    /// The tenant the request names, checked against the registry through
    /// [`Tenancy::tenant`] (its cache first): an unknown, offboarded or
    /// invalid tenant is refused.
    pub async fn resolve(
        &self,
        parts: &mut Parts,
        tenancy: &Tenancy,
        pool: &PgPool,
    ) -> Result<Tenant, TenantRejection> {
        let resolved = self.resolve_id(parts).await?;
        tenancy
            .tenant(pool, &resolved.id)
            .await
            .map_err(|e| self.lookup_rejection(&resolved, e))
    }

    fn lookup_rejection(&self, resolved: &ResolvedId, error: RuntimeError) -> TenantRejection {
        match error {
            RuntimeError::InvalidTenantId(reason) => TenantRejection::InvalidTenantId {
                source_name: resolved.source_name.clone(),
                reason: reason.to_string(),
            },
            RuntimeError::UnknownTenant { .. } if self.reveal_unknown_tenants => {
                TenantRejection::UnknownTenant
            }
            RuntimeError::UnknownTenant { .. } | RuntimeError::OffboardInProgress { .. } => {
                TenantRejection::TenantNotAvailable
            }
            other => {
                tracing::error!(error = %other, "tenant lookup failed");
                TenantRejection::RegistryUnavailable
            }
        }
    }

    fn missing(&self) -> TenantRejection {
        let expected: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                if s.is_required() {
                    format!("{s} (required)")
                } else {
                    s.to_string()
                }
            })
            .collect();
        TenantRejection::MissingCredentials {
            expected: expected.join(" or "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::JwtVerifier;
    use axum::http::Request;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &[u8] = b"a resolver test secret, 32 bytes+";

    fn verifier() -> JwtVerifier {
        JwtVerifier::hs256(SECRET)
            .unwrap()
            .issuer("iss")
            .audience("aud")
    }

    fn token(tenant: &str) -> String {
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = serde_json::json!({ "iss": "iss", "aud": "aud", "exp": exp, "tid": tenant });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap()
    }

    fn request(token: Option<&str>, header: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/x");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(header) = header {
            builder = builder.header("x-tenant", header);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn resolver(policy: Policy, jwt_required: bool) -> TenantResolver {
        let jwt = Source::jwt_claim("tid", verifier());
        TenantResolver::builder()
            .source(if jwt_required { jwt } else { jwt.optional() })
            .source(Source::trusted_header("x-tenant").unwrap())
            .policy(policy)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn all_must_agree_takes_agreeing_sources_and_refuses_a_disagreement() {
        let r = resolver(Policy::AllMustAgree, true);
        let alpha = token("alpha");
        let id = r
            .resolve_id(&mut request(Some(&alpha), Some("alpha")))
            .await
            .unwrap();
        assert_eq!(id.id, "alpha");
        assert_eq!(id.source_name, "the bearer token's \"tid\" claim");
        let refused = r.resolve_id(&mut request(Some(&alpha), Some("beta"))).await;
        assert!(
            matches!(refused, Err(TenantRejection::SourcesDisagree { .. })),
            "{refused:?}"
        );
        let alone = r
            .resolve_id(&mut request(Some(&alpha), None))
            .await
            .unwrap();
        assert_eq!(alone.id, "alpha");
        // The token is required: the header alone is not enough.
        let missing = r.resolve_id(&mut request(None, Some("alpha"))).await;
        assert!(
            matches!(missing, Err(TenantRejection::MissingCredentials { .. })),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn first_match_takes_the_first_source_present_and_still_refuses_a_bad_token() {
        let r = resolver(Policy::FirstMatch, false);
        let alpha = token("alpha");
        let id = r
            .resolve_id(&mut request(Some(&alpha), Some("beta")))
            .await
            .unwrap();
        assert_eq!(id.id, "alpha");
        let id = r
            .resolve_id(&mut request(None, Some("beta")))
            .await
            .unwrap();
        assert_eq!(id.id, "beta");
        let bad = r
            .resolve_id(&mut request(Some("forged.token.here"), Some("beta")))
            .await;
        assert!(
            matches!(bad, Err(TenantRejection::InvalidToken(_))),
            "{bad:?}"
        );
        let none = r.resolve_id(&mut request(None, None)).await;
        assert!(
            matches!(none, Err(TenantRejection::MissingCredentials { .. })),
            "{none:?}"
        );
    }

    #[test]
    fn a_resolver_that_cannot_work_is_refused_when_built() {
        assert_eq!(
            TenantResolver::builder().build().unwrap_err(),
            ConfigError::NoSource
        );
        let no_issuer = JwtVerifier::hs256(SECRET).unwrap().audience("aud");
        let err = TenantResolver::builder()
            .source(Source::jwt_claim("tid", no_issuer))
            .build();
        assert_eq!(err.unwrap_err(), ConfigError::IssuerNotSet);
        let no_audience = JwtVerifier::hs256(SECRET).unwrap().issuer("iss");
        let err = TenantResolver::builder()
            .source(Source::jwt_claim("tid", no_audience))
            .build();
        assert_eq!(err.unwrap_err(), ConfigError::AudienceNotSet);
        let twice = TenantResolver::builder()
            .source(Source::path_param("tenant"))
            .source(Source::path_param("tenant"))
            .build();
        assert!(matches!(twice, Err(ConfigError::DuplicateSource { .. })));
        assert!(matches!(
            JwtVerifier::hs256(b"short"),
            Err(ConfigError::WeakSecret { len: 5, min: 32 })
        ));
        assert!(matches!(
            JwtVerifier::rs256_pem(b"not a key"),
            Err(ConfigError::InvalidKey { .. })
        ));
    }
}
