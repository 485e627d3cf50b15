//! UPDATE .. FROM joins an unbound table.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "UPDATE forms f SET title = t.title FROM form_templates t WHERE f.tenant_id = $tenant AND t.id = f.template_id");
}

fn main() {
    let _ = run;
}
