//! An OR lets rows of every tenant through.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant OR public = true");
}

fn main() {
    let _ = run;
}
