//! A LATERAL subquery correlated on a non-tenant column.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, "SELECT f.id, l.n FROM forms f, LATERAL (SELECT count(*) AS n FROM form_submissions s WHERE s.form_id = f.id) l WHERE f.tenant_id = $tenant");
}

fn main() {
    let _ = run;
}
