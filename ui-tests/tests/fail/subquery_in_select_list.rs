//! A scalar subquery is a scope of its own.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT f.id, (SELECT count(*) FROM form_submissions s WHERE s.form_id = f.id) FROM forms f WHERE f.tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
