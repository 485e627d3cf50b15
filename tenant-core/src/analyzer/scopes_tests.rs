//! The name-resolution rules of `scopes`, each with its cases: the leak a
//! wrong resolution lets through beside the safe form of the same shape.
//! Every leak here was accepted before the rule was followed; the comment
//! says what PostgreSQL reads instead of what the analyzer thought.

use crate::{Analyzer, Config};

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
    analyzer()
        .analyze(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .violations()
        .map(|v| v.rule.name())
        .collect()
}

#[track_caller]
fn ok(sql: &str) {
    let r = rules(sql);
    assert!(r.is_empty(), "expected accepted: {sql}\ngot {r:?}");
}

#[track_caller]
fn refused(sql: &str, rule: &str) {
    let r = rules(sql);
    assert!(r.contains(&rule), "expected {rule} for: {sql}\ngot {r:?}");
}

/// Rule `cte-names`: the target of INSERT, UPDATE, DELETE and MERGE is never
/// a CTE, even when a CTE in view has its name.
#[test]
fn rule_cte_names_dml_targets_are_tables() {
    // PostgreSQL deletes from the table `forms`, every tenant's rows.
    refused(
        "WITH forms AS (SELECT 1 AS id) DELETE FROM forms WHERE id = 1",
        "unbound-table",
    );
    refused(
        "WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) UPDATE forms SET name = 'x' WHERE id = 1",
        "unbound-table",
    );
    // The target's tenant column must get the tenant, CTE or not.
    refused(
        "WITH forms AS (SELECT 1) INSERT INTO forms (tenant_id, id, name) VALUES ('b', 1, 'x')",
        "insert-tenant-value",
    );
    refused(
        "WITH forms AS (SELECT $tenant AS tenant_id, 1 AS id) MERGE INTO forms t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "unbound-table",
    );
    // A writable CTE whose target is named like a sibling CTE.
    refused(
        "WITH forms AS (SELECT 1 AS x), d AS (DELETE FROM forms RETURNING id) SELECT * FROM d",
        "unbound-table",
    );
    // Safe: the target bound, and the CTE read where PostgreSQL reads it.
    ok("WITH forms AS (SELECT id FROM forms WHERE tenant_id = $tenant) DELETE FROM forms WHERE tenant_id = $tenant AND id IN (SELECT id FROM forms)");
    ok("WITH src AS (SELECT $tenant AS tenant_id, 1 AS id) INSERT INTO forms (tenant_id, id) SELECT tenant_id, id FROM src");
}

/// Rule `cte-names`: a CTE sees the CTEs before it, or with RECURSIVE the
/// whole list (a forward reference is the CTE, not a table).
#[test]
fn rule_cte_names_recursive_lists_see_every_sibling() {
    // Without RECURSIVE, `b` in `a` is the table b.
    refused(
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
        "unbound-table",
    );
    // With RECURSIVE, it is the CTE b (whose rows are checked where made).
    ok("WITH RECURSIVE a AS (SELECT x FROM b), b AS (SELECT 1 AS x) SELECT * FROM a");
    // Nothing is assumed of a CTE's columns before its body is analysed.
    refused(
        "WITH RECURSIVE a AS (SELECT f.name FROM b JOIN forms f ON f.tenant_id = b.t), b AS (SELECT $tenant AS t) SELECT * FROM a",
        "unbound-table",
    );
}

/// Rule `visible-from-items`: a LATERAL subquery sees the FROM items before
/// it, not after it.
#[test]
fn rule_visible_from_items_lateral_sees_only_earlier_items() {
    // The inner `x.tenant_id` is the outer x ('b'): the inner `x` comes later.
    refused(
        "SELECT 1 FROM (SELECT 'b' AS tenant_id) x WHERE EXISTS (SELECT 1 FROM LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l, forms x WHERE x.tenant_id = $tenant)",
        "unbound-table",
    );
    // Safe: the bound item comes first.
    ok("SELECT 1 FROM (SELECT 'b' AS tenant_id) x WHERE EXISTS (SELECT 1 FROM forms x, LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l WHERE x.tenant_id = $tenant)");
    // The left input of a join is visible to a LATERAL right input.
    ok("SELECT * FROM forms f JOIN LATERAL (SELECT s.id FROM form_submissions s WHERE s.tenant_id = f.tenant_id) l ON true WHERE f.tenant_id = $tenant");
}

