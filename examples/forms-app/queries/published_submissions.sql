-- Submissions to the tenant's published (or unpublished) forms.
-- Checked at compile time by tenant_query_file_scalar! in src/main.rs,
-- and linted by `tenant check examples/forms-app/queries`.
SELECT count(*)
FROM form_submissions s
JOIN forms f ON f.tenant_id = s.tenant_id AND f.id = s.form_id
WHERE s.tenant_id = $tenant
  AND f.published = $1;
