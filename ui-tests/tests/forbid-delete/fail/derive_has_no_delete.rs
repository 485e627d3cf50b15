//! With `forbid_delete = true`, the derive generates no `delete`.
use tenant_runtime::{Tenant, TenantTable};

#[derive(TenantTable)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
}

fn run(tenant: &Tenant) {
    let _query = Form::delete(tenant, &1);
}

fn main() {
    let _ = run;
}
