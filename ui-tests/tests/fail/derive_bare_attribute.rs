//! `#[tenant]` needs a list.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    #[tenant]
    tenant_id: String,
}

fn main() {}
