//! No field holds the tenant.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    title: String,
}

fn main() {}
