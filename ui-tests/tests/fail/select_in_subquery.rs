//! PgDog's leak: the tenant comes from a subquery over another tenant table.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, name: &str) {
    let _query = tenant_query!(tenant, "SELECT * FROM forms WHERE tenant_id IN (SELECT id FROM customers WHERE name = $1)", name);
}

fn main() {
    let _ = run;
}
