//! Rule `every-clause-walked`: every field of every statement and clause
//! node that can hold an expression, a subquery or a table is visited by
//! the analyzer.
//!
//! Two checks. `every_field_of_the_audited_nodes_has_a_case` compares the
//! table below with the node fields pg_query has (`NODE_FIELDS`, generated
//! from its sources): a pg_query upgrade that adds a field to one of these
//! nodes fails until the field has a case. `every_case_is_walked_whole`
//! analyses each case and requires that the analysis accounted for every
//! node of its parse tree (a subquery, call or table in a clause the
//! analyzer skips is reported with its kind and offset) and, where the
//! case hides an unbound tenant table in the field, that it is refused.
//!
//! Expression nodes need no cases: the analyzer walks them with the
//! generated exhaustive walker. The nodes audited here are the ones it
//! takes apart by hand.

use crate::walk::NODE_FIELDS;
use crate::{Analyzer, Config};

/// A subquery reading every tenant's rows: put in a field, it must be seen.
const LEAK: &str = "(SELECT count(*) FROM forms)";

/// What a case expects of the analysis, besides full coverage.
#[derive(Clone, Copy)]
enum Expect {
    /// Refused with this rule (the leak in the field was seen).
    Refused(&'static str),
    /// Accepted (the field holds names only, or the case is safe).
    Accepted,
}

use Expect::{Accepted, Refused};

/// `(node kind, field, case, expectation)`; `{}` in a case is [`LEAK`].
const CASES: &[(&str, &str, &str, Expect)] = &[
    // SELECT
    ("SelectStmt", "distinct_clause", "SELECT DISTINCT ON ({}) 1", Refused("unbound-table")),
    ("SelectStmt", "into_clause", "SELECT 1 INTO copy_of", Refused("unsupported-statement")),
    ("SelectStmt", "target_list", "SELECT {}", Refused("unbound-table")),
    ("SelectStmt", "from_clause", "SELECT 1 FROM {} c", Refused("unbound-table")),
    ("SelectStmt", "where_clause", "SELECT 1 WHERE {} > 0", Refused("unbound-table")),
    ("SelectStmt", "group_clause", "SELECT 1 GROUP BY {}", Refused("unbound-table")),
    ("SelectStmt", "group_clause", "SELECT 1 GROUP BY ROLLUP ({}, 1)", Refused("unbound-table")),
    ("SelectStmt", "having_clause", "SELECT 1 HAVING {} > 0", Refused("unbound-table")),
    ("SelectStmt", "window_clause", "SELECT count(*) OVER w FROM plans WINDOW w AS (ORDER BY {})", Refused("unbound-table")),
    ("SelectStmt", "window_clause", "SELECT count(*) OVER w FROM plans WINDOW w AS (PARTITION BY {} ROWS {} PRECEDING)", Refused("unbound-table")),
    ("SelectStmt", "values_lists", "VALUES ({})", Refused("unbound-table")),
    ("SelectStmt", "sort_clause", "SELECT 1 ORDER BY {}", Refused("unbound-table")),
    ("SelectStmt", "sort_clause", "VALUES (1), (2) ORDER BY {}", Refused("unbound-table")),
    ("SelectStmt", "sort_clause", "SELECT 1 UNION SELECT 2 ORDER BY {}", Refused("unbound-table")),
    ("SelectStmt", "sort_clause", "SELECT 1 FROM plans ORDER BY price USING <", Accepted),
    ("SelectStmt", "limit_offset", "SELECT 1 OFFSET {}", Refused("unbound-table")),
    ("SelectStmt", "limit_offset", "VALUES (1), (2) OFFSET {}", Refused("unbound-table")),
    ("SelectStmt", "limit_count", "VALUES (1), (2) LIMIT {}", Refused("unbound-table")),
    ("SelectStmt", "limit_count", "SELECT 1 UNION SELECT 2 LIMIT {}", Refused("unbound-table")),
    ("SelectStmt", "limit_count", "SELECT * FROM forms WHERE tenant_id = $tenant AND id IN (VALUES (1), (2) LIMIT {})", Refused("unbound-table")),
    ("SelectStmt", "locking_clause", "SELECT 1 FROM plans p FOR UPDATE OF p", Accepted),
    ("SelectStmt", "locking_clause", "VALUES (1) FOR UPDATE", Accepted),
    ("SelectStmt", "with_clause", "WITH c AS {} SELECT * FROM c", Refused("unbound-table")),
    ("SelectStmt", "with_clause", "WITH c AS (VALUES (1) OFFSET {}) SELECT * FROM c", Refused("unbound-table")),
    ("SelectStmt", "larg", "SELECT count(*) FROM forms UNION SELECT 1", Refused("unbound-table")),
    ("SelectStmt", "rarg", "SELECT 1 INTERSECT SELECT count(*) FROM forms", Refused("unbound-table")),
    // INSERT
    ("InsertStmt", "relation", "INSERT INTO forms (id) VALUES (1)", Refused("insert-missing-tenant-column")),
    ("InsertStmt", "cols", "INSERT INTO plans (id, tags[{}]) VALUES ('p', 'x')", Refused("unbound-table")),
    ("InsertStmt", "cols", "INSERT INTO plans (id, meta.field[{}]) VALUES ('p', 'x')", Refused("unbound-table")),
    ("InsertStmt", "select_stmt", "INSERT INTO plans (price) SELECT count(*) FROM forms", Refused("unbound-table")),
    ("InsertStmt", "select_stmt", "INSERT INTO plans (price) VALUES ({})", Refused("unbound-table")),
    ("InsertStmt", "select_stmt", "INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1), ($tenant, 2) LIMIT {}", Refused("unbound-table")),
    ("InsertStmt", "select_stmt", "INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1) ORDER BY {}", Refused("unbound-table")),
    ("InsertStmt", "on_conflict_clause", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id) DO UPDATE SET price = {}", Refused("unbound-table")),
    ("InsertStmt", "returning_clause", "INSERT INTO plans (id) VALUES ('p') RETURNING {}", Refused("unbound-table")),
    ("InsertStmt", "with_clause", "WITH c AS (SELECT count(*) AS n FROM forms) INSERT INTO plans (price) SELECT n FROM c", Refused("unbound-table")),
    ("OnConflictClause", "infer", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id) WHERE price > {} DO NOTHING", Refused("unbound-table")),
    ("OnConflictClause", "target_list", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id) DO UPDATE SET (price, name) = (SELECT count(*), 'x' FROM forms)", Refused("unbound-table")),
    ("OnConflictClause", "where_clause", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id) DO UPDATE SET price = 1 WHERE {} > 0", Refused("unbound-table")),
    ("InferClause", "index_elems", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT ((lower(id) || {})) DO NOTHING", Refused("unbound-table")),
    ("InferClause", "where_clause", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id) WHERE {} > 1 DO NOTHING", Refused("unbound-table")),
    ("IndexElem", "expr", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (({})) DO NOTHING", Refused("unbound-table")),
    ("IndexElem", "collation", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id COLLATE \"C\") DO NOTHING", Accepted),
    ("IndexElem", "opclass", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id text_pattern_ops) DO NOTHING", Accepted),
    ("IndexElem", "opclassopts", "INSERT INTO plans (id) VALUES ('p') ON CONFLICT (id text_pattern_ops) DO NOTHING", Accepted),
    // UPDATE
    ("UpdateStmt", "relation", "UPDATE forms SET name = 'x'", Refused("unbound-table")),
    ("UpdateStmt", "target_list", "UPDATE plans SET price = {}", Refused("unbound-table")),
    ("UpdateStmt", "target_list", "UPDATE plans SET tags[{}] = 'x'", Refused("unbound-table")),
    ("UpdateStmt", "target_list", "UPDATE plans SET (price, name) = (SELECT count(*), 'x' FROM forms)", Refused("unbound-table")),
    ("UpdateStmt", "where_clause", "UPDATE plans SET price = 1 WHERE {} > 0", Refused("unbound-table")),
    ("UpdateStmt", "from_clause", "UPDATE plans SET price = c.n FROM (SELECT count(*) AS n FROM forms) c", Refused("unbound-table")),
    ("UpdateStmt", "returning_clause", "UPDATE plans SET price = 1 RETURNING {}", Refused("unbound-table")),
    ("UpdateStmt", "with_clause", "WITH c AS {} UPDATE plans SET price = 1", Refused("unbound-table")),
    // DELETE
    ("DeleteStmt", "relation", "DELETE FROM forms", Refused("unbound-table")),
    ("DeleteStmt", "using_clause", "DELETE FROM plans USING (SELECT count(*) AS n FROM forms) c WHERE plans.price = c.n", Refused("unbound-table")),
    ("DeleteStmt", "where_clause", "DELETE FROM plans WHERE {} > 0", Refused("unbound-table")),
    ("DeleteStmt", "returning_clause", "DELETE FROM plans RETURNING {}", Refused("unbound-table")),
    ("DeleteStmt", "with_clause", "WITH c AS {} DELETE FROM plans", Refused("unbound-table")),
    // MERGE
    ("MergeStmt", "relation", "MERGE INTO forms t USING plans p ON t.name = p.name WHEN MATCHED THEN DELETE", Refused("unbound-table")),
    ("MergeStmt", "source_relation", "MERGE INTO plans t USING {} c ON true WHEN MATCHED THEN DELETE", Refused("unbound-table")),
    ("MergeStmt", "join_condition", "MERGE INTO plans t USING plans s ON t.price = {} WHEN MATCHED THEN DELETE", Refused("unbound-table")),
    ("MergeStmt", "merge_when_clauses", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN MATCHED AND {} > 0 THEN DELETE", Refused("unbound-table")),
    ("MergeStmt", "returning_clause", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING {}", Refused("unbound-table")),
    ("MergeStmt", "with_clause", "WITH c AS {} MERGE INTO plans t USING plans s ON t.id = s.id WHEN MATCHED THEN DELETE", Refused("unbound-table")),
    ("MergeWhenClause", "condition", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN NOT MATCHED AND {} > 0 THEN DO NOTHING", Refused("unbound-table")),
    ("MergeWhenClause", "target_list", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN MATCHED THEN UPDATE SET price = {}", Refused("unbound-table")),
    ("MergeWhenClause", "target_list", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, tags[{}]) VALUES (s.id, 'x')", Refused("unbound-table")),
    ("MergeWhenClause", "values", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, price) VALUES (s.id, {})", Refused("unbound-table")),
    ("MergeWhenClause", "values", "MERGE INTO plans t USING plans s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND {} > 0 THEN DELETE", Refused("unbound-table")),
    ("ReturningClause", "options", "DELETE FROM plans RETURNING WITH (OLD AS o) o.id", Accepted),
    ("ReturningClause", "exprs", "DELETE FROM plans RETURNING (SELECT count(*) FROM forms)", Refused("unbound-table")),
    // WITH
    ("WithClause", "ctes", "WITH a AS (SELECT 1), b AS {} SELECT * FROM a", Refused("unbound-table")),
    ("CommonTableExpr", "aliascolnames", "WITH c(n) AS {} SELECT n FROM c", Refused("unbound-table")),
    ("CommonTableExpr", "ctequery", "WITH c AS MATERIALIZED {} SELECT * FROM c", Refused("unbound-table")),
    ("CommonTableExpr", "search_clause", "WITH RECURSIVE t(id, p) AS (SELECT 1, 0 UNION ALL SELECT id + 1, id FROM t WHERE id < 3) SEARCH DEPTH FIRST BY id SET ord SELECT * FROM t", Accepted),
    ("CommonTableExpr", "cycle_clause", "WITH RECURSIVE t(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM t WHERE id < {}) CYCLE id SET is_cycle USING path SELECT * FROM t", Refused("unbound-table")),
    ("CommonTableExpr", "ctecolnames", "WITH c AS (SELECT 1 AS a) SELECT a FROM c", Accepted),
    ("CommonTableExpr", "ctecoltypes", "WITH c AS (SELECT 1 AS a) SELECT a FROM c", Accepted),
    ("CommonTableExpr", "ctecoltypmods", "WITH c AS (SELECT 1 AS a) SELECT a FROM c", Accepted),
    ("CommonTableExpr", "ctecolcollations", "WITH c AS (SELECT 1 AS a) SELECT a FROM c", Accepted),
    ("CtesearchClause", "search_col_list", "WITH RECURSIVE t(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM t WHERE id < 3) SEARCH BREADTH FIRST BY id SET ord SELECT * FROM t", Accepted),
    ("CtecycleClause", "cycle_col_list", "WITH RECURSIVE t(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM t WHERE id < 3) CYCLE id SET c USING p SELECT * FROM t", Accepted),
    ("CtecycleClause", "cycle_mark_value", "WITH RECURSIVE t(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM t WHERE id < 3) CYCLE id SET c TO 'y' DEFAULT 'n' USING p SELECT * FROM t", Accepted),
    ("CtecycleClause", "cycle_mark_default", "WITH RECURSIVE t(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM t WHERE id < 3) CYCLE id SET c TO 'y' DEFAULT 'n' USING p SELECT * FROM t", Accepted),
    // FROM items
    ("JoinExpr", "larg", "SELECT 1 FROM {} c JOIN plans p ON true", Refused("unbound-table")),
    ("JoinExpr", "rarg", "SELECT 1 FROM plans p JOIN {} c ON true", Refused("unbound-table")),
    ("JoinExpr", "using_clause", "SELECT 1 FROM plans p JOIN countries c USING (id)", Accepted),
    ("JoinExpr", "join_using_alias", "SELECT u.id FROM plans p JOIN countries c USING (id) AS u", Accepted),
    ("JoinExpr", "quals", "SELECT 1 FROM plans p JOIN countries c ON p.price = {}", Refused("unbound-table")),
    ("JoinExpr", "alias", "SELECT j.id FROM (plans p JOIN countries c USING (id)) AS j", Accepted),
    ("RangeSubselect", "subquery", "SELECT 1 FROM LATERAL {} c", Refused("unbound-table")),
    ("RangeSubselect", "alias", "SELECT c.n FROM (SELECT 1) AS c(n)", Accepted),
    ("RangeFunction", "functions", "SELECT 1 FROM generate_series(1, {}) g", Refused("unbound-table")),
    ("RangeFunction", "functions", "SELECT 1 FROM ROWS FROM (generate_series(1, 2), generate_series(1, {})) g", Refused("unbound-table")),
    ("RangeFunction", "alias", "SELECT g.n FROM generate_series(1, 2) AS g(n)", Accepted),
    ("RangeFunction", "coldeflist", "SELECT 1 FROM jsonb_to_record('{}'::jsonb) AS (a int)", Accepted),
    ("RangeTableSample", "relation", "SELECT 1 FROM forms TABLESAMPLE SYSTEM (10)", Refused("unbound-table")),
    ("RangeTableSample", "method", "SELECT 1 FROM plans TABLESAMPLE BERNOULLI (10)", Accepted),
    ("RangeTableSample", "args", "SELECT 1 FROM plans TABLESAMPLE SYSTEM ({})", Refused("unbound-table")),
    ("RangeTableSample", "repeatable", "SELECT 1 FROM plans TABLESAMPLE SYSTEM (10) REPEATABLE ({})", Refused("unbound-table")),
    ("RangeTableFunc", "docexpr", "SELECT 1 FROM XMLTABLE('/a' PASSING ({}::text::xml) COLUMNS a int) x", Refused("unbound-table")),
    ("RangeTableFunc", "rowexpr", "SELECT 1 FROM XMLTABLE(({}::text) PASSING ('<a/>'::xml) COLUMNS a int) x", Refused("unbound-table")),
    ("RangeTableFunc", "namespaces", "SELECT 1 FROM XMLTABLE(XMLNAMESPACES(({}::text) AS n), '/a' PASSING ('<a/>'::xml) COLUMNS a int) x", Refused("unbound-table")),
    ("RangeTableFunc", "columns", "SELECT 1 FROM XMLTABLE('/a' PASSING ('<a/>'::xml) COLUMNS a int PATH ({}::text)) x", Refused("unbound-table")),
    ("RangeTableFunc", "alias", "SELECT x.a FROM XMLTABLE('/a' PASSING ('<a/>'::xml) COLUMNS a int) AS x", Accepted),
    ("RangeTableFuncCol", "type_name", "SELECT 1 FROM XMLTABLE('/a' PASSING ('<a/>'::xml) COLUMNS a int) x", Accepted),
    ("RangeTableFuncCol", "colexpr", "SELECT 1 FROM XMLTABLE('/a' PASSING ('<a/>'::xml) COLUMNS a int PATH ({}::text)) x", Refused("unbound-table")),
    ("RangeTableFuncCol", "coldefexpr", "SELECT 1 FROM XMLTABLE('/a' PASSING ('<a/>'::xml) COLUMNS a int DEFAULT {}) x", Refused("unbound-table")),
    ("JsonTable", "context_item", "SELECT 1 FROM JSON_TABLE(({}::text::jsonb), '$' COLUMNS (a int)) j", Refused("unbound-table")),
    ("JsonTable", "pathspec", "SELECT 1 FROM JSON_TABLE('{}'::jsonb, '$' AS p COLUMNS (a int)) j", Accepted),
    ("JsonTable", "passing", "SELECT 1 FROM JSON_TABLE('{}'::jsonb, '$' PASSING {} AS x COLUMNS (a int)) j", Refused("unbound-table")),
    ("JsonTable", "columns", "SELECT 1 FROM JSON_TABLE('{}'::jsonb, '$' COLUMNS (a int DEFAULT {} ON EMPTY)) j", Refused("unbound-table")),
    ("JsonTable", "on_error", "SELECT 1 FROM JSON_TABLE('{}'::jsonb, '$' COLUMNS (a int) ERROR ON ERROR) j", Accepted),
    ("JsonTable", "alias", "SELECT j.a FROM JSON_TABLE('{}'::jsonb, '$' COLUMNS (a int)) AS j", Accepted),
    // Pieces of clauses taken apart by hand
    ("ResTarget", "indirection", "UPDATE plans SET tags[{}] = 'x'", Refused("unbound-table")),
    ("ResTarget", "val", "SELECT {} AS n", Refused("unbound-table")),
    ("LockingClause", "locked_rels", "SELECT 1 FROM plans p, countries c FOR SHARE OF p, c", Accepted),
    // `xpr` is filled in by parse analysis only; the raw tree leaves it empty.
    ("SubLink", "xpr", "SELECT EXISTS (SELECT 1)", Accepted),
    ("SubLink", "testexpr", "SELECT 1 WHERE {} IN (SELECT 1)", Refused("unbound-table")),
    ("SubLink", "oper_name", "SELECT 1 WHERE 1 = ANY (SELECT 1)", Accepted),
    ("SubLink", "subselect", "SELECT EXISTS {}", Refused("unbound-table")),
    ("ExplainStmt", "query", "EXPLAIN SELECT {}", Refused("unbound-table")),
    ("ExplainStmt", "options", "EXPLAIN (COSTS false) SELECT 1", Accepted),
    ("RangeVar", "alias", "SELECT p.id FROM plans AS p", Accepted),
];

fn analyzer() -> Analyzer {
    Analyzer::new(
        Config::from_toml_str("global_tables = [\"plans\", \"countries\"]\nallow_explain = true")
            .unwrap(),
    )
}

#[test]
fn every_field_of_the_audited_nodes_has_a_case() {
    let mut missing = Vec::new();
    let mut audited: Vec<&str> = CASES.iter().map(|(kind, ..)| *kind).collect();
    audited.dedup();
    for kind in audited {
        let Some((_, fields)) = NODE_FIELDS.iter().find(|(k, _)| *k == kind) else {
            missing.push(format!("{kind}: not a node kind of pg_query"));
            continue;
        };
        for field in *fields {
            if !CASES.iter().any(|(k, f, ..)| *k == kind && f == field) {
                missing.push(format!("{kind}.{field}"));
            }
        }
        for (k, f, ..) in CASES.iter().filter(|(k, ..)| *k == kind) {
            if !fields.contains(f) {
                missing.push(format!("{k}.{f}: no such field"));
            }
        }
    }
    assert!(missing.is_empty(), "fields without a case: {missing:#?}");
}

#[test]
fn every_case_is_walked_whole() {
    let analyzer = analyzer();
    let mut failures = Vec::new();
    for (kind, field, case, expect) in CASES {
        let sql = case.replace("{}", LEAK);
        let uncovered = analyzer.uncovered_nodes(&sql);
        if !uncovered.is_empty() {
            failures.push(format!(
                "{kind}.{field}: {sql}\n    not walked: {uncovered:?}"
            ));
        }
        let rules: Vec<&str> = analyzer
            .analyze(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .violations()
            .map(|v| v.rule.name())
            .collect();
        match expect {
            Refused(rule) if !rules.contains(rule) => failures.push(format!(
                "{kind}.{field}: {sql}\n    expected {rule}, got {rules:?}"
            )),
            Accepted if !rules.is_empty() => failures.push(format!(
                "{kind}.{field}: {sql}\n    expected accepted, got {rules:?}"
            )),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
