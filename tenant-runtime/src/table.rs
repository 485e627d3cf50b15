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
}
