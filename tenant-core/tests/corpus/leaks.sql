-- Statements that could read or write another tenant's rows (or that a
-- policy forbids). Each must be refused, with `-- rule:` among its violations.
--
-- Format, per case (cases are separated by a blank line):
--   -- reason: <why it leaks>          (starts the case; required)
--   -- rule: <rule name>               (required here)
--   -- mode: strict | lenient          (optional; default strict)
--   -- config: forbid_delete           (optional)
--   -- pg: exec | skip <why>           (optional; how validate.sh runs it)
--   <one SQL statement ending with ;>
-- `$tenant` is the requesting tenant; `$1`, `$2`, ... are other parameters.
-- Lines before the first `-- reason:` and between cases are commentary.
-- Schema: schema.sql; configuration: tenancy.toml.

-- ===== No tenant predicate at all =======================================

-- reason: point lookup by id alone: ids repeat across tenants
-- rule: unbound-table
SELECT id, name FROM forms WHERE id = $1;

-- reason: counts every tenant's submissions
-- rule: unbound-table
SELECT count(*) FROM form_submissions;

-- reason: a list page that forgot the tenant filter
-- rule: unbound-table
SELECT f.id, f.name FROM forms f WHERE NOT f.archived ORDER BY f.created_at DESC LIMIT 20;

-- reason: TABLE is SELECT * without any WHERE
-- rule: unbound-table
TABLE invoices;

-- reason: tenants' tenant column is id; filtering by name finds any tenant
-- rule: unbound-table
SELECT id, plan_id FROM tenants WHERE name = $1;

-- reason: audit_log's tenant column is org_id; filtering by actor reads every org's log
-- rule: unbound-table
SELECT action, created_at FROM audit_log WHERE actor_id = $1 ORDER BY created_at DESC;

-- reason: audit_log.org_id is compared with $1, not $tenant (users is bound, audit_log is not)
-- rule: unbound-table
SELECT a.action FROM audit_log a WHERE a.org_id = $1 AND a.actor_id IN (SELECT u.id FROM users u WHERE u.tenant_id = $tenant);

-- reason: a tenant_id predicate on the wrong table: audit_log has org_id, users.tenant_id binds only users
-- rule: unbound-table
SELECT a.action, u.email FROM audit_log a JOIN users u ON u.id = a.actor_id WHERE u.tenant_id = $tenant;

-- reason: pg_stats shows other tenants' values: a system relation that holds statistics of user tables
-- rule: system-relation
SELECT most_common_vals FROM pg_stats WHERE tablename = 'forms' AND attname = 'name';

-- reason: plain EXPLAIN shows estimates over every tenant's rows (refused unless allow_explain), and this one is unbound too
-- rule: unbound-table
EXPLAIN SELECT * FROM invoices WHERE status = 'overdue';

-- ===== Predicates that look like a binding but are not ==================

-- reason: OR: rows of any tenant with id = $1 pass
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant OR id = $1;

-- reason: OR nested under AND still lets any tenant's rows named $1 through
-- rule: unbound-table
SELECT * FROM forms WHERE NOT archived AND (tenant_id = $tenant OR name = $1);

-- reason: NOT (tenant_id = $tenant) selects every other tenant
-- rule: unbound-table
SELECT * FROM forms WHERE NOT (tenant_id = $tenant);

-- reason: CASE: when $1 is true the predicate is true for every tenant
-- rule: unbound-table
SELECT * FROM forms WHERE CASE WHEN $1::boolean THEN true ELSE tenant_id = $tenant END;

-- reason: CASE on the value side: when $1 is true the column is compared with itself
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = CASE WHEN $1::boolean THEN tenant_id ELSE $tenant END;

-- reason: function over the column: lower() matches tenants 'Acme' and 'acme' alike
-- rule: unbound-table
SELECT * FROM customers WHERE lower(tenant_id) = lower($tenant);

-- reason: function over the column: btrim() makes 'acme ' equal 'acme'
-- rule: unbound-table
SELECT * FROM customers WHERE btrim(tenant_id) = $tenant;

-- reason: function over the column: a prefix matches every tenant starting with the same letters
-- rule: unbound-table
SELECT * FROM customers WHERE substr(tenant_id, 1, 3) = substr($tenant, 1, 3);

-- reason: an operator over the column (||) is not the column
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id || '' = $tenant;

-- reason: LIKE with a tenant of '%' matches every tenant
-- rule: unbound-table
SELECT * FROM invoices WHERE tenant_id LIKE $tenant;

-- reason: LIKE prefix: tenant 'ac' reads 'acme' and 'acorn'
-- rule: unbound-table
SELECT * FROM invoices WHERE tenant_id LIKE $tenant || '%';

-- reason: ILIKE ignores case and treats % and _ as wildcards
-- rule: unbound-table
SELECT * FROM users WHERE tenant_id ILIKE $tenant;

-- reason: a regular expression match is not equality
-- rule: unbound-table
SELECT * FROM users WHERE tenant_id ~ $tenant;

-- reason: SIMILAR TO is a pattern match
-- rule: unbound-table
SELECT * FROM users WHERE tenant_id SIMILAR TO $tenant;

-- reason: a range: every tenant sorting after $tenant
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id >= $tenant;

-- reason: BETWEEN $tenant AND $1 spans other tenants
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id BETWEEN $tenant AND $1;

-- reason: <> selects every other tenant
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id <> $tenant;

-- reason: != is <>
-- rule: unbound-table
SELECT * FROM invoices WHERE tenant_id != $tenant AND status = 'paid';

-- reason: PgDog's special case: tenant_id IS NOT NULL is true for every row
-- rule: unbound-table
SELECT * FROM invoices WHERE tenant_id IS NOT NULL;

-- reason: OR .. IS NULL: every tenant's unassigned follow-ups pass
-- rule: unbound-table
SELECT * FROM follow_ups WHERE tenant_id = $tenant OR assignee_id IS NULL;

-- reason: IS DISTINCT FROM selects every other tenant
-- rule: unbound-table
SELECT * FROM customers WHERE tenant_id IS DISTINCT FROM $tenant;

-- reason: = ANY(array parameter): the caller chooses any set of tenants
-- rule: unbound-table
SELECT * FROM customers WHERE tenant_id = ANY($1);

-- reason: = ANY(ARRAY[$tenant, $1]) adds a second tenant
-- rule: unbound-table
SELECT * FROM customers WHERE tenant_id = ANY(ARRAY[$tenant, $1]);

-- reason: IN with two values adds a second tenant
-- rule: unbound-table
SELECT * FROM customers WHERE tenant_id IN ($tenant, $1);

-- reason: PgDog blog's leak: tenant_id IN (SELECT tenant_id FROM customers) is every tenant with a customer
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id IN (SELECT tenant_id FROM customers);

-- reason: IN (subquery) never binds: this one yields $tenant and $1, no table needed
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id IN (SELECT $tenant UNION SELECT $1);

-- reason: a scalar subquery picks the tenant of any customer with that e-mail
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id = (SELECT tenant_id FROM customers WHERE email = $1);

-- reason: a scalar subquery that yields another parameter
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id = (SELECT $1::text);

-- reason: = ANY (subquery over tenants) is every tenant
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id = ANY (SELECT id FROM tenants);

-- reason: a literal tenant in strict mode is not the requesting tenant
-- rule: unbound-table
SELECT * FROM orders WHERE tenant_id = 'acme' AND customer_id = $1;

-- reason: orders bound to a literal while customers is bound to $tenant: orders of tenant 'acme' leak
-- rule: unbound-table
SELECT o.* FROM orders o JOIN customers c ON c.tenant_id = $tenant AND c.id = o.customer_id WHERE o.tenant_id = 'acme';

-- reason: forms bound to $1 instead of $tenant (users is bound, forms is not)
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $1 AND owner_id IN (SELECT id FROM users WHERE tenant_id = $tenant);

-- reason: cast on the column: '07'::int and '7'::int are both 7
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id::int = $tenant;

-- reason: cast on the column to citext compares case-insensitively
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id::citext = $tenant;

-- reason: $tenant cast to citext: whether text or citext equality applies is decided by type resolution the analyzer cannot see
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant::citext;

-- reason: a length-limiting cast truncates the tenant: 'acme'::varchar(2) is 'ac', another tenant
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant::varchar(2);

-- reason: char(3) truncates the tenant: 'acme'::char(3) is 'acm', another tenant
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant::char(3);

-- reason: a type modifier on a varchar cast truncates in an INSERT too: the row lands in tenant 'ac'
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant::varchar(2), $1, $2, $3);

-- reason: a cast to name truncates to 63 bytes: tenants sharing a 63-byte prefix become one
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant::name;

-- reason: a cast to bpchar drops trailing blanks when compared as text: tenant 'acme ' reads tenant 'acme'
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant::bpchar;

-- reason: a function over $tenant yields another tenant ('acme' becomes 'ACME')
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = upper($tenant);

-- reason: COLLATE on the column: a nondeterministic collation makes = case-insensitive
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id COLLATE case_insensitive = $tenant;

-- reason: COLLATE on the parameter side has the same effect
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant COLLATE case_insensitive;

-- reason: strict mode: a row comparison with $1 in the tenant position
-- rule: unbound-table
SELECT * FROM forms f WHERE (f.tenant_id, f.id) = ($1, $2);

-- reason: row comparison pairs by position: $tenant lands on name, $1 on tenant_id
-- rule: unbound-table
SELECT * FROM forms f WHERE (f.name, f.tenant_id) = ($tenant, $1);

-- reason: a row IN list with a second row names a second tenant
-- rule: unbound-table
SELECT * FROM forms WHERE (tenant_id, id) IN (($tenant, $1), ($2, $3));

