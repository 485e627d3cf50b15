//! `SET search_path` moves the wall of a schema tenant's transaction (its
//! transaction-local `search_path`): refused (search-path-or-role).
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SET search_path = tenant_t9_q8w7e6, public");
}

fn main() {
    let _ = run;
}
