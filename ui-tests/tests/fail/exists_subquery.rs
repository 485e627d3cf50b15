//! EXISTS over another tenant's rows.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT f.id FROM forms f WHERE f.tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.form_id = f.id)");
}

fn main() {
    let _ = run;
}
