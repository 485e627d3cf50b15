//! An UPDATE of every tenant's rows.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, title: &str, id: i64) {
    let _query = tenant_query!(tenant, "UPDATE forms SET title = $1 WHERE id = $2", title, id);
}

fn main() {
    let _ = run;
}
