//! The macros' queries run on a pool, a connection and a transaction, like
//! sqlx's own.
use tenant_runtime::sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tenant_runtime::{tenant_query, tenant_query_as, tenant_query_scalar, Tenant, TenantTable};

#[derive(Debug, TenantTable)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    title: String,
}

async fn on_pool(pool: &PgPool, tenant: &Tenant) -> Result<Vec<Form>, tenant_runtime::sqlx::Error> {
    tenant_query_as!(Form, tenant, "SELECT id, tenant_id, title FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await
}

async fn on_connection(conn: &mut PgConnection, tenant: &Tenant) -> Result<i64, tenant_runtime::sqlx::Error> {
    tenant_query_scalar!(tenant, "SELECT count(*) FROM forms WHERE tenant_id = $tenant")
        .fetch_one(&mut *conn)
        .await
}

async fn in_transaction(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &Tenant,
    id: i64,
) -> Result<u64, tenant_runtime::sqlx::Error> {
    let done = tenant_query!(tenant, "UPDATE forms SET title = upper(title) WHERE tenant_id = $tenant AND id = $1", id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

fn main() {
    let _ = (on_pool, on_connection, in_transaction);
}
