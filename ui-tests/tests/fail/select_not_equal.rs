//! `<>` binds nothing: it selects every other tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE NOT (tenant_id <> $tenant)");
}

fn main() {
    let _ = run;
}
