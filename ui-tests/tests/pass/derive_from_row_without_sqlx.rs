//! A row type that is not a tenant table, with `tenant-runtime` as the only
//! database dependency: `tenant_runtime::FromRow` reads fields by name or
//! by `#[row(rename)]`, `Option` fields accept NULL.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenant_query_as, FromRow, Tenant};

#[derive(Debug, FromRow)]
struct FormCount {
    #[row(rename = "title")]
    name: String,
    submissions: i64,
    last_email: Option<String>,
}

async fn uses(pool: &PgPool, tenant: &Tenant) -> Result<Vec<FormCount>, tenant_runtime::sqlx::Error> {
    tenant_query_as!(
        FormCount,
        tenant,
        "SELECT f.title, count(s.id) AS submissions, max(s.email) AS last_email
         FROM forms f LEFT JOIN form_submissions s ON s.tenant_id = f.tenant_id AND s.form_id = f.id
         WHERE f.tenant_id = $tenant GROUP BY f.title"
    )
    .fetch_all(pool)
    .await
}

fn main() {
    let _ = uses;
}
