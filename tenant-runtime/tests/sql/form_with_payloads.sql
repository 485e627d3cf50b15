-- A form and its submissions, for one tenant: used by
-- `queries_from_sql_files_run_on_the_tenants_partitions` (routing.rs).
SELECT forms.title, s.payload
FROM forms
JOIN form_submissions s
  ON s.tenant_id = forms.tenant_id AND s.form_id = forms.id
WHERE forms.tenant_id = $tenant
  AND forms.id = $1
ORDER BY s.id;
