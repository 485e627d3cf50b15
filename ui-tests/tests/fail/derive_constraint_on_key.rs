//! The tenant key gets no constraint of its own: it is prepended to every one.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Form {
    #[tenant(primary_key, index)]
    tenant_id: String,
}

fn main() {}
