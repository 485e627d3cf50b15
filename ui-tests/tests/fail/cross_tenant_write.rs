//! A cross-tenant call that writes without saying so: refused at compile
//! time, with the write hidden in a WITH found as well.
use tenant_runtime::{cross_tenant_query, CrossTenant};

async fn purge(admin: &CrossTenant, pool: &tenant_runtime::sqlx::PgPool) {
    let _ = cross_tenant_query!(admin, "DELETE FROM forms WHERE id < $1", 10_i64)
        .execute(pool)
        .await;
    let _ = cross_tenant_query!(
        admin,
        "WITH gone AS (DELETE FROM forms RETURNING id) SELECT count(*) FROM gone"
    )
    .execute(pool)
    .await;
}

fn main() {}
