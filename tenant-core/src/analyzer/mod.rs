//! The analyzer: proves every tenant-table reference is bound to the tenant.

use crate::config::Config;
use crate::parse::ParseError;
use crate::report::Analysis;

/// How the requesting tenant is written in the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Binding {
    /// Only the `$tenant` placeholder binds (what the macros use).
    #[default]
    Strict,
    /// Any single parameter or literal binds (for SQL written elsewhere, as
    /// PgDog does); all tables of a statement must be bound to the same one.
    Lenient,
}

/// Checks SQL against the tenancy rules of one configuration.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: Config,
    binding: Binding,
}

impl Analyzer {
    /// An analyzer in strict mode.
    pub fn new(config: Config) -> Self {
        Analyzer {
            config,
            binding: Binding::Strict,
        }
    }

    /// Sets the binding mode.
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.binding = binding;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The binding mode in use.
    pub fn binding(&self) -> Binding {
        self.binding
    }

    /// Analyses one SQL text, which may hold several statements.
    pub fn analyze(&self, sql: &str) -> Result<Analysis, ParseError> {
        let _ = sql;
        todo!()
    }
}
