//! An UPDATE that moves a row to another tenant.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, other: &str, id: i64) {
    let _query = tenant_query!(tenant, "UPDATE forms SET tenant_id = $1 WHERE tenant_id = $tenant AND id = $2", other, id);
}

fn main() {
    let _ = run;
}
