//! A plain string is never the requesting tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(_tenant: &Tenant) {
    let tenant = "acme";
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
