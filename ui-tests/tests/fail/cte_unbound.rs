//! A CTE body is checked like any query, even when the outer query filters.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "WITH recent AS (SELECT * FROM forms ORDER BY created_at DESC LIMIT 10) SELECT id FROM recent");
}

fn main() {
    let _ = run;
}
