//! `id` is a bigint: a string argument for it is refused.
use tenant_runtime::{tenant_query, Tenant};

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = tenant_query!(tenant, "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1", "seven")
        .fetch_all(pool)
        .await;
}

fn main() {
    let _ = run;
}