-- reason: tautology: the column equals itself for every tenant
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = tenant_id AND id = $1;

-- reason: $tenant compared with itself restricts nothing
-- rule: unbound-table
SELECT * FROM forms WHERE $tenant = $tenant AND id = $1;

-- reason: $tenant compared with a column that is not the tenant column
-- rule: unbound-table
SELECT * FROM forms WHERE name = $tenant;

-- reason: IS NOT TRUE inverts the binding
-- rule: unbound-table
SELECT * FROM forms WHERE (tenant_id = $tenant) IS NOT TRUE;

-- reason: the binding compared with a boolean parameter: $1 = false selects every other tenant
-- rule: unbound-table
SELECT * FROM forms WHERE (tenant_id = $tenant) = $1::boolean;

-- reason: a binding inside EXISTS restricts the subquery's table, not forms
-- rule: unbound-table
SELECT * FROM forms f WHERE EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = $tenant);

-- ===== Joins ===========================================================

-- reason: inner join: submissions joined on form_id only; form ids repeat across tenants
-- rule: unbound-table
SELECT f.name, s.data FROM forms f JOIN form_submissions s ON s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: the ON binds forms only; users is joined on id alone
-- rule: unbound-table
SELECT f.name, u.email FROM forms f JOIN users u ON u.id = f.owner_id AND f.tenant_id = $tenant;

-- reason: an equality chain through users.email, not through its tenant column
-- rule: unbound-table
SELECT f.name FROM forms f JOIN users u ON f.tenant_id = u.email WHERE u.tenant_id = $tenant;

-- reason: a chain between two tables that ends nowhere: neither is bound
-- rule: unbound-table
SELECT f.name FROM forms f JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.owner_id WHERE u.email = $1;

-- reason: comma join: users is matched on id alone
-- rule: unbound-table
SELECT f.name, u.email FROM forms f, users u WHERE f.tenant_id = $tenant AND u.id = f.owner_id;

-- reason: CROSS JOIN with a global table and an unbound users
-- rule: unbound-table
SELECT f.name, p.name, u.email FROM forms f CROSS JOIN plans p CROSS JOIN users u WHERE f.tenant_id = $tenant;

-- reason: LEFT JOIN: the ON does not restrict the preserved side; every tenant's forms come out
-- rule: unbound-table
SELECT f.name, s.id FROM forms f LEFT JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = $tenant AND f.tenant_id = $tenant;

-- reason: LEFT JOIN: the nullable side is joined on form_id only and nothing binds it
-- rule: unbound-table
SELECT f.name, s.data FROM forms f LEFT JOIN form_submissions s ON s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: RIGHT JOIN: the right side is preserved; its binding in ON filters nothing
-- rule: unbound-table
SELECT f.name, s.data FROM forms f RIGHT JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = $tenant AND f.tenant_id = $tenant;

-- reason: RIGHT JOIN: the nullable left side is joined on form_id only
-- rule: unbound-table
SELECT f.name, s.data FROM form_submissions s RIGHT JOIN forms f ON s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: FULL JOIN preserves both sides: bindings in its ON filter neither
-- rule: unbound-table
SELECT f.name, s.data FROM forms f FULL JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = $tenant AND f.tenant_id = $tenant;

-- reason: FULL JOIN bound on one side in WHERE: the other side is matched on form_id only
-- rule: unbound-table
SELECT f.name, s.data FROM forms f FULL JOIN form_submissions s ON s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: nested join tree: follow_ups, the nullable side of the inner LEFT JOIN, is unbound
-- rule: unbound-table
SELECT f.name, fu.note FROM forms f JOIN (form_submissions s LEFT JOIN follow_ups fu ON fu.submission_id = s.id) ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant;

-- reason: nested join tree on the preserved side of a LEFT JOIN: forms and users are bound only in that outer ON
-- rule: unbound-table
SELECT f.name, u.email FROM (forms f JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.owner_id) LEFT JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = $tenant AND f.tenant_id = $tenant;

-- reason: JOIN .. USING (id) merges ids, not tenants: form_imports is unbound
-- rule: unbound-table
SELECT forms.name, form_imports.name FROM forms JOIN form_imports USING (id) WHERE forms.tenant_id = $tenant;

-- reason: self-join: the second copy of forms is joined on id only
-- rule: unbound-table
SELECT a.name, b.name FROM forms a JOIN forms b ON b.id = a.id WHERE a.tenant_id = $tenant;

-- reason: alias shadowing: "forms.tenant_id" is the users table's column; the forms table (alias users) is unbound
-- rule: unbound-table
SELECT users.name FROM forms AS users, users AS forms WHERE forms.tenant_id = $tenant AND users.owner_id = forms.id;

-- reason: a quoted alias "F" is not f: the first forms reference is unbound
-- rule: unbound-table
SELECT "F".name FROM forms "F" JOIN forms f ON f.id = "F".id WHERE f.tenant_id = $tenant;

-- reason: OR inside the join condition: admins of every tenant join
-- rule: unbound-table
SELECT f.name, u.email FROM forms f JOIN users u ON u.id = f.owner_id AND (u.tenant_id = f.tenant_id OR u.role = 'admin') WHERE f.tenant_id = $tenant;

-- ===== FROM items ======================================================

-- reason: LATERAL subquery correlated on form_id only
-- rule: unbound-table
SELECT f.name, l.data FROM forms f, LATERAL (SELECT s.data FROM form_submissions s WHERE s.form_id = f.id ORDER BY s.created_at DESC LIMIT 1) l WHERE f.tenant_id = $tenant;

-- reason: LATERAL chained to an outer table that is itself unbound
-- rule: unbound-table
SELECT u.email, x.name FROM users u, LATERAL (SELECT f.name FROM forms f WHERE f.tenant_id = u.tenant_id AND f.owner_id = u.id) x WHERE u.email = $1;

-- reason: LEFT JOIN LATERAL .. ON true whose subquery is unbound
-- rule: unbound-table
SELECT f.name, c.n FROM forms f LEFT JOIN LATERAL (SELECT count(*) AS n FROM follow_ups fu WHERE fu.note = f.name) c ON true WHERE f.tenant_id = $tenant;

-- reason: derived table over all tenants
-- rule: unbound-table
SELECT d.n FROM (SELECT count(*) AS n FROM forms) d;

-- reason: the derived table's "tenant_id" output is owner_id: filtering it binds nothing
-- rule: unbound-table
SELECT d.name FROM (SELECT owner_id::text AS tenant_id, name FROM forms) d WHERE d.tenant_id = $tenant;

-- reason: the derived table is bound, but forms is joined to it on form_id only
-- rule: unbound-table
SELECT f.name, d.total FROM forms f JOIN (SELECT form_id, count(*) AS total FROM form_submissions WHERE tenant_id = $tenant GROUP BY form_id) d ON d.form_id = f.id;

-- reason: VALUES supplies the tenant from $1
-- rule: unbound-table
SELECT f.* FROM (VALUES ($1::text)) AS v(t) JOIN forms f ON f.tenant_id = v.t;

-- reason: VALUES with a second row adds tenant $1
-- rule: unbound-table
SELECT f.* FROM forms f JOIN (VALUES ($tenant), ($1)) AS v(t) ON f.tenant_id = v.t;

-- reason: a subquery inside VALUES in FROM counts every tenant's forms
-- rule: unbound-table
SELECT v.n FROM (VALUES ((SELECT count(*) FROM forms))) AS v(n);

-- reason: TABLESAMPLE samples every tenant's rows
-- rule: unbound-table
SELECT * FROM form_submissions TABLESAMPLE SYSTEM (1);

-- reason: a sampled table inside a join, joined on form_id only
-- rule: unbound-table
SELECT s.data FROM forms f JOIN form_submissions s TABLESAMPLE BERNOULLI (10) ON s.form_id = f.id WHERE f.tenant_id = $tenant;

-- reason: ONLY changes inheritance, not tenancy
-- rule: unbound-table
SELECT * FROM ONLY forms WHERE id = $1;

-- reason: the legacy `forms *` inheritance syntax is still forms
-- rule: unbound-table
SELECT * FROM forms * WHERE id = $1;

-- reason: public.forms is forms
-- rule: unbound-table
SELECT * FROM public.forms WHERE id = $1;

-- reason: archive.plans is not the global plans (that is public.plans): unknown, so a tenant table
-- rule: unbound-table
SELECT name, price_cents FROM archive.plans WHERE id = $1;

-- reason: archive.forms holds archived rows of every tenant
-- rule: unbound-table
SELECT * FROM archive.forms WHERE name = $1;

-- reason: "Forms" (quoted) is a different, unknown table: a tenant table
-- rule: unbound-table
SELECT * FROM "Forms" WHERE id = $1;

-- reason: "Forms" joined to a bound forms on id only
-- rule: unbound-table
SELECT g.name FROM forms f JOIN "Forms" g ON g.id = f.id WHERE f.tenant_id = $tenant;

-- ===== Subqueries in every clause ======================================

-- reason: EXISTS over submissions correlated on form_id only
-- rule: unbound-table
SELECT f.* FROM forms f WHERE f.tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.form_id = f.id);

-- reason: IN subquery over every tenant's admins
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant AND owner_id IN (SELECT id FROM users WHERE role = 'admin');

-- reason: NOT EXISTS probes other tenants' orders (an oracle on their data)
-- rule: unbound-table
SELECT * FROM customers c WHERE c.tenant_id = $tenant AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id);

-- reason: scalar subquery in the SELECT list counts other tenants' submissions
-- rule: unbound-table
SELECT f.name, (SELECT count(*) FROM form_submissions s WHERE s.form_id = f.id) AS submissions FROM forms f WHERE f.tenant_id = $tenant;

