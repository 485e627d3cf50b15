//! A DELETE of every tenant's rows.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64) {
    let _query = tenant_query!(tenant, "DELETE FROM forms WHERE id = $1", id);
}

fn main() {
    let _ = run;
}
