//! SELECT INTO creates a table.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT * INTO forms_copy FROM forms WHERE tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
