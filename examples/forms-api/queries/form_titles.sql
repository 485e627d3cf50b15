-- The titles of the tenant's forms, newest first (tests/http/checked.rs).
SELECT id, title FROM forms WHERE tenant_id = $tenant ORDER BY id DESC
