-- Statements an ordinary multi-tenant application writes, each restricted to
-- the requesting tenant (or touching only global tables). Each must be
-- accepted. Format: see leaks.sql (no `-- rule:` here).

-- ===== Point lookups and filters =======================================

-- reason: point lookup by (tenant_id, id)
SELECT id, name FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: the binding with $tenant on the left
SELECT id, name FROM forms WHERE $tenant = tenant_id AND id = $1;

-- reason: a cast on the parameter to the column's own type
SELECT * FROM forms WHERE tenant_id = $tenant::text ORDER BY created_at DESC LIMIT 50;

-- reason: CAST(.. AS text) on the parameter
SELECT * FROM forms WHERE tenant_id = CAST($tenant AS text) AND NOT archived;

-- reason: IN with the single value $tenant; = ANY on another column is fine
SELECT * FROM forms WHERE tenant_id IN ($tenant) AND id = ANY($1);

-- reason: a row comparison pairs tenant_id with $tenant
SELECT * FROM forms f WHERE (f.tenant_id, f.id) = ($tenant, $1);

-- reason: the binding in parentheses
SELECT id FROM forms WHERE (tenant_id = $tenant) AND (archived = false);

-- reason: a range on another column, the tenant bound
SELECT count(*) FROM form_submissions WHERE tenant_id = $tenant AND form_id = $1 AND created_at >= $2;

-- reason: OR between other columns, ANDed with the binding
SELECT * FROM forms WHERE tenant_id = $tenant AND (name ILIKE $1 OR id = $2);

-- reason: unquoted identifiers fold to lower case: FORMS is forms, TENANT_ID is tenant_id
SELECT ID, NAME FROM FORMS WHERE TENANT_ID = $tenant;

-- reason: quoted lower-case identifiers are the same names
SELECT "id", "name" FROM "forms" WHERE "tenant_id" = $tenant;

-- reason: schema-qualified public.forms, bound through its alias
SELECT f.name FROM public.forms f WHERE f.tenant_id = $tenant;

-- reason: three-part column references to public.forms
SELECT public.forms.name FROM public.forms WHERE public.forms.tenant_id = $tenant AND public.forms.id = $1;

-- reason: ONLY, bound
SELECT * FROM ONLY forms WHERE tenant_id = $tenant;

-- reason: TABLESAMPLE, bound
SELECT * FROM form_submissions TABLESAMPLE BERNOULLI (5) WHERE tenant_id = $tenant;

-- reason: the binding written twice is still a binding
SELECT id FROM invoices WHERE tenant_id = $tenant AND status = 'overdue' AND tenant_id = $tenant;

-- reason: row locking of a bound row
SELECT * FROM invoices WHERE tenant_id = $tenant AND id = $1 FOR UPDATE;

-- reason: keyset pagination, bound
SELECT id, name FROM customers WHERE tenant_id = $tenant AND (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT 25;

-- reason: a search with ILIKE on a data column, bound
SELECT id, name FROM customers WHERE tenant_id = $tenant AND name ILIKE '%' || $1 || '%' ORDER BY name LIMIT 20;

-- reason: a jsonb containment filter, bound
SELECT id FROM form_submissions WHERE tenant_id = $tenant AND data @> $1::jsonb;

-- reason: the tenants table is bound by its tenant column id
SELECT name, plan_id FROM tenants WHERE id = $tenant;

-- reason: audit_log is bound by its tenant column org_id
SELECT action, created_at FROM audit_log WHERE org_id = $tenant ORDER BY created_at DESC LIMIT 100;

-- reason: EXISTS bound on its own, in a SELECT without FROM
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $tenant AND email = $1) AS taken;

-- ===== Aggregates, windows, ordering ===================================

-- reason: GROUP BY / HAVING / ORDER BY / LIMIT on a bound query
SELECT owner_id, count(*) FROM forms WHERE tenant_id = $tenant GROUP BY owner_id HAVING count(*) > $1 ORDER BY 2 DESC LIMIT 10;

