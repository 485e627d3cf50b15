//! With `forbid_delete = true`, DELETE is refused even when bound.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant, id: i64) {
    let _query = tenant_query!(tenant, "DELETE FROM forms WHERE tenant_id = $tenant AND id = $1", id);
}

fn main() {
    let _ = run;
}