/// Rule `visible-from-items`: a function in FROM sees only earlier items.
#[test]
fn rule_visible_from_items_function_arguments_see_only_earlier_items() {
    refused(
        "SELECT 1 FROM (SELECT 'b' AS tenant_id) x WHERE EXISTS (SELECT 1 FROM generate_series(1, (SELECT count(*) FROM forms f WHERE f.tenant_id = x.tenant_id)) g, forms x WHERE x.tenant_id = $tenant)",
        "unbound-table",
    );
    ok("SELECT 1 FROM forms x, generate_series(1, (SELECT count(*) FROM forms f WHERE f.tenant_id = x.tenant_id)) g WHERE x.tenant_id = $tenant");
}

/// Rule `visible-from-items`: a JOIN's ON clause sees only that join's two
/// inputs (and enclosing levels), not the other FROM items of its level.
#[test]
fn rule_visible_from_items_on_sees_only_its_inputs() {
    // `x.tenant_id` in the ON clause is the outer x ('b').
    refused(
        "SELECT 1 FROM (SELECT 'b' AS tenant_id) x WHERE EXISTS (SELECT 1 FROM forms y JOIN form_submissions s ON s.tenant_id = x.tenant_id, forms x WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant)",
        "unbound-table",
    );
    // A subquery in the ON clause resolves the same way.
    refused(
        "SELECT 1 FROM (SELECT 'b' AS tenant_id) x WHERE EXISTS (SELECT 1 FROM forms y JOIN form_submissions s ON s.tenant_id = y.tenant_id AND EXISTS (SELECT 1 FROM follow_ups u WHERE u.tenant_id = x.tenant_id), forms x WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant)",
        "unbound-table",
    );
    ok("SELECT 1 FROM forms x, forms y JOIN form_submissions s ON s.tenant_id = y.tenant_id WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant");
}

/// Rule `visible-from-items`: UPDATE .. FROM and DELETE .. USING items do
/// not see the target; MERGE's source does not see the target.
#[test]
fn rule_visible_from_items_dml_sources_do_not_see_the_target() {
    refused(
        "UPDATE forms t SET name = 'x' FROM LATERAL (SELECT s.id FROM form_submissions s WHERE s.tenant_id = t.tenant_id) l WHERE t.tenant_id = $tenant",
        "unbound-table",
    );
    ok("UPDATE forms t SET name = 'x' FROM form_submissions s WHERE s.tenant_id = t.tenant_id AND t.tenant_id = $tenant");
}

/// Rule `visible-from-items`: WHEN NOT MATCHED sees the source only.
#[test]
fn rule_visible_from_items_merge_not_matched_sees_the_source_only() {
    // `t.tenant_id` is the target's, invisible there: PostgreSQL refuses it,
    // so the analyzer must not count it as the tenant.
    refused(
        "MERGE INTO forms t USING (SELECT 1 AS id) s ON t.tenant_id = $tenant AND t.id = s.id WHEN NOT MATCHED THEN INSERT (tenant_id, id) VALUES (t.tenant_id, s.id)",
        "insert-tenant-value",
    );
    ok("MERGE INTO forms t USING (SELECT $tenant AS tenant_id, 1 AS id) s ON t.tenant_id = $tenant AND t.id = s.id WHEN NOT MATCHED THEN INSERT (tenant_id, id) VALUES (s.tenant_id, s.id)");
}

