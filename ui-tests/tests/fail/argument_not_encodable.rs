//! An argument sqlx cannot bind: the error lands on the argument.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1", std::time::Instant::now());
}

fn main() {
    let _ = run;
}
