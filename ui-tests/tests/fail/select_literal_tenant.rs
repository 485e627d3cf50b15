//! A literal tenant id is not the requesting tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = 'acme'");
}

fn main() {
    let _ = run;
}
