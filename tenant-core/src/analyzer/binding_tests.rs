//! The binding rules of `binding`, on whole statements: rule `lossy-casts`
//! (leaks beside the safe forms) and the equality forms that bind.

use crate::{Analyzer, Binding, Config};

fn analyzer() -> Analyzer {
    Analyzer::new(Config::from_toml_str("global_tables = [\"plans\"]").unwrap())
}

fn violations(sql: &str) -> Vec<crate::Violation> {
    analyzer()
        .analyze(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .violations()
        .cloned()
        .collect()
}

#[track_caller]
fn ok(sql: &str) {
    let v = violations(sql);
    assert!(v.is_empty(), "expected accepted: {sql}\n{v:#?}");
}

#[track_caller]
fn refused(sql: &str, rule: &str) {
    let v = violations(sql);
    assert!(
        v.iter().any(|v| v.rule.name() == rule),
        "expected {rule} for: {sql}\n{v:#?}"
    );
}

/// Rule `lossy-casts`: a cast chain is another value than the tenant's id.
#[test]
fn rule_lossy_casts_in_where_set_values_and_rows() {
    // '007'::int8::text is '7': tenant 007 would read tenant 7's forms.
    for chain in ["int8::text", "uuid::text", "numeric::text", "int4::varchar"] {
        refused(
            &format!("SELECT * FROM forms WHERE tenant_id = $tenant::{chain}"),
            "unbound-table",
        );
        refused(
            &format!("UPDATE forms SET tenant_id = $tenant::{chain} WHERE tenant_id = $tenant"),
            "tenant-column-assignment",
        );
        refused(
            &format!("INSERT INTO forms (tenant_id, id) VALUES ($tenant::{chain}, 1)"),
            "insert-tenant-value",
        );
        refused(
            &format!("SELECT * FROM forms WHERE (tenant_id, id) = ($tenant::{chain}, 1)"),
            "unbound-table",
        );
    }
    // No equivalence through a cast: $1 equals the tenant only as a uuid.
    refused(
        "SELECT * FROM forms f WHERE f.tenant_id = $1 AND $1::uuid = $tenant::uuid",
        "unbound-table",
    );
    refused(
        "SELECT * FROM forms f, form_submissions s WHERE f.tenant_id = $tenant AND s.tenant_id::text = f.tenant_id",
        "unbound-table",
    );
    // Safe: identity casts on text, and one cast to a non-text column's type.
    ok("SELECT * FROM forms WHERE tenant_id = $tenant::text");
    ok("SELECT * FROM forms WHERE tenant_id = CAST($tenant AS varchar)");
    ok("SELECT * FROM forms WHERE tenant_id = $tenant::uuid");
    ok("SELECT * FROM forms WHERE tenant_id = $tenant::bigint");
    ok("UPDATE forms SET tenant_id = $tenant::text WHERE tenant_id = $tenant");
}

#[test]
fn a_lossy_cast_gets_its_own_fix() {
    let v = violations("SELECT * FROM forms WHERE tenant_id = $tenant::int8::text");
    assert!(
        v[0].fix
            .contains("`$tenant::int8::text` is not the tenant's id"),
        "{v:#?}"
    );
}

/// Each row of a row-IN list pins the tenant column to `$tenant`.
#[test]
fn row_in_lists_bind_when_every_row_pins_the_tenant() {
    ok("SELECT * FROM forms WHERE (tenant_id, id) IN (($tenant, $1), ($tenant, $2))");
    ok("SELECT * FROM forms WHERE tenant_id IN ($tenant, $tenant)");
    refused(
        "SELECT * FROM forms WHERE (tenant_id, id) IN (($tenant, $1), ($2, $3))",
        "unbound-table",
    );
    refused(
        "SELECT * FROM forms WHERE (tenant_id, id) IN (($tenant, $1), ($tenant::int8::text, $2))",
        "unbound-table",
    );
}

#[test]
fn is_not_distinct_from_and_any_of_a_one_element_array_bind() {
    ok("SELECT * FROM forms WHERE tenant_id IS NOT DISTINCT FROM $tenant");
    ok("SELECT * FROM forms WHERE tenant_id = ANY(ARRAY[$tenant])");
    refused(
        "SELECT * FROM forms WHERE tenant_id = ANY(ARRAY[$tenant, $1])",
        "unbound-table",
    );
    refused(
        "SELECT * FROM forms WHERE tenant_id <> ALL(ARRAY[$tenant])",
        "unbound-table",
    );
    // IS NOT DISTINCT FROM between columns also matches NULL to NULL: not
    // a binding.
    refused(
        "SELECT * FROM forms f JOIN form_submissions s ON s.tenant_id IS NOT DISTINCT FROM f.tenant_id WHERE f.tenant_id = $tenant",
        "unbound-table",
    );
}

/// `ON CONFLICT (tenant_id, ..) DO UPDATE SET tenant_id = EXCLUDED.tenant_id`
/// when every inserted row carries `$tenant`.
#[test]
fn excluded_tenant_column_is_the_inserted_tenant() {
    ok("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2), ($tenant, $3, $4) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, name = EXCLUDED.name");
    refused(
        "INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2), ($5, $3, $4) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id",
        "tenant-column-assignment",
    );
}

/// Names in tenancy.toml fold like SQL identifiers; a configuration that
/// differs only in case gets a hint instead of a silent mismatch.
#[test]
fn a_configuration_that_differs_in_case_gets_a_hint() {
    let config = Config::from_toml_str(
        "tenant_column = \"tenantId\"\n[tables.Workflow]\ntenant_column = \"tenantId\"",
    )
    .unwrap();
    let analysis = Analyzer::new(config)
        .analyze(r#"SELECT * FROM "Workflow" w WHERE w."tenantId" = $tenant"#)
        .unwrap();
    let v: Vec<_> = analysis.violations().collect();
    assert!(
        v[0].fix
            .contains("differs from the table `Workflow` in case only"),
        "{v:#?}"
    );
    let config = Config::from_toml_str("tenant_column = \"tenantId\"").unwrap();
    let analysis = Analyzer::new(config)
        .analyze(r#"SELECT * FROM workflow w WHERE w."tenantId" = $tenant"#)
        .unwrap();
    let v: Vec<_> = analysis.violations().collect();
    assert!(
        v[0].fix.contains(r#"set `tenant_column = '"tenantId"'`"#),
        "{v:#?}"
    );
    // Quoted in the file, the names match.
    let config = Config::from_toml_str("tenant_column = '\"tenantId\"'").unwrap();
    assert!(Analyzer::new(config)
        .analyze(r#"SELECT * FROM workflow w WHERE w."tenantId" = $tenant"#)
        .unwrap()
        .is_ok());
}

/// Lenient mode: a cast value is a tenant only in the column's own type.
#[test]
fn lenient_values_keep_their_casts() {
    let lenient = analyzer().with_binding(Binding::Lenient);
    let analysis = lenient
        .analyze("SELECT * FROM forms WHERE tenant_id = $1::uuid")
        .unwrap();
    assert_eq!(analysis.statements[0].tenant_values, ["$1::uuid"]);
    let analysis = lenient
        .analyze("SELECT * FROM forms f, form_submissions s WHERE f.tenant_id = $1 AND s.tenant_id = $1::int8::text")
        .unwrap();
    assert!(!analysis.is_ok());
}
