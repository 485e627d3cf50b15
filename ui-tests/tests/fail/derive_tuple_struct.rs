//! Columns need names.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Pair(String, i64);

fn main() {}
