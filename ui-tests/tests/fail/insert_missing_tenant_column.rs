//! An INSERT that does not set the tenant column.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64, title: &str) {
    let _query = tenant_query!(tenant, "INSERT INTO forms (id, title) VALUES ($1, $2)", id, title);
}

fn main() {
    let _ = run;
}
