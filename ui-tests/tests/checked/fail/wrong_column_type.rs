//! `id` is a bigint: an i32 field does not hold it.
use tenant_runtime::{tenant_query_as, FromRow, Tenant};

#[derive(FromRow)]
struct FormRow {
    id: i32,
    title: String,
}

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = tenant_query_as!(FormRow, tenant, "SELECT id, title FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await;
}

fn main() {
    let _ = run;
}
