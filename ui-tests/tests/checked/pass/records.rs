//! `tenant_query!` gives sqlx's typed records, on a pool or in a tenant
//! transaction; a cast tenant parameter takes the text id.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query, Tenant};

async fn run(tenant: &Tenant, pool: &PgPool) -> Result<(), Box<dyn std::error::Error>> {
    let rows = tenant_query!(
        tenant,
        "SELECT id, title, subtitle FROM forms WHERE tenant_id = $tenant ORDER BY id"
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let _: (i64, &String, &Option<String>) = (row.id, &row.title, &row.subtitle);
    }
    let mut tx = tenant.begin(pool).await?;
    let first = tenant_query!(
        tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_optional(&mut *tx)
    .await?;
    let _: Option<String> = first.map(|row| row.title);
    tx.commit().await?;
    // `$tenant::bigint`: PostgreSQL converts the text id the runtime binds.
    let ledger = tenant_query!(
        tenant,
        "SELECT id FROM ledgers WHERE tenant_id = $tenant::bigint"
    )
    .fetch_one(pool)
    .await?;
    let _: i64 = ledger.id;
    Ok(())
}

fn main() {
    let _ = run;
}
