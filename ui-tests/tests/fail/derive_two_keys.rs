//! Only one tenant key.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    #[tenant(key)]
    tenant_id: String,
    #[tenant(key)]
    owner_id: String,
}

fn main() {}