-- reason: a window function over bound rows
SELECT id, score, rank() OVER (PARTITION BY form_id ORDER BY score DESC) FROM form_submissions WHERE tenant_id = $tenant;

-- reason: DISTINCT ON over bound rows
SELECT DISTINCT ON (form_id) form_id, id, created_at FROM form_submissions WHERE tenant_id = $tenant ORDER BY form_id, created_at DESC;

-- reason: string_agg with ORDER BY over bound rows
SELECT string_agg(name, ', ' ORDER BY name) FROM users WHERE tenant_id = $tenant AND role = $1;

-- reason: aggregate FILTER and a date bucket over bound rows
SELECT date_trunc('day', created_at) AS day, count(*) FILTER (WHERE score >= 50) AS passed, count(*) AS total FROM form_submissions WHERE tenant_id = $tenant GROUP BY 1 ORDER BY 1;

-- ===== Joins ===========================================================

-- reason: join chained on tenant_id, bound in WHERE
SELECT f.name, s.created_at FROM forms f JOIN form_submissions s ON s.tenant_id = f.tenant_id AND s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: both sides bound to $tenant directly
SELECT f.name, u.email FROM forms f JOIN users u ON u.tenant_id = $tenant AND u.id = f.owner_id WHERE f.tenant_id = $tenant;

-- reason: comma join, chain in WHERE: a.tenant_id = b.tenant_id AND b.tenant_id = $tenant
SELECT f.name, u.email FROM forms f, users u WHERE f.tenant_id = u.tenant_id AND u.tenant_id = $tenant AND u.id = f.owner_id;

-- reason: JOIN .. USING (tenant_id); the merged column is bound
SELECT f.name, u.email FROM forms f JOIN users u USING (tenant_id) WHERE f.owner_id = u.id AND tenant_id = $tenant;

-- reason: JOIN .. USING (tenant_id, id), one side bound
SELECT forms.name, form_imports.name AS imported_name FROM forms JOIN form_imports USING (tenant_id, id) WHERE forms.tenant_id = $tenant;

-- reason: three tables chained on tenant_id, bound once
SELECT o.id, oi.line_no, p.name, oi.quantity FROM orders o JOIN order_items oi ON oi.tenant_id = o.tenant_id AND oi.order_id = o.id JOIN products p ON p.tenant_id = oi.tenant_id AND p.id = oi.product_id WHERE o.tenant_id = $tenant AND o.id = $1;

-- reason: PgDog blog's three-table join (adapted): orders and invoices reached through customers.id, chained on tenant_id
SELECT c.name, o.id AS order_id, i.number FROM customers c JOIN orders o ON o.tenant_id = c.tenant_id AND o.customer_id = c.id JOIN invoices i ON i.tenant_id = o.tenant_id AND i.order_id = o.id WHERE c.tenant_id = $tenant AND c.id = $1;

-- reason: LEFT JOIN: nullable side bound in ON through the preserved side, preserved side bound in WHERE
SELECT f.name, count(s.id) FROM forms f LEFT JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant GROUP BY f.id, f.name;

-- reason: LEFT JOIN: nullable side bound to $tenant in ON
SELECT f.name, u.email FROM forms f LEFT JOIN users u ON u.tenant_id = $tenant AND u.id = f.owner_id WHERE f.tenant_id = $tenant;

-- reason: RIGHT JOIN mirror: the nullable left side bound in ON, the preserved right side in WHERE
SELECT f.name, s.id FROM form_submissions s RIGHT JOIN forms f ON s.tenant_id = f.tenant_id AND s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: two LEFT JOINs, each nullable side chained to a bound table
SELECT f.name, s.id, fu.note FROM forms f LEFT JOIN form_submissions s ON s.tenant_id = f.tenant_id AND s.form_id = f.id LEFT JOIN follow_ups fu ON fu.tenant_id = s.tenant_id AND fu.submission_id = s.id WHERE f.tenant_id = $tenant;

