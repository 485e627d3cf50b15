//! Primary keys are NOT NULL.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    tenant_id: String,
    #[tenant(primary_key)]
    id: Option<i64>,
}

fn main() {}
