-- What offboarding's move-aside costs in locks with a key on the parent
-- (docs/guide/running-tenants.md, "offboard"): the delete's per-row key
-- checks with PostgreSQL's generic plan, then with the custom plans the
-- runtime forces, then the drop of the detached table's key on the parent.
--
--   psql -U postgres -h 127.0.0.1 -f tenant-bench/move-aside-locks.sql
--
-- Creates and drops the database move_aside_locks.
DROP DATABASE IF EXISTS move_aside_locks;
CREATE DATABASE move_aside_locks;
\c move_aside_locks
CREATE TABLE users (
    tenant_id text NOT NULL, id bigint NOT NULL, manager_id bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id)
) PARTITION BY LIST (tenant_id);
SELECT format('CREATE TABLE users_%s PARTITION OF users FOR VALUES IN (%L)', i, 't' || i)
  FROM generate_series(1, 2000) i \gexec
-- 20 rows per tenant, each reporting to the one before; tenant t1 has 2,000.
INSERT INTO users
SELECT 't' || i, j, CASE WHEN j > 1 THEN j - 1 END
  FROM generate_series(1, 2000) i, generate_series(1, 20) j;
INSERT INTO users SELECT 't1', j, j - 1 FROM generate_series(21, 2000) j;
\timing on
BEGIN;
DELETE FROM users_1;
SELECT count(*) AS locks_with_generic_plan FROM pg_locks WHERE pid = pg_backend_pid();
ROLLBACK;
BEGIN;
SET LOCAL plan_cache_mode = force_custom_plan;
DELETE FROM users_1;
SELECT count(*) AS locks_with_custom_plans FROM pg_locks WHERE pid = pg_backend_pid();
COMMIT;
ALTER TABLE users DETACH PARTITION users_1 CONCURRENTLY;
BEGIN;
ALTER TABLE users_1 DROP CONSTRAINT users_tenant_id_manager_id_fkey;
SELECT count(*) AS locks_dropping_the_key FROM pg_locks WHERE pid = pg_backend_pid();
COMMIT;
\timing off
\c postgres
DROP DATABASE move_aside_locks;
