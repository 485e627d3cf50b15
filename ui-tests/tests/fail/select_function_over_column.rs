//! A function over the tenant column does not bind it.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE lower(tenant_id) = $tenant");
}

fn main() {
    let _ = run;
}
