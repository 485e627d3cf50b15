//! An outer join's ON clause restricts only the nullable side.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT f.id FROM forms f LEFT JOIN form_submissions s ON s.tenant_id = $tenant AND s.form_id = f.id");
}

fn main() {
    let _ = run;
}
