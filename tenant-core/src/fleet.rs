//! A fleet: tenants spread over several databases. The three run-time
//! sections of `tenancy.toml` (`[[databases]]`, `[placement]` and `[fleet]`)
//! validated together into a [`FleetLayout`].
//!
//! ```toml
//! [[databases]]
//! name = "eu1"
//! url_env = "EU1_DATABASE_URL"   # the URL is read from this variable
//!
//! [[databases]]
//! name = "us1"
//! url_env = "US1_DATABASE_URL"
//! pool_size = 20                 # optional: this pool's connections
//!
//! [placement]                    # see tenant_core::placement
//! default = "eu1"
//!
//! [fleet]
//! directory = "eu1"              # whose registry holds the directory (default: the first)
//! max_connections = 60           # every pool together (default: 10 per database)
//! statement_cache_mib = 64       # per connection (default 64)
//! connect_timeout_ms = 5000      # a database that is down fails this fast
//! ```
//!
//! These sections say where tenants live, not what a query may do: the
//! macros do not read them, and they are not part of the configuration the
//! macros embed (`Config::to_embedded`). The runtime reads them from the
//! file at run time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::placement::{DatabaseConfig, Placement, PlacementConfig, PlacementError};

/// What one routed statement costs the server per connection that prepared
/// it: about 28 KiB, measured with `tenant-bench` at 5,000 tenants (the
/// book's routing measurements).
pub const BYTES_PER_CACHED_STATEMENT: u64 = 28 * 1024;

/// The default per-connection budget of prepared routed statements, in MiB:
/// 64 MiB holds 2,340 statements (a query of each of 2,340 tenants, or 10
/// queries of 234), so a pool of 10 connections stays under 640 MiB of
/// server memory however many tenants it serves.
pub const DEFAULT_STATEMENT_CACHE_MIB: u32 = 64;

/// The default connection budget per database when `[fleet]` sets no
/// `max_connections`.
pub const DEFAULT_CONNECTIONS_PER_DATABASE: u32 = 10;

/// The default connect timeout: a tenant on a database that is down gets an
/// error this fast.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `[fleet]`: settings of the fleet as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// The database whose registry holds the directory (each tenant's
    /// explicit placement); the first of `[[databases]]` when omitted.
    pub directory: Option<String>,
    /// Connections of every pool together. Databases without a `pool_size`
    /// share what the others leave. Default: 10 per database.
    pub max_connections: Option<u32>,
    /// The per-connection memory budget of prepared routed statements, in
    /// MiB (default [`DEFAULT_STATEMENT_CACHE_MIB`]); each pool's statement
    /// cache holds this divided by [`BYTES_PER_CACHED_STATEMENT`].
    pub statement_cache_mib: Option<u32>,
    /// How long connecting to a database may take before its tenants get an
    /// error, in milliseconds (default 5,000).
    pub connect_timeout_ms: Option<u64>,
}

/// What is wrong with the fleet sections. Each names its entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetConfigError {
    /// The databases or the placement rules.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// `[fleet]` without any `[[databases]]`.
    #[error("`[fleet]` needs `[[databases]]`")]
    NoDatabases,
    /// `fleet.directory` names no declared database.
    #[error("`fleet.directory` names the database `{0}`, which `[[databases]]` does not declare")]
    UnknownDirectory(String),
    /// A pool of no connections.
    #[error("`databases[{index}]` (`{name}`): `pool_size` must be at least 1")]
    EmptyPool {
        /// Its position.
        index: usize,
        /// Its name.
        name: String,
    },
    /// The pools do not fit the connection budget.
    #[error("`fleet.max_connections` = {budget} cannot give {databases} database(s) a connection each after the {explicit} that `pool_size` entries take")]
    ConnectionBudget {
        /// `max_connections`.
        budget: u32,
        /// The explicit pool sizes together.
        explicit: u32,
        /// The databases left without a size.
        databases: usize,
    },
    /// A budget of zero.
    #[error("`fleet.{key}` must be at least 1")]
    Zero {
        /// The key.
        key: &'static str,
    },
}

/// The fleet sections, validated: the databases, the rules, the directory
/// database and each pool's size and statement cache.
#[derive(Debug, Clone)]
pub struct FleetLayout {
    /// The databases, in declaration order.
    pub databases: Vec<DatabaseConfig>,
    /// The placement rules (none: every tenant needs a directory entry).
    pub placement: Placement,
    /// The index (into `databases`) of the directory database.
    pub directory: usize,
    /// Each database's pool size, in declaration order.
    pub pool_sizes: Vec<u32>,
    /// Prepared statements each connection caches.
    pub statement_cache_capacity: usize,
    /// The connect timeout.
    pub connect_timeout: Duration,
}

