//! The target of a DELETE is never a CTE: PostgreSQL deletes from the table
//! `forms` (every tenant's rows named 'x'), whatever the CTE holds.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(
        tenant,
        "WITH forms AS (SELECT $tenant::text AS tenant_id) DELETE FROM forms WHERE name = 'x'"
    );
}

fn main() {
    let _ = run;
}
