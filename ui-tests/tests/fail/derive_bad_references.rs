//! `references` must read `table(column)`.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Submission {
    tenant_id: String,
    #[tenant(references = "forms")]
    form_id: i64,
    #[tenant(references = "forms(id, tenant_id)")]
    other_form_id: i64,
}

fn main() {}