impl FleetLayout {
    /// Validates the three sections together. `Ok(None)` when there is no
    /// `[[databases]]` (one database, as without a fleet).
    pub fn new(
        databases: &[DatabaseConfig],
        placement: Option<&PlacementConfig>,
        fleet: Option<&FleetConfig>,
    ) -> Result<Option<FleetLayout>, FleetConfigError> {
        if databases.is_empty() {
            if placement.is_some() {
                return Err(PlacementError::NoDatabases.into());
            }
            if fleet.is_some() {
                return Err(FleetConfigError::NoDatabases);
            }
            return Ok(None);
        }
        let rules = placement.cloned().unwrap_or_default();
        let placement = Placement::new(databases, &rules)?;
        let fleet = fleet.cloned().unwrap_or_default();
        let directory = match &fleet.directory {
            None => 0,
            Some(name) => databases
                .iter()
                .position(|d| &d.name == name)
                .ok_or_else(|| FleetConfigError::UnknownDirectory(name.clone()))?,
        };
        for (index, database) in databases.iter().enumerate() {
            if database.pool_size == Some(0) {
                return Err(FleetConfigError::EmptyPool {
                    index,
                    name: database.name.clone(),
                });
            }
        }
        let count = u32::try_from(databases.len()).unwrap_or(u32::MAX);
        let budget = fleet
            .max_connections
            .unwrap_or_else(|| count.saturating_mul(DEFAULT_CONNECTIONS_PER_DATABASE));
        if budget == 0 {
            return Err(FleetConfigError::Zero {
                key: "max_connections",
            });
        }
        let explicit: u32 = databases.iter().filter_map(|d| d.pool_size).sum();
        let implicit = databases.iter().filter(|d| d.pool_size.is_none()).count();
        let share = if implicit == 0 {
            0
        } else {
            budget.saturating_sub(explicit) / implicit as u32
        };
        if explicit > budget || (implicit > 0 && share == 0) {
            return Err(FleetConfigError::ConnectionBudget {
                budget,
                explicit,
                databases: implicit.max(1),
            });
        }
        let pool_sizes = databases
            .iter()
            .map(|d| d.pool_size.unwrap_or(share))
            .collect();
        let mib = fleet
            .statement_cache_mib
            .unwrap_or(DEFAULT_STATEMENT_CACHE_MIB);
        if mib == 0 {
            return Err(FleetConfigError::Zero {
                key: "statement_cache_mib",
            });
        }
        let statement_cache_capacity =
            usize::try_from(u64::from(mib) * 1024 * 1024 / BYTES_PER_CACHED_STATEMENT)
                .unwrap_or(usize::MAX);
        let connect_timeout = match fleet.connect_timeout_ms {
            Some(0) => {
                return Err(FleetConfigError::Zero {
                    key: "connect_timeout_ms",
                })
            }
            Some(ms) => Duration::from_millis(ms),
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        Ok(Some(FleetLayout {
            databases: databases.to_vec(),
            placement,
            directory,
            pool_sizes,
            statement_cache_capacity,
            connect_timeout,
        }))
    }

    /// The directory database's name.
    pub fn directory_name(&self) -> &str {
        &self.databases[self.directory].name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str, pool_size: Option<u32>) -> DatabaseConfig {
        DatabaseConfig {
            name: name.into(),
            url_env: format!("{}_URL", name.to_uppercase()),
            pool_size,
        }
    }

    #[test]
    fn no_databases_is_no_fleet_and_orphan_sections_are_errors() {
        assert!(FleetLayout::new(&[], None, None).unwrap().is_none());
        assert_eq!(
            FleetLayout::new(&[], Some(&PlacementConfig::default()), None).unwrap_err(),
            FleetConfigError::Placement(PlacementError::NoDatabases)
        );
        assert_eq!(
            FleetLayout::new(&[], None, Some(&FleetConfig::default())).unwrap_err(),
            FleetConfigError::NoDatabases
        );
    }

    #[test]
    fn defaults_give_ten_connections_each_and_a_bounded_cache() {
        let layout = FleetLayout::new(&[db("a", None), db("b", None)], None, None)
            .unwrap()
            .unwrap();
        assert_eq!(layout.pool_sizes, [10, 10]);
        assert_eq!(layout.directory_name(), "a");
        assert_eq!(layout.statement_cache_capacity, 2340);
        assert_eq!(layout.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn implicit_pools_share_what_explicit_ones_leave() {
        let fleet = FleetConfig {
            max_connections: Some(31),
            directory: Some("c".into()),
            statement_cache_mib: Some(1),
            connect_timeout_ms: Some(250),
        };
        let layout = FleetLayout::new(
            &[db("a", Some(11)), db("b", None), db("c", None)],
            None,
            Some(&fleet),
        )
        .unwrap()
        .unwrap();
        assert_eq!(layout.pool_sizes, [11, 10, 10]);
        assert_eq!(layout.directory_name(), "c");
        assert_eq!(layout.statement_cache_capacity, 36);
        assert_eq!(layout.connect_timeout, Duration::from_millis(250));
    }

    #[test]
    fn errors_name_the_entry() {
        let over = FleetConfig {
            max_connections: Some(10),
            ..FleetConfig::default()
        };
        let err =
            FleetLayout::new(&[db("a", Some(10)), db("b", None)], None, Some(&over)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`fleet.max_connections` = 10 cannot give 1 database(s) a connection each after the 10 that `pool_size` entries take"
        );
        let err = FleetLayout::new(&[db("a", Some(0))], None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`databases[0]` (`a`): `pool_size` must be at least 1"
        );
        let unknown = FleetConfig {
            directory: Some("zz".into()),
            ..FleetConfig::default()
        };
        let err = FleetLayout::new(&[db("a", None)], None, Some(&unknown)).unwrap_err();
        assert!(err.to_string().contains("`zz`"), "{err}");
        let zero = FleetConfig {
            statement_cache_mib: Some(0),
            ..FleetConfig::default()
        };
        let err = FleetLayout::new(&[db("a", None)], None, Some(&zero)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`fleet.statement_cache_mib` must be at least 1"
        );
    }
}
