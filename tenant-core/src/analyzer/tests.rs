//! Rule-by-rule tests of the analyzer. The corpus (tests/corpus) holds the
//! long list; these pin down each rule's edges and messages.
use crate::{Analyzer, Binding, Config};

fn analyzer() -> Analyzer {
    Analyzer::new(
        Config::from_toml_str(
            r#"
            global_tables = ["plans", "countries"]
            [tables.audit_log]
            tenant_column = "org_id"
            "#,
        )
        .unwrap(),
    )
}

fn rules(sql: &str) -> Vec<&'static str> {
    let a = analyzer()
        .analyze(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    a.violations().map(|v| v.rule.name()).collect()
}

fn ok(sql: &str) {
    let a = analyzer()
        .analyze(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert!(
        a.is_ok(),
        "expected accepted: {sql}\n{:#?}",
        a.violations().collect::<Vec<_>>()
    );
}

fn refused(sql: &str, rule: &str) {
    let r = rules(sql);
    assert!(r.contains(&rule), "expected {rule} for: {sql}\ngot {r:?}");
}

#[test]
fn smoke() {
    ok("SELECT id FROM forms WHERE tenant_id = $tenant");
    refused("SELECT id FROM forms", "unbound-table");
}

#[test]
fn equality_binds_in_either_order_with_casts_and_in() {
    ok("SELECT * FROM forms WHERE $tenant = tenant_id");
    ok("SELECT * FROM forms f WHERE f.tenant_id = $tenant::text AND f.id = $1");
    ok("SELECT * FROM forms WHERE tenant_id IN ($tenant)");
    ok("SELECT * FROM forms WHERE (tenant_id, id) = ($tenant, $1)");
    ok("SELECT * FROM public.forms WHERE tenant_id = $tenant");
    ok("SELECT * FROM ONLY forms WHERE tenant_id = $tenant");
    ok("SELECT * FROM forms TABLESAMPLE SYSTEM (10) WHERE tenant_id = $tenant");
}

#[test]
fn non_equalities_do_not_bind() {
    for cond in [
        "tenant_id = $tenant OR id = $1",
        "NOT (tenant_id <> $tenant)",
        "CASE WHEN tenant_id = $tenant THEN true END",
        "lower(tenant_id) = $tenant",
        "tenant_id LIKE $tenant",
        "tenant_id >= $tenant AND tenant_id <= $tenant",
        "tenant_id <> $tenant",
        "tenant_id IS NOT NULL",
        "tenant_id = ANY($1)",
        "tenant_id IN (SELECT tenant_id FROM customers WHERE tenant_id = $tenant)",
        "tenant_id = 'acme'",
        "tenant_id = $1",
        "tenant_id::int = $tenant::int",
        "tenant_id = $tenant COLLATE \"C\"",
        "tenant_id = $tenant::citext",
        "tenant_id IN ($tenant, $1)",
    ] {
        refused(
            &format!("SELECT * FROM forms WHERE {cond}"),
            "unbound-table",
        );
    }
}

#[test]
fn other_parameter_gets_a_precise_fix() {
    let a = analyzer()
        .analyze("SELECT * FROM forms f WHERE f.tenant_id = $1")
        .unwrap();
    let v = a.violations().next().unwrap();
    assert!(v.fix.contains("`$1` is not the tenant"), "{}", v.fix);
}

#[test]
fn joins_bind_through_equality_chains() {
    ok("SELECT * FROM forms f JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM forms f, form_submissions s WHERE s.tenant_id = f.tenant_id AND f.tenant_id = $tenant AND s.form_id = f.id");
    ok("SELECT * FROM forms f JOIN form_submissions s USING (tenant_id) WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM forms f JOIN form_submissions s USING (tenant_id) WHERE tenant_id = $tenant");
    ok("SELECT * FROM forms NATURAL JOIN form_submissions WHERE forms.tenant_id = $tenant");
    ok("SELECT * FROM forms f JOIN (form_submissions s JOIN follow_ups u ON u.tenant_id = s.tenant_id) ON s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant");
    let a = analyzer()
        .analyze("SELECT * FROM forms f JOIN form_submissions s ON s.form_id = f.id WHERE f.tenant_id = $tenant")
        .unwrap();
    let v: Vec<_> = a.violations().collect();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].table.as_deref(), Some("form_submissions"));
    assert_eq!(v[0].alias.as_deref(), Some("s"));
    assert_eq!(
        v[0].message,
        "table `form_submissions` (alias `s`) is not restricted to the tenant"
    );
    assert_eq!(
        v[0].fix,
        "add `s.tenant_id = $tenant` or join it on `s.tenant_id = f.tenant_id`"
    );
    assert_eq!((v[0].position.line, v[0].position.column), (1, 28));
}

