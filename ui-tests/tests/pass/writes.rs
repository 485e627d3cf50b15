//! Safe writes: INSERT, INSERT .. SELECT, UPDATE, DELETE, upsert, MERGE, RETURNING.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query, tenant_query_scalar, Tenant};

async fn writes(pool: &PgPool, tenant: &Tenant, id: i64, title: &str) -> Result<(), tenant_runtime::sqlx::Error> {
    tenant_query!(tenant, "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, $1, $2)", id, title)
        .execute(pool)
        .await?;
    let _new_id: i64 = tenant_query_scalar!(
        tenant,
        "INSERT INTO forms (tenant_id, title) VALUES ($tenant, $1) RETURNING id",
        title
    )
    .fetch_one(pool)
    .await?;
    tenant_query!(
        tenant,
        r#"INSERT INTO form_submissions (tenant_id, form_id, payload)
           SELECT tenant_id, id, '{}'::jsonb FROM forms WHERE tenant_id = $tenant AND id = $1"#,
        id
    )
    .execute(pool)
    .await?;
    tenant_query!(tenant, "UPDATE forms SET title = $1 WHERE tenant_id = $tenant AND id = $2", title, id)
        .execute(pool)
        .await?;
    tenant_query!(tenant, "DELETE FROM forms WHERE tenant_id = $tenant AND id = $1", id)
        .execute(pool)
        .await?;
    tenant_query!(
        tenant,
        r#"INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, $1, $2)
           ON CONFLICT (tenant_id, id) DO UPDATE SET title = EXCLUDED.title"#,
        id,
        title
    )
    .execute(pool)
    .await?;
    tenant_query!(
        tenant,
        r#"MERGE INTO forms f
           USING (SELECT id, title FROM form_templates WHERE tenant_id = $tenant) t
           ON f.tenant_id = $tenant AND f.id = t.id
           WHEN MATCHED THEN UPDATE SET title = t.title"#
    )
    .execute(pool)
    .await?;
    Ok(())
}

fn main() {
    let _ = writes;
}
