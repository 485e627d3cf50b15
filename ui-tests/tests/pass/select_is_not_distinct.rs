//! `IS NOT DISTINCT FROM $tenant` binds: the tenant parameter is never NULL,
//! so it matches exactly the rows `= $tenant` matches.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id IS NOT DISTINCT FROM $tenant");
}

fn main() {
    let _ = run;
}
