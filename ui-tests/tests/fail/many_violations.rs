//! All violations of one query are reported in one error, each with its caret.
use tenant_runtime::{tenant_query, Tenant};

fn run(tenant: &Tenant) {
    let _query = tenant_query!(tenant, r#"SELECT f.id, s.payload, u.email
FROM forms f
JOIN form_submissions s ON s.form_id = f.id
JOIN users u ON u.id = s.user_id"#);
}

fn main() {
    let _ = run;
}
