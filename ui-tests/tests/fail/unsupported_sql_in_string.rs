//! `query_to_xml` runs SQL given as a string: the analyzer cannot see which
//! rows it reads, so the query is refused (unsafe-function), and no
//! `safe_functions` entry can allow it.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(
        tenant,
        "SELECT query_to_xml('SELECT * FROM forms', true, false, '') FROM forms WHERE tenant_id = $tenant"
    );
}

fn main() {
    let _ = run;
}
