//! A tenant-scoped foreign key cannot point at a global table.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Subscription {
    tenant_id: String,
    #[tenant(references = "plans(id)")]
    plan_id: i64,
}

fn main() {}
