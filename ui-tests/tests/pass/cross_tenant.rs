//! Cross-tenant reads, maintenance and a write made on purpose.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{cross_tenant_query, cross_tenant_query_as, cross_tenant_query_scalar, FromRow, Tenancy};

#[derive(FromRow)]
struct Usage {
    tenant_id: String,
    forms: i64,
}

async fn report(tenancy: &Tenancy, pool: &PgPool) -> Result<(), tenant_runtime::sqlx::Error> {
    let billing = tenancy.cross_tenant("billing");
    let usage: Vec<Usage> = cross_tenant_query_as!(Usage, &billing,
        "SELECT tenant_id, count(*) AS forms FROM forms GROUP BY tenant_id")
        .fetch_all(pool)
        .await?;
    let _ = usage.iter().map(|u| (&u.tenant_id, u.forms));
    let _size: Option<String> = cross_tenant_query_scalar!(&billing,
        "SELECT pg_size_pretty(pg_total_relation_size('forms'))")
        .fetch_one(pool)
        .await?;
    cross_tenant_query!(&billing, "VACUUM (ANALYZE) forms").execute(pool).await?;
    let cleanup = tenancy.cross_tenant(String::from("nightly cleanup"));
    cross_tenant_query!(&cleanup, allow_writes, "DELETE FROM form_submissions WHERE form_id < $1", 0_i64)
        .execute(pool)
        .await?;
    Ok(())
}

fn main() {
    let _ = report;
}