-- reason: ARRAY(subquery) in the SELECT list returns every tenant's e-mails
-- rule: unbound-table
SELECT name, ARRAY(SELECT email FROM users) AS everyone FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: HAVING compares with an average over all tenants
-- rule: unbound-table
SELECT owner_id, count(*) FROM forms WHERE tenant_id = $tenant GROUP BY owner_id HAVING count(*) > (SELECT avg(cnt) FROM (SELECT count(*) AS cnt FROM forms GROUP BY tenant_id) x);

-- reason: ORDER BY a subquery over other tenants' scores (leaks through the order)
-- rule: unbound-table
SELECT id, name FROM forms f WHERE f.tenant_id = $tenant ORDER BY (SELECT max(s.score) FROM form_submissions s WHERE s.form_id = f.id) DESC;

-- reason: a subquery as a function argument
-- rule: unbound-table
SELECT coalesce((SELECT name FROM customers WHERE id = o.customer_id), 'unknown') FROM orders o WHERE o.tenant_id = $tenant;

-- reason: a subquery inside jsonb_build_object's arguments
-- rule: unbound-table
SELECT jsonb_build_object('form', f.name, 'owner', (SELECT email FROM users WHERE id = f.owner_id)) FROM forms f WHERE f.tenant_id = $tenant;

-- reason: LIMIT computed from every tenant's row count
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant LIMIT (SELECT count(*) FROM forms);

-- reason: a subquery in an aggregate's FILTER clause
-- rule: unbound-table
SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.order_id = o.id)) FROM orders o WHERE o.tenant_id = $tenant;

-- reason: CASE WHEN EXISTS reveals whether an e-mail exists in any tenant
-- rule: unbound-table
SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE email = $1) THEN 'taken' ELSE 'free' END FROM tenants WHERE id = $tenant;

-- reason: a subquery inside an inner join's ON reads other tenants' forms
-- rule: unbound-table
SELECT f.name, u.email FROM forms f JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.owner_id AND u.id IN (SELECT owner_id FROM forms WHERE archived) WHERE f.tenant_id = $tenant;

-- reason: two levels deep: the innermost users reference is unbound
-- rule: unbound-table
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND f.owner_id IN (SELECT u.id FROM users u WHERE u.tenant_id = $tenant AND u.manager_id IN (SELECT m.id FROM users m WHERE m.role = 'admin'));

-- reason: correlated to an outer forms that is itself unbound
-- rule: unbound-table
SELECT * FROM forms f WHERE EXISTS (SELECT 1 FROM form_submissions s WHERE s.tenant_id = f.tenant_id AND s.form_id = f.id AND s.score > $1);

-- reason: inside the subquery tenant_id = tenant_id is users' column compared with itself
-- rule: unbound-table
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND f.owner_id IN (SELECT id FROM users WHERE tenant_id = tenant_id AND role = 'admin');

-- reason: a subquery in UPDATE .. RETURNING
-- rule: unbound-table
UPDATE forms SET archived = true WHERE tenant_id = $tenant AND id = $1 RETURNING (SELECT count(*) FROM form_submissions s WHERE s.form_id = forms.id);

-- reason: a subquery in DELETE .. RETURNING
-- rule: unbound-table
DELETE FROM follow_ups fu WHERE fu.tenant_id = $tenant AND fu.id = $1 RETURNING (SELECT email FROM users u WHERE u.id = fu.assignee_id);

-- reason: a subquery in INSERT .. RETURNING
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) RETURNING (SELECT email FROM users WHERE id = $2);

-- reason: a subquery in a VALUES row copies another tenant's form name
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, (SELECT name FROM forms WHERE id = $3));

-- reason: a subquery in UPDATE .. SET reads the unknown (tenant) table "Forms" unbound
-- rule: unbound-table
UPDATE forms SET name = (SELECT name FROM "Forms" WHERE id = $1) WHERE tenant_id = $tenant AND id = $2;

-- reason: a subquery in UPDATE .. WHERE over every tenant's customers
-- rule: unbound-table
UPDATE orders SET status = 'void' WHERE tenant_id = $tenant AND customer_id IN (SELECT id FROM customers WHERE email = $1);

-- ===== Set operations ==================================================

-- reason: one UNION branch is unbound
-- rule: unbound-table
SELECT id, name FROM forms WHERE tenant_id = $tenant UNION SELECT id, name FROM forms WHERE archived;

-- reason: the third UNION ALL branch is unbound
-- rule: unbound-table
SELECT name FROM forms WHERE tenant_id = $tenant UNION ALL SELECT name FROM customers WHERE tenant_id = $tenant UNION ALL SELECT name FROM users;

-- reason: EXCEPT against every tenant's customers is an oracle on their e-mails
-- rule: unbound-table
SELECT email FROM users WHERE tenant_id = $tenant EXCEPT SELECT email FROM customers;

-- reason: INTERSECT with every tenant's submissions is an oracle on their form ids
-- rule: unbound-table
SELECT id FROM forms WHERE tenant_id = $tenant INTERSECT SELECT form_id FROM form_submissions;

-- reason: a set operation inside an IN subquery with one unbound branch
-- rule: unbound-table
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND f.id IN (SELECT form_id FROM form_submissions WHERE tenant_id = $tenant UNION SELECT form_id FROM form_submissions WHERE score > 90);

-- reason: parenthesised branch with its own ORDER BY/LIMIT is unbound
-- rule: unbound-table
(SELECT name FROM forms WHERE tenant_id = $tenant) UNION (SELECT name FROM forms ORDER BY created_at LIMIT 5);

-- ===== CTEs ============================================================

-- reason: the CTE body is unbound; the join to forms is on form_id only
-- rule: unbound-table
WITH recent AS (SELECT * FROM form_submissions WHERE created_at > now() - interval '1 day') SELECT r.* FROM recent r JOIN forms f ON f.id = r.form_id WHERE f.tenant_id = $tenant;

