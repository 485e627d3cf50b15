//! With `forbid_delete = true`, soft deletes and the rest of CRUD still work.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query, Tenant, TenantTable};

#[derive(TenantTable)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    deleted: bool,
}

async fn soft_delete(pool: &PgPool, tenant: &Tenant, id: i64) -> Result<(), tenant_runtime::sqlx::Error> {
    tenant_query!(tenant, "UPDATE forms SET deleted = true WHERE tenant_id = $tenant AND id = $1", id)
        .execute(pool)
        .await?;
    let _ = Form::find(tenant, &id).fetch_optional(pool).await?;
    Ok(())
}

fn main() {
    let _ = soft_delete;
}
