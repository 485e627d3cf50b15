-- The schema the type-checked cases are described against
-- (scripts/sqlx-prepare.sh loads it into a scratch database).
CREATE TABLE forms (
    tenant_id text NOT NULL,
    id bigint NOT NULL,
    title text NOT NULL,
    subtitle text,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);

-- A tenant column that is not text: the runtime binds the tenant id as text,
-- so queries must cast it (`$tenant::bigint`).
CREATE TABLE ledgers (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    balance numeric,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);
