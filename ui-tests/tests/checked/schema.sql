-- The schema the type-checked cases are described against
-- (scripts/sqlx-prepare.sh loads it into a scratch database).
CREATE TABLE forms (
    tenant_id text NOT NULL,
    id bigint NOT NULL,
    title text NOT NULL,
    subtitle text,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY LIST (tenant_id);
