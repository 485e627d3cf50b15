//! Tenants in schema layout: a schema and a role of their own per tenant
//! (see [`tenant_core::layout`]). Creating one (onboarding), removing one
//! (offboarding: the schema kept under an archive name, or dropped), and
//! giving existing ones the tables a newer model adds (sync).
//!
//! Whose schema a schema is: its comment names the tenant, set in the same
//! transaction that creates it. A schema or role of the expected name that
//! is not ours is an error naming it, never reused.

use sqlx::PgConnection;
use tenant_core::layout::{
    archive_schema_name, schema_table_name, tenant_schema_name, tenants_role_name, SchemaTenantDdl,
    SchemaTenantOptions,
};
use tenant_core::schema::{qualified_name, quote_ident, quote_literal, TableSchema};

use super::ddl::{execute_ddl, LOCK_CLASS};
use super::offboard::Offboard;
use super::session::current_tenant_function;
use super::settings;
use super::Tenancy;
use crate::error::Error;

/// The comment of a schema tenant's schema.
fn schema_comment(id: &str) -> String {
    format!("tenancy schema of tenant {id}")
}

/// The comment of a kept archive of a schema tenant.
fn archive_comment(id: &str) -> String {
    format!("tenancy schema archive of tenant {id}")
}

/// The comment of schema `name`, when it exists (`Some(None)`: no comment).
async fn schema_comment_of(
    connection: &mut PgConnection,
    name: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
    )
    .bind(name)
    .fetch_optional(&mut *connection)
    .await
}

async fn role_exists(connection: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(name)
        .fetch_one(&mut *connection)
        .await
}

/// `statement`, with "already exists" (`code`) turned into `conflict`.
async fn create_or_conflict(
    connection: &mut PgConnection,
    statement: &str,
    code: &str,
    conflict: impl FnOnce() -> Error,
) -> Result<(), Error> {
    match sqlx::Executor::execute(&mut *connection, statement).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(code) => Err(conflict()),
        Err(e) => Err(e.into()),
    }
}

impl Tenancy {
    /// Schema layout puts every model table in one schema under its own
    /// name: two tables of one name in different schemas cannot both go
    /// there. Citus mode keeps to partitions.
    pub(crate) fn check_schema_layout(&self) -> Result<(), Error> {
        if self.inner.citus {
            return Err(Error::Schema(
                "Citus mode keeps tenants in partition layout: a schema tenant's plain tables \
                 would not be distributed (Citus 12's schema-based sharding is another \
                 design); onboard the tenant without Layout::Schema"
                    .into(),
            ));
        }
        let tables = &self.inner.tables;
        // In a schema tenant's transaction the search path is its schema,
        // then `public`: a tenant table moved there from another schema
        // would stand in for a global table of its name in `public`.
        for table in tables {
            let elsewhere = !matches!(table.schema.as_deref(), None | Some("public"));
            if elsewhere
                && self
                    .inner
                    .config
                    .configured_kind(Some("public"), &table.name)
                    == Some(tenant_core::config::TableKind::Global)
            {
                return Err(Error::Schema(format!(
                    "schema layout puts {} in the tenant's schema as {:?}, where it would \
                     shadow the global table public.{} for unqualified names (a schema \
                     tenant's search path is its schema, then public); rename one, or keep \
                     this tenancy's tenants in partition layout",
                    table.qualified_name(),
                    table.name,
                    table.name
                )));
            }
        }
        for (index, table) in tables.iter().enumerate() {
            if let Some(other) = tables[..index].iter().find(|t| t.name == table.name) {
                return Err(Error::Schema(format!(
                    "schema layout puts every tenant table in the tenant's own schema under its \
                     own name, but {} and {} are both named {:?}; rename one, or keep this \
                     tenancy's tenants in partition layout",
                    other.qualified_name(),
                    table.qualified_name(),
                    table.name
                )));
            }
        }
        Ok(())
    }

