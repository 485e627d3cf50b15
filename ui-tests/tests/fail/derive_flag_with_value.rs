//! Flags take no value; valued keys need one.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    tenant_id: String,
    #[tenant(primary_key = true)]
    id: i64,
    #[tenant(sql_type)]
    title: String,
}

fn main() {}