-- reason: nested join tree as the nullable side: inner join chained, bound in the outer ON
SELECT f.name, fu.note FROM forms f LEFT JOIN (form_submissions s JOIN follow_ups fu ON fu.tenant_id = s.tenant_id AND fu.submission_id = s.id) ON s.tenant_id = f.tenant_id AND s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: audit_log chained to users through org_id = tenant_id, bound once
SELECT a.action, u.email FROM audit_log a JOIN users u ON u.tenant_id = a.org_id AND u.id = a.actor_id WHERE a.org_id = $tenant;

-- reason: tenants joined with forms on its tenant column id
SELECT t.name AS tenant, f.name FROM tenants t JOIN forms f ON f.tenant_id = t.id WHERE t.id = $tenant;

-- ===== Global tables ===================================================

-- reason: a global table alone needs no predicate
SELECT id, name, price_cents FROM plans ORDER BY price_cents;

-- reason: two global tables
SELECT c.name AS country, cur.name AS currency FROM countries c CROSS JOIN currencies cur WHERE c.code = $1;

-- reason: public.plans is the global plans
SELECT * FROM public.plans WHERE id = $1;

-- reason: a global table joined with a bound tenant table
SELECT t.name, p.name AS plan FROM tenants t JOIN plans p ON p.id = t.plan_id WHERE t.id = $tenant;

-- reason: LEFT JOIN to a global table from a bound tenant table
SELECT cu.name, co.name AS country FROM customers cu LEFT JOIN countries co ON co.code = cu.country_code WHERE cu.tenant_id = $tenant;

-- reason: a statement without tables
SELECT now();

-- reason: a VALUES statement without tables
VALUES (1, 'one'), (2, 'two');

-- ===== Subqueries ======================================================

-- reason: correlated EXISTS bound through the outer column
SELECT f.* FROM forms f WHERE f.tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id);

-- reason: NOT EXISTS bound to $tenant
SELECT c.* FROM customers c WHERE c.tenant_id = $tenant AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.tenant_id = $tenant AND o.customer_id = c.id);

-- reason: IN subquery over another column, the subquery bound
SELECT * FROM forms WHERE tenant_id = $tenant AND owner_id IN (SELECT id FROM users WHERE tenant_id = $tenant AND role = 'admin');

-- reason: scalar subquery in the SELECT list bound through the outer column
SELECT f.name, (SELECT count(*) FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id) AS submissions FROM forms f WHERE f.tenant_id = $tenant;

-- reason: subquery in ORDER BY bound through the outer column
SELECT f.id, f.name FROM forms f WHERE f.tenant_id = $tenant ORDER BY (SELECT max(s.created_at) FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id) DESC NULLS LAST;

-- reason: IN subquery whose UNION branches are both bound
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND f.id IN (SELECT form_id FROM form_submissions WHERE tenant_id = $tenant UNION SELECT g.id FROM form_imports fi JOIN forms g ON g.tenant_id = fi.tenant_id AND g.id = fi.id WHERE fi.tenant_id = $tenant);

-- ===== FROM items ======================================================

-- reason: LATERAL subquery bound through the outer column
SELECT f.name, latest.created_at FROM forms f CROSS JOIN LATERAL (SELECT s.created_at FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id ORDER BY s.created_at DESC LIMIT 1) latest WHERE f.tenant_id = $tenant;

-- reason: LEFT JOIN LATERAL .. ON true, the subquery bound to $tenant
SELECT f.name, open_items.n FROM forms f LEFT JOIN LATERAL (SELECT count(*) AS n FROM follow_ups fu JOIN form_submissions s ON s.tenant_id = fu.tenant_id AND s.id = fu.submission_id WHERE fu.tenant_id = $tenant AND s.form_id = f.id AND NOT fu.done) open_items ON true WHERE f.tenant_id = $tenant;

