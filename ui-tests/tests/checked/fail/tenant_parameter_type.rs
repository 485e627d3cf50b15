//! `ledgers.tenant_id` is a bigint: compared with it uncast, `$tenant` is a
//! bigint parameter, and the text id the runtime binds would fail at run
//! time. The fix is `$tenant::bigint`.
use tenant_runtime::{tenant_query, Tenant};

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = tenant_query!(tenant, "SELECT id FROM ledgers WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await;
}

fn main() {
    let _ = run;
}
