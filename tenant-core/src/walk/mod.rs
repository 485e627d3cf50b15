//! Exhaustive walk over pg_query's node tree.
//!
//! The walker itself is generated from pg_query's sources (`generated.rs`,
//! written whole by `tenant-core/tools/gen_walk.py`); this file holds what is
//! written by hand: the re-exports and the tests that check the walker
//! reaches every table reference, whatever node kind hides it.

mod generated;

pub(crate) use generated::for_each_child;
#[cfg(test)]
pub(crate) use generated::{node_address, NODE_FIELDS};

#[cfg(test)]
mod tests {
    use super::for_each_child;
    use pg_query::NodeRef;
    use std::collections::{BTreeSet, HashMap};

    /// Every node reachable from `node` (itself included), depth first.
    fn collect_subtree<'a>(node: NodeRef<'a>, out: &mut Vec<NodeRef<'a>>) {
        out.push(node);
        for_each_child(node, &mut |child| collect_subtree(child, out));
    }

    /// `schema.relname` (or `relname`) of every `RangeVar` among `nodes`.
    fn range_var_names(nodes: &[NodeRef<'_>]) -> BTreeSet<String> {
        nodes
            .iter()
            .filter_map(|node| match node {
                NodeRef::RangeVar(range_var) if range_var.schemaname.is_empty() => {
                    Some(range_var.relname.clone())
                }
                NodeRef::RangeVar(range_var) => {
                    Some(format!("{}.{}", range_var.schemaname, range_var.relname))
                }
                _ => None,
            })
            .collect()
    }

    /// Statements covering the constructs whose table references a walker can miss,
    /// each with every relation name written in it (CTE references included,
    /// since the parser cannot tell them from tables). pg_query 18.1's own
    /// `tables()` misses 29 of the real tables here, among them `settings` (LIMIT), `pinned`
    /// (ON CONFLICT ... WHERE), `discontinued` (MERGE ... BY SOURCE condition),
    /// `guests` (VALUES), every JSON/XML table, `thresholds` (FILTER),
    /// `partition_keys` (WINDOW), `customers` (FOREIGN KEY) and `event_log` (RULE).
    const CASES: &[(&str, &[&str])] = &[
        (
            "WITH RECURSIVE tree AS (
                 SELECT id, parent_id FROM categories WHERE parent_id IS NULL
                 UNION ALL
                 SELECT c.id, c.parent_id FROM categories c JOIN tree t ON c.parent_id = t.id)
             SELECT * FROM tree
             JOIN products p ON p.category_id = tree.id
             LEFT JOIN LATERAL (SELECT * FROM reviews r WHERE r.product_id = p.id
                                ORDER BY r.created_at DESC LIMIT 3) top_reviews ON true
             CROSS JOIN LATERAL generate_series(1, (SELECT max(n) FROM series_limits)) g",
            &["categories", "tree", "products", "reviews", "series_limits"],
        ),
        (
            "SELECT o.id,
                    (SELECT count(*) FROM order_items oi WHERE oi.order_id = o.id) AS items,
                    coalesce((SELECT max(amount) FROM payments pay WHERE pay.order_id = o.id), 0)
             FROM sales.orders o
             WHERE EXISTS (SELECT 1 FROM customers cu WHERE cu.id = o.customer_id)
               AND o.status IN (SELECT status FROM statuses)
               AND o.total > ALL (SELECT floor FROM price_floors)
             GROUP BY o.id
             HAVING sum(o.total) > (SELECT avg(total) FROM order_totals)
             ORDER BY (SELECT name FROM customers_sorted cs WHERE cs.id = o.customer_id)
             LIMIT (SELECT page_size FROM settings)",
            &[
                "order_items",
                "payments",
                "sales.orders",
                "customers",
                "statuses",
                "price_floors",
                "order_totals",
                "customers_sorted",
                "settings",
            ],
        ),
        (
            "WITH moved AS (DELETE FROM inbox WHERE created_at < now() RETURNING *),
                  logged AS (INSERT INTO move_log (n) SELECT count(*) FROM moved RETURNING n)
             INSERT INTO archive (id, body)
             SELECT id, body FROM moved
             ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body
                 WHERE archive.id IN (SELECT id FROM pinned)
             RETURNING (SELECT count(*) FROM audit_log)",
            &[
                "inbox",
                "move_log",
                "moved",
                "archive",
                "pinned",
                "audit_log",
            ],
        ),
        (
            "UPDATE accounts a
             SET balance = a.balance + t.amount,
                 updated_by = (SELECT id FROM users WHERE name = current_user)
             FROM transfers t JOIN banks b ON b.id = t.bank_id
             WHERE t.account_id = a.id
             RETURNING a.id, (SELECT 1 FROM update_markers LIMIT 1)",
            &["accounts", "users", "transfers", "banks", "update_markers"],
        ),
        (
            "DELETE FROM sessions s USING users u
             WHERE s.user_id = u.id AND u.disabled
               AND s.id NOT IN (SELECT session_id FROM active_sessions)",
            &["sessions", "users", "active_sessions"],
        ),
        (
            "MERGE INTO inventory i
             USING (SELECT * FROM shipments WHERE arrived) s ON i.sku = s.sku
             WHEN MATCHED AND s.qty = 0 THEN DELETE
             WHEN MATCHED THEN UPDATE SET qty = i.qty + s.qty
             WHEN NOT MATCHED BY TARGET THEN
                 INSERT (sku, qty)
                 VALUES (s.sku, (SELECT default_qty FROM sku_defaults d WHERE d.sku = s.sku))
             WHEN NOT MATCHED BY SOURCE AND i.sku IN (SELECT sku FROM discontinued) THEN DELETE
             RETURNING merge_action(), (SELECT 1 FROM merge_markers LIMIT 1)",
            &[
                "inventory",
                "shipments",
                "sku_defaults",
                "discontinued",
                "merge_markers",
            ],
        ),
        (
            "SELECT name FROM staff
             UNION SELECT name FROM contractors
             INTERSECT (SELECT name FROM badge_holders EXCEPT SELECT name FROM revoked)
             UNION ALL
             SELECT * FROM (VALUES ('x'), ((SELECT name FROM guests LIMIT 1))) v(name)",
            &["staff", "contractors", "badge_holders", "revoked", "guests"],
        ),
        (
            "SELECT jt.*, xt.*,
                    JSON_QUERY(d.body, '$.a' PASSING (SELECT 1 FROM json_args) AS x),
                    JSON_OBJECT('k': (SELECT v FROM json_values LIMIT 1)),
                    JSON_ARRAYAGG((SELECT 1 FROM json_agg_items) ORDER BY 1)
             FROM documents d,
                  JSON_TABLE(d.body, '$.items[*]'
                             PASSING (SELECT max(id) FROM item_limits) AS lim
                             COLUMNS (id int PATH '$.id',
                                      name text PATH '$.name'
                                          DEFAULT (SELECT 'x' FROM json_defaults LIMIT 1) ON EMPTY,
                                      NESTED PATH '$.tags[*]' COLUMNS (tag text PATH '$'))) jt,
                  XMLTABLE('/rows/row'
                           PASSING (SELECT xml_body FROM xml_docs LIMIT 1)
                           COLUMNS id int PATH '@id',
                                   label text PATH 'label'
                                       DEFAULT (SELECT 'y' FROM xml_defaults LIMIT 1)) xt",
            &[
                "json_args",
                "json_values",
                "json_agg_items",
                "documents",
                "item_limits",
                "json_defaults",
                "xml_docs",
                "xml_defaults",
            ],
        ),
        (
            "SELECT region, product,
                    sum(amount) FILTER (WHERE amount > (SELECT min(x) FROM thresholds)) OVER w,
                    rank() OVER (PARTITION BY region
                                 ORDER BY (SELECT weight FROM weights WHERE weights.p = product))
             FROM sales
             GROUP BY GROUPING SETS ((region), (product), ()), CUBE (region),
                      ROLLUP ((SELECT 1 FROM rollup_keys))
             WINDOW w AS (PARTITION BY (SELECT 1 FROM partition_keys LIMIT 1))
             FOR UPDATE OF sales SKIP LOCKED",
            &[
                "thresholds",
                "weights",
                "sales",
                "rollup_keys",
                "partition_keys",
            ],
        ),
        (
            "CREATE TABLE invoices (
                 id bigint PRIMARY KEY,
                 customer_id bigint REFERENCES customers (id),
                 total numeric CHECK (total >= 0) DEFAULT 0,
                 LIKE invoice_template INCLUDING ALL,
                 FOREIGN KEY (customer_id, id) REFERENCES customer_invoices (c, i)
             ) INHERITS (base_documents) PARTITION BY RANGE (id)",
            &[
                "invoices",
                "customers",
                "invoice_template",
                "customer_invoices",
                "base_documents",
            ],
        ),
        (
            "CREATE TABLE invoices_2024 PARTITION OF invoices FOR VALUES FROM (1) TO (100)",
            &["invoices_2024", "invoices"],
        ),
        (
            "CREATE TABLE snapshot AS SELECT * FROM live_data WHERE id IN (SELECT id FROM keep)",
            &["snapshot", "live_data", "keep"],
        ),
        (
            "ALTER TABLE orders
                 ADD CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
                 ADD COLUMN note_id bigint REFERENCES notes (id),
                 ALTER COLUMN total SET DEFAULT 0",
            &["orders", "customers", "notes"],
        ),
        (
            "ALTER TABLE orders ATTACH PARTITION orders_2024
                 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            &["orders", "orders_2024"],
        ),
        (
            "COPY (SELECT * FROM exports e JOIN export_rows r ON r.export_id = e.id) TO STDOUT",
            &["exports", "export_rows"],
        ),
        (
            "COPY staging_rows (a, b) FROM STDIN WHERE a > 0",
            &["staging_rows"],
        ),
        (
            "CREATE VIEW active_users AS
                 SELECT * FROM users WHERE id IN (SELECT user_id FROM logins)
                 WITH CHECK OPTION",
            &["active_users", "users", "logins"],
        ),
        (
            "CREATE RULE log_insert AS ON INSERT TO events
                 DO ALSO INSERT INTO event_log SELECT * FROM event_sources",
            &["events", "event_log", "event_sources"],
        ),
        (
            "EXPLAIN ANALYZE SELECT * FROM explained WHERE x = (SELECT 1 FROM explained_sub)",
            &["explained", "explained_sub"],
        ),
    ];

    #[test]
    fn every_range_var_in_the_sql_is_reached() {
        for (sql, expected) in CASES {
            let parsed = pg_query::parse(sql, 0).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut reached = BTreeSet::new();
            for raw_stmt in &parsed.protobuf.stmts {
                let root = raw_stmt
                    .stmt
                    .as_ref()
                    .and_then(|stmt| stmt.node.as_ref())
                    .expect("a parsed statement has a root node");
                let mut nodes = Vec::new();
                collect_subtree(root.to_ref(), &mut nodes);
                reached.extend(range_var_names(&nodes));
            }
            let expected: BTreeSet<String> = expected.iter().map(|name| name.to_string()).collect();
            assert_eq!(reached, expected, "relations reached in: {sql}");
            let pg_query_tables: BTreeSet<String> = parsed.tables().into_iter().collect();
            assert!(
                pg_query_tables.is_subset(&reached),
                "pg_query's tables() found {:?} that the walk missed in: {sql}",
                pg_query_tables.difference(&reached).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn walk_reaches_every_node_pg_query_nodes_reaches() {
        for (sql, _) in CASES {
            let parsed = pg_query::parse(sql, 0).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for raw_stmt in &parsed.protobuf.stmts {
                let root = raw_stmt
                    .stmt
                    .as_ref()
                    .and_then(|stmt| stmt.node.as_ref())
                    .expect("a parsed statement has a root node");
                let mut ours = Vec::new();
                collect_subtree(root.to_ref(), &mut ours);
                let theirs = root.nodes();
                assert!(
                    ours.len() >= theirs.len(),
                    "walk reached {} nodes, pg_query's nodes() {} in: {sql}",
                    ours.len(),
                    theirs.len()
                );
                // Stronger than the count: every node nodes() yields is one we yield
                // (compared by full debug rendering, counted with multiplicity).
                let mut ours_by_rendering: HashMap<String, usize> = HashMap::new();
                for node in &ours {
                    *ours_by_rendering.entry(format!("{node:?}")).or_default() += 1;
                }
                for (node, ..) in &theirs {
                    let remaining = ours_by_rendering.entry(format!("{node:?}")).or_default();
                    assert!(*remaining > 0, "walk missed {node:?} in: {sql}");
                    *remaining -= 1;
                }
            }
        }
    }
}
