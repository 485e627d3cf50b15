//! `#[tenant(from_row = false)]`: the struct's own `FromRow` is used by the
//! CRUD methods and by `tenant_query_as!`.
use tenant_runtime::sqlx::postgres::PgRow;
use tenant_runtime::sqlx::{FromRow, PgPool, Row};
use tenant_runtime::{tenant_query_as, Tenant, TenantTable};

#[derive(Debug, TenantTable)]
#[tenant(from_row = false)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    title: String,
}

impl<'r> FromRow<'r, PgRow> for Form {
    fn from_row(row: &'r PgRow) -> Result<Self, tenant_runtime::sqlx::Error> {
        Ok(Form {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            title: row.try_get::<String, _>("title")?.trim().to_string(),
        })
    }
}

async fn uses(pool: &PgPool, tenant: &Tenant) -> Result<(), tenant_runtime::sqlx::Error> {
    let _one = Form::find(tenant, &1).fetch_optional(pool).await?;
    let _many: Vec<Form> = tenant_query_as!(Form, tenant, "SELECT * FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await?;
    Ok(())
}

fn main() {
    let _ = uses;
}