-- reason: recursive term unbound: parent ids repeat across tenants, the walk wanders into other trees
-- rule: unbound-table
WITH RECURSIVE tree AS (SELECT id, parent_id, name FROM categories WHERE tenant_id = $tenant AND id = $1 UNION ALL SELECT c.id, c.parent_id, c.name FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree;

-- reason: the non-recursive term of a recursive CTE is unbound
-- rule: unbound-table
WITH RECURSIVE chain AS (SELECT id, manager_id FROM users WHERE id = $1 UNION ALL SELECT u.id, u.manager_id FROM users u JOIN chain c ON u.id = c.manager_id WHERE u.tenant_id = $tenant) SELECT * FROM chain;

-- reason: writable CTE: DELETE of every tenant's form with that id
-- rule: unbound-table
WITH d AS (DELETE FROM forms WHERE id = $1 RETURNING *) SELECT count(*) FROM d;

-- reason: a writable CTE runs even when nothing references it: it wipes every tenant's submissions
-- rule: unbound-table
WITH wipe AS (DELETE FROM form_submissions RETURNING id) SELECT name FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: writable CTE: UPDATE of every tenant's orders of customer $1
-- rule: unbound-table
WITH u AS (UPDATE orders SET status = 'cancelled' WHERE customer_id = $1 RETURNING id) SELECT count(*) FROM u;

-- reason: writable CTE: INSERT without the tenant column
-- rule: insert-missing-tenant-column
WITH ins AS (INSERT INTO forms (id, owner_id, name) VALUES ($1, $2, $3) RETURNING id) SELECT id FROM ins;

-- reason: a CTE named like the table: its body reads public.forms unbound
-- rule: unbound-table
WITH forms AS (SELECT * FROM public.forms) SELECT * FROM forms WHERE id = $1;

-- reason: a CTE named like a global table is not global: its body reads customers unbound
-- rule: unbound-table
WITH plans AS (SELECT id::text AS id, name FROM customers) SELECT id, name FROM plans;

-- reason: a CTE is visible only inside its query: the outer forms is the real, unbound table
-- rule: unbound-table
SELECT forms.name FROM (WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT id FROM forms) mine JOIN forms ON forms.id = mine.id;

-- reason: without RECURSIVE an earlier CTE cannot see a later one: y reads the real forms, unbound
-- rule: unbound-table
WITH y AS (SELECT * FROM forms), forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT y.name FROM y;

-- reason: a WITH nested inside a CTE body reads invoices unbound
-- rule: unbound-table
WITH outer_q AS (WITH inner_q AS (SELECT * FROM invoices) SELECT * FROM inner_q) SELECT count(*) FROM outer_q;

-- ===== INSERT ==========================================================

-- reason: INSERT without the tenant column
-- rule: insert-missing-tenant-column
INSERT INTO forms (id, owner_id, name) VALUES ($1, $2, $3);

-- reason: INSERT without a column list: which value lands in tenant_id depends on the table's column order
-- rule: insert-missing-tenant-column
INSERT INTO customers VALUES ($tenant, $1, $2, $3, NULL, NULL, now());

-- reason: DEFAULT VALUES sets no tenant (audit_log's tenant column is org_id)
-- rule: insert-missing-tenant-column
INSERT INTO audit_log DEFAULT VALUES;

-- reason: audit_log's tenant column is org_id: it is missing
-- rule: insert-missing-tenant-column
INSERT INTO audit_log (actor_id, action) VALUES ($1, $2);

-- reason: INSERT into public.forms without the tenant column
-- rule: insert-missing-tenant-column
INSERT INTO public.forms (id, owner_id, name) VALUES ($1, $2, $3);

-- reason: the second VALUES row writes into tenant $5
-- rule: insert-tenant-value
INSERT INTO products (tenant_id, id, sku, name, price_cents, currency) VALUES ($tenant, $1, $2, $3, $4, 'EUR'), ($5, $6, $7, $8, $9, 'EUR');

-- reason: a literal tenant in an INSERT (strict mode)
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ('acme', $1, $2, $3);

-- reason: a function of $tenant is another tenant ('Acme' becomes 'acme')
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES (lower($tenant), $1, $2, $3);

-- reason: DEFAULT puts the column default, not the tenant, into tenant_id
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES (DEFAULT, $1, $2, $3);

-- reason: the tenant value comes from a subquery over any tenant's users
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ((SELECT tenant_id FROM users WHERE id = $1), $2, $1, $3);

-- reason: org_id from $1 writes into another organisation's audit log
-- rule: insert-tenant-value
INSERT INTO audit_log (org_id, actor_id, action) VALUES ($1, $2, $3);

-- reason: INSERT .. SELECT copies another tenant's form into mine
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) SELECT $tenant, id, $1, name FROM forms WHERE id = $2;

-- reason: INSERT .. SELECT puts forms.name into tenant_id
-- rule: insert-tenant-value
INSERT INTO form_imports (tenant_id, id, owner_id, name) SELECT f.name, f.id, f.owner_id, f.name FROM forms f WHERE f.tenant_id = $tenant;

-- reason: INSERT .. SELECT from a global table: plans.id is not a tenant
-- rule: insert-tenant-value
INSERT INTO products (tenant_id, id, sku, name, price_cents, currency) SELECT p.id, 1, p.id, p.name, p.price_cents, 'EUR' FROM plans p;

-- reason: INSERT .. SELECT writes my submission ids into tenant $1
-- rule: insert-tenant-value
INSERT INTO follow_ups (tenant_id, id, submission_id, note) SELECT $1, $2, s.id, 'review' FROM form_submissions s WHERE s.tenant_id = $tenant AND s.id = $3;

-- reason: INSERT .. SELECT whose second UNION branch reads archive.forms unbound
-- rule: unbound-table
INSERT INTO form_imports (tenant_id, id, owner_id, name) SELECT tenant_id, id, owner_id, name FROM forms WHERE tenant_id = $tenant UNION ALL SELECT tenant_id, id, owner_id, name FROM archive.forms;

-- reason: ON CONFLICT DO UPDATE moves the row to tenant $4
-- rule: tenant-column-assignment
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = $4, name = excluded.name;

-- reason: ON CONFLICT DO UPDATE with a row assignment that includes the tenant column
-- rule: tenant-column-assignment
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET (tenant_id, name) = ($4, excluded.name);

-- reason: the conflict target (email) lacks tenant_id: the existing row may be another tenant's user, and it gets updated
-- rule: upsert-conflict-target
INSERT INTO users (tenant_id, id, email, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (email) DO UPDATE SET name = excluded.name;

-- reason: the conflict target stripe_customer_id is unique across tenants: another tenant's customer is overwritten
-- rule: upsert-conflict-target
INSERT INTO customers (tenant_id, id, name, email, stripe_customer_id) VALUES ($tenant, $1, $2, $3, $4) ON CONFLICT (stripe_customer_id) DO UPDATE SET email = excluded.email RETURNING id, name;

-- reason: ON CONSTRAINT names a constraint whose columns the analyzer cannot see (here: stripe_customer_id alone)
-- rule: upsert-conflict-target
INSERT INTO customers (tenant_id, id, name, stripe_customer_id) VALUES ($tenant, $1, $2, $3) ON CONFLICT ON CONSTRAINT customers_stripe_customer_id_key DO UPDATE SET name = excluded.name;

-- reason: a subquery in DO UPDATE SET reads any tenant's import
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET name = (SELECT i.name FROM form_imports i WHERE i.id = excluded.id);

-- reason: a subquery in DO UPDATE .. WHERE probes every tenant's users
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name WHERE EXISTS (SELECT 1 FROM users WHERE email = $4);

-- ===== UPDATE ==========================================================

-- reason: UPDATE without WHERE touches every tenant
-- rule: unbound-table
UPDATE follow_ups SET done = true;

-- reason: UPDATE with an OR in WHERE
-- rule: unbound-table
UPDATE forms SET archived = true WHERE tenant_id = $tenant OR created_at < $1;

-- reason: UPDATE .. FROM users matched by e-mail in any tenant: another tenant's user becomes the owner
-- rule: unbound-table
UPDATE forms f SET owner_id = u.id FROM users u WHERE u.email = $1 AND f.tenant_id = $tenant AND f.id = $2;

-- reason: UPDATE .. FROM binds the FROM item but not the target
-- rule: unbound-table
UPDATE form_submissions s SET score = 0 FROM forms f WHERE f.tenant_id = $tenant AND s.form_id = f.id;

-- reason: UPDATE .. FROM the same table: the target is joined on id only
-- rule: unbound-table
UPDATE forms f SET name = $1 FROM forms g WHERE g.tenant_id = $tenant AND f.id = g.id;

-- reason: the binding is inside the subquery; forms is matched by owner_id only
-- rule: unbound-table
UPDATE forms SET archived = true WHERE owner_id IN (SELECT id FROM users WHERE tenant_id = $tenant AND deleted_at IS NOT NULL);

-- reason: UPDATE SET tenant_id = $1 hands my form to another tenant
-- rule: tenant-column-assignment
UPDATE forms SET tenant_id = $1 WHERE tenant_id = $tenant AND id = $2;

-- reason: SET tenant_id = lower(tenant_id) moves rows of 'Acme' into 'acme'
-- rule: tenant-column-assignment
UPDATE customers SET tenant_id = lower(tenant_id) WHERE tenant_id = $tenant;

-- reason: a multi-column SET that includes the tenant column
-- rule: tenant-column-assignment
UPDATE products SET (name, tenant_id) = ($1, $2) WHERE tenant_id = $tenant AND id = $3;

-- reason: audit_log's tenant column org_id reassigned
-- rule: tenant-column-assignment
UPDATE audit_log SET org_id = $1 WHERE org_id = $tenant AND id = $2;

-- reason: tenants' tenant column is id: renaming it to $1 takes over another tenant's id
-- rule: tenant-column-assignment
UPDATE tenants SET id = $1 WHERE id = $tenant;

-- reason: WHERE CURRENT OF: the cursor's query is not part of this statement, the target is unbound
-- rule: unbound-table
UPDATE forms SET archived = true WHERE CURRENT OF form_cursor;

-- reason: UPDATE ONLY is still an unbound UPDATE
-- rule: unbound-table
UPDATE ONLY forms SET name = $1 WHERE id = $2;

-- ===== DELETE ==========================================================

-- reason: DELETE without WHERE
-- rule: unbound-table
DELETE FROM audit_log;

-- reason: DELETE .. USING an unbound forms: other tenants' archived forms decide which of my submissions die
-- rule: unbound-table
DELETE FROM form_submissions s USING forms f WHERE f.id = s.form_id AND f.archived AND s.tenant_id = $tenant;

-- reason: DELETE .. USING binds the USING item but not the target
-- rule: unbound-table
DELETE FROM follow_ups fu USING users u WHERE u.tenant_id = $tenant AND u.id = fu.assignee_id AND u.deleted_at IS NOT NULL;

-- reason: DELETE with tenant_id IN (subquery): every tenant on the free plan
-- rule: unbound-table
DELETE FROM orders WHERE tenant_id IN (SELECT id FROM tenants WHERE plan_id = 'free');

-- reason: DELETE FROM ONLY is still unbound
-- rule: unbound-table
DELETE FROM ONLY invoices WHERE id = $1;

-- ===== MERGE ===========================================================

-- reason: MERGE target matched on id only: another tenant's form with that id is renamed
-- rule: unbound-table
MERGE INTO forms f USING form_imports i ON i.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name;

-- reason: MERGE source matched on id only: another tenant's import renames my forms
-- rule: unbound-table
MERGE INTO forms f USING form_imports i ON f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name;

-- reason: WHEN NOT MATCHED inserts every source row the ON rejects: other tenants' imports fail i.tenant_id = $tenant and are copied in
-- rule: unbound-table
MERGE INTO forms f USING form_imports i ON i.tenant_id = $tenant AND f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES ($tenant, i.id, i.owner_id, i.name);

-- reason: the MERGE source subquery reads customers of every tenant
-- rule: unbound-table
MERGE INTO customers c USING (SELECT email, name FROM customers WHERE email = $1) src ON c.tenant_id = $tenant AND c.email = src.email WHEN MATCHED THEN UPDATE SET name = src.name;

-- reason: a subquery in a WHEN condition probes other tenants' orders
-- rule: unbound-table
MERGE INTO customers c USING (VALUES ($1::bigint, $2::text)) AS v(id, name) ON c.tenant_id = $tenant AND c.id = v.id WHEN MATCHED AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) THEN UPDATE SET name = v.name;

-- reason: the target is bound only in WHEN MATCHED's condition: whether a row is NOT MATCHED (and inserted) depends on other tenants' forms of that name (found by the noninterference oracle)
-- rule: unbound-table
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.name = i.name WHEN MATCHED AND f.tenant_id = $tenant THEN UPDATE SET owner_id = i.owner_id WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES ($tenant, i.id, i.owner_id, i.name);

-- reason: MERGE .. WHEN NOT MATCHED THEN INSERT without the tenant column
-- rule: insert-missing-tenant-column
MERGE INTO forms f USING (VALUES ($1::bigint, $2::bigint, $3::text)) AS v(id, owner_id, name) ON f.tenant_id = $tenant AND f.id = v.id WHEN NOT MATCHED THEN INSERT (id, owner_id, name) VALUES (v.id, v.owner_id, v.name);

-- reason: MERGE INSERT puts the import's name into tenant_id
-- rule: insert-tenant-value
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES (i.name, i.id, i.owner_id, i.name);

-- reason: MERGE UPDATE SET tenant_id hands matched forms to tenant $1
-- rule: tenant-column-assignment
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET tenant_id = $1;

-- reason: WHEN NOT MATCHED BY SOURCE THEN DELETE deletes every target row the ON rejects: all other tenants' forms
-- rule: unbound-table
-- pg: skip WHEN NOT MATCHED BY SOURCE needs PostgreSQL 17
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name WHEN NOT MATCHED BY SOURCE THEN DELETE;

-- reason: NOT MATCHED BY SOURCE with a condition that does not bind the target archives other tenants' forms
-- rule: unbound-table
-- pg: skip WHEN NOT MATCHED BY SOURCE needs PostgreSQL 17
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN NOT MATCHED BY SOURCE AND NOT f.archived THEN UPDATE SET archived = true;

-- ===== forbid_delete ===================================================

-- reason: forbid_delete: a bound DELETE is still a hard delete
-- rule: delete-forbidden
-- config: forbid_delete
DELETE FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: forbid_delete: DELETE inside a writable CTE
-- rule: delete-forbidden
-- config: forbid_delete
WITH gone AS (DELETE FROM follow_ups WHERE tenant_id = $tenant AND done RETURNING id) SELECT count(*) FROM gone;

-- reason: forbid_delete: DELETE .. USING, bound
-- rule: delete-forbidden
-- config: forbid_delete
DELETE FROM form_submissions s USING forms f WHERE f.tenant_id = $tenant AND s.tenant_id = f.tenant_id AND s.form_id = f.id AND f.archived;

-- reason: forbid_delete: MERGE .. THEN DELETE is a hard delete too
-- rule: delete-forbidden
-- config: forbid_delete
MERGE INTO forms f USING (SELECT * FROM form_imports WHERE tenant_id = $tenant) i ON f.tenant_id = $tenant AND f.id = i.id WHEN MATCHED THEN DELETE;

-- ===== Statements that are not SELECT/INSERT/UPDATE/DELETE/MERGE ========

-- reason: CREATE TABLE AS copies every tenant's forms
-- rule: unsupported-statement
CREATE TABLE forms_backup AS SELECT * FROM forms;

-- reason: SELECT INTO creates a table from every tenant's forms
-- rule: unsupported-statement
-- pg: exec
SELECT * INTO TEMP forms_snapshot FROM forms;

-- reason: CREATE TABLE is DDL
-- rule: unsupported-statement
CREATE TABLE scratch (tenant_id text, payload text);

-- reason: CREATE VIEW over every tenant's forms
-- rule: unsupported-statement
CREATE VIEW all_forms AS SELECT * FROM forms;

-- reason: a materialised view of per-tenant counts
-- rule: unsupported-statement
CREATE MATERIALIZED VIEW form_stats AS SELECT tenant_id, count(*) FROM forms GROUP BY tenant_id;

-- reason: a SECURITY DEFINER function's body is not analysed
-- rule: unsupported-statement
CREATE FUNCTION all_forms() RETURNS SETOF forms LANGUAGE sql SECURITY DEFINER AS $$ SELECT * FROM forms $$;

-- reason: DROP TABLE destroys every tenant's follow-ups
-- rule: unsupported-statement
DROP TABLE follow_ups;

-- reason: a column default of another tenant makes later inserts land there
-- rule: unsupported-statement
ALTER TABLE users ALTER COLUMN tenant_id SET DEFAULT 'acme';

-- reason: switches off the row-level security a defence in depth relies on
-- rule: unsupported-statement
ALTER TABLE forms DISABLE ROW LEVEL SECURITY;

-- reason: TRUNCATE empties the table for every tenant
-- rule: unsupported-statement
TRUNCATE form_submissions CASCADE;

-- reason: COPY .. TO dumps every tenant's forms
-- rule: unsupported-statement
COPY forms TO STDOUT;

-- reason: COPY (query) TO: COPY is never analysed, even around a bound query
-- rule: unsupported-statement
COPY (SELECT * FROM forms WHERE tenant_id = $tenant) TO STDOUT WITH (FORMAT csv);

-- reason: COPY .. FROM writes rows with any tenant_id
-- rule: unsupported-statement
-- pg: skip COPY FROM STDIN reads data from the client
COPY form_submissions FROM STDIN;

-- reason: SET search_path redirects unqualified names to another schema's tables
-- rule: search-path-or-role
SET search_path = archive, public;

-- reason: SET row_security = off disables row-level security for the session
-- rule: unsupported-statement
SET row_security = off;

-- reason: SET of the setting an RLS policy reads switches tenant for the pooled session
-- rule: unsupported-statement
SET app.tenant_id = 'globex';

-- reason: a DO block's body is not analysed
-- rule: unsupported-statement
DO $$ BEGIN DELETE FROM forms WHERE archived; END $$;

-- reason: CALL runs a procedure whose body (archives every tenant's forms) is not analysed
-- rule: unsupported-statement
CALL archive_stale_forms(now());

-- reason: PREPARE stores an unbound query for later EXECUTE
-- rule: unsupported-statement
PREPARE every_form AS SELECT * FROM forms;

-- reason: EXECUTE runs a prepared statement the analyzer never saw
-- rule: unsupported-statement
-- pg: skip needs a statement prepared earlier in the session
EXECUTE every_form;

-- reason: EXPLAIN ANALYZE executes the DELETE
-- rule: unsupported-statement
EXPLAIN ANALYZE DELETE FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: EXPLAIN (ANALYZE) executes the query; only plain EXPLAIN is accepted
-- rule: unsupported-statement
EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM forms WHERE tenant_id = $tenant;

-- reason: DECLARE CURSOR over every tenant's forms
-- rule: unsupported-statement
DECLARE form_cursor CURSOR FOR SELECT * FROM forms;

-- reason: FETCH reads from a cursor whose query is not part of this statement
-- rule: unsupported-statement
-- pg: skip needs a cursor declared earlier in the transaction
FETCH ALL FROM form_cursor;

-- reason: LOCK blocks every tenant's access to the table
-- rule: unsupported-statement
LOCK TABLE forms IN ACCESS EXCLUSIVE MODE;

-- reason: GRANT opens every tenant's forms to every role
-- rule: unsupported-statement
GRANT SELECT ON forms TO PUBLIC;

-- reason: VACUUM FULL rewrites (and locks) every tenant's rows
-- rule: unsupported-statement
-- pg: skip VACUUM cannot run inside a transaction block
VACUUM FULL forms;

-- ===== Lenient mode (any single parameter or literal binds) =============

-- reason: lenient: forms bound to $1, users to $2: two tenants in one statement
-- rule: conflicting-tenants
-- mode: lenient
SELECT f.name, u.email FROM forms f JOIN users u ON u.id = f.owner_id WHERE f.tenant_id = $1 AND u.tenant_id = $2;

-- reason: lenient: a parameter and a literal name two tenants
-- rule: conflicting-tenants
-- mode: lenient
SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.tenant_id = $1 AND c.tenant_id = 'acme';

-- reason: lenient: two different literals
-- rule: conflicting-tenants
-- mode: lenient
SELECT i.number FROM invoices i JOIN orders o ON o.id = i.order_id WHERE i.tenant_id = 'acme' AND o.tenant_id = 'globex';

-- reason: lenient: INSERT .. SELECT copies tenant $2's forms into tenant $1
-- rule: conflicting-tenants
-- mode: lenient
INSERT INTO forms (tenant_id, id, owner_id, name) SELECT $1, f.id, f.owner_id, f.name FROM forms f WHERE f.tenant_id = $2;

-- reason: lenient: the subquery is bound to a different tenant than the outer query
-- rule: conflicting-tenants
-- mode: lenient
SELECT * FROM forms f WHERE f.tenant_id = $1 AND EXISTS (SELECT 1 FROM form_submissions s WHERE s.tenant_id = $2 AND s.form_id = f.id);

-- reason: lenient: UNION branches bound to different tenants
-- rule: conflicting-tenants
-- mode: lenient
SELECT name FROM forms WHERE tenant_id = $1 UNION ALL SELECT name FROM forms WHERE tenant_id = $2;

-- reason: lenient: UPDATE .. FROM copies names from tenant $2 into tenant $1
-- rule: conflicting-tenants
-- mode: lenient
UPDATE forms f SET name = g.name FROM forms g WHERE f.tenant_id = $1 AND g.tenant_id = $2 AND g.id = f.id;

-- reason: lenient: MERGE matches tenant $1's forms but inserts the unmatched rows into tenant 'globex' (found by the noninterference oracle)
-- rule: conflicting-tenants
-- mode: lenient
MERGE INTO forms f USING form_imports i ON f.tenant_id = $1 AND i.tenant_id = $1 AND f.id = i.id WHEN MATCHED THEN UPDATE SET name = i.name WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES ('globex', i.id, i.owner_id, i.name);

-- reason: lenient: OR of two tenants is not a single binding
-- rule: unbound-table
-- mode: lenient
SELECT * FROM forms WHERE tenant_id = $1 OR tenant_id = $2;

-- reason: lenient: = ANY(array parameter) is many tenants
-- rule: unbound-table
-- mode: lenient
SELECT * FROM forms WHERE tenant_id = ANY($1);

-- reason: lenient: no predicate at all
-- rule: unbound-table
-- mode: lenient
SELECT * FROM forms WHERE id = $1;

-- reason: lenient: a column-to-column chain with no value at its end
-- rule: unbound-table
-- mode: lenient
SELECT f.name, u.email FROM forms f JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.owner_id;

-- reason: lenient: the tenant comes from an unbound subquery, not a parameter or literal
-- rule: unbound-table
-- mode: lenient
SELECT * FROM forms WHERE tenant_id = (SELECT tenant_id FROM users WHERE email = $1);

-- ===== Strict mode without $tenant =====================================

-- reason: strict mode: the tenant is bound with $1, not the $tenant placeholder
-- rule: missing-tenant-placeholder
SELECT * FROM forms WHERE tenant_id = $1 AND id = $2;

-- reason: strict mode: an UPDATE bound with $2 instead of $tenant
-- rule: missing-tenant-placeholder
UPDATE forms SET name = $1 WHERE tenant_id = $2 AND id = $3;

-- reason: '$tenant' inside a string literal is text, not the placeholder
-- rule: missing-tenant-placeholder
SELECT * FROM forms WHERE tenant_id = '$tenant';

-- reason: $tenant inside a dollar-quoted string is text, not the placeholder
-- rule: missing-tenant-placeholder
SELECT * FROM forms WHERE tenant_id = $q$ $tenant $q$;

-- reason: $tenant inside an escape string after an escaped quote is still text
-- rule: missing-tenant-placeholder
SELECT * FROM forms WHERE name = E'it\'s $tenant';

-- reason: $tenant inside a quoted identifier is a column alias, not the placeholder
-- rule: missing-tenant-placeholder
SELECT id AS "$tenant" FROM forms WHERE id = $1;

-- reason: $tenant inside a block comment is not the placeholder
-- rule: missing-tenant-placeholder
SELECT * FROM forms /* AND tenant_id = $tenant */ WHERE id = $1;

-- reason: nested block comments: the second */ still closes a comment holding $tenant
-- rule: missing-tenant-placeholder
SELECT * FROM forms /* a /* nested */ WHERE tenant_id = $tenant */ WHERE id = $1;

-- reason: $tenant in a line comment is not the placeholder
-- rule: missing-tenant-placeholder
SELECT * FROM forms
-- WHERE tenant_id = $tenant
WHERE id = $1;

-- ===== Constructs the analyzer cannot see into ==========================

-- reason: query_to_xml runs SQL given as a string: every tenant's forms
-- rule: unsafe-function
SELECT query_to_xml('SELECT * FROM forms', true, false, '');

-- reason: table_to_xml dumps the table named by a string
-- rule: unsafe-function
SELECT table_to_xml('forms', true, false, '');

-- reason: ts_stat runs SQL given as a string: word statistics over every tenant's form names
-- rule: unsafe-function
SELECT word, ndoc FROM ts_stat('SELECT to_tsvector(name) FROM forms') ORDER BY ndoc DESC;

-- reason: schema_to_xml dumps every table of the schema
-- rule: unsafe-function
SELECT schema_to_xml('public', true, false, '');

-- reason: Citus runs the SQL text on every worker: every tenant's forms
-- rule: unsafe-function
-- pg: skip Citus is not installed on the CI server
SELECT run_command_on_workers('SELECT count(*) FROM forms');

-- reason: Citus runs the SQL text on every shard of the table named by a string
-- rule: unsafe-function
-- pg: skip Citus is not installed on the CI server
SELECT f.id, r.result FROM forms f, run_command_on_shards('forms', 'SELECT count(*) FROM %s') r WHERE f.tenant_id = $tenant;

-- reason: Citus moves a whole shard, which holds many tenants' rows
-- rule: unsafe-function
-- pg: skip Citus is not installed on the CI server
SELECT citus_move_shard_placement($1, 'w1', 5432, 'w2', 5432) FROM forms WHERE tenant_id = $tenant;

-- reason: Citus's shard sizes add up every tenant's rows on each shard
-- rule: unsafe-function
-- pg: skip Citus is not installed on the CI server
SELECT * FROM pg_catalog.citus_shard_sizes();

-- reason: Citus's worker functions copy shard rows named by shard id, whatever tenant they hold
-- rule: unsafe-function
-- pg: skip Citus is not installed on the CI server
SELECT worker_split_copy($1, 'tenant_id', ARRAY[]::pg_catalog.split_copy_info[]);

-- reason: with standard_conforming_strings off the literal ends at the second quote and OR true reads every tenant's forms; the analyzer reads it with the setting on (the semicolon has a line of its own so that both readings end the statement there)
-- rule: unsupported-construct
SELECT id FROM forms WHERE tenant_id = $tenant AND name = 'x\' OR true --'
;

-- reason: a backslash in a national-character literal reads the same two ways
-- rule: unsupported-construct
SELECT id FROM forms WHERE tenant_id = $tenant AND name = N'a\b';

-- ===== Name resolution: aliases, shadowing, CTE names ===================

-- reason: the inner alias f shadows the outer f: f.tenant_id = f.tenant_id compares the submission with itself
-- rule: unbound-table
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND EXISTS (SELECT 1 FROM form_submissions f WHERE f.tenant_id = f.tenant_id AND f.score > 90);

-- reason: an unqualified tenant_id in a subquery resolves to the inner table first: s.tenant_id = s.tenant_id
-- rule: unbound-table
SELECT * FROM forms f WHERE f.tenant_id = $tenant AND f.id IN (SELECT form_id FROM form_submissions s WHERE s.tenant_id = tenant_id);

-- reason: a CTE name is never schema-qualified: public.forms is the real table, unbound
-- rule: unbound-table
WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM public.forms;

-- reason: the CTE is "Forms" (quoted, case kept); unquoted forms is the real table, unbound
-- rule: unbound-table
WITH "Forms" AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM forms;

-- reason: NATURAL JOIN of audit_log and users joins on id and created_at only: audit_log is unbound
-- rule: unbound-table
SELECT * FROM audit_log a NATURAL JOIN users u WHERE u.tenant_id = $tenant;

-- ===== Columns named tenant_id that do not carry the tenant =============

-- reason: a function in FROM outputs two tenants in a column named tenant_id; forms is chained to it
-- rule: unbound-table
SELECT f.* FROM forms f, unnest(ARRAY[$tenant, $1]) AS t(tenant_id) WHERE f.tenant_id = t.tenant_id;

-- reason: a derived table over a global table renames plans.id to tenant_id: forms is chained to every plan id
-- rule: unbound-table
SELECT f.name FROM forms f JOIN (SELECT id AS tenant_id FROM plans) p ON p.tenant_id = f.tenant_id;

-- reason: a CTE column list renames owner_id to tenant_id: users is chained to an owner id, not a tenant
-- rule: unbound-table
WITH t(x, tenant_id) AS (SELECT tenant_id, owner_id::text FROM forms WHERE tenant_id = $tenant) SELECT u.email FROM users u JOIN t ON u.tenant_id = t.tenant_id;

-- reason: a derived table's column alias list puts owner_id under the name tenant_id
-- rule: unbound-table
SELECT u.email FROM (SELECT tenant_id, owner_id::text FROM forms WHERE tenant_id = $tenant) AS d(x, tenant_id) JOIN users u ON u.tenant_id = d.tenant_id;

-- reason: the derived table's tenant_id comes from two UNION branches, the second is $1
-- rule: unbound-table
SELECT u.email FROM (SELECT tenant_id FROM forms WHERE tenant_id = $tenant UNION SELECT $1::text) d JOIN users u ON u.tenant_id = d.tenant_id;

-- reason: the recursive term of the CTE emits $1 as tenant_id
-- rule: unbound-table
WITH RECURSIVE r(tenant_id, n) AS (SELECT $tenant::text, 1 UNION ALL SELECT $1::text, n + 1 FROM r WHERE n < 2) SELECT u.email FROM users u JOIN r ON u.tenant_id = r.tenant_id;

-- reason: INSERT .. SELECT whose tenant value is a derived column holding $1
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) SELECT d.t, $2, $3, $4 FROM (SELECT $1::text AS t) d;

-- reason: INSERT .. SELECT .. UNION ALL: the second branch writes into tenant $1
-- rule: insert-tenant-value
INSERT INTO form_imports (tenant_id, id, owner_id, name) SELECT $tenant, 1, 1, 'a' UNION ALL SELECT $1, 2, 2, 'b';

-- ===== More places for a subquery =====================================

-- reason: a top-level VALUES with a subquery over every tenant's forms
-- rule: unbound-table
VALUES ((SELECT count(*) FROM forms));

-- reason: TABLE as a UNION branch reads every tenant
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant UNION TABLE forms;

-- reason: a subquery in the arguments of a function in FROM
-- rule: unbound-table
SELECT f.name, e.email FROM forms f, unnest(ARRAY(SELECT email FROM users)) AS e(email) WHERE f.tenant_id = $tenant;

-- reason: a subquery in a window's ORDER BY
-- rule: unbound-table
SELECT id, rank() OVER (ORDER BY (SELECT count(*) FROM form_submissions s WHERE s.form_id = f.id)) FROM forms f WHERE f.tenant_id = $tenant;

-- reason: a subquery in GROUP BY
-- rule: unbound-table
SELECT count(*) FROM forms f WHERE f.tenant_id = $tenant GROUP BY (SELECT u.role FROM users u WHERE u.id = f.owner_id);

-- reason: a subquery in a MERGE UPDATE SET reads other tenants' imports
-- rule: unbound-table
MERGE INTO forms f USING (VALUES ($1::bigint)) AS v(id) ON f.tenant_id = $tenant AND f.id = v.id WHEN MATCHED THEN UPDATE SET name = (SELECT i.name FROM form_imports i WHERE i.id = v.id);

-- reason: a subquery in a MERGE INSERT VALUES copies another tenant's name
-- rule: unbound-table
MERGE INTO forms f USING (VALUES ($1::bigint, $2::bigint)) AS v(id, owner_id) ON f.tenant_id = $tenant AND f.id = v.id WHEN NOT MATCHED THEN INSERT (tenant_id, id, owner_id, name) VALUES ($tenant, v.id, v.owner_id, (SELECT name FROM forms WHERE id = v.id));

-- ===== Assignments and column names in other spellings ==================

-- reason: SET tenant_id = DEFAULT puts the column default, not the tenant
-- rule: tenant-column-assignment
UPDATE forms SET tenant_id = DEFAULT WHERE tenant_id = $tenant AND id = $1;

-- reason: the quoted "tenant_id" is the tenant column
-- rule: tenant-column-assignment
UPDATE forms SET "tenant_id" = $1 WHERE tenant_id = $tenant AND id = $2;

-- reason: unquoted TENANT_ID folds to tenant_id: an INSERT with $1 as tenant
-- rule: insert-tenant-value
INSERT INTO forms (TENANT_ID, id, owner_id, name) VALUES ($1, $2, $3, $4);

-- reason: operator precedence: AND binds tighter, so the OR lets every row through
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id = $tenant AND archived OR NOT archived;

-- reason: EXPLAIN (ANALYZE 1) executes: 1 is true for a boolean option
-- rule: unsupported-statement
EXPLAIN (ANALYZE 1) SELECT * FROM forms WHERE tenant_id = $tenant;

-- reason: EXPLAIN (ANALYZE on) executes the UPDATE
-- rule: unsupported-statement
EXPLAIN (ANALYZE on, COSTS off) UPDATE forms SET archived = true WHERE tenant_id = $tenant AND id = $1;

-- reason: a subquery inside XMLTABLE's PASSING clause aggregates every tenant's form names
-- rule: unbound-table
SELECT x.name FROM XMLTABLE('/rows/row' PASSING (SELECT xmlelement(name rows, xmlagg(xmlelement(name row, xmlforest(name)))) FROM forms) COLUMNS name text) AS x;

-- reason: OPERATOR(public.=) is a user-defined operator, not equality (this one is always true)
-- rule: unbound-table
SELECT * FROM forms WHERE tenant_id OPERATOR(public.=) $tenant;

-- reason: users is restricted by name = $tenant, not by its tenant column
-- rule: unbound-table
SELECT f.name, u.email FROM forms f JOIN users u ON f.tenant_id = u.name WHERE u.name = $tenant;

-- reason: a multi-column SET from a subquery that puts $1 into tenant_id
-- rule: tenant-column-assignment
UPDATE forms SET (name, tenant_id) = (SELECT i.name, $1::text FROM form_imports i WHERE i.tenant_id = $tenant AND i.id = $2) WHERE tenant_id = $tenant AND id = $2;

-- reason: MERGE UPDATE with a row assignment that includes the tenant column
-- rule: tenant-column-assignment
MERGE INTO forms f USING (VALUES ($1::bigint, $2::text)) AS v(id, name) ON f.tenant_id = $tenant AND f.id = v.id WHEN MATCHED THEN UPDATE SET (name, tenant_id) = (v.name, $3);

-- reason: MERGE INSERT without a column list: the tenant column's value depends on column order
-- rule: insert-missing-tenant-column
MERGE INTO form_imports t USING (VALUES ($1::bigint, $2::bigint, $3::text)) AS v(id, owner_id, name) ON t.tenant_id = $tenant AND t.id = v.id WHEN NOT MATCHED THEN INSERT VALUES ($tenant, v.id, v.owner_id, v.name);

-- reason: MERGE INSERT DEFAULT VALUES sets no tenant
-- rule: insert-missing-tenant-column
MERGE INTO audit_log a USING (VALUES ($1::bigint)) AS v(id) ON a.org_id = $tenant AND a.id = v.id WHEN NOT MATCHED THEN INSERT DEFAULT VALUES;

-- reason: MERGE ON true matches every target row with every source row
-- rule: unbound-table
MERGE INTO forms f USING (VALUES (1)) AS v(x) ON true WHEN MATCHED THEN UPDATE SET archived = true;

-- reason: WITH .. MERGE: the CTE feeding the MERGE reads every tenant's imports
-- rule: unbound-table
WITH src AS (SELECT * FROM form_imports WHERE name = $1) MERGE INTO forms f USING src ON f.tenant_id = $tenant AND f.id = src.id WHEN MATCHED THEN UPDATE SET name = src.name;

-- reason: a DELETE in a second writable CTE restricted only by ids from the first: ids repeat across tenants
-- rule: unbound-table
WITH a AS (UPDATE forms SET archived = true WHERE tenant_id = $tenant AND created_at < $1 RETURNING id), b AS (DELETE FROM form_submissions WHERE form_id IN (SELECT id FROM a) RETURNING id) SELECT count(*) FROM b;

-- reason: a writable CTE that moves my forms to tenant $1
-- rule: tenant-column-assignment
WITH moved AS (UPDATE forms SET tenant_id = $1 WHERE tenant_id = $tenant RETURNING id) SELECT count(*) FROM moved;

-- reason: an upsert on the global e-mail key inside a writable CTE
-- rule: upsert-conflict-target
WITH up AS (INSERT INTO users (tenant_id, id, email, name) VALUES ($tenant, $1, $2, $3) ON CONFLICT (email) DO UPDATE SET name = excluded.name RETURNING id) SELECT id FROM up;

-- reason: lenient: a CTE reads tenant $1's forms and the INSERT writes them into tenant $2
-- rule: conflicting-tenants
-- mode: lenient
WITH src AS (SELECT * FROM forms WHERE tenant_id = $1) INSERT INTO forms (tenant_id, id, owner_id, name) SELECT $2, id, owner_id, name FROM src;

-- reason: lenient: UPDATE moves tenant $1's forms to tenant $2
-- rule: tenant-column-assignment
-- mode: lenient
UPDATE forms SET tenant_id = $2 WHERE tenant_id = $1;

-- reason: lenient: a length-limiting cast turns the bound value into another tenant
-- rule: unbound-table
-- mode: lenient
SELECT * FROM forms WHERE tenant_id = $1::varchar(2);

-- reason: EXPLAIN ANALYSE (British spelling) executes too
-- rule: unsupported-statement
EXPLAIN ANALYSE SELECT * FROM forms WHERE tenant_id = $tenant;

-- reason: EXPLAIN (ANALYZE 'true') executes: a quoted 'true' is true for a boolean option
-- rule: unsupported-statement
EXPLAIN (ANALYZE 'true') SELECT * FROM forms WHERE tenant_id = $tenant;

-- reason: SET LOCAL changes the RLS tenant setting for the rest of the transaction
-- rule: unsupported-statement
SET LOCAL app.tenant_id = 'globex';

-- reason: set_config switches the setting RLS policies read, for the whole pooled session
-- rule: unsafe-function
SELECT set_config('app.tenant_id', $1, false);

-- ===== Name resolution (scopes: cte-names, visible-from-items, ...) =====

-- reason: a DELETE's target is never a CTE (setTargetTable): this deletes every tenant's forms named 'x'
-- rule: unbound-table
WITH forms AS (SELECT $tenant::text AS tenant_id) DELETE FROM forms WHERE name = 'x';

-- reason: an UPDATE's target is the table, not the CTE of the same name that reads the tenant's forms
-- rule: unbound-table
WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) UPDATE forms SET archived = true WHERE name = 'x';

