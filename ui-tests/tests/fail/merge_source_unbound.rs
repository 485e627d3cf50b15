//! MERGE from an unbound source.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "MERGE INTO forms f USING form_templates t ON f.tenant_id = $tenant AND f.id = t.id WHEN MATCHED THEN UPDATE SET title = t.title");
}

fn main() {
    let _ = run;
}
