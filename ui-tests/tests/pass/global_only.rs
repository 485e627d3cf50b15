//! A query over global tables only binds no tenant, but still takes one.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query_scalar, Tenant};

async fn plan_name(pool: &PgPool, tenant: &Tenant, id: i64) -> Result<String, tenant_runtime::sqlx::Error> {
    tenant_query_scalar!(tenant, "SELECT p.name FROM plans p JOIN countries c ON c.code = p.country WHERE p.id = $1", id)
        .fetch_one(pool)
        .await
}

fn main() {
    let _ = plan_name;
}
