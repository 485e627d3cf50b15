//! Support code for the macros' generated code. Not a public API: names and
//! signatures change without notice.
//!
//! Generated code calls only `::tenant_runtime::__private::...`, so a crate
//! whose sole dependency is `tenant-runtime` can use every macro.

pub use sqlx;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::Postgres;

use crate::tenant::Tenant;

pub use crate::router::{QueryIndex, RoutedQuery};
pub use std::borrow::Cow;
pub use tenant_core::route::{RouteSlot, RouteTemplate, Unroutable};
/// What `TenantTable::schema` returns.
pub use tenant_core::schema::TableSchema;

/// What `tenant_query!` returns.
pub type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
/// What `tenant_query_as!` returns.
pub type QueryAs<'q, O> = sqlx::query::QueryAs<'q, Postgres, O, PgArguments>;
/// What `tenant_query_scalar!` returns.
pub type QueryScalar<'q, O> = sqlx::query::QueryScalar<'q, Postgres, O, PgArguments>;

/// A PostgreSQL query of checked SQL.
#[inline]
pub fn query(sql: &str) -> Query<'_> {
    sqlx::query(sql)
}

/// What `tenant_query_as!` decodes rows into: any `sqlx::FromRow` type. A
/// trait of its own so that a type without the impl gets an error that says
/// what to derive, on the user's type, instead of a bound deep in here.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a row type: it does not implement `sqlx::FromRow`",
    label = "rows of the query cannot be read into `{Self}`",
    note = "add `#[derive(tenant_runtime::FromRow)]` to `{Self}` (or `#[derive(TenantTable)]` if it is a tenant table)"
)]
pub trait RowType: for<'r> sqlx::FromRow<'r, PgRow> {}

impl<T> RowType for T where T: for<'r> sqlx::FromRow<'r, PgRow> {}

/// A PostgreSQL query of checked SQL, rows decoded as `O`.
#[inline]
pub fn query_as<O: RowType>(sql: &str) -> QueryAs<'_, O> {
    sqlx::query_as(sql)
}

/// A PostgreSQL query of checked SQL, yielding the first column.
#[inline]
pub fn query_scalar<O>(sql: &str) -> QueryScalar<'_, O>
where
    (O,): for<'r> sqlx::FromRow<'r, PgRow>,
{
    sqlx::query_scalar(sql)
}

/// A query on the partitions of `tenant` (or the parents, for a
/// `via_parents` handle or an unroutable statement).
#[inline]
pub fn routed_query<'t>(tenant: &'t Tenant, query: &'static RoutedQuery) -> Query<'t> {
    let routed = tenant.route(query);
    sqlx::query(routed.sql).persistent(routed.persistent)
}

/// [`routed_query`] with rows decoded as `O`.
#[inline]
pub fn routed_query_as<'t, O: RowType>(
    tenant: &'t Tenant,
    query: &'static RoutedQuery,
) -> QueryAs<'t, O> {
    let routed = tenant.route(query);
    sqlx::query_as(routed.sql).persistent(routed.persistent)
}

/// [`routed_query`] yielding the first column.
#[inline]
pub fn routed_query_scalar<'t, O>(
    tenant: &'t Tenant,
    query: &'static RoutedQuery,
) -> QueryScalar<'t, O>
where
    (O,): for<'r> sqlx::FromRow<'r, PgRow>,
{
    let routed = tenant.route(query);
    sqlx::query_scalar(routed.sql).persistent(routed.persistent)
}

/// A type-checked query (`check_types = true`): sqlx's query object for the
/// call (`sqlx::query!` or `query_scalar!` over the SQL on the parents), run
/// with `tenant`'s routed SQL.
#[inline]
pub fn checked<'t, Q>(
    tenant: &'t Tenant,
    routed_query: &'static RoutedQuery,
    query: Q,
) -> crate::checked::Checked<'t, Q> {
    crate::checked::Checked::new(tenant, routed_query, query)
}

pub use crate::cross_tenant::CrossTenantStatement;
use crate::cross_tenant::{record, CrossTenant};

/// The handle argument of a cross-tenant macro: a type error on the user's
/// argument when it is not a `&CrossTenant`.
#[inline]
pub fn cross_tenant_ref(handle: &CrossTenant) -> &CrossTenant {
    handle
}

/// A cross-tenant query: logged, and unnamed (planned for its arguments at
/// every execution, never cached on the connection).
pub fn cross_tenant_query(
    handle: &CrossTenant,
    statement: &'static CrossTenantStatement,
) -> Query<'static> {
    record(handle, statement);
    sqlx::query(statement.sql).persistent(false)
}

