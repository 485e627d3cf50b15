//! `$1` and `$2` need two values.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1 AND title = $2", id);
}

fn main() {
    let _ = run;
}