-- reason: a set-returning function over a bound row
SELECT s.id, kv.key, kv.value FROM form_submissions s, LATERAL jsonb_each_text(s.data) AS kv WHERE s.tenant_id = $tenant AND s.form_id = $1;

-- reason: derived table bound inside and joined on its tenant_id output
SELECT f.name, d.total FROM forms f JOIN (SELECT tenant_id, form_id, count(*) AS total FROM form_submissions WHERE tenant_id = $tenant GROUP BY tenant_id, form_id) d ON d.tenant_id = f.tenant_id AND d.form_id = f.id;

-- reason: derived table bound inside, cross joined with a global table
SELECT d.n, p.max_forms FROM (SELECT count(*) AS n FROM forms WHERE tenant_id = $tenant) d CROSS JOIN plans p WHERE p.id = $1;

-- ===== CTEs and set operations =========================================

-- reason: PgDog blog's CTE (adapted): the CTE body is bound, the outer query reads only the CTE
WITH recent AS (SELECT * FROM form_submissions WHERE tenant_id = $tenant AND created_at > now() - interval '7 days') SELECT form_id, count(*) FROM recent GROUP BY form_id;

-- reason: CTE bound inside, outer table chained to its tenant_id output
WITH big_orders AS (SELECT tenant_id, id, customer_id FROM orders WHERE tenant_id = $tenant AND total_cents > $1) SELECT c.name, b.id FROM big_orders b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id;

-- reason: a later CTE reads an earlier, bound one
WITH mine AS (SELECT * FROM forms WHERE tenant_id = $tenant), busy AS (SELECT form_id FROM form_submissions WHERE tenant_id = $tenant GROUP BY form_id HAVING count(*) > 10) SELECT m.name FROM mine m JOIN busy b ON b.form_id = m.id;

-- reason: a CTE named like the table: its body reads the real forms (bound), the outer query reads the CTE
WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT id, name FROM forms WHERE NOT archived;

-- reason: recursive CTE bound in both terms
WITH RECURSIVE tree AS (SELECT id, parent_id, name, 1 AS depth FROM categories WHERE tenant_id = $tenant AND id = $1 UNION ALL SELECT c.id, c.parent_id, c.name, t.depth + 1 FROM categories c JOIN tree t ON c.parent_id = t.id WHERE c.tenant_id = $tenant) SELECT * FROM tree ORDER BY depth;

-- reason: recursive manager chain bound in both terms
WITH RECURSIVE chain AS (SELECT id, manager_id, name FROM users WHERE tenant_id = $tenant AND id = $1 UNION ALL SELECT u.id, u.manager_id, u.name FROM users u JOIN chain c ON u.id = c.manager_id AND u.tenant_id = $tenant) SELECT * FROM chain;

-- reason: writable CTE (UPDATE) bound
WITH archived AS (UPDATE forms SET archived = true WHERE tenant_id = $tenant AND created_at < $1 RETURNING id) SELECT count(*) FROM archived;

-- reason: writable CTE (INSERT) with $tenant, then an audit row with $tenant
WITH created AS (INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) RETURNING id) INSERT INTO audit_log (org_id, actor_id, action, detail) SELECT $tenant, $2, 'form.created', jsonb_build_object('form_id', created.id) FROM created;

-- reason: UNION ALL of two bound branches
SELECT id, name, 'form' AS kind FROM forms WHERE tenant_id = $tenant UNION ALL SELECT id, name, 'customer' FROM customers WHERE tenant_id = $tenant;

-- reason: EXCEPT of two bound branches
SELECT owner_id FROM forms WHERE tenant_id = $tenant EXCEPT SELECT id FROM users WHERE tenant_id = $tenant AND deleted_at IS NULL;

-- ===== INSERT ==========================================================

-- reason: INSERT with $tenant in the tenant column
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) RETURNING id, created_at;

