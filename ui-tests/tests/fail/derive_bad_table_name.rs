//! A table name must be a plain identifier.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
#[tenant(table = "form list")]
struct Form {
    tenant_id: String,
}

fn main() {}
