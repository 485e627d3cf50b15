//! `$tenant::bigint::text` is not the tenant's id: '007' becomes '7'.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant::bigint::text");
}

fn main() {
    let _ = run;
}