-- reason: multi-row INSERT with $tenant in every row
INSERT INTO order_items (tenant_id, order_id, line_no, product_id, quantity, unit_price_cents) VALUES ($tenant, $1, 1, $2, $3, $4), ($tenant, $1, 2, $5, $6, $7);

-- reason: the tenant column need not come first
INSERT INTO customers (name, email, tenant_id, id) VALUES ($1, $2, $tenant, $3);

-- reason: $tenant cast to text in an INSERT
INSERT INTO follow_ups (tenant_id, id, submission_id, assignee_id, due_at) VALUES ($tenant::text, $1, $2, $3, $4);

-- reason: audit_log takes $tenant in org_id
INSERT INTO audit_log (org_id, actor_id, action, detail) VALUES ($tenant, $1, $2, $3);

-- reason: INSERT .. SELECT copying the bound source's tenant column
INSERT INTO form_imports (tenant_id, id, owner_id, name) SELECT f.tenant_id, f.id, f.owner_id, f.name FROM forms f WHERE f.tenant_id = $tenant AND f.archived;

-- reason: INSERT .. SELECT with $tenant from a bound source
INSERT INTO follow_ups (tenant_id, id, submission_id, note) SELECT $tenant, s.id, s.id, 'auto' FROM form_submissions s WHERE s.tenant_id = $tenant AND s.score < $1;

-- reason: INSERT with a bound subquery in VALUES
INSERT INTO invoices (tenant_id, id, order_id, number, amount_cents) VALUES ($tenant, $1, $2, $3, (SELECT total_cents FROM orders WHERE tenant_id = $tenant AND id = $2));

-- reason: upsert whose conflict target includes tenant_id, updating data columns only
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name;

