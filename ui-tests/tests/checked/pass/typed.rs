//! Queries whose columns, nullability and arguments match the schema.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query, tenant_query_as, tenant_query_scalar, FromRow, Tenant};

#[derive(FromRow)]
struct FormRow {
    id: i64,
    title: String,
    subtitle: Option<String>,
}

async fn run(tenant: &Tenant, pool: &PgPool) -> Result<(), tenant_runtime::sqlx::Error> {
    let rows: Vec<FormRow> = tenant_query_as!(
        FormRow,
        tenant,
        "SELECT id, title, subtitle FROM forms WHERE tenant_id = $tenant AND id > $1",
        0_i64
    )
    .fetch_all(pool)
    .await?;
    let _ = rows.iter().map(|r| (r.id, &r.title, &r.subtitle));
    tenant_query!(
        tenant,
        "UPDATE forms SET title = $1 WHERE tenant_id = $tenant AND id = $2",
        "renamed",
        1_i64
    )
    .execute(pool)
    .await?;
    // sqlx's inference: count(*) may be NULL as far as the catalog says, so
    // the value is an Option unless the alias says `!`.
    let _count: Option<i64> =
        tenant_query_scalar!(tenant, "SELECT count(*) FROM forms WHERE tenant_id = $tenant")
            .fetch_one(pool)
            .await?;
    let _count: i64 = tenant_query_scalar!(
        tenant,
        r#"SELECT count(*) AS "count!" FROM forms WHERE tenant_id = $tenant"#
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

fn main() {
    let _ = run;
}
