//! Safe SELECT forms: every tenant-table reference is bound to `$tenant`.
use tenant_runtime::sqlx::{PgPool, Row};
use tenant_runtime::{tenant_query, tenant_query_scalar, Tenant};

async fn selects(pool: &PgPool, tenant: &Tenant, form_id: i64) -> Result<(), tenant_runtime::sqlx::Error> {
    // Plain filter, cast on the parameter, IN ($tenant).
    let rows = tenant_query!(tenant, "SELECT id, title FROM forms WHERE tenant_id = $tenant AND id = $1", form_id)
        .fetch_all(pool)
        .await?;
    let _title: Option<String> = rows.first().map(|row| row.get("title"));
    tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant::text").fetch_all(pool).await?;
    tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id IN ($tenant)").fetch_all(pool).await?;

    // Joins: an equality chain, USING, and a join through the bound side.
    tenant_query!(
        tenant,
        r#"SELECT f.id, s.payload
           FROM forms f
           JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id
           WHERE f.tenant_id = $tenant"#
    )
    .fetch_all(pool)
    .await?;
    tenant_query!(
        tenant,
        "SELECT f.id FROM forms f JOIN form_submissions s USING (tenant_id) WHERE f.tenant_id = $tenant"
    )
    .fetch_all(pool)
    .await?;

    // PgDog's safe three-table join through customers.id (its tenant column).
    tenant_query!(
        tenant,
        r#"SELECT o.id FROM orders o
           JOIN customers c ON c.id = o.tenant_id
           JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
           WHERE c.id = $tenant"#
    )
    .fetch_all(pool)
    .await?;

    // Correlated subqueries, CTEs, set operations, LATERAL.
    tenant_query!(
        tenant,
        r#"SELECT f.id FROM forms f
           WHERE f.tenant_id = $tenant
             AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id)"#
    )
    .fetch_all(pool)
    .await?;
    tenant_query!(
        tenant,
        r#"WITH recent AS (SELECT id FROM forms WHERE tenant_id = $tenant ORDER BY id DESC LIMIT $1)
           SELECT id FROM recent"#,
        10_i64
    )
    .fetch_all(pool)
    .await?;
    tenant_query!(
        tenant,
        "SELECT id FROM forms WHERE tenant_id = $tenant UNION SELECT form_id FROM form_submissions WHERE tenant_id = $tenant"
    )
    .fetch_all(pool)
    .await?;
    tenant_query!(
        tenant,
        r#"SELECT f.id, l.n FROM forms f,
           LATERAL (SELECT count(*) AS n FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id) l
           WHERE f.tenant_id = $tenant"#
    )
    .fetch_all(pool)
    .await?;

    // Global tables need no tenant predicate.
    tenant_query!(
        tenant,
        "SELECT f.id, p.name FROM forms f JOIN plans p ON p.id = f.plan_id WHERE f.tenant_id = $tenant"
    )
    .fetch_all(pool)
    .await?;

    let _count: i64 = tenant_query_scalar!(tenant, "SELECT count(*) FROM forms WHERE tenant_id = $tenant")
        .fetch_one(pool)
        .await?;
    Ok(())
}

fn main() {
    let _ = selects;
}