#[test]
fn unqualified_ambiguous_column_binds_nothing() {
    refused(
        "SELECT * FROM forms f JOIN form_submissions s ON s.form_id = f.id WHERE tenant_id = $tenant",
        "unbound-table",
    );
    // A global table cannot own the tenant column.
    ok("SELECT * FROM forms f JOIN plans p ON p.id = f.plan_id WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM plans");
}

#[test]
fn outer_joins_restrict_only_the_nullable_side() {
    ok("SELECT * FROM forms f LEFT JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM forms f LEFT JOIN form_submissions s ON s.tenant_id = $tenant WHERE f.tenant_id = $tenant");
    let a = analyzer()
        .analyze("SELECT * FROM forms f LEFT JOIN form_submissions s ON f.tenant_id = $tenant AND s.tenant_id = f.tenant_id")
        .unwrap();
    let v: Vec<_> = a.violations().collect();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].alias.as_deref(), Some("f"));
    assert!(v[0].fix.contains("outer join"), "{}", v[0].fix);
    refused("SELECT * FROM form_submissions s RIGHT JOIN forms f ON f.tenant_id = $tenant AND s.tenant_id = $tenant", "unbound-table");
    ok("SELECT * FROM form_submissions s RIGHT JOIN forms f ON s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant");
    refused("SELECT * FROM forms f FULL JOIN form_submissions s ON s.tenant_id = f.tenant_id AND f.tenant_id = $tenant", "unbound-table");
    ok("SELECT * FROM forms f FULL JOIN form_submissions s ON s.id = f.id WHERE f.tenant_id = $tenant AND s.tenant_id = $tenant");
}

#[test]
fn subqueries_everywhere_are_checked() {
    for sql in [
        "SELECT (SELECT count(*) FROM form_submissions) FROM forms WHERE tenant_id = $tenant",
        "SELECT * FROM forms WHERE tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.form_id = forms.id)",
        "SELECT tenant_id FROM forms WHERE tenant_id = $tenant GROUP BY tenant_id HAVING count(*) > (SELECT count(*) FROM follow_ups)",
        "SELECT * FROM forms WHERE tenant_id = $tenant ORDER BY (SELECT max(id) FROM follow_ups)",
        "SELECT coalesce((SELECT name FROM forms LIMIT 1), 'x')",
        "SELECT * FROM forms WHERE tenant_id = $tenant LIMIT (SELECT count(*) FROM form_submissions)",
        "SELECT * FROM (SELECT * FROM forms) f WHERE f.tenant_id = $tenant",
        "SELECT * FROM forms f, LATERAL (SELECT * FROM form_submissions s WHERE s.form_id = f.id) x WHERE f.tenant_id = $tenant",
        "SELECT * FROM forms WHERE tenant_id = $tenant UNION SELECT * FROM forms",
        "SELECT * FROM forms WHERE tenant_id = $tenant INTERSECT SELECT * FROM forms WHERE tenant_id = $1",
        "WITH x AS (SELECT * FROM forms) SELECT * FROM x WHERE x.tenant_id = $tenant",
        "SELECT * FROM unnest(ARRAY(SELECT id FROM forms)) AS u(id)",
        "SELECT * FROM forms WHERE tenant_id = $tenant AND id = ANY(ARRAY(SELECT form_id FROM form_submissions))",
        "SELECT * FROM (VALUES ((SELECT name FROM forms LIMIT 1))) v(n)",
        "SELECT json_agg(x) FROM (SELECT * FROM forms WHERE tenant_id = $tenant) x WHERE EXISTS (SELECT 1 FROM follow_ups)",
    ] {
        refused(sql, "unbound-table");
    }
}

