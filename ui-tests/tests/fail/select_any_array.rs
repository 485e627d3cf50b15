//! `= ANY(array)` may list several tenants.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, ids: Vec<String>) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = ANY($1)", ids);
}

fn main() {
    let _ = run;
}
