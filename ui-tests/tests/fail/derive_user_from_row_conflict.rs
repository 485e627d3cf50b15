//! Deriving FromRow as well needs `#[tenant(from_row = false)]`.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    tenant_id: String,
    title: String,
}

impl<'r> tenant_runtime::sqlx::FromRow<'r, tenant_runtime::sqlx::postgres::PgRow> for Form {
    fn from_row(row: &'r tenant_runtime::sqlx::postgres::PgRow) -> Result<Self, tenant_runtime::sqlx::Error> {
        use tenant_runtime::sqlx::Row;
        Ok(Form { tenant_id: row.try_get("tenant_id")?, title: row.try_get("title")? })
    }
}

fn main() {}