#[test]
fn correlation_derived_tables_and_ctes_carry_the_binding() {
    ok("SELECT * FROM forms f WHERE f.tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.form_id = f.id AND s.tenant_id = f.tenant_id)");
    ok("SELECT f.id, (SELECT count(*) FROM form_submissions s WHERE s.tenant_id = f.tenant_id) FROM forms f WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM forms f, LATERAL (SELECT * FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id) x WHERE f.tenant_id = $tenant");
    ok("SELECT * FROM (SELECT * FROM forms WHERE tenant_id = $tenant) f JOIN form_submissions s ON s.tenant_id = f.tenant_id");
    ok("SELECT * FROM (SELECT tenant_id AS t, id FROM forms WHERE tenant_id = $tenant) f JOIN form_submissions s ON s.tenant_id = f.t");
    ok("SELECT * FROM (SELECT tenant_id, id FROM forms WHERE tenant_id = $tenant) f(tid, fid) JOIN form_submissions s ON s.tenant_id = f.tid");
    ok("WITH f AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM f JOIN form_submissions s ON s.tenant_id = f.tenant_id AND s.form_id = f.id");
    ok("SELECT * FROM forms WHERE tenant_id = $tenant UNION ALL SELECT * FROM forms WHERE tenant_id = $tenant");
    ok("WITH RECURSIVE tree AS (SELECT id, parent_id, tenant_id FROM folders WHERE tenant_id = $tenant AND parent_id IS NULL UNION ALL SELECT c.id, c.parent_id, c.tenant_id FROM folders c JOIN tree t ON c.parent_id = t.id AND c.tenant_id = t.tenant_id) SELECT * FROM tree");
    refused("WITH RECURSIVE tree AS (SELECT id, parent_id, tenant_id FROM folders WHERE tenant_id = $tenant AND parent_id IS NULL UNION ALL SELECT c.id, c.parent_id, c.tenant_id FROM folders c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree", "unbound-table");
    // A CTE named like a table shadows it.
    ok("WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM forms");
    refused(
        "WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM public.forms",
        "unbound-table",
    );
    // The binding inside a derived table does not leak out through a column of another name.
    refused("SELECT * FROM (SELECT id FROM forms WHERE tenant_id = $tenant) f JOIN form_submissions s ON s.tenant_id = f.id", "unbound-table");
}

#[test]
fn pgdog_examples() {
    refused(
        "SELECT * FROM orders WHERE tenant_id IN (SELECT tenant_id FROM customers)",
        "unbound-table",
    );
    ok("SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id AND c.tenant_id = o.tenant_id JOIN order_items i ON i.order_id = o.id AND i.tenant_id = o.tenant_id WHERE o.tenant_id = $tenant");
    ok("WITH recent AS (SELECT * FROM orders WHERE tenant_id = $tenant AND created_at > now() - interval '1 day') SELECT * FROM recent r JOIN customers c ON c.id = r.customer_id AND c.tenant_id = r.tenant_id");
}

#[test]
fn insert_rules() {
    ok("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2)");
    ok("INSERT INTO forms (tenant_id, name) VALUES ($tenant, 'a'), ($tenant::text, 'b') RETURNING id");
    ok("INSERT INTO plans (id, name) VALUES ($1, $2)");
    ok("INSERT INTO forms (tenant_id, name) SELECT $tenant, name FROM plans");
    ok("INSERT INTO archive (tenant_id, id) SELECT f.tenant_id, f.id FROM forms f WHERE f.tenant_id = $tenant");
    ok("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2) ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name");
    ok("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2) ON CONFLICT DO NOTHING");
    refused(
        "INSERT INTO forms (id, name) VALUES ($1, $2)",
        "insert-missing-tenant-column",
    );
    refused(
        "INSERT INTO forms DEFAULT VALUES",
        "insert-missing-tenant-column",
    );
    refused(
        "INSERT INTO forms VALUES ($tenant, 1, 'x')",
        "insert-missing-tenant-column",
    );
    refused(
        "INSERT INTO forms (tenant_id, name) VALUES ($tenant, 'a'), ($1, 'b')",
        "insert-tenant-value",
    );
    refused(
        "INSERT INTO forms (tenant_id, name) VALUES (DEFAULT, 'a')",
        "insert-tenant-value",
    );
    refused(
        "INSERT INTO forms (tenant_id, name) SELECT tenant_id, name FROM forms",
        "unbound-table",
    );
    refused(
        "INSERT INTO forms (tenant_id, name) SELECT tenant_id, name FROM plans",
        "insert-tenant-value",
    );
    refused(
        "INSERT INTO forms (tenant_id, name) SELECT * FROM forms WHERE tenant_id = $tenant",
        "insert-tenant-value",
    );
    refused("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name", "upsert-conflict-target");
    refused("INSERT INTO forms (tenant_id, id, name) VALUES ($tenant, $1, $2) ON CONFLICT ON CONSTRAINT forms_pkey DO UPDATE SET name = excluded.name", "upsert-conflict-target");
    ok("INSERT INTO forms AS f (tenant_id, id, name) VALUES ($tenant, $1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE f.tenant_id = $tenant");
    refused("INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = $1", "tenant-column-assignment");
    ok("INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = $tenant");
    refused("INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) RETURNING (SELECT count(*) FROM follow_ups)", "unbound-table");
    ok("INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) RETURNING (SELECT count(*) FROM follow_ups u WHERE u.tenant_id = forms.tenant_id)");
}