-- reason: an INSERT's target is the table: the CTE named like it does not excuse writing tenant $1
-- rule: insert-tenant-value
WITH forms AS (SELECT 1 AS x) INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($1, 1, 1, 'x');

-- reason: a MERGE's target is the table: its rows are matched across tenants
-- rule: unbound-table
WITH forms AS (SELECT $tenant::text AS tenant_id) MERGE INTO forms t USING form_imports i ON t.id = i.id AND i.tenant_id = $tenant WHEN MATCHED THEN UPDATE SET name = i.name;

-- reason: a writable CTE's target is the table even when a sibling CTE has its name
-- rule: unbound-table
WITH forms AS (SELECT 1 AS x), gone AS (DELETE FROM forms WHERE name = 'x' RETURNING id) SELECT count(*) FROM gone;

-- reason: a LATERAL subquery sees only the FROM items before it: x is the outer x ('other'), not the later forms x
-- rule: unbound-table
SELECT 1 FROM (SELECT 'other'::text AS tenant_id) x WHERE EXISTS (SELECT 1 FROM LATERAL (SELECT f.id FROM forms f WHERE f.tenant_id = x.tenant_id) l, forms x WHERE x.tenant_id = $tenant);

-- reason: a function's arguments in FROM see only the items before it: x is the outer x
-- rule: unbound-table
SELECT 1 FROM (SELECT 'other'::text AS tenant_id) x WHERE EXISTS (SELECT 1 FROM generate_series(1, (SELECT count(*)::int FROM forms f WHERE f.tenant_id = x.tenant_id)) g, forms x WHERE x.tenant_id = $tenant);

