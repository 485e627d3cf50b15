//! The guard itself: its modes, its builder, its verdicts and counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tenant_core::cache::AnalysisCache;
use tenant_core::{Analyzer, Binding, Config, ParseError, Violation};

use crate::tenancy::Tenancy;

/// What the guard does with a statement that breaks the tenancy rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardMode {
    /// Refuse it before it reaches PostgreSQL.
    #[default]
    Enforce,
    /// Let it run; log and count the violation.
    DryRun,
}

/// A statement the guard refused (Enforce mode).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuardError {
    /// The statement could read or write another tenant's rows.
    #[error(
        "tenant guard refused statement {fingerprint}: {}",
        summary(violations)
    )]
    Violation {
        /// PostgreSQL-normalised fingerprint of the statement (same for the
        /// same query shape with different constants).
        fingerprint: String,
        /// Everything wrong with it.
        violations: Vec<Violation>,
    },
    /// PostgreSQL's parser rejects the statement.
    #[error("tenant guard could not parse the statement: {0}")]
    Parse(ParseError),
}

fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} [{}] at {}", v.message, v.rule, v.position))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Counters since the guard was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Statements checked.
    pub checked: u64,
    /// Statements refused (Enforce).
    pub refused: u64,
    /// Statements that broke a rule but ran (DryRun).
    pub dry_run_violations: u64,
    /// Statements the parser rejected.
    pub parse_errors: u64,
}

struct Inner {
    cache: AnalysisCache,
    /// The same rules in strict mode, for [`GuardedPool::for_tenant`]
    /// (made on first use when the guard itself is lenient).
    strict_cache: std::sync::OnceLock<AnalysisCache>,
    config: Config,
    capacity: usize,
    mode: GuardMode,
    checked: AtomicU64,
    refused: AtomicU64,
    dry_run_violations: AtomicU64,
    parse_errors: AtomicU64,
}

/// The runtime guard. Cheap to clone: clones share the cache and counters.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("mode", &self.inner.mode)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`Guard`]; see [`Guard::builder`] and [`Tenancy::guard`].
#[derive(Debug, Clone)]
pub struct GuardBuilder {
    config: Config,
    mode: GuardMode,
    binding: Binding,
    capacity: usize,
}

/// Default number of distinct statements the guard remembers.
pub const DEFAULT_GUARD_CAPACITY: usize = 10_000;

impl GuardBuilder {
    /// Enforce (default) or dry-run.
    pub fn mode(mut self, mode: GuardMode) -> Self {
        self.mode = mode;
        self
    }

    /// Require the `$tenant` placeholder instead of any parameter or literal.
    pub fn strict(mut self, strict: bool) -> Self {
        self.binding = if strict {
            Binding::Strict
        } else {
            Binding::Lenient
        };
        self
    }

    /// How many distinct statements to cache (default
    /// [`DEFAULT_GUARD_CAPACITY`]).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The guard.
    pub fn build(self) -> Guard {
        let analyzer = Analyzer::new(self.config.clone()).with_binding(self.binding);
        let strict_cache = std::sync::OnceLock::new();
        if self.binding == Binding::Strict {
            let _ = strict_cache.set(AnalysisCache::new(analyzer.clone(), self.capacity));
        }
        Guard {
            inner: Arc::new(Inner {
                cache: AnalysisCache::new(analyzer, self.capacity),
                strict_cache,
                config: self.config,
                capacity: self.capacity,
                mode: self.mode,
                checked: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                dry_run_violations: AtomicU64::new(0),
                parse_errors: AtomicU64::new(0),
            }),
        }
    }
}

impl Guard {
    /// A builder for a guard with the rules of `config` (lenient, enforcing).
    pub fn builder(config: Config) -> GuardBuilder {
        GuardBuilder {
            config,
            mode: GuardMode::Enforce,
            binding: Binding::Lenient,
            capacity: DEFAULT_GUARD_CAPACITY,
        }
    }

    /// The mode.
    pub fn mode(&self) -> GuardMode {
        self.inner.mode
    }

    /// Checks one SQL text (one or more statements). In DryRun mode this
    /// never fails: violations are logged and counted instead.
    pub fn check(&self, sql: &str) -> Result<(), GuardError> {
        self.verdict(&self.inner.cache, sql).map(|_| ())
    }

    /// The strict analysis cache (see [`GuardedPool::for_tenant`]).
    pub(crate) fn strict_cache(&self) -> &AnalysisCache {
        self.inner.strict_cache.get_or_init(|| {
            AnalysisCache::new(
                Analyzer::new(self.inner.config.clone()).with_binding(Binding::Strict),
                self.inner.capacity,
            )
        })
    }

    /// Checks `sql` with `cache`, counting and logging as [`check`](Self::check)
    /// does; returns the analysis when the statement may run.
    pub(crate) fn verdict(
        &self,
        cache: &AnalysisCache,
        sql: &str,
    ) -> Result<tenant_core::cache::CachedResult, GuardError> {
        let inner = &self.inner;
        inner.checked.fetch_add(1, Ordering::Relaxed);
        let verdict = cache.check(sql);
        if matches!(verdict.as_ref(), Ok(analysis) if analysis.is_ok()) {
            return Ok(verdict);
        }
        let error = match verdict.as_ref() {
            Ok(analysis) => GuardError::Violation {
                fingerprint: fingerprint(sql),
                violations: analysis.violations().cloned().collect(),
            },
            Err(parse) => {
                inner.parse_errors.fetch_add(1, Ordering::Relaxed);
                GuardError::Parse(parse.clone())
            }
        };
        match inner.mode {
            GuardMode::Enforce => {
                inner.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "tenant_runtime::guard", %error, "statement refused");
                Err(error)
            }
            GuardMode::DryRun => {
                if matches!(error, GuardError::Violation { .. }) {
                    inner.dry_run_violations.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(target: "tenant_runtime::guard", %error, "dry run: statement would be refused");
                Ok(verdict)
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> GuardStats {
        let inner = &self.inner;
        GuardStats {
            checked: inner.checked.load(Ordering::Relaxed),
            refused: inner.refused.load(Ordering::Relaxed),
            dry_run_violations: inner.dry_run_violations.load(Ordering::Relaxed),
            parse_errors: inner.parse_errors.load(Ordering::Relaxed),
        }
    }
}

/// PostgreSQL's fingerprint of a statement, or a marker when it does not parse.
fn fingerprint(sql: &str) -> String {
    tenant_core::fingerprint(sql).unwrap_or_else(|| "(unparsable)".to_string())
}

impl Tenancy {
    /// A guard with this tenancy's configuration (lenient, enforcing, 10,000
    /// statements cached); adjust it with the builder.
    pub fn guard(&self) -> GuardBuilder {
        Guard::builder(self.config().clone())
    }
}