    /// The foreign keys declared on the parents between two of `tables`
    /// (the application's own `REFERENCES`, which partitions inherit), as
    /// statements that add them to the tables of `schema`: each definition
    /// as PostgreSQL prints it (columns, actions, match type, deferral),
    /// the referenced parent replaced by the schema's table. With `only`,
    /// the keys from or to one of those tables. A definition whose
    /// referenced table cannot be found in the printed text is skipped
    /// with a warning rather than guessed.
    async fn parent_foreign_key_ddl(
        &self,
        connection: &mut PgConnection,
        schema: &str,
        tables: &[TableSchema],
        only: Option<&[TableSchema]>,
    ) -> Result<Vec<String>, Error> {
        let keys: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT k.conname::text, n.nspname::text, c.relname::text, \
                    rn.nspname::text, r.relname::text, pg_get_constraintdef(k.oid) \
               FROM pg_constraint k \
               JOIN pg_class c ON c.oid = k.conrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_class r ON r.oid = k.confrelid \
               JOIN pg_namespace rn ON rn.oid = r.relnamespace \
              WHERE k.contype = 'f' AND k.conparentid = 0 AND c.relkind = 'p' \
              ORDER BY 2, 3, 1",
        )
        .fetch_all(&mut *connection)
        .await?;
        let find = |in_schema: &str, name: &str| {
            tables
                .iter()
                .find(|t| t.schema_or_default() == in_schema && t.name == name)
        };
        let concerned = |table: &TableSchema| {
            only.is_none_or(|only| {
                only.iter()
                    .any(|t| t.qualified_name() == table.qualified_name())
            })
        };
        let mut statements = Vec::new();
        for (name, from_schema, from, to_schema, to, definition) in keys {
            let (Some(from_table), Some(to_table)) =
                (find(&from_schema, &from), find(&to_schema, &to))
            else {
                continue;
            };
            if !concerned(from_table) && !concerned(to_table) {
                continue;
            }
            let target = format!("REFERENCES {}(", schema_table_name(schema, to_table));
            let printed = [
                format!("REFERENCES {}(", qualified_name(Some(&to_schema), &to)),
                format!("REFERENCES {}(", quote_ident(&to)),
            ];
            let Some(definition) = printed
                .iter()
                .find(|p| definition.matches(p.as_str()).count() == 1)
                .map(|p| definition.replacen(p.as_str(), &target, 1))
            else {
                tracing::warn!(
                    constraint = name,
                    definition,
                    "a parent's foreign key was not given to the schema tenant's table"
                );
                continue;
            };
            // Named by PostgreSQL, as on a partition: a model key of the
            // same columns cannot collide with it.
            statements.push(format!(
                "ALTER TABLE {} ADD {definition}",
                schema_table_name(schema, from_table)
            ));
        }
        Ok(statements)
    }

    /// The statements that make `tables` in the schema of the tenant `id`
    /// (registry suffix `suffix`), with its group role made if need be.
    async fn schema_tenant_ddl(
        &self,
        connection: &mut PgConnection,
        tables: &[TableSchema],
        id: &str,
        suffix: &str,
    ) -> Result<SchemaTenantDdl, Error> {
        let tenants_role = self.ensure_tenants_role(connection).await?;
        let app_role = self.recorded_app_role(connection).await?;
        let tenant_function = current_tenant_function(&self.inner.registry_schema);
        Ok(SchemaTenantDdl::new(
            tables,
            SchemaTenantOptions {
                suffix,
                id,
                tenants_role: &tenants_role,
                app_role: app_role.as_deref(),
                tenant_function: &tenant_function,
                row_level_security: self.inner.row_level_security,
            },
        ))
    }

    /// The group role of this registry's tenant roles, made on first use:
    /// a member of nothing, granted the use of the registry's schema (the
    /// policies call `current_tenant()` as the tenant role). Concurrent
    /// first onboardings queue on an advisory lock.
    async fn ensure_tenants_role(&self, connection: &mut PgConnection) -> Result<String, Error> {
        let tag = settings::read(connection, &self.inner.registry_schema)
            .await?
            .tag;
        let name = tenants_role_name(&tag);
        if role_exists(connection, &name).await? {
            return Ok(name);
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(&name)
            .execute(&mut *connection)
            .await?;
        if !role_exists(connection, &name).await? {
            let role = quote_ident(&name);
            execute_ddl(
                connection,
                &format!("CREATE ROLE {role} NOLOGIN NOINHERIT NOBYPASSRLS"),
            )
            .await?;
            execute_ddl(
                connection,
                &format!(
                    "GRANT USAGE ON SCHEMA {} TO {role}",
                    quote_ident(&self.inner.registry_schema)
                ),
            )
            .await?;
        }
        Ok(name)
    }

    /// The tables a schema tenant gets: the model with the keys the
    /// registry records, each with row-level security when the tenancy or
    /// its parent has it.
    async fn schema_tenant_tables(
        &self,
        connection: &mut PgConnection,
    ) -> Result<Vec<TableSchema>, Error> {
        let mut tables = self
            .tables_with_recorded_keys(connection)
            .await?
            .into_owned();
        for table in &mut tables {
            if !table.row_level_security {
                table.row_level_security = self
                    .parent_has_row_level_security(connection, &table.qualified_name())
                    .await?;
            }
        }
        Ok(tables)
    }

    /// Creates the schema tenant `id`'s schema, role and tables in the
    /// onboarding's transaction; `None` when its schema exists already
    /// (an onboarded tenant). A schema or role of that name not made for
    /// this tenant is [`Error::SchemaConflict`] / [`Error::RoleConflict`].
    pub(super) async fn create_schema_tenant(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
    ) -> Result<Option<String>, Error> {
        Ok(self.ensure_schema_tenant(connection, id, suffix).await?.0)
    }

    /// [`create_schema_tenant`](Self::create_schema_tenant), also returning
    /// the tables an onboarded tenant's schema was given (qualified names,
    /// see [`add_missing_schema_tables`](Self::add_missing_schema_tables));
    /// empty for a new schema.
    pub(super) async fn ensure_schema_tenant(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
    ) -> Result<(Option<String>, Vec<String>), Error> {
        let schema = tenant_schema_name(suffix);
        match schema_comment_of(connection, &schema).await? {
            Some(Some(comment)) if comment == schema_comment(id) => {
                let added = self
                    .add_missing_schema_tables(connection, id, suffix)
                    .await?;
                return Ok((None, added));
            }
            Some(_) => return Err(Error::SchemaConflict { schema }),
            None => {}
        }
        let tables = self.schema_tenant_tables(connection).await?;
        let ddl = self
            .schema_tenant_ddl(connection, &tables, id, suffix)
            .await?;
        create_or_conflict(connection, &ddl.create_schema, "42P06", || {
            Error::SchemaConflict {
                schema: schema.clone(),
            }
        })
        .await?;
        create_or_conflict(connection, &ddl.create_role, "42710", || {
            Error::RoleConflict {
                role: schema.clone(),
            }
        })
        .await?;
        execute_ddl(
            connection,
            &format!(
                "COMMENT ON SCHEMA {} IS {}",
                quote_ident(&schema),
                quote_literal(&schema_comment(id))
            ),
        )
        .await?;
        for step in ddl.table_steps() {
            execute_ddl(connection, step).await?;
        }
        for step in self
            .parent_foreign_key_ddl(connection, &schema, &tables, None)
            .await?
        {
            execute_ddl(connection, &step).await?;
        }
        tracing::info!(tenant = id, schema, "schema tenant onboarded");
        Ok((Some(schema), Vec::new()))
    }

    /// Gives an onboarded schema tenant the model's tables its schema
    /// lacks (a table added to the model since), with their keys, security
    /// and grants. Returns their qualified names.
    pub(super) async fn add_missing_schema_tables(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
    ) -> Result<Vec<String>, Error> {
        let schema = tenant_schema_name(suffix);
        let tables = self.schema_tenant_tables(connection).await?;
        let mut missing = Vec::new();
        for table in &tables {
            let name = schema_table_name(&schema, table);
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(&name)
                .fetch_one(&mut *connection)
                .await?;
            if !exists {
                missing.push(table.clone());
            }
        }
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let ddl = self
            .schema_tenant_ddl(connection, &missing, id, suffix)
            .await?;
        // The new tables' keys may point at tables the schema has: those
        // are in `ddl.foreign_keys` too, named in the same schema.
        for step in ddl.table_steps() {
            execute_ddl(connection, step).await?;
        }
        for step in self
            .parent_foreign_key_ddl(connection, &schema, &tables, Some(&missing))
            .await?
        {
            execute_ddl(connection, &step).await?;
        }
        let names: Vec<String> = missing
            .iter()
            .map(|table| schema_table_name(&schema, table))
            .collect();
        tracing::info!(tenant = id, tables = ?names, "schema tenant given new tables");
        Ok(names)
    }

    /// Offboards the schema tenant `id` in one transaction (under the
    /// offboarding's session lock): its schema renamed to the archive name
    /// and out of the application role's reach ([`Offboard::Keep`]) or
    /// dropped ([`Offboard::Drop`]), and its role dropped. Safe to run
    /// again: what is gone already is skipped. A schema of the tenant's
    /// name that is not its own is [`Error::SchemaConflict`].
    pub(super) async fn remove_schema_tenant(
        &self,
        connection: &mut PgConnection,
        id: &str,
        suffix: &str,
        mode: Offboard,
    ) -> Result<(), Error> {
        let schema = tenant_schema_name(suffix);
        let archive = archive_schema_name(suffix);
        let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
        match schema_comment_of(&mut transaction, &schema).await? {
            Some(Some(comment)) if comment == schema_comment(id) => {
                let quoted = quote_ident(&schema);
                match mode {
                    Offboard::Keep => {
                        let archived = quote_ident(&archive);
                        execute_ddl(
                            &mut transaction,
                            &format!("ALTER SCHEMA {quoted} RENAME TO {archived}"),
                        )
                        .await?;
                        execute_ddl(
                            &mut transaction,
                            &format!(
                                "COMMENT ON SCHEMA {archived} IS {}",
                                quote_literal(&archive_comment(id))
                            ),
                        )
                        .await?;
                        if let Some(app_role) = self.recorded_app_role(&mut transaction).await? {
                            let app_role = quote_ident(&app_role);
                            for statement in [
                                format!("REVOKE ALL ON ALL TABLES IN SCHEMA {archived} FROM {app_role}"),
                                format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {archived} FROM {app_role}"),
                                format!("REVOKE ALL ON SCHEMA {archived} FROM {app_role}"),
                            ] {
                                execute_ddl(&mut transaction, &statement).await?;
                            }
                        }
                    }
                    Offboard::Drop => {
                        execute_ddl(&mut transaction, &format!("DROP SCHEMA {quoted} CASCADE"))
                            .await?;
                    }
                }
            }
            Some(_) => return Err(Error::SchemaConflict { schema }),
            None => tracing::info!(tenant = id, schema, "schema already offboarded"),
        }
        if role_exists(&mut transaction, &schema).await? {
            let role = quote_ident(&schema);
            // Its privileges (on its schema or the archive) go first.
            execute_ddl(&mut transaction, &format!("DROP OWNED BY {role}")).await?;
            execute_ddl(&mut transaction, &format!("DROP ROLE {role}")).await?;
        }
        transaction.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tenant_core::schema::ColumnDef;
    use tenant_core::Config;

    use super::*;

    fn table(schema: Option<&str>, name: &str) -> TableSchema {
        let column = |name: &str| ColumnDef {
            name: name.into(),
            sql_type: "text".into(),
            nullable: false,
            default: None,
            generated: None,
        };
        TableSchema {
            schema: schema.map(Into::into),
            name: name.into(),
            tenant_column: "tenant_id".into(),
            columns: vec![column("tenant_id"), column("id")],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            row_level_security: false,
        }
    }

    #[test]
    fn schema_layout_needs_distinct_table_names_and_no_citus() {
        let plain = Tenancy::builder(Config::default())
            .schema(table(None, "forms"))
            .schema(table(Some("archive"), "notes"))
            .build()
            .unwrap();
        assert!(plain.check_schema_layout().is_ok());
        let twins = Tenancy::builder(Config::default())
            .schema(table(None, "forms"))
            .schema(table(Some("archive"), "forms"))
            .build()
            .unwrap();
        let err = twins.check_schema_layout().unwrap_err().to_string();
        assert!(
            err.contains("public.forms") && err.contains("archive.forms"),
            "{err}"
        );
        let citus = Tenancy::builder(Config::default())
            .schema(table(None, "forms"))
            .citus(true)
            .build()
            .unwrap();
        let err = citus.check_schema_layout().unwrap_err().to_string();
        assert!(err.contains("Citus mode"), "{err}");
        let shadowing =
            Tenancy::builder(Config::from_toml_str("global_tables = [\"plans\"]").unwrap())
                .schema(table(Some("archive"), "plans"))
                .build()
                .unwrap();
        let err = shadowing.check_schema_layout().unwrap_err().to_string();
        assert!(
            err.contains("shadow the global table public.plans"),
            "{err}"
        );
    }
}
