//! A SELECT without any tenant predicate.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64) {
    let _query = tenant_query!(tenant, "SELECT id, title FROM forms WHERE id = $1", id);
}

fn main() {
    let _ = run;
}
