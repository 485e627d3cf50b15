//! `title` is text: its record field is a `String`, not a number.
use tenant_runtime::{tenant_query, Tenant};

async fn run(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool) {
    let row = tenant_query!(tenant, "SELECT title FROM forms WHERE tenant_id = $tenant AND id = 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let _title: i64 = row.title;
}

fn main() {
    let _ = run;
}