#[test]
fn update_and_delete_rules() {
    ok("UPDATE forms SET name = $1 WHERE tenant_id = $tenant AND id = $2");
    ok("UPDATE forms f SET name = s.name FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND f.tenant_id = $tenant");
    refused("UPDATE forms SET name = $1 WHERE id = $2", "unbound-table");
    refused("UPDATE forms f SET name = s.name FROM form_submissions s WHERE f.tenant_id = $tenant AND s.form_id = f.id", "unbound-table");
    refused(
        "UPDATE forms SET tenant_id = $1 WHERE tenant_id = $tenant",
        "tenant-column-assignment",
    );
    refused(
        "UPDATE forms SET (tenant_id, name) = (SELECT $tenant, 'x') WHERE tenant_id = $tenant",
        "tenant-column-assignment",
    );
    ok("UPDATE forms SET tenant_id = $tenant, name = $1 WHERE tenant_id = $tenant");
    refused(
        "UPDATE forms SET name = (SELECT name FROM forms LIMIT 1) WHERE tenant_id = $tenant",
        "unbound-table",
    );
    ok("DELETE FROM forms WHERE tenant_id = $tenant AND id = $1 RETURNING id");
    ok("DELETE FROM forms f USING form_submissions s WHERE s.tenant_id = f.tenant_id AND f.tenant_id = $tenant AND s.form_id = f.id");
    refused("DELETE FROM forms f USING form_submissions s WHERE f.tenant_id = $tenant AND s.form_id = f.id", "unbound-table");
    refused("DELETE FROM forms", "unbound-table");
    refused("DELETE FROM forms WHERE CURRENT OF c", "unbound-table");
    ok("WITH moved AS (DELETE FROM forms WHERE tenant_id = $tenant AND id = $1 RETURNING *) INSERT INTO archive (tenant_id, id) SELECT tenant_id, id FROM moved");
    refused(
        "WITH moved AS (DELETE FROM forms WHERE id = $1 RETURNING *) SELECT * FROM plans",
        "unbound-table",
    );
}

#[test]
fn forbid_delete_rejects_every_delete() {
    let a = Analyzer::new(Config::from_toml_str("forbid_delete = true").unwrap());
    for sql in [
        "DELETE FROM forms WHERE tenant_id = $tenant",
        "WITH d AS (DELETE FROM forms WHERE tenant_id = $tenant RETURNING id) SELECT * FROM d",
        "MERGE INTO forms t USING (SELECT * FROM forms WHERE tenant_id = $tenant) s ON t.tenant_id = s.tenant_id AND t.id = s.id WHEN MATCHED THEN DELETE",
    ] {
        let rules: Vec<_> = a.analyze(sql).unwrap().violations().map(|v| v.rule.name()).collect();
        assert_eq!(rules, vec!["delete-forbidden"], "{sql}");
    }
    assert!(a
        .analyze("UPDATE forms SET deleted_at = now() WHERE tenant_id = $tenant")
        .unwrap()
        .is_ok());
}

