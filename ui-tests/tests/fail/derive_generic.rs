//! A table has one row type.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form<T> {
    tenant_id: String,
    value: T,
}

fn main() {}
