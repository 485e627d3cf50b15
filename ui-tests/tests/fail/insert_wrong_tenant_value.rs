//! An INSERT that puts something else than `$tenant` in the tenant column.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, other: &str, id: i64) {
    let _query = tenant_query!(tenant, "INSERT INTO forms (tenant_id, id) VALUES ($1, $2)", other, id);
}

fn main() {
    let _ = run;
}
