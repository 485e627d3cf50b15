//! A tenant handle is not the cross-tenant capability.
use tenant_runtime::{cross_tenant_query, Tenant};

async fn report(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = cross_tenant_query!(tenant, "SELECT count(*) FROM forms")
        .execute(pool)
        .await;
}

fn main() {}