-- reason: a JOIN's ON clause sees only its two inputs: x is the outer x, not the later forms x
-- rule: unbound-table
SELECT 1 FROM (SELECT 'other'::text AS tenant_id) x WHERE EXISTS (SELECT 1 FROM forms y JOIN form_submissions s ON s.tenant_id = x.tenant_id, forms x WHERE x.tenant_id = $tenant AND y.tenant_id = $tenant);

-- reason: an unaliased function in FROM is named after itself: jsonb_to_record.tenant_id is the record's value ($1), not the outer item's
-- rule: unbound-table
SELECT l.name FROM (SELECT $tenant::text AS tenant_id) jsonb_to_record, LATERAL (SELECT g.name FROM jsonb_to_record($1::jsonb) AS (tenant_id text), forms g WHERE g.tenant_id = jsonb_to_record.tenant_id) l;

-- reason: an unaliased XMLTABLE is named xmltable: its tenant_id comes from the document ($1)
-- rule: unbound-table
SELECT l.name FROM (SELECT $tenant::text AS tenant_id) xmltable, LATERAL (SELECT g.name FROM XMLTABLE('/r' PASSING ($1::xml) COLUMNS tenant_id text PATH 't'), forms g WHERE g.tenant_id = xmltable.tenant_id) l;

-- reason: schema.table.column never names a CTE: public.plans.id is every plan's id, from the outer global table
-- rule: unbound-table
SELECT 1 FROM plans WHERE EXISTS (WITH plans AS (SELECT $tenant::text AS id) SELECT 1 FROM plans, forms f WHERE f.tenant_id = public.plans.id);

