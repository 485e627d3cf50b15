-- Drops the server-wide roles that hold privileges in the current database
-- only and whose names are the runtime's schema-layout roles (a tenant's
-- tenant_t7_<tag>, a registry's tenants_<tag>): a test database's schema
-- tenants leave roles behind otherwise. Used by the runtime's and the CLI's
-- test support before they drop a test database.
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT rolname FROM pg_roles
            WHERE (rolname ~ '^tenant_t[0-9]+_[a-z0-9]{6}$' OR rolname ~ '^tenants_[a-z0-9]{6}$')
              AND EXISTS (SELECT 1 FROM pg_shdepend d
                           WHERE d.refobjid = pg_roles.oid
                             AND d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))
            ORDER BY rolname DESC
  LOOP
    EXECUTE format('DROP OWNED BY %I', r.rolname);
    BEGIN
      EXECUTE format('DROP ROLE %I', r.rolname);
    EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
    END;
  END LOOP;
END $$
