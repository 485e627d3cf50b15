//! The surplus argument is pointed at.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1", id, 42);
}

fn main() {
    let _ = run;
}
