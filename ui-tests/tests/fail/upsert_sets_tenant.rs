//! ON CONFLICT DO UPDATE must not rewrite the tenant column.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64, other: &str) {
    let _query = tenant_query!(tenant, "INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = $2", id, other);
}

fn main() {
    let _ = run;
}
