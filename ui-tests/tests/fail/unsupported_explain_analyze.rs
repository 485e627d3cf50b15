//! EXPLAIN ANALYZE executes its statement.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "EXPLAIN ANALYZE DELETE FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
