//! The SQL must be visible to the macro.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let sql = "SELECT 1";
    let _query = tenant_query!(tenant, sql);
}

fn main() {
    let _ = run;
}