/// Rule `unaliased-names`: an unaliased function is named after itself,
/// XMLTABLE `xmltable`; a qualified name meant for them must not reach an
/// outer item with that alias.
#[test]
fn rule_unaliased_names_functions_and_table_functions() {
    refused(
        "SELECT l.name FROM (SELECT $tenant AS tenant_id) jsonb_to_record, LATERAL (SELECT g.name FROM jsonb_to_record($1::jsonb) AS (tenant_id text), forms g WHERE g.tenant_id = jsonb_to_record.tenant_id) l",
        "unbound-table",
    );
    refused(
        "SELECT l.name FROM (SELECT $tenant AS tenant_id) xmltable, LATERAL (SELECT g.name FROM XMLTABLE('/r' PASSING ($1::xml) COLUMNS tenant_id text PATH 't'), forms g WHERE g.tenant_id = xmltable.tenant_id) l",
        "unbound-table",
    );
    // ROWS FROM is named after its first function.
    refused(
        "SELECT l.name FROM (SELECT $tenant AS tenant_id) jsonb_to_record, LATERAL (SELECT g.name FROM ROWS FROM (jsonb_to_record($1::jsonb) AS (tenant_id text)), forms g WHERE g.tenant_id = jsonb_to_record.tenant_id) l",
        "unbound-table",
    );
    // Safe: the outer item is aliased differently.
    ok("SELECT l.name FROM (SELECT $tenant AS tenant_id) o, LATERAL (SELECT g.name FROM jsonb_to_record($1::jsonb) AS (tenant_id text), forms g WHERE g.tenant_id = o.tenant_id) l");
}

/// Rule `schema-qualified-columns`: `s.t.c` never names a CTE, subquery or
/// aliased table, and an unqualified table only if the search path says so.
#[test]
fn rule_schema_qualified_columns_never_name_a_cte() {
    // `public.plans.tenant_id` is not the CTE plans ($tenant) but a
    // relation public.plans further out.
    refused(
        "SELECT 1 FROM plans WHERE EXISTS (WITH plans AS (SELECT $tenant AS tenant_id) SELECT 1 FROM plans, form_submissions s WHERE s.tenant_id = public.plans.tenant_id)",
        "unbound-table",
    );
    refused(
        "WITH forms AS (SELECT $tenant AS tenant_id) SELECT s.id FROM forms, form_submissions s WHERE s.tenant_id = public.forms.tenant_id",
        "unbound-table",
    );
    // Safe: both written with their schema.
    ok("SELECT public.forms.name FROM public.forms WHERE public.forms.tenant_id = $tenant AND public.forms.id = $1");
    // Unqualified table, qualified column: depends on the search path.
    refused(
        "SELECT 1 FROM forms WHERE public.forms.tenant_id = $tenant",
        "unbound-table",
    );
}

/// Rule `join-merged-columns`: a NATURAL join merges the columns both
/// sides have, which the analyzer knows only when both certainly have them.
#[test]
fn rule_join_merged_columns_natural_joins() {
    // `plans` might have a `tenant_id` column: then the merged column is
    // plans' (the left side), not d's.
    refused(
        "SELECT f.name FROM plans p NATURAL LEFT JOIN (SELECT $tenant AS tenant_id) d JOIN forms f ON f.tenant_id = tenant_id",
        "unbound-table",
    );
    ok("SELECT * FROM forms NATURAL JOIN form_submissions WHERE forms.tenant_id = $tenant");
}

/// Rule `join-merged-columns`: `FULL JOIN .. USING (tenant_id)` filtered on
/// the merged column binds both sides.
#[test]
fn rule_join_merged_columns_full_join_filtered_on_the_merged_column() {
    ok("SELECT * FROM forms f FULL JOIN form_submissions s USING (tenant_id, id) WHERE tenant_id = $tenant");
    refused(
        "SELECT * FROM forms f FULL JOIN form_submissions s USING (tenant_id, id) WHERE f.tenant_id = $tenant",
        "unbound-table",
    );
    // The merged column equated with another column is no binding.
    refused(
        "SELECT * FROM forms f FULL JOIN form_submissions s USING (tenant_id) JOIN follow_ups u ON u.tenant_id = tenant_id WHERE u.tenant_id = $tenant",
        "unbound-table",
    );
}

