//! `titel` is not a column: the statement cannot be described, so offline
//! there is no data for it and the build says so.
use tenant_runtime::{tenant_query, Tenant};

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = tenant_query!(tenant, "SELECT titel FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await;
}

fn main() {
    let _ = run;
}
