//! ON CONFLICT without the tenant column may update another tenant's row.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64, title: &str) {
    let _query = tenant_query!(tenant, "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, $1, $2) ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title", id, title);
}

fn main() {
    let _ = run;
}
