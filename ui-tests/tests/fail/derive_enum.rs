//! Only structs are tables.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
enum Status {
    Open,
    Closed,
}

fn main() {}
