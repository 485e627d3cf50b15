//! # tenant-core
//!
//! The tenancy analyzer and schema model behind the `tenant` tool family.
//!
//! [`Analyzer::analyze`] parses SQL with the real PostgreSQL parser (`pg_query`)
//! and proves that every reference to a tenant table is restricted to the
//! requesting tenant, or returns the [`Violation`]s that show where it is not.
//! The crate is pure: no async, no database driver, so the proc-macros, the
//! CLI and the runtime guard all share exactly the same rules.
//!
//! ```
//! use tenant_core::{Analyzer, Config};
//!
//! let analyzer = Analyzer::new(Config::default());
//! let ok = analyzer
//!     .analyze("SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1")
//!     .unwrap();
//! assert!(ok.is_ok());
//! assert_eq!(ok.tenant_param, Some(2));
//!
//! let leak = analyzer.analyze("SELECT id FROM forms WHERE id = $1").unwrap();
//! assert!(!leak.is_ok());
//! assert_eq!(leak.violations().next().unwrap().rule.name(), "unbound-table");
//! ```
#![deny(missing_docs)]

mod analyzer;
pub mod cache;
pub mod config;
pub mod ddl_locks;
pub mod diagnostic;
pub mod fleet;
pub mod layout;
mod parse;
pub mod placeholder;
pub mod placement;
mod report;
pub mod route;
pub mod schema;
mod walk;

pub use analyzer::cross_tenant::{analyze_cross_tenant, CrossTenantAccess, CrossTenantAnalysis};
pub use analyzer::{Analyzer, Binding};
pub use cache::AnalysisCache;
pub use config::{Config, ConfigError, TableConfig, TableKind};
pub use parse::{fingerprint, ParseError};
pub use report::{Analysis, Position, Rule, StatementAnalysis, TableSite, Violation};
