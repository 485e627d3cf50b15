//! Types without a column type are errors on the type.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Counter {
    tenant_id: String,
    hits: u64,
    tags: std::collections::HashMap<String, String>,
    maybe: Option<Option<i32>>,
}

fn main() {}
