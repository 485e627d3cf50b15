//! Joining a global table does not bind the tenant table.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, name: &str) {
    let _query = tenant_query!(tenant, "SELECT f.id FROM forms f JOIN plans p ON p.id = f.plan_id WHERE p.name = $1", name);
}

fn main() {
    let _ = run;
}
