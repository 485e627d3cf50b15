//! Tenant ids are text.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    tenant_id: i64,
}

fn main() {}
