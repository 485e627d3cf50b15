//! INSERT .. SELECT copying rows of every tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "INSERT INTO forms (tenant_id, id, title) SELECT tenant_id, id, title FROM form_templates");
}

fn main() {
    let _ = run;
}
