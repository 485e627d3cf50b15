//! The tenant is passed by reference.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