#[test]
fn merge_rules() {
    let bound = "MERGE INTO forms t USING (SELECT * FROM drafts WHERE tenant_id = $tenant) s ON t.tenant_id = s.tenant_id AND t.id = s.id";
    ok(&format!("{bound} WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES (s.tenant_id, s.id, s.name)"));
    ok(&format!(
        "{bound} WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES ($tenant, s.id, s.name)"
    ));
    refused(
        &format!("{bound} WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)"),
        "insert-missing-tenant-column",
    );
    refused(
        &format!("{bound} WHEN NOT MATCHED THEN INSERT (tenant_id, id) VALUES ($1, s.id)"),
        "insert-tenant-value",
    );
    refused(
        &format!("{bound} WHEN MATCHED THEN UPDATE SET tenant_id = $1"),
        "tenant-column-assignment",
    );
    refused(
        &format!("{bound} WHEN NOT MATCHED BY SOURCE THEN DELETE"),
        "unbound-table",
    );
    ok(&format!(
        "{bound} WHEN NOT MATCHED BY SOURCE AND t.tenant_id = $tenant THEN DELETE"
    ));
    ok("MERGE INTO forms t USING drafts s ON t.tenant_id = s.tenant_id AND s.tenant_id = $tenant AND t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name");
    refused("MERGE INTO forms t USING drafts s ON t.tenant_id = s.tenant_id AND s.tenant_id = $tenant AND t.id = s.id WHEN NOT MATCHED THEN INSERT (tenant_id, id) VALUES ($tenant, s.id)", "unbound-table");
    refused("MERGE INTO forms t USING drafts s ON t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name", "unbound-table");
}

/// Found by the noninterference oracle: whether a row is NOT MATCHED depends
/// on every row of the other side that the join condition lets through, so
/// a WHEN condition binding the target is too late for WHEN NOT MATCHED.
#[test]
fn merge_not_matched_needs_the_deciding_side_bound_in_the_join_condition() {
    // Inserts depending on whether any tenant has a form of that name.
    refused(
        "MERGE INTO forms t USING (SELECT $1 AS name) s ON t.name = s.name \
         WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES ($tenant, 1, s.name)",
        "unbound-table",
    );
    let oracle_case = "MERGE INTO audit_log a USING (SELECT f.tenant_id, f.id FROM forms f WHERE f.tenant_id = $tenant) s \
         ON a.org_id >= a.action \
         WHEN MATCHED AND a.org_id = $tenant THEN UPDATE SET action = s.tenant_id \
         WHEN NOT MATCHED THEN INSERT (org_id, id, action) VALUES ($tenant, s.id, s.tenant_id)";
    refused(oracle_case, "unbound-table");
    let message = analyzer()
        .analyze(oracle_case)
        .unwrap()
        .violations()
        .map(|v| v.fix.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        message.contains("WHEN NOT MATCHED inserts a source row only if no target row matches it"),
        "{message}"
    );
    // Bound in the join condition, or no NOT MATCHED clause: fine.
    ok("MERGE INTO audit_log a USING (SELECT f.tenant_id, f.id FROM forms f WHERE f.tenant_id = $tenant) s \
        ON a.org_id = s.tenant_id AND a.id = s.id \
        WHEN MATCHED THEN UPDATE SET action = 'x' \
        WHEN NOT MATCHED THEN INSERT (org_id, id, action) VALUES ($tenant, s.id, 'x')");
    ok("MERGE INTO audit_log a USING (SELECT f.tenant_id, f.id FROM forms f WHERE f.tenant_id = $tenant) s \
        ON a.id = s.id WHEN MATCHED AND a.org_id = $tenant THEN UPDATE SET action = 'x'");
    // BY SOURCE: the source decides, so it must be bound in the join condition.
    refused(
        "MERGE INTO forms t USING drafts s ON t.id = s.id AND t.tenant_id = $tenant \
         WHEN NOT MATCHED BY SOURCE AND t.tenant_id = $tenant THEN DELETE",
        "unbound-table",
    );
    ok("MERGE INTO forms t USING drafts s ON t.id = s.id AND t.tenant_id = $tenant AND s.tenant_id = $tenant \
        WHEN NOT MATCHED BY SOURCE AND t.tenant_id = $tenant THEN DELETE");
}

