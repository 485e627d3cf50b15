//! A column whose Rust type has no PostgreSQL array type: the derive and the
//! single-row insert compile; `insert_many`, which sends one array per
//! column, is refused at its call.
#![allow(dead_code)]
use tenant_runtime::{Tenant, TenantTable};

#[derive(TenantTable)]
struct Form {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    tags: Vec<String>,
}

async fn write(tenant: &Tenant, pool: &tenant_runtime::sqlx::PgPool, forms: &[Form]) {
    let _one = forms[0].insert(tenant).fetch_one(pool).await;
    let _many = Form::insert_many(tenant, forms).fetch_all(pool).await;
}

fn main() {}
