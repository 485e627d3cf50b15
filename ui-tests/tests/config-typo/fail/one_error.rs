//! A mistake in tenancy.toml is one error for the crate: the derive and the
//! query macros still expand to code of the right type, so nothing cascades
//! (no "no method named insert", no mistyped query).
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{tenancy_config, tenant_query, tenant_query_as, Tenant, TenantTable};

#[derive(Debug, TenantTable)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    title: String,
}

async fn uses(pool: &PgPool, tenant: &Tenant) -> Result<(), tenant_runtime::sqlx::Error> {
    let _config: tenant_runtime::Config = tenancy_config!();
    Form { id: 1, tenant_id: tenant.id().into(), title: "t".into() }.insert(tenant).fetch_one(pool).await?;
    let _forms: Vec<Form> = tenant_query_as!(Form, tenant, "SELECT * FROM forms WHERE tenant_id = $tenant")
        .fetch_all(pool)
        .await?;
    tenant_query!(tenant, "UPDATE forms SET title = $1 WHERE tenant_id = $tenant", "x")
        .execute(pool)
        .await?;
    Ok(())
}

fn main() {
    let _ = uses;
}
