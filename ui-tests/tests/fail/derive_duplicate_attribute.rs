//! A key given twice.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(table = "forms")]
#[tenant(table = "form")]
struct Form {
    tenant_id: String,
    #[tenant(primary_key, primary_key)]
    id: i64,
}

fn main() {}
