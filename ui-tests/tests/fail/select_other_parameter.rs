//! A positional parameter in the tenant position could be any tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, other: &str) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $1", other);
}

fn main() {
    let _ = run;
}
