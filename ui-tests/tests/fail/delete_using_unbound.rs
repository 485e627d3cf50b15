//! DELETE .. USING an unbound table.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "DELETE FROM forms f USING form_submissions s WHERE f.tenant_id = $tenant AND s.form_id = f.id");
}

fn main() {
    let _ = run;
}
