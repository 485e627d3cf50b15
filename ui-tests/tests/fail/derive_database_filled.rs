//! Columns the database fills: every mistake at once, each on its attribute.
#![allow(dead_code)]
use tenant_runtime::TenantTable;

#[derive(TenantTable)]
struct Ticket {
    #[tenant(primary_key, identity)]
    id: String,
    #[tenant(identity, default = "0")]
    number: i64,
    #[tenant(identity)]
    sequence: Option<i32>,
    #[tenant(generated = "lower(title)", identity)]
    title_key: i64,
    #[tenant(skip_insert)]
    status: String,
    #[tenant(identity)]
    tenant_id: String,
    title: String,
}

fn main() {}