#[test]
fn unsupported_statements_are_refused() {
    for sql in [
        "CREATE TABLE x (id int)",
        "DROP TABLE forms",
        "ALTER TABLE forms ADD COLUMN x int",
        "TRUNCATE forms",
        "COPY forms TO STDOUT",
        "SET app.tenant_id = 'x'",
        "DO $$ BEGIN END $$",
        "CALL p()",
        "PREPARE q AS SELECT * FROM forms",
        "EXECUTE q",
        "EXPLAIN ANALYZE SELECT * FROM forms WHERE tenant_id = $tenant",
        "EXPLAIN (ANALYZE) SELECT * FROM forms WHERE tenant_id = $tenant",
        "SELECT * INTO copy FROM forms WHERE tenant_id = $tenant",
        "CREATE TABLE c AS SELECT * FROM forms WHERE tenant_id = $tenant",
        "DECLARE c CURSOR FOR SELECT * FROM forms WHERE tenant_id = $tenant",
        "LOCK forms",
        "GRANT SELECT ON forms TO public",
        "VACUUM forms",
    ] {
        refused(sql, "unsupported-statement");
    }
    // Plain EXPLAIN shows estimates over every tenant's rows: refused
    // unless the configuration allows it.
    refused(
        "EXPLAIN SELECT * FROM forms WHERE tenant_id = $tenant",
        "unsupported-statement",
    );
    let explaining = Analyzer::new(Config::from_toml_str("allow_explain = true").unwrap());
    let verdict = |sql: &str| {
        explaining
            .analyze(sql)
            .unwrap()
            .violations()
            .map(|v| v.rule.name())
            .collect::<Vec<_>>()
    };
    assert!(verdict("EXPLAIN SELECT * FROM forms WHERE tenant_id = $tenant").is_empty());
    assert!(
        verdict("EXPLAIN (ANALYZE false) SELECT * FROM forms WHERE tenant_id = $tenant").is_empty()
    );
    assert!(verdict("EXPLAIN SELECT * FROM forms").contains(&"unbound-table"));
}

#[test]
fn several_statements_are_checked_one_by_one() {
    let a = analyzer()
        .analyze("SELECT * FROM forms WHERE tenant_id = $tenant;\nSELECT * FROM forms;\nSELECT 1")
        .unwrap();
    assert_eq!(a.statements.len(), 3);
    assert!(a.statements[0].is_ok());
    assert!(!a.statements[1].is_ok());
    assert_eq!(a.statements[1].text, "SELECT * FROM forms");
    assert_eq!(a.statements[1].position.line, 2);
    assert_eq!(a.statements[1].violations[0].position.line, 2);
    assert!(a.statements[2].is_ok());
}

#[test]
fn identifiers_fold_like_postgres() {
    ok("SELECT * FROM FORMS F WHERE F.TENANT_ID = $tenant");
    ok("SELECT * FROM \"forms\" WHERE \"tenant_id\" = $tenant");
    // A quoted mixed-case name is another table: unknown, so a tenant table.
    refused("SELECT * FROM \"Forms\"", "unbound-table");
    // The quoted column "Tenant_Id" is not tenant_id.
    refused(
        "SELECT * FROM forms WHERE \"Tenant_Id\" = $tenant",
        "unbound-table",
    );
    ok("SELECT * FROM PLANS");
    ok("SELECT * FROM audit_log WHERE org_id = $tenant");
    refused(
        "SELECT * FROM audit_log WHERE tenant_id = $tenant",
        "unbound-table",
    );
}

#[test]
fn lenient_mode_accepts_any_single_value() {
    let a = analyzer().with_binding(Binding::Lenient);
    assert!(a
        .analyze("SELECT * FROM forms WHERE tenant_id = 'acme'")
        .unwrap()
        .is_ok());
    assert!(a
        .analyze("SELECT * FROM forms WHERE tenant_id = $1")
        .unwrap()
        .is_ok());
    assert!(a
        .analyze("SELECT * FROM forms f JOIN form_submissions s ON s.tenant_id = f.tenant_id WHERE f.tenant_id = $1")
        .unwrap()
        .is_ok());
    let rules: Vec<_> = a
        .analyze("SELECT * FROM forms f JOIN form_submissions s ON s.form_id = f.id WHERE f.tenant_id = $1 AND s.tenant_id = $2")
        .unwrap()
        .violations()
        .map(|v| v.rule.name())
        .collect();
    assert_eq!(rules, vec!["conflicting-tenants"]);
    assert!(!a
        .analyze("SELECT * FROM forms WHERE tenant_id = lower($1)")
        .unwrap()
        .is_ok());
}

