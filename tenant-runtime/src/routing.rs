//! Partition-direct execution: checked queries name the requesting tenant's
//! partitions instead of the parents.
//!
//! Why: a prepared statement over a partitioned parent runs a cached generic
//! plan that locks every partition and index at each execution (PostgreSQL
//! 15, 2 cores: 22 queries/s at 5,000 tenants, "out of shared memory" at
//! 10,000), and planning with pruning still costs per partition. The macros
//! have proved that every tenant-table reference is bound to the one
//! requesting tenant, so the statement may name that tenant's partitions; it
//! then runs as fast as on an unpartitioned table. The tenant predicate stays
//! in the SQL and each partition only holds its tenant's rows, so a routing
//! mistake could only return nothing, never another tenant's rows.
//!
//! Routed SQL differs per tenant, so each (tenant, query) pair is its own
//! prepared statement: the connection's statement cache decides the speed.
//! See [`StatementCaching`] and [`DEFAULT_STATEMENT_CACHE_CAPACITY`].

use sqlx::postgres::PgConnectOptions;

/// How routed statements use the connection's prepared-statement cache.
///
/// A tenancy built
/// [`behind_transaction_pooler`](crate::TenancyBuilder::behind_transaction_pooler)
/// sends every statement unnamed, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatementCaching {
    /// Prepare each routed statement and keep it in the connection's cache
    /// (sqlx's LRU; size it with [`Tenancy::connect_options`]). A statement
    /// is prepared the second time its (tenant, query) pair runs in this
    /// process; the first run uses the unnamed statement, so tenants seen
    /// once do not evict the hot ones. The default.
    ///
    /// [`Tenancy::connect_options`]: crate::Tenancy::connect_options
    #[default]
    Prepared,
    /// Never keep routed statements: each execution parses and plans on the
    /// unnamed statement (one more round trip, no server memory per tenant).
    ///
    /// This buys memory, not speed: measured with `tenant-bench` at 1,000 to
    /// 10,000 tenants it ran at 0.68-0.70x the throughput of the parent
    /// tables on connections from [`parent_query_options`], which are the
    /// faster choice when statements cannot be cached per tenant
    /// ([`TenancyBuilder::routing`]`(false)`).
    ///
    /// [`TenancyBuilder::routing`]: crate::TenancyBuilder::routing
    Unnamed,
}

/// The prepared-statement cache capacity per connection that
/// [`Tenancy::connect_options`] sets unless
/// [`TenancyBuilder::statement_cache_capacity`] says otherwise (sqlx's own
/// default is 100).
///
/// Measured on PostgreSQL 15 (`pg_backend_memory_contexts`): a cached point
/// query costs the server about 8 KiB per statement, 12 KiB once PostgreSQL
/// has built its generic plan, on top of about 19 KiB of catalog cache per
/// partition touched (paid with or without caching). 16,384 statements are
/// thus up to ~200-500 MiB per connection, reached only when one connection
/// runs that many distinct (tenant, query) pairs. Lower it for large pools
/// with many query shapes; raise it when `tenants × hot queries` exceeds it
/// (`docs/performance/routing.md` has the throughput at each setting).
///
/// [`Tenancy::connect_options`]: crate::Tenancy::connect_options
/// [`TenancyBuilder::statement_cache_capacity`]: crate::TenancyBuilder::statement_cache_capacity
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 16_384;

/// Connect options for a pool that serves SQL which cannot be routed (the
/// runtime guard's dynamic SQL, hand-written queries on parents): sets
/// `plan_cache_mode = force_custom_plan`, so every execution is planned with
/// the tenant's value and prunes to one partition, instead of a cached
/// generic plan that locks all of them. Measured by `tenant-bench`
/// (`parent_custom` against `parent`).
///
/// Do not use it for the pool of routed queries: they target one partition
/// already and gain nothing from re-planning.
pub fn parent_query_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("plan_cache_mode", "force_custom_plan")])
}
