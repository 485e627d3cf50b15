//! tenant_query_scalar! is checked the same way.
use tenant_runtime::{tenant_query_scalar, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query_scalar!(tenant, "SELECT count(*) FROM forms");
}

fn main() {
    let _ = run;
}