#[test]
fn the_values_a_statement_binds_are_reported() {
    let lenient = analyzer().with_binding(Binding::Lenient);
    let values = |a: &Analyzer, sql: &str| -> Vec<Vec<String>> {
        a.analyze(sql)
            .unwrap()
            .statements
            .iter()
            .map(|s| s.tenant_values.clone())
            .collect()
    };
    // One value however often it binds; a literal as written.
    assert_eq!(
        values(&lenient, "SELECT * FROM forms f JOIN form_submissions s ON s.tenant_id = f.tenant_id WHERE f.tenant_id = $2 AND f.id = $1"),
        [["$2"]]
    );
    assert_eq!(
        values(
            &lenient,
            "SELECT * FROM forms WHERE tenant_id = 'acme'; DELETE FROM forms WHERE tenant_id = $1"
        ),
        [["'acme'"], ["$1"]]
    );
    // Both values of a conflict, in the order of the tables they bind.
    assert_eq!(
        values(&lenient, "SELECT * FROM forms f, form_submissions s WHERE s.tenant_id = $2 AND f.tenant_id = 'x'"),
        [["'x'", "$2"]]
    );
    // No tenant table, or none bound: nothing.
    assert_eq!(
        values(&lenient, "SELECT * FROM plans WHERE id = $1"),
        [Vec::<String>::new()]
    );
    assert_eq!(
        values(&lenient, "SELECT * FROM forms"),
        [Vec::<String>::new()]
    );
    // Strict mode: only `$tenant`'s parameter binds; an inserted row too.
    assert_eq!(
        values(
            &analyzer(),
            "INSERT INTO forms (tenant_id, name) VALUES ($tenant, $1)"
        ),
        [["$2"]]
    );
}

#[test]
fn tenant_placeholder_is_reported_and_sites_are_found() {
    let a = analyzer()
        .analyze("SELECT f.id FROM public.forms f JOIN plans p ON p.id = f.plan_id WHERE f.tenant_id = $tenant AND f.id = $1")
        .unwrap();
    assert_eq!(a.tenant_param, Some(2));
    assert_eq!(a.param_count, 2);
    let sites = &a.statements[0].tenant_tables;
    assert_eq!(sites.len(), 1);
    assert_eq!(&a.sql[sites[0].span.clone()], "public.forms");
    assert_eq!(sites[0].alias.as_deref(), Some("f"));
}

#[test]
fn parse_errors_carry_position() {
    let err = analyzer()
        .analyze("SELECT *\nFROM forms WHERE tenant_id = = $tenant")
        .unwrap_err();
    assert!(err.message.contains("syntax error"));
    assert_eq!(err.position.unwrap().line, 2);
}

#[test]
fn functions_in_from_are_walked() {
    refused(
        "SELECT * FROM generate_series(1, (SELECT count(*) FROM forms)) g",
        "unbound-table",
    );
    ok("SELECT * FROM forms f, jsonb_array_elements(f.data) e WHERE f.tenant_id = $tenant");
    refused(
        "SELECT * FROM XMLTABLE('/a' PASSING (SELECT x FROM forms LIMIT 1) COLUMNS id int) t",
        "unbound-table",
    );
}

#[test]
fn functions_that_run_sql_from_strings_are_refused() {
    for sql in [
        "SELECT query_to_xml('SELECT * FROM forms', true, false, '')",
        "SELECT * FROM ts_stat('SELECT to_tsvector(name) FROM forms')",
        "SELECT set_config('app.tenant_id', $1, false)",
        "SELECT pg_catalog.table_to_xml('forms', true, false, '')",
        "SELECT * FROM crosstab('SELECT tenant_id, id, title FROM forms') AS t(a text, b text)",
        "SELECT * FROM public.crosstab3('SELECT tenant_id, id, title FROM forms')",
        "SELECT * FROM connectby('forms', 'id', 'parent_id', '1', 0) AS t(id int, p int, l int)",
        "SELECT * FROM xpath_table('id', 'doc', 'forms', '/a', 'true') AS t(id int, a text)",
        "SELECT * FROM heap_page_items(get_raw_page('forms', 0))",
        "SELECT * FROM pgr_dijkstra('SELECT id, source, target, cost FROM edges', 1, 2)",
        "SELECT dblink_build_sql_insert('forms', '1 2', 2, '{a,1}', '{a,1}')",
        "SELECT * FROM dblink('dbname=app', 'SELECT title FROM forms') AS t(title text)",
        "SELECT * FROM bt_page_items('forms_pkey', 1)",
        "SELECT heap_force_kill('forms'::regclass, ARRAY['(0,1)'::tid])",
        "SELECT data FROM pg_logical_slot_get_changes('slot', NULL, NULL)",
    ] {
        refused(sql, "unsafe-function");
    }
}

