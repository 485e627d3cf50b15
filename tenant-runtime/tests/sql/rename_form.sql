UPDATE forms SET title = $2
WHERE tenant_id = $tenant AND id = $1
RETURNING forms.title
