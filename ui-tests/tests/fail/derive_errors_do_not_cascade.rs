//! Several mistakes: each reported once, and uses of the type stay quiet.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(tabel = "forms")]
struct Form {
    tenant_id: String,
    #[tenant(primary_key)]
    id: u32,
    #[tenant(unique = "yes")]
    slug: String,
}

async fn uses(tenant: &tenant_runtime::Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = Form::TABLE;
    let _ = <Form as TenantTable>::schema();
    let _ = Form::find(tenant, &1).fetch_optional(pool).await;
    let _ = Form::list(tenant).fetch_all(pool).await;
}

fn main() {}
