//! `subtitle` may be NULL: a String field cannot hold a NULL.
use tenant_runtime::{tenant_query_as, FromRow, Tenant};

#[derive(FromRow)]
struct FormRow {
    id: i64,
    subtitle: String,
}

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = tenant_query_as!(FormRow, tenant, "SELECT id, subtitle FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await;
}

fn main() {
    let _ = run;
}
