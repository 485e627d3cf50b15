//! Unknown keys on the struct and on a field, both reported.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(name = "forms")]
struct Form {
    tenant_id: String,
    #[tenant(primary)]
    id: i64,
}

fn main() {}
