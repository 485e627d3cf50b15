//! PostgreSQL's own message and position.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, r#"SELECT id, title
FORM forms
WHERE tenant_id = $tenant"#);
}

fn main() {
    let _ = run;
}