#[test]
fn lenient_assignment_must_keep_the_bound_tenant() {
    let a = analyzer().with_binding(Binding::Lenient);
    let rules: Vec<_> = a
        .analyze("UPDATE forms SET tenant_id = $2 WHERE tenant_id = $1")
        .unwrap()
        .violations()
        .map(|v| v.rule.name())
        .collect();
    assert!(rules.contains(&"tenant-column-assignment"), "{rules:?}");
    assert!(a
        .analyze("UPDATE forms SET tenant_id = $1 WHERE tenant_id = $1")
        .unwrap()
        .is_ok());
}

/// Found by the noninterference oracle (`tenant-runtime/tests/noninterference`):
/// a MERGE bound to `$1` whose INSERT branch wrote tenant `'b'` was accepted
/// in lenient mode, because the inserted value was not compared with the
/// statement's other bindings.
#[test]
fn lenient_merge_insert_must_insert_the_bound_tenant() {
    let a = analyzer().with_binding(Binding::Lenient);
    let rules = |sql: &str| -> Vec<&'static str> {
        a.analyze(sql)
            .unwrap()
            .violations()
            .map(|v| v.rule.name())
            .collect()
    };
    assert_eq!(
        rules(
            "MERGE INTO forms f USING plans p ON f.tenant_id = $1 AND f.id = p.max_forms \
             WHEN MATCHED THEN UPDATE SET title = p.name \
             WHEN NOT MATCHED THEN INSERT (tenant_id, id, title) VALUES ('b', p.max_forms, p.name)"
        ),
        ["conflicting-tenants"]
    );
    assert_eq!(
        rules(
            "MERGE INTO forms f USING (SELECT * FROM staged WHERE tenant_id = $1) s \
             ON f.tenant_id = s.tenant_id AND f.id = s.id \
             WHEN NOT MATCHED THEN INSERT (tenant_id, id, title) VALUES ($2, s.id, s.title)"
        ),
        ["conflicting-tenants"]
    );
    // The same value, or the bound source column, is fine.
    for sql in [
        "MERGE INTO forms f USING plans p ON f.tenant_id = $1 AND f.id = p.max_forms \
         WHEN MATCHED THEN UPDATE SET title = p.name \
         WHEN NOT MATCHED THEN INSERT (tenant_id, id, title) VALUES ($1, p.max_forms, p.name)",
        "MERGE INTO forms f USING (SELECT * FROM staged WHERE tenant_id = $1) s \
         ON f.tenant_id = s.tenant_id AND f.id = s.id \
         WHEN NOT MATCHED THEN INSERT (tenant_id, id, title) VALUES (s.tenant_id, s.id, s.title)",
    ] {
        assert_eq!(rules(sql), Vec::<&str>::new(), "{sql}");
    }
    // Alone, the literal is the statement's tenant (lenient mode's rule).
    let analysis = a
        .analyze("MERGE INTO forms f USING plans p ON f.tenant_id = 'b' AND f.id = p.max_forms WHEN NOT MATCHED THEN INSERT (tenant_id, id, title) VALUES ('b', p.max_forms, p.name)")
        .unwrap();
    assert!(analysis.is_ok());
    assert_eq!(analysis.statements[0].tenant_values, ["'b'"]);
}

#[test]
fn missing_placeholder_is_named_in_strict_mode() {
    let r = rules("SELECT * FROM forms WHERE tenant_id = $1");
    assert_eq!(r, vec!["unbound-table", "missing-tenant-placeholder"]);
    // With $tenant present elsewhere the extra violation is not added.
    let r = rules("SELECT * FROM forms WHERE tenant_id = $1 AND owner = $tenant");
    assert_eq!(r, vec!["unbound-table"]);
}
