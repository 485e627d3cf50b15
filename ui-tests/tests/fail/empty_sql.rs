//! Nothing to run.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, r#"  -- nothing"#);
}

fn main() {
    let _ = run;
}