-- reason: a NATURAL join merges every common column: name is the left side's (a plan's name), the analyzer cannot know plans has it
-- rule: unbound-table
SELECT f.id FROM (SELECT name FROM plans NATURAL LEFT JOIN (SELECT $tenant::text AS name) d) m JOIN forms f ON f.tenant_id = m.name;

-- reason: column aliases rename a table's columns by position: f.tenant_id here is the id column
-- rule: unsupported-construct
SELECT f.name FROM forms f(id, tenant_id) WHERE f.tenant_id = $tenant;

-- reason: a recursive CTE's column holds the tenant for nine steps only (the columns shift): the join then reads another tenant's forms
-- rule: unbound-table
WITH RECURSIVE r(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, n, name) AS (SELECT $tenant::text, $tenant::text, $tenant::text, $tenant::text, $tenant::text, $tenant::text, $tenant::text, $tenant::text, $tenant::text, 'other'::text, 0, NULL::text UNION ALL SELECT r.c2, r.c3, r.c4, r.c5, r.c6, r.c7, r.c8, r.c9, r.c10, r.c10, r.n + 1, f.name FROM r JOIN forms f ON f.tenant_id = r.c1 WHERE r.n < 20) SELECT name FROM r;

-- ===== Clauses that must be walked =======================================