/// [`cross_tenant_query`] with rows decoded as `O`.
pub fn cross_tenant_query_as<O: RowType>(
    handle: &CrossTenant,
    statement: &'static CrossTenantStatement,
) -> QueryAs<'static, O> {
    record(handle, statement);
    sqlx::query_as(statement.sql).persistent(false)
}

/// [`cross_tenant_query`] yielding the first column.
pub fn cross_tenant_query_scalar<O>(
    handle: &CrossTenant,
    statement: &'static CrossTenantStatement,
) -> QueryScalar<'static, O>
where
    (O,): for<'r> sqlx::FromRow<'r, PgRow>,
{
    record(handle, statement);
    sqlx::query_scalar(statement.sql).persistent(false)
}

/// The tenant argument of a query macro: taking `&Tenant` here puts a type
/// error (a plain string in the tenant position) on the user's argument.
#[inline]
pub fn tenant_ref(tenant: &Tenant) -> &Tenant {
    tenant
}

/// The value bound for `$tenant`. Taking `&Tenant` (not `&str`) is what makes
/// a plain string in the tenant position a type error at the argument.
#[inline]
pub fn tenant_id(tenant: &Tenant) -> &str {
    tenant.id()
}

/// A column as `#[derive(TenantTable)]` describes it at compile time.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Column name.
    pub name: &'static str,
    /// PostgreSQL type.
    pub sql_type: &'static str,
    /// NULL allowed.
    pub nullable: bool,
    /// DEFAULT expression.
    pub default: Option<&'static str>,
    /// `GENERATED ALWAYS AS IDENTITY`.
    pub identity: bool,
    /// `GENERATED ALWAYS AS (expression) STORED`.
    pub stored: Option<&'static str>,
}

/// A foreign key as the derive describes it (without the tenant column).
#[derive(Debug, Clone, Copy)]
pub struct ForeignKeySpec {
    /// Referencing columns.
    pub columns: &'static [&'static str],
    /// Referenced table.
    pub ref_table: &'static str,
    /// Referenced columns.
    pub ref_columns: &'static [&'static str],
}

/// A table as the derive describes it; [`TableSpec::to_schema`] builds the
/// runtime's model, so generated code does not depend on its exact fields.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// Schema, when qualified.
    pub schema: Option<&'static str>,
    /// Table name.
    pub name: &'static str,
    /// Tenant column.
    pub tenant_column: &'static str,
    /// Columns in declaration order.
    pub columns: &'static [ColumnSpec],
    /// Primary key without the tenant column.
    pub primary_key: &'static [&'static str],
    /// Unique constraints without the tenant column.
    pub unique: &'static [&'static [&'static str]],
    /// Indexes without the tenant column.
    pub indexes: &'static [&'static [&'static str]],
    /// Foreign keys.
    pub foreign_keys: &'static [ForeignKeySpec],
    /// `#[tenant(row_level_security = true)]`.
    pub row_level_security: bool,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

impl TableSpec {
    /// The schema model of this table.
    pub fn to_schema(&self) -> tenant_core::schema::TableSchema {
        use tenant_core::schema::{ColumnDef, ForeignKey, Generated, TableSchema};
        TableSchema {
            schema: self.schema.map(str::to_string),
            name: self.name.to_string(),
            tenant_column: self.tenant_column.to_string(),
            columns: self
                .columns
                .iter()
                .map(|c| ColumnDef {
                    name: c.name.to_string(),
                    sql_type: c.sql_type.to_string(),
                    nullable: c.nullable,
                    default: c.default.map(str::to_string),
                    generated: if c.identity {
                        Some(Generated::IdentityAlways)
                    } else {
                        c.stored.map(|e| Generated::Stored(e.to_string()))
                    },
                })
                .collect(),
            primary_key: strings(self.primary_key),
            unique: self.unique.iter().map(|u| strings(u)).collect(),
            indexes: self.indexes.iter().map(|i| strings(i)).collect(),
            foreign_keys: self
                .foreign_keys
                .iter()
                .map(|f| ForeignKey {
                    columns: strings(f.columns),
                    ref_table: f.ref_table.to_string(),
                    ref_columns: strings(f.ref_columns),
                })
                .collect(),
            row_level_security: self.row_level_security,
        }
    }
}

/// The configuration `tenancy_config!()` embedded; it was produced by
/// `Config::to_embedded` at compile time, so it reads back.
pub fn embedded_config(json: &'static str, origin: &'static str) -> tenant_core::Config {
    match tenant_core::Config::from_embedded(json) {
        Ok(config) => config,
        // Written by the macro from a Config of the same tenant-core.
        Err(e) => unreachable!(
            "tenancy_config!() embedded an unreadable configuration from {origin}: {e}"
        ),
    }
}
