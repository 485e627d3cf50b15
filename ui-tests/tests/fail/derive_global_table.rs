//! tenancy.toml lists `plans` as global.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(table = "plans")]
struct Plan {
    tenant_id: String,
    #[tenant(primary_key)]
    id: i64,
}

fn main() {}
