//! Installing a tenancy: the registry, the parents (with their row-level
//! security and grants), and the registry's record of the foreign keys each
//! tenant's partitions get, which onboarding and discovery read back.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use sqlx::{PgConnection, PgPool};
use tenant_core::schema::{qualified_name, quote_ident, quote_literal, ForeignKey, TableSchema};

use super::catalog;
use super::ddl::{execute_ddl, LOCK_CLASS};
use super::session::{self, current_tenant_function};
use super::settings;
use super::Tenancy;
use crate::error::Error;

/// The registry's definer function that finds one tenant (its suffix, state
/// and layout) for the application role. `lookup_tenant`, which returns no
/// layout, stays for processes of earlier versions.
pub(crate) const FIND_TENANT: &str = "find_tenant";

/// The schema that holds the registry unless configured otherwise.
pub const DEFAULT_REGISTRY_SCHEMA: &str = "tenancy";

impl Tenancy {
    /// The registry: its schema, the sequence of partition suffixes, the
    /// table of tenants, the record of partition keys, its settings, the
    /// tenant key and the functions of the tenant transaction, and the
    /// lookup of one tenant the application role may run.
    fn registry_ddl(&self) -> Vec<String> {
        let inner = &self.inner;
        let schema = &inner.registry_schema;
        let mut statements = vec![
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(&inner.registry_schema)
            ),
            format!("CREATE SEQUENCE IF NOT EXISTS {}", inner.registry_sequence),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    \
                 id text PRIMARY KEY,\n    \
                 partition_suffix text NOT NULL UNIQUE,\n    \
                 state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'offboarding')),\n    \
                 created_at timestamptz NOT NULL DEFAULT now(),\n    \
                 updated_at timestamptz NOT NULL DEFAULT now()\n)",
                inner.registry
            ),
            // Registries made before schema layout existed get the column
            // (every tenant they hold is a partition tenant).
            format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS layout text NOT NULL DEFAULT 'partition' \
                 CHECK (layout IN ('partition', 'schema'))",
                inner.registry
            ),
            // Why: keys between a tenant's partitions live on the partitions,
            // not the parents, so the catalog alone cannot tell a later
            // discovery (the `tenant` command) which keys a new tenant's
            // partitions need. `install` records them here.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    \
                 table_schema text NOT NULL,\n    \
                 table_name text NOT NULL,\n    \
                 columns text[] NOT NULL,\n    \
                 ref_table text NOT NULL,\n    \
                 ref_columns text[] NOT NULL\n)",
                catalog::partition_keys_table(&inner.registry_schema)
            ),
        ];
        statements.extend(settings::settings_ddl(schema));
        statements.push(super::ownership::archive_guard_ddl(schema));
        statements.extend(session::session_ddl(schema));
        // The application role finds one tenant by id; it is not granted
        // the registry itself (every tenant's id).
        statements.push(format!(
            "CREATE OR REPLACE FUNCTION {}(tenant text)              RETURNS TABLE (partition_suffix text, state text)              LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
             SELECT t.partition_suffix, t.state FROM {} t WHERE t.id = tenant
$fn$",
            qualified_name(Some(schema), "lookup_tenant"),
            inner.registry
        ));
        statements.push(format!(
            "CREATE OR REPLACE FUNCTION {}(tenant text) \
             RETURNS TABLE (partition_suffix text, state text, layout text) \
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
             SELECT t.partition_suffix, t.state, t.layout FROM {} t WHERE t.id = tenant
$fn$",
            qualified_name(Some(schema), FIND_TENANT),
            inner.registry
        ));
        statements
    }

    /// Statements that record the foreign keys of `table`'s partitions in
    /// the registry (replacing what an earlier install recorded), so that
    /// discovery finds them again.
    pub(super) fn record_partition_keys_ddl(&self, table: &TableSchema) -> Vec<String> {
        let keys = catalog::partition_keys_table(&self.inner.registry_schema);
        // A table declared without a schema lives in `public`.
        let schema = quote_literal(table.schema_or_default());
        let name = quote_literal(&table.name);
        let array = |items: &[String]| {
            let items: Vec<String> = items.iter().map(|item| quote_literal(item)).collect();
            format!("ARRAY[{}]::text[]", items.join(", "))
        };
        let mut statements = vec![format!(
            "DELETE FROM {keys} WHERE table_schema = {schema} AND table_name = {name}"
        )];
        statements.extend(table.foreign_keys.iter().map(|key| {
            format!(
                "INSERT INTO {keys} VALUES ({schema}, {name}, {}, {}, {})",
                array(&key.columns),
                quote_literal(&key.ref_table),
                array(&key.ref_columns)
            )
        }));
        statements
    }

    /// The statements [`install`](Self::install) runs, in order: the
    /// registry, then each parent with its indexes, the record of its
    /// partitions' foreign keys (which discovery reads back), and its
    /// row-level security, when enabled. All idempotent. Creating the application
    /// role, when one is configured, is not listed: it depends on whether the
    /// role exists.
    pub fn install_ddl(&self) -> Vec<String> {
        let mut statements = self.registry_ddl();
        for table in &self.inner.tables {
            statements.extend(table.parent_ddl());
            statements.extend(self.record_partition_keys_ddl(table));
            if self.inner.row_level_security || table.row_level_security {
                statements.extend(
                    table.row_level_security_ddl(&current_tenant_function(
                        &self.inner.registry_schema,
                    )),
                );
            }
        }
        if let Some(role) = &self.inner.app_role {
            statements.extend(self.app_role_grants(role));
        }
        statements
    }

    /// Grants of the application role on the registry and every parent, and
    /// the role recorded in the registry for every process's onboardings.
    /// The role reads nothing of the registry itself: tenants are looked up
    /// through `lookup_tenant` (earlier versions granted it SELECT on the
    /// registry's tables, which is revoked).
    fn app_role_grants(&self, role_name: &str) -> Vec<String> {
        let role = quote_ident(role_name);
        let mut schemas: Vec<String> = vec![quote_ident(&self.inner.registry_schema)];
        for table in &self.inner.tables {
            let schema = quote_ident(table.schema.as_deref().unwrap_or("public"));
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
        }
        let mut grants: Vec<String> = schemas
            .iter()
            .map(|schema| format!("GRANT USAGE ON SCHEMA {schema} TO {role}"))
            .collect();
        grants.push(format!("REVOKE ALL ON {} FROM {role}", self.inner.registry));
        grants.push(format!(
            "REVOKE ALL ON {} FROM {role}",
            catalog::partition_keys_table(&self.inner.registry_schema)
        ));
        grants.push(settings::record_app_role_ddl(
            &self.inner.registry_schema,
            role_name,
        ));
        for table in &self.inner.tables {
            grants.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role}",
                table.qualified_name()
            ));
        }
        grants
    }

    /// Creates the application role when it does not exist yet.
    async fn create_app_role(&self, pool: &PgPool, role: &str) -> Result<(), Error> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(pool)
                .await?;
        if exists {
            return Ok(());
        }
        let create = format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
            quote_ident(role)
        );
        match sqlx::Executor::execute(pool, create.as_str()).await {
            Ok(_) => Ok(()),
            // Another installer created it between the check and here.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `statements` in one transaction, serialized with every other
    /// installer by an advisory lock; afterwards the registry exists.
    pub(super) async fn run_locked_ddl(
        &self,
        pool: &PgPool,
        statements: &[String],
    ) -> Result<(), Error> {
        let mut transaction = pool.begin().await?;
        // Concurrent `CREATE .. IF NOT EXISTS` of the same object can still
        // fail on a catalog unique index: serialize installers.
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(LOCK_CLASS)
            .execute(&mut *transaction)
            .await?;
        for statement in statements {
            execute_ddl(&mut transaction, statement).await?;
        }
        transaction.commit().await?;
        self.inner.registry_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Creates the registry and the parent tables (and their indexes) that do
    /// not exist yet, in one transaction. Idempotent.
    ///
    /// In Citus mode it first checks the cluster and the tables
    /// ([`check_citus`](Self::check_citus): nothing runs if Citus is
    /// missing or cannot hold a constraint), and afterwards distributes the
    /// parents and makes the global tables reference tables
    /// ([`citus_ddl`](Self::citus_ddl)).
    pub async fn install(&self, pool: &PgPool) -> Result<(), Error> {
        if self.inner.citus {
            self.check_citus(pool).await?;
        }
        if let Some(role) = &self.inner.app_role {
            self.create_app_role(pool, role).await?;
        }
        self.run_locked_ddl(pool, &self.install_ddl()).await?;
        if self.inner.citus {
            self.distribute(pool).await?;
        }
        self.load_tenant_key(pool).await?;
        tracing::info!(tables = self.inner.tables.len(), "tenancy installed");
        Ok(())
    }

    /// Loads the application's tenant key from the registry (the role of
    /// `pool` must be able to read it: the tables' owner), for the tenant
    /// transactions of this process. [`install`](Self::install) does it; a
    /// process that does not install calls this with an owner's pool, or
    /// gets the key through
    /// [`TenancyBuilder::tenant_key`](super::builder::TenancyBuilder::tenant_key).
    pub async fn load_tenant_key(&self, pool: &PgPool) -> Result<(), Error> {
        let schema = &self.inner.registry_schema;
        // Behind a transaction pooler: unnamed, inside a transaction, so both
        // rounds of the statement reach one server connection.
        let read = if self.inner.transaction_pooler {
            let mut transaction = pool.begin().await?;
            let key = session::read_key(&mut transaction, schema, false).await;
            if key.is_ok() {
                transaction.commit().await?;
            }
            key
        } else {
            let mut connection = pool.acquire().await?;
            session::read_key(&mut connection, schema, true).await
        };
        let key = read
            .map_err(super::ddl::map_registry_error(schema))?
            .ok_or_else(|| Error::NotInstalled {
                schema: self.inner.registry_schema.clone(),
            })?;
        // A key given to the builder stays: it must be the same one.
        let _ = self.inner.session.key.set(key);
        Ok(())
    }

    /// Creates the registry unless this tenancy has seen it already (the
    /// operations need it; the parents are `install`'s business).
    pub(super) async fn ensure_registry(&self, pool: &PgPool) -> Result<(), Error> {
        if !self.inner.registry_ready.load(Ordering::Acquire) {
            self.run_locked_ddl(pool, &self.registry_ddl()).await?;
        }
        Ok(())
    }

    /// The tenancy's tables, plus the partition keys recorded in the
    /// registry that this tenancy's own model lacks: keys that
    /// [`move_parent_keys`](Self::move_parent_keys) moved after this tenancy
    /// was built. So a process that built its tenancy before a move still
    /// gives new partitions the moved keys. A recorded key is taken only
    /// when it references its own table or one that comes before it (whose
    /// partition exists by the time the key is added).
    pub(super) async fn tables_with_recorded_keys(
        &self,
        connection: &mut PgConnection,
    ) -> Result<Cow<'_, [TableSchema]>, Error> {
        let tables = self.inner.tables.as_slice();
        let recorded =
            catalog::recorded_partition_keys(&mut *connection, &self.inner.registry_schema).await?;
        if recorded.is_empty() {
            return Ok(Cow::Borrowed(tables));
        }
        let mut merged: Option<Vec<TableSchema>> = None;
        for key in recorded {
            let position = |name: &str| {
                tables
                    .iter()
                    .position(|table| table.name == name && table.schema_or_default() == key.schema)
            };
            let (Some(at), Some(referenced_at)) = (position(&key.name), position(&key.ref_table))
            else {
                continue;
            };
            let foreign_key = ForeignKey {
                columns: key.columns,
                ref_table: key.ref_table,
                ref_columns: key.ref_columns,
            };
            if tables[at].foreign_keys.contains(&foreign_key) {
                continue;
            }
            if referenced_at > at {
                tracing::warn!(
                    table = %tables[at].qualified_name(),
                    references = %foreign_key.ref_table,
                    "a recorded partition key references a table this tenancy creates later; \
                     build the tenancy again (Tenancy::discover) to give new partitions this key"
                );
                continue;
            }
            let merged = merged.get_or_insert_with(|| tables.to_vec());
            if !merged[at].foreign_keys.contains(&foreign_key) {
                merged[at].foreign_keys.push(foreign_key);
            }
        }
        Ok(merged.map_or(Cow::Borrowed(tables), Cow::Owned))
    }
}
