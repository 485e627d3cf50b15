//! query_as! needs a FromRow type: the error lands on the type.
use tenant_runtime::{tenant_query_as, Tenant};

struct NotARow {
    _id: i64,
}

fn run(tenant: &Tenant) {
    let _query = tenant_query_as!(NotARow, tenant, "SELECT id FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
