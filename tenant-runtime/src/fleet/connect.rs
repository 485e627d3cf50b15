//! Making a [`Fleet`]: one pool per database, sized from the connection
//! budget, with a statement cache sized from the memory budget.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tenant_core::fleet::FleetLayout;
use tenant_core::placement::database_urls;

use super::{Fleet, FleetDatabase, FleetInner};
use crate::error::Error;
use crate::tenancy::Tenancy;

impl Fleet {
    /// The fleet `tenancy`'s configuration declares, each database's URL
    /// read from the environment variable its `[[databases]]` entry names.
    /// Pools connect lazily: a database that is down does not stop the
    /// fleet from starting, only its own tenants get errors.
    pub fn connect(tenancy: &Tenancy) -> Result<Fleet, Error> {
        Fleet::connect_with(tenancy, |variable| std::env::var(variable).ok())
    }

    /// As [`connect`](Fleet::connect), with URLs looked up through
    /// `lookup` (given a variable name) instead of the environment.
    pub fn connect_with(
        tenancy: &Tenancy,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Fleet, Error> {
        let layout = layout_of(tenancy)?;
        let urls = database_urls(&layout.databases, lookup)?;
        let mut pools = Vec::with_capacity(urls.len());
        for ((name, url), (config, size)) in urls
            .into_iter()
            .zip(layout.databases.iter().zip(&layout.pool_sizes))
        {
            let options =
                PgConnectOptions::from_str(&url).map_err(|e| Error::InvalidDatabaseUrl {
                    database: name.clone(),
                    variable: config.url_env.clone(),
                    reason: e.to_string(),
                })?;
            let options = tenancy.connect_options(options);
            let capacity = if tenancy.behind_transaction_pooler() {
                0
            } else {
                tenancy_capacity(tenancy, &layout)
            };
            let pool = PgPoolOptions::new()
                .max_connections(*size)
                .acquire_timeout(layout.connect_timeout)
                .connect_lazy_with(options.statement_cache_capacity(capacity));
            pools.push((name, pool));
        }
        Fleet::assemble(tenancy, layout, pools)
    }

    /// A fleet on pools the application made itself, one per database of
    /// the configuration, by name (every database needs one). Pool sizes
    /// and statement caches are then the application's: build the options
    /// with [`Fleet::statement_cache_capacity`].
    pub fn from_pools(
        tenancy: &Tenancy,
        pools: impl IntoIterator<Item = (String, PgPool)>,
    ) -> Result<Fleet, Error> {
        let layout = layout_of(tenancy)?;
        let mut given: HashMap<String, PgPool> = pools.into_iter().collect();
        let mut ordered = Vec::with_capacity(layout.databases.len());
        for database in &layout.databases {
            let pool = given.remove(&database.name).ok_or_else(|| {
                Error::Schema(format!(
                    "Fleet::from_pools: no pool for the database `{}` of `[[databases]]`",
                    database.name
                ))
            })?;
            ordered.push((database.name.clone(), pool));
        }
        if let Some(extra) = given.keys().next() {
            return Err(Error::UnknownDatabase {
                name: extra.clone(),
                known: layout.databases.iter().map(|d| d.name.clone()).collect(),
            });
        }
        Fleet::assemble(tenancy, layout, ordered)
    }

    /// The per-connection prepared-statement cache a fleet pool gets: the
    /// configuration's memory budget (`fleet.statement_cache_mib`) divided
    /// by what one routed statement costs the server, capped by the
    /// tenancy's own capacity.
    pub fn statement_cache_capacity(tenancy: &Tenancy) -> Result<usize, Error> {
        Ok(tenancy_capacity(tenancy, &layout_of(tenancy)?))
    }

    fn assemble(
        tenancy: &Tenancy,
        layout: FleetLayout,
        pools: Vec<(String, PgPool)>,
    ) -> Result<Fleet, Error> {
        let databases = pools
            .into_iter()
            .map(|(name, pool)| FleetDatabase {
                tenancy: tenancy.for_fleet_database(&name),
                name,
                pool,
            })
            .collect();
        Ok(Fleet {
            inner: Arc::new(FleetInner {
                databases,
                directory: layout.directory,
                placement: layout.placement,
                template: tenancy.clone(),
                placements: Mutex::new(HashMap::new()),
                directory_ready: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

fn layout_of(tenancy: &Tenancy) -> Result<FleetLayout, Error> {
    tenancy.config().fleet_layout()?.ok_or(Error::NotAFleet)
}

fn tenancy_capacity(tenancy: &Tenancy, layout: &FleetLayout) -> usize {
    layout
        .statement_cache_capacity
        .min(tenancy.statement_cache_capacity())
}
