//! The joined table is matched on its id only: it can pull in another tenant's rows.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, r#"SELECT f.id, s.payload
FROM forms f
JOIN form_submissions s ON s.form_id = f.id
WHERE f.tenant_id = $tenant"#);
}

fn main() {
    let _ = run;
}
