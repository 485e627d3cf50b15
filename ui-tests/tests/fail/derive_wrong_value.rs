//! Values of the wrong kind.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(table = forms, from_row = "no")]
struct Form {
    tenant_id: String,
    #[tenant(default = 0)]
    version: i32,
}

fn main() {}