/// Rule `column-aliases`: renaming a tenant table's columns by position.
#[test]
fn rule_column_aliases_on_tenant_tables() {
    // `f(id, tenant_id)` calls the first column `id` and the second (the
    // real id) `tenant_id`.
    refused(
        "SELECT f.id FROM forms f(id, tenant_id) WHERE f.tenant_id = $tenant",
        "unsupported-construct",
    );
    ok("SELECT c.n FROM (SELECT name AS n FROM forms WHERE tenant_id = $tenant) c(n)");
}

/// Rule `recursive-fixpoint`: an assumption about a recursive CTE's columns
/// binds nothing unless every step preserves it.
#[test]
fn rule_recursive_fixpoint_needs_an_invariant() {
    // c1..c9 start as the tenant, c10 as 'b'; each step shifts the columns
    // left, so after nine steps c1 is 'b' and the join reads b's forms.
    let cols: Vec<String> = (1..=10).map(|i| format!("c{i}")).collect();
    let base: Vec<&str> = (1..=9).map(|_| "$tenant").chain(["'b'"]).collect();
    let shifted: Vec<String> = (2..=10)
        .map(|i| format!("r.c{i}"))
        .chain(["r.c10".to_string()])
        .collect();
    let sql = format!(
        "WITH RECURSIVE r({}, n, name) AS (SELECT {}, 0, NULL::text UNION ALL SELECT {}, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.c1 WHERE r.n < 20) SELECT name FROM r",
        cols.join(", "),
        base.join(", "),
        shifted.join(", ")
    );
    refused(&sql, "unbound-table");
    // More columns than the round limit: the final pass assumes nothing.
    let cols: Vec<String> = (1..=80).map(|i| format!("c{i}")).collect();
    let base: Vec<&str> = (1..=79).map(|_| "$tenant").chain(["'b'"]).collect();
    let shifted: Vec<String> = (2..=80)
        .map(|i| format!("r.c{i}"))
        .chain(["r.c80".to_string()])
        .collect();
    let sql = format!(
        "WITH RECURSIVE r({}, n, name) AS (SELECT {}, 0, NULL::text UNION ALL SELECT {}, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.c1 WHERE r.n < 100) SELECT name FROM r",
        cols.join(", "),
        base.join(", "),
        shifted.join(", ")
    );
    refused(&sql, "unbound-table");
    // Safe: the tenant column is carried unchanged.
    ok("WITH RECURSIVE r(t, n, name) AS (SELECT $tenant, 0, NULL::text UNION ALL SELECT r.t, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.t WHERE r.n < 20) SELECT name FROM r");
}

/// Nested recursive CTEs cannot make the analysis run for ever: each one
/// may iterate once per column, and nesting multiplies the rounds (41^4
/// passes here without the statement's budget).
#[test]
fn rule_recursive_fixpoint_has_a_budget() {
    let cols: Vec<String> = (1..=40).map(|i| format!("c{i}")).collect();
    let mut sql = format!(
        "SELECT {}",
        cols.iter()
            .map(|c| format!("$tenant AS {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for depth in 0..4 {
        let shifted: Vec<String> = (2..=40)
            .map(|i| format!("r{depth}.c{i}"))
            .chain([format!("r{depth}.c1")])
            .collect();
        sql = format!(
            "WITH RECURSIVE r{depth}({}) AS ({sql} UNION ALL SELECT {} FROM r{depth}) SELECT * FROM r{depth}",
            cols.join(", "),
            shifted.join(", ")
        );
    }
    assert!(rules(&sql).is_empty(), "{:?}", rules(&sql));
}
