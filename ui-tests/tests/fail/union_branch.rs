//! Every branch of a set operation must be bound.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant UNION ALL SELECT id FROM forms WHERE archived");
}

fn main() {
    let _ = run;
}