-- reason: upsert on the per-tenant unique key (tenant_id, sku)
INSERT INTO products (tenant_id, id, sku, name, price_cents, currency) VALUES ($tenant, $1, $2, $3, $4, $5) ON CONFLICT (tenant_id, sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents;

-- reason: ON CONFLICT DO NOTHING updates no existing row
INSERT INTO products (tenant_id, id, sku, name, price_cents, currency) VALUES ($tenant, $1, $2, $3, $4, 'EUR') ON CONFLICT DO NOTHING;

-- ===== UPDATE / DELETE / MERGE =========================================

-- reason: UPDATE bound, RETURNING plain columns
UPDATE forms SET name = $1 WHERE tenant_id = $tenant AND id = $2 RETURNING id, name;

-- reason: UPDATE .. FROM with every item chained and bound
UPDATE orders o SET status = 'paid' FROM invoices i WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id AND i.paid_at IS NOT NULL AND o.tenant_id = $tenant;

-- reason: UPDATE with a SET subquery bound through the target
UPDATE orders o SET total_cents = (SELECT coalesce(sum(oi.quantity * oi.unit_price_cents), 0) FROM order_items oi WHERE oi.tenant_id = o.tenant_id AND oi.order_id = o.id) WHERE o.tenant_id = $tenant AND o.id = $1;

-- reason: UPDATE of a jsonb column, bound
UPDATE form_submissions SET data = data || $1::jsonb WHERE tenant_id = $tenant AND id = $2;

-- reason: DELETE bound
DELETE FROM follow_ups WHERE tenant_id = $tenant AND id = $1 RETURNING id;

-- reason: DELETE .. USING with every item bound
DELETE FROM form_submissions s USING forms f WHERE f.tenant_id = $tenant AND s.tenant_id = f.tenant_id AND s.form_id = f.id AND f.archived;

-- reason: MERGE: source bound in its subquery, target bound in ON, $tenant inserted
MERGE INTO forms f USING (SELECT id, owner_id, name FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES ($tenant, i.id, i.owner_id, i.name);

-- reason: MERGE with only WHEN MATCHED: matched pairs satisfy ON, which binds both target and source
MERGE INTO forms f USING form_imports i ON f.tenant_id = $tenant AND i.tenant_id = f.tenant_id AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name;

-- reason: MERGE from VALUES (no table) into a bound target
MERGE INTO customers c USING (VALUES ($1::bigint, $2::text)) AS v(id, name) ON c.tenant_id = $tenant AND c.id = v.id WHEN MATCHED THEN UPDATE SET name = v.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES ($tenant, v.id, v.name);

-- reason: forbid_delete: a soft delete is an UPDATE
-- config: forbid_delete
UPDATE users SET deleted_at = now() WHERE tenant_id = $tenant AND id = $1;

-- reason: forbid_delete does not affect reads
-- config: forbid_delete
SELECT id, email FROM users WHERE tenant_id = $tenant AND deleted_at IS NULL;

-- ===== Lenient mode ====================================================

-- reason: lenient: $1 binds
-- mode: lenient
SELECT * FROM forms WHERE tenant_id = $1 AND id = $2;

-- reason: lenient: a literal binds
-- mode: lenient
SELECT count(*) FROM invoices WHERE tenant_id = 'acme' AND status = 'overdue';

-- reason: lenient: a chain ending in $1
-- mode: lenient
SELECT o.id, c.name FROM orders o JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id WHERE o.tenant_id = $1;

-- reason: lenient: two tables bound to the same $1
-- mode: lenient
SELECT f.name, u.email FROM forms f JOIN users u ON u.id = f.owner_id AND u.tenant_id = $1 WHERE f.tenant_id = $1;

-- reason: lenient: INSERT with $1 as the tenant
-- mode: lenient
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($1, $2, $3, $4);

-- reason: lenient: UPDATE bound to a literal (PgDog-style guard of hand-written SQL)
-- mode: lenient
UPDATE forms SET archived = true WHERE tenant_id = 'acme' AND id = 7;

-- ===== More ordinary forms =============================================

-- reason: upsert conflict target (id, tenant_id) in another order still includes the tenant column
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (id, tenant_id) DO UPDATE SET name = excluded.name;

-- reason: a CTE named with a quoted lower-case name is the same name as unquoted forms
WITH "forms" AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT id FROM FORMS;

-- reason: LEFT JOIN from a global table: the nullable tenant side is bound in ON
SELECT p.name, t.name AS my_tenant FROM plans p LEFT JOIN tenants t ON t.plan_id = p.id AND t.id = $tenant;

-- reason: derived table with SELECT * bound inside, joined on its tenant_id output
SELECT d.name, u.email FROM (SELECT * FROM forms WHERE tenant_id = $tenant) d JOIN users u ON u.tenant_id = d.tenant_id AND u.id = d.owner_id;

-- reason: LEFT JOIN .. USING (tenant_id, id): the nullable side is chained to the bound preserved side
SELECT f.name, fi.name AS pending_import FROM forms f LEFT JOIN form_imports fi USING (tenant_id, id) WHERE f.tenant_id = $tenant;

-- reason: a join chained through a row comparison (tenant_id, id) = (tenant_id, owner_id)
SELECT f.name, u.email FROM forms f JOIN users u ON (u.tenant_id, u.id) = (f.tenant_id, f.owner_id) WHERE f.tenant_id = $tenant;

-- ===== Name resolution (scopes) =========================================

-- reason: the DELETE's target is the table and bound; the CTE is read in the subquery, where FROM sees it
WITH forms AS (SELECT id FROM forms WHERE tenant_id = $tenant) DELETE FROM forms WHERE tenant_id = $tenant AND id IN (SELECT id FROM forms);

-- reason: a LATERAL subquery correlated with the bound item before it
SELECT 1 FROM (SELECT 'other'::text AS tenant_id) x WHERE EXISTS (SELECT 1 FROM forms x, LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l WHERE x.tenant_id = $tenant);

-- reason: a function's argument correlated with the bound item before it
SELECT g FROM forms x, generate_series(1, (SELECT count(*)::int FROM form_submissions s WHERE s.tenant_id = x.tenant_id AND s.form_id = x.id)) g WHERE x.tenant_id = $tenant;

-- reason: an ON clause over its own two inputs
SELECT s.id FROM forms x, forms y JOIN form_submissions s ON s.tenant_id = y.tenant_id AND s.form_id = y.id WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant;

-- reason: an unaliased function named after itself, the outer item aliased differently
SELECT l.name FROM (SELECT $tenant::text AS tenant_id) o, LATERAL (SELECT g.name FROM jsonb_to_record($1::jsonb) AS (tenant_id text), forms g WHERE g.tenant_id = o.tenant_id) l;

-- reason: a recursive CTE that carries the tenant column unchanged through every step
WITH RECURSIVE r(t, n, name) AS (SELECT $tenant::text, 0, NULL::text UNION ALL SELECT r.t, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.t WHERE r.n < 3) SELECT name FROM r;

-- reason: FULL JOIN USING (tenant_id, ..) filtered on the merged column: each side's rows hold the tenant
SELECT tenant_id, f.name, i.name FROM forms f FULL JOIN form_imports i USING (tenant_id, id) WHERE tenant_id = $tenant;

-- ===== Clauses =========================================================

-- reason: ORDER BY and LIMIT of a bare VALUES over constants
VALUES (1), (2), (3) ORDER BY 1 DESC LIMIT 2;

-- reason: INSERT .. VALUES with a constant LIMIT
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1::bigint, $2::bigint, 'a') LIMIT 1;

-- ===== Equalities that bind ===============================================

-- reason: every row of a row-IN list pins the tenant column
SELECT id, name FROM forms WHERE (tenant_id, id) IN (($tenant, $1), ($tenant, $2));

-- reason: IS NOT DISTINCT FROM the tenant parameter (never NULL)
SELECT id FROM forms WHERE tenant_id IS NOT DISTINCT FROM $tenant AND id = $1;

-- reason: = ANY of a one-element array is =
SELECT id FROM forms WHERE tenant_id = ANY(ARRAY[$tenant]) AND id = $1;

-- reason: ON CONFLICT on the tenant's key, setting the tenant column to the inserted tenant
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, name = EXCLUDED.name;

-- reason: identity casts on text keep the tenant's id
SELECT id FROM forms WHERE tenant_id = $tenant::text AND id = $1;

-- reason: varchar without a length keeps every text value
SELECT id FROM forms WHERE tenant_id = CAST($tenant AS varchar) AND id = $1;

-- ===== System relations and functions =====================================

-- reason: catalog relations that hold no data of user tables are global
SELECT n.nspname, c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.conname = $1;

-- reason: built-in functions that only compute on their arguments
SELECT lower(name), length(name), coalesce(nullif(name, ''), 'unnamed'), now() FROM forms WHERE tenant_id = $tenant;

-- reason: an escape string and a dollar quote read the same whatever standard_conforming_strings says
SELECT id FROM forms WHERE tenant_id = $tenant AND name IN (E'a\\b', $$c\d$$);

-- ===== Schema layout: reading settings, names that only look like a tenant schema

-- reason: reading the search_path and the role changes nothing
SELECT current_setting('search_path'), current_setting('role'), current_user;

-- reason: reading pg_settings changes nothing (only writing it calls set_config)
SELECT name, setting FROM pg_settings WHERE name IN ('search_path', 'role');

-- reason: a tenant schema's name as a value, not a name PostgreSQL resolves
SELECT id FROM forms WHERE tenant_id = $tenant AND name = 'tenant_t7_k3x9q2.forms';

-- reason: a schema-qualified global table outside any tenant schema
SELECT p.name FROM public.plans p JOIN public.forms f ON f.tenant_id = $tenant WHERE p.id = $1;