-- reason: LIMIT of a bare VALUES: how many rows come back counts every tenant's forms
-- rule: unbound-table
VALUES (1), (2), (3) LIMIT (SELECT count(*) FROM forms);

-- reason: ORDER BY of a VALUES inside IN: the order (and so LIMIT) depends on every tenant's forms
-- rule: unbound-table
SELECT id FROM forms WHERE tenant_id = $tenant AND id IN (VALUES (1::bigint), (2) LIMIT (SELECT count(*) FROM form_submissions));

-- reason: OFFSET of a VALUES in a CTE
-- rule: unbound-table
WITH v(n) AS (VALUES (1), (2) OFFSET (SELECT count(*) FROM forms)) SELECT n FROM v;

-- reason: INSERT .. VALUES .. LIMIT: the number of rows inserted counts every tenant's forms
-- rule: unbound-table
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant, 1, 1, 'a'), ($tenant, 2, 1, 'b') LIMIT (SELECT count(*) FROM forms);

-- reason: a subscript in an INSERT's target column list reads every tenant's forms
-- rule: unbound-table
INSERT INTO form_submissions (tenant_id, id, form_id, data[(SELECT count(*) FROM forms)::text]) VALUES ($tenant, 1, 1, '1');

-- ===== Casts are part of the value (lossy-casts) =======================

-- reason: '007'::bigint::text is '7': tenant 007 would read tenant 7's forms
-- rule: unbound-table
SELECT id FROM forms WHERE tenant_id = $tenant::bigint::text;

-- reason: $1 equals the tenant only as a uuid (case and format fold), so f is bound to $1, another tenant
-- rule: unbound-table
SELECT f.id FROM forms f WHERE f.tenant_id = $1 AND $1::uuid = $tenant::uuid;

-- reason: UPDATE sets the tenant column to a cast chain of the tenant: another tenant's id
-- rule: tenant-column-assignment
UPDATE forms SET tenant_id = $tenant::numeric::text WHERE tenant_id = $tenant AND id = $1;

-- reason: INSERT puts a cast chain of the tenant into the tenant column
-- rule: insert-tenant-value
INSERT INTO forms (tenant_id, id, owner_id, name) VALUES ($tenant::bigint::text, 1, 1, 'x');

-- reason: a row comparison with a cast chain binds nothing
-- rule: unbound-table
SELECT id FROM forms WHERE (tenant_id, id) = ($tenant::bigint::text, $1);

-- ===== Functions by allowlist, system relations, EXPLAIN ================

-- reason: pg_stat_get_live_tuples reads statistics of any relation: every tenant's row count
-- rule: unsafe-function
SELECT pg_stat_get_live_tuples('forms'::regclass);

-- reason: lo_get reads any large object, whoever stored it
-- rule: unsafe-function
SELECT lo_get(16384::oid);

-- reason: setval moves a sequence every tenant's inserts draw from
-- rule: unsafe-function
SELECT setval('audit_log_id_seq', 1);

-- reason: pg_stat_get_activity shows other sessions' SQL, other tenants' ids in it
-- rule: unsafe-function
SELECT query FROM pg_stat_get_activity(NULL);

-- reason: pg_cron's schedule runs SQL text later, outside any check
-- rule: unsafe-function
-- pg: skip pg_cron is not installed on the test server
SELECT cron.schedule('wipe', '* * * * *', 'DELETE FROM forms');

-- reason: a function the configuration does not declare safe may read any table
-- rule: unsafe-function
-- pg: skip no such user function in schema.sql
SELECT app.form_count($tenant);

-- reason: pg_class holds reltuples: an estimate of each partition's (each tenant's) row count
-- rule: system-relation
SELECT relname, reltuples FROM pg_class WHERE relname LIKE 'forms%';

-- reason: pg_stat_user_tables counts each partition's live rows
-- rule: system-relation
SELECT relname, n_live_tup FROM pg_stat_user_tables;

-- reason: plain EXPLAIN shows row estimates computed over every tenant's rows
-- rule: unsupported-statement
EXPLAIN SELECT * FROM forms WHERE tenant_id = $tenant AND id = $1;

-- reason: EXPLAIN with options but without ANALYZE still shows estimates over every tenant
-- rule: unsupported-statement
EXPLAIN (FORMAT JSON, COSTS false) UPDATE forms SET name = $1 WHERE tenant_id = $tenant AND id = $2;

-- ===== Schema layout: the search_path and role wall, tenant schemas ======

-- reason: another search_path resolves unqualified names in another tenant's schema
-- rule: search-path-or-role
SET search_path = tenant_t7_k3x9q2, public;

-- reason: a transaction-local search_path moves the wall just as well
-- rule: search-path-or-role
SET LOCAL search_path TO tenant_t9_q8w7e6_archive;

-- reason: SET SCHEMA is SET search_path
-- rule: search-path-or-role
SET SCHEMA 'tenant_t7_k3x9q2';

-- reason: RESET ALL puts search_path back to the session's default, out of the tenant's schema
-- rule: search-path-or-role
RESET ALL;

-- reason: another role reaches what that role may reach
-- rule: search-path-or-role
SET ROLE postgres;

-- reason: RESET ROLE goes back to the session's role, which reaches every tenant's schema
-- rule: search-path-or-role
RESET ROLE;

-- reason: session_authorization changes the role too
-- rule: search-path-or-role
SET SESSION AUTHORIZATION postgres;

-- reason: a setting name is case-insensitive, quoted or not
-- rule: search-path-or-role
SET "Search_Path" = public;

-- reason: set_config of search_path is SET LOCAL search_path
-- rule: search-path-or-role
SELECT set_config('search_path', 'tenant_t7_k3x9q2', true);

-- reason: pg_catalog.set_config of role switches the role for the transaction
-- rule: search-path-or-role
SELECT id FROM forms WHERE tenant_id = $tenant AND pg_catalog.set_config('role', 'postgres', true) IS NOT NULL;

-- reason: set_config of a name given as a parameter: which setting it changes cannot be told
-- rule: search-path-or-role
SELECT set_config($1, $2, true);

-- reason: an UPDATE of pg_settings is a set_config of each row's setting
-- rule: search-path-or-role
UPDATE pg_settings SET setting = 'tenant_t7_k3x9q2' WHERE name = 'search_path';

-- reason: a table of a tenant's own schema: checked queries never name one, even the tenant's own
-- rule: tenant-schema-reference
SELECT id, name FROM tenant_t7_k3x9q2.forms WHERE tenant_id = $tenant;

-- reason: an offboarded tenant's kept schema
-- rule: tenant-schema-reference
SELECT id, name FROM tenant_t9_q8w7e6_archive.forms;

-- reason: a tenant schema's table joined to a bound one
-- rule: tenant-schema-reference
SELECT f.id FROM forms f JOIN tenant_t7_k3x9q2.forms o ON o.id = f.id WHERE f.tenant_id = $tenant;

-- reason: writing into a tenant's schema
-- rule: tenant-schema-reference
INSERT INTO tenant_t7_k3x9q2.forms (tenant_id, id, owner_id, name) VALUES ($tenant, $1, $2, $3);

-- reason: a function of a tenant's schema
-- rule: tenant-schema-reference
SELECT tenant_t7_k3x9q2.form_count();

-- reason: a type of a tenant's schema
-- rule: tenant-schema-reference
SELECT $1::tenant_t7_k3x9q2.mood;

-- reason: a sequence of a tenant's schema, named in a string
-- rule: tenant-schema-reference
SELECT 'tenant_t7_k3x9q2.forms_id_seq'::regclass;
