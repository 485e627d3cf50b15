//! `max(id)` is NULL when the tenant has no forms: sqlx types the scalar as
//! an `Option`, and an `i64` is refused.
use tenant_runtime::{tenant_query_scalar, Tenant};

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _last: i64 = tenant_query_scalar!(tenant, "SELECT max(id) FROM forms WHERE tenant_id = $tenant")
        .fetch_one(pool)
        .await
        .unwrap();
}

fn main() {
    let _ = run;
}
