//! The trait `#[derive(TenantTable)]` implements.

use tenant_core::schema::TableSchema;

/// A Rust type stored in a tenant table (a parent LIST-partitioned by the
/// tenant column). Implemented by `#[derive(TenantTable)]`; [`Tenancy`]
/// builds its list of parents from these.
///
/// [`Tenancy`]: crate::Tenancy
pub trait TenantTable {
    /// The table's name.
    const TABLE: &'static str;
    /// The table's full schema (columns, keys, indexes, foreign keys).
    fn schema() -> TableSchema;
    /// The configuration the derive checked this table's SQL against (in
    /// `tenant_core::Config::to_embedded` form); `None` for a hand-written
    /// impl. [`TenancyBuilder::build`](crate::TenancyBuilder::build)
    /// refuses a tenancy whose configuration differs from it.
    const CHECKED_CONFIG: Option<&'static str> = None;
}
