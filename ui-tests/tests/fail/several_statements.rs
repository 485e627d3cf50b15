//! A prepared query runs exactly one statement.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "UPDATE forms SET title = 'x' WHERE tenant_id = $tenant; DELETE FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
