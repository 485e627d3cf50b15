-- The tables of the forms model, as `Tenancy::install` creates them: what the
-- type-checked queries are described against when their offline data is
-- written (scripts/sqlx-prepare.sh). tests/schema.rs checks that this file
-- still matches the models (`Tenancy::verify`).
CREATE TABLE forms (
    tenant_id text NOT NULL,
    id bigint NOT NULL,
    title text NOT NULL,
    published boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);

CREATE TABLE form_submissions (
    tenant_id text NOT NULL,
    id bigint NOT NULL,
    form_id bigint NOT NULL,
    email text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);
CREATE INDEX form_submissions_form_id_idx ON form_submissions (tenant_id, form_id);
