//! TRUNCATE is not a tenant query.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "TRUNCATE forms");
}

fn main() {
    let _ = run;
}
