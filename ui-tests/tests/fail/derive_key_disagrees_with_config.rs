//! The marked key must be the column tenancy.toml names.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    #[tenant(key)]
    org_id: String,
    #[tenant(primary_key)]
    id: i64,
}

fn main() {}
