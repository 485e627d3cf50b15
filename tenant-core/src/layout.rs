//! Where a tenant's rows live: its **layout**.
//!
//! - [`Layout::Partition`]: one partition per tenant of every
//!   LIST-partitioned parent (the default, see [`crate::schema`]).
//! - [`Layout::Schema`]: a schema of its own per tenant, holding every
//!   model table as a plain table with the same name, keys and indexes,
//!   and a role of its own (NOLOGIN) that may use only that schema.
//!
//! Both layouts keep the tenant column and its predicate: the checked SQL is
//! the same, and the runtime only renders it on other tables (the
//! partition `public.forms_t7_k3x9q2`, or the schema tenant's
//! `tenant_t7_k3x9q2.forms`). A schema tenant's table also carries a CHECK
//! that its tenant column holds the tenant's id, so a row of another tenant
//! cannot be written into it whatever the SQL.
//!
//! Names come from the registry's partition suffix (`t<number>_<tag>`),
//! never from the tenant id: `tenant_t7_k3x9q2` for both the schema and the
//! role. The tag is the registry's random tag, so two registries on one
//! server (roles are server-wide) do not hand out the same names.
//!
//! ```
//! use tenant_core::layout::{is_tenant_schema_name, tenant_schema_name, Layout};
//!
//! assert_eq!(tenant_schema_name("t7_k3x9q2"), "tenant_t7_k3x9q2");
//! assert!(is_tenant_schema_name("tenant_t7_k3x9q2"));
//! assert!(is_tenant_schema_name("tenant_t7_k3x9q2_archive"));
//! assert!(!is_tenant_schema_name("tenant_data"));
//! assert_eq!("schema".parse::<Layout>().unwrap(), Layout::Schema);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::schema::{column_list, qualified_name, quote_ident, quote_literal, TableSchema};

/// Where a tenant's rows live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// A partition of every parent (the default).
    #[default]
    Partition,
    /// A schema and a role of its own, with plain tables.
    Schema,
}

impl Layout {
    /// Both layouts, in the registry's order.
    pub const ALL: [Layout; 2] = [Layout::Partition, Layout::Schema];

    /// The registry's and the configuration's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Partition => "partition",
            Layout::Schema => "schema",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layout name that is neither `partition` nor `schema`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layout {0:?}: expected \"partition\" or \"schema\"")]
pub struct UnknownLayout(pub String);

impl FromStr for Layout {
    type Err = UnknownLayout;

    fn from_str(text: &str) -> Result<Layout, UnknownLayout> {
        match text {
            "partition" => Ok(Layout::Partition),
            "schema" => Ok(Layout::Schema),
            other => Err(UnknownLayout(other.to_string())),
        }
    }
}

/// What every tenant schema's name starts with.
pub const TENANT_SCHEMA_PREFIX: &str = "tenant_";

/// What an offboarded schema tenant's kept schema is renamed to end with.
pub const ARCHIVE_TAIL: &str = "_archive";

/// The name of the CHECK that keeps a schema tenant's tables to its id.
pub const TENANT_CHECK_NAME: &str = "tenancy_tenant";

/// The schema, and the role, of the schema tenant with partition suffix
/// `suffix` (unquoted).
pub fn tenant_schema_name(suffix: &str) -> String {
    format!("{TENANT_SCHEMA_PREFIX}{suffix}")
}

/// The name a kept schema tenant's schema is renamed to on offboarding.
pub fn archive_schema_name(suffix: &str) -> String {
    format!("{}{ARCHIVE_TAIL}", tenant_schema_name(suffix))
}

/// True for a name of the shape of [`tenant_schema_name`] or
/// [`archive_schema_name`] (`tenant_t<digits>_<6 of [a-z0-9]>`, then
/// optionally `_archive`), whichever registry made it: some tenant's private
/// schema, which no checked statement names (the runtime renders the
/// tenant's tables itself).
pub fn is_tenant_schema_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TENANT_SCHEMA_PREFIX) else {
        return false;
    };
    let rest = rest.strip_suffix(ARCHIVE_TAIL).unwrap_or(rest);
    let Some(rest) = rest.strip_prefix('t') else {
        return false;
    };
    let Some((number, tag)) = rest.split_once('_') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && tag.len() == 6
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The group role every schema tenant's role of the registry tagged `tag`
/// is a member of: grant it what every tenant may use besides its own
/// schema (global tables, the registry's `current_tenant()`).
pub fn tenants_role_name(tag: &str) -> String {
    format!("tenants_{tag}")
}

/// The quoted, qualified name of `table` in the tenant schema `schema`.
pub fn schema_table_name(schema: &str, table: &TableSchema) -> String {
    qualified_name(Some(schema), &table.name)
}

/// The quoted, qualified name of the table holding the rows of `table` for
/// the tenant with suffix `suffix` in `layout`: its partition, or its
/// schema's table.
pub fn tenant_table_name(table: &TableSchema, suffix: &str, layout: Layout) -> String {
    match layout {
        Layout::Partition => table.qualified_partition_name(suffix),
        Layout::Schema => schema_table_name(&tenant_schema_name(suffix), table),
    }
}

/// The statements that give one tenant its schema layout, in the order they
/// must run (in one transaction): the schema and the role, every table
/// (columns, keys, indexes, the CHECK on the tenant column, a comment that
/// names the tenant), the foreign keys between them, row-level security
/// where asked, and the grants. Pure: the runtime runs them and maps
/// PostgreSQL's errors (a schema or role of that name already there is not
/// reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTenantDdl {
    /// The schema (unquoted); the role has the same name.
    pub schema: String,
    /// `CREATE SCHEMA ..`.
    pub create_schema: String,
    /// `CREATE ROLE .. NOLOGIN ..`, a member of the tenants' group role.
    pub create_role: String,
    /// Every table and index, referenced tables first.
    pub tables: Vec<String>,
    /// The foreign keys between the tenant's tables (after every table, so
    /// cycles need no order).
    pub foreign_keys: Vec<String>,
    /// Row-level security on the tables that ask for it.
    pub row_level_security: Vec<String>,
    /// Privileges: the tenant role's (its schema, its tables and sequences),
    /// the application role's, and the application role's membership in
    /// the tenant role (so it may `SET ROLE` to it).
    pub grants: Vec<String>,
}

/// What [`SchemaTenantDdl::new`] needs besides the tables.
#[derive(Debug, Clone, Copy)]
pub struct SchemaTenantOptions<'a> {
    /// The registry's partition suffix of the tenant.
    pub suffix: &'a str,
    /// The tenant id (the value of every tenant column).
    pub id: &'a str,
    /// The group role of the registry's tenant roles ([`tenants_role_name`]).
    pub tenants_role: &'a str,
    /// The application role, granted the tables and membership in the
    /// tenant role; `None` when the application connects as the owner.
    pub app_role: Option<&'a str>,
    /// The policy's tenant function (`tenancy.current_tenant()`) when the
    /// tenancy has row-level security; tables with their own
    /// `row_level_security` get it too.
    pub tenant_function: &'a str,
    /// Row-level security on every table (the tenancy's setting).
    pub row_level_security: bool,
}

impl SchemaTenantDdl {
    /// The statements for `tables` (any order: they are sorted by their
    /// foreign keys here).
    pub fn new(tables: &[TableSchema], options: SchemaTenantOptions<'_>) -> SchemaTenantDdl {
        let schema = tenant_schema_name(options.suffix);
        let quoted_schema = quote_ident(&schema);
        let role = quote_ident(&schema);
        let mut statements = Vec::new();
        let mut foreign_keys = Vec::new();
        let mut row_level_security = Vec::new();
        for table in crate::schema::sort_by_dependencies(tables) {
            let name = schema_table_name(&schema, table);
            let tenant = quote_ident(&table.tenant_column);
            let mut items = table.definition_items();
            items.push(format!(
                "CONSTRAINT {} CHECK ({tenant} = {})",
                quote_ident(TENANT_CHECK_NAME),
                quote_literal(options.id)
            ));
            statements.push(format!(
                "CREATE TABLE {name} (\n    {}\n)",
                items.join(",\n    ")
            ));
            statements.extend(table.index_ddl(&name));
            statements.push(format!(
                "COMMENT ON TABLE {name} IS {}",
                quote_literal(&format!("tenancy schema table of tenant {}", options.id))
            ));
            foreign_keys.extend(table.foreign_keys.iter().map(|fk| {
                format!(
                    "ALTER TABLE {name} ADD FOREIGN KEY ({}) REFERENCES {} ({})",
                    column_list(&table.tenant_column, &fk.columns),
                    qualified_name(Some(&schema), &fk.ref_table),
                    column_list(&table.tenant_column, &fk.ref_columns),
                )
            }));
            if options.row_level_security || table.row_level_security {
                row_level_security.extend(table.rls_statements(&name, options.tenant_function));
            }
        }
        let mut grants = vec![
            format!("REVOKE ALL ON SCHEMA {quoted_schema} FROM PUBLIC"),
            format!("GRANT USAGE ON SCHEMA {quoted_schema} TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted_schema} TO {role}"
            ),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {role}"),
        ];
        // The onboarding role may then `SET ROLE` to it too (an owner that
        // is not superuser is not a member of the roles it creates).
        grants.push(format!("GRANT {role} TO CURRENT_USER"));
        if let Some(app_role) = options.app_role {
            let app_role = quote_ident(app_role);
            grants.extend([
                format!("GRANT USAGE ON SCHEMA {quoted_schema} TO {app_role}"),
                format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted_schema} TO {app_role}"
                ),
                format!(
                    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {app_role}"
                ),
                format!("GRANT {role} TO {app_role}"),
            ]);
        }
        SchemaTenantDdl {
            create_schema: format!("CREATE SCHEMA {quoted_schema}"),
            create_role: format!(
                "CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
                 NOBYPASSRLS INHERIT IN ROLE {}",
                quote_ident(options.tenants_role)
            ),
            schema,
            tables: statements,
            foreign_keys,
            row_level_security,
            grants,
        }
    }

    /// Every statement after the schema and the role, in order.
    pub fn table_steps(&self) -> impl Iterator<Item = &str> {
        self.tables
            .iter()
            .chain(&self.foreign_keys)
            .chain(&self.row_level_security)
            .chain(&self.grants)
            .map(String::as_str)
    }
}

/// The `search_path` of a schema tenant's transaction: its schema, then
/// `public` (global tables and the application's functions), as the value
/// `set_config('search_path', .., true)` takes (quoted identifiers).
/// `pg_temp` is not listed, so PostgreSQL searches it first for tables:
/// the runtime's own SQL names the tenant's tables with their schema.
pub fn schema_search_path(schema: &str) -> String {
    format!("{}, public", quote_ident(schema))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnDef, ForeignKey, Generated};

    fn tables() -> Vec<TableSchema> {
        let forms = TableSchema {
            schema: None,
            name: "forms".into(),
            tenant_column: "tenant_id".into(),
            columns: vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef {
                    generated: Some(Generated::IdentityByDefault),
                    ..ColumnDef::new("id", "bigint")
                },
                ColumnDef::new("title", "text"),
            ],
            primary_key: vec!["id".into()],
            unique: vec![vec!["title".into()]],
            indexes: vec![vec!["title".into()]],
            foreign_keys: vec![],
            row_level_security: false,
        };
        let submissions = TableSchema {
            name: "form_submissions".into(),
            columns: vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef::new("id", "bigint"),
                ColumnDef::new("form_id", "bigint"),
            ],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![ForeignKey {
                columns: vec!["form_id".into()],
                ref_table: "forms".into(),
                ref_columns: vec!["id".into()],
            }],
            ..forms.clone()
        };
        // Referencing table first: the DDL sorts.
        vec![submissions, forms]
    }

    fn options<'a>(app_role: Option<&'a str>, rls: bool) -> SchemaTenantOptions<'a> {
        SchemaTenantOptions {
            suffix: "t7_k3x9q2",
            id: "o'hara",
            tenants_role: "tenants_k3x9q2",
            app_role,
            tenant_function: "tenancy.current_tenant()",
            row_level_security: rls,
        }
    }

    #[test]
    fn names_follow_the_suffix_and_only_that_shape_is_a_tenant_schema() {
        assert_eq!(archive_schema_name("t7_k3x9q2"), "tenant_t7_k3x9q2_archive");
        for name in ["tenant_t1_abc123", "tenant_t99999_zzzzzz_archive"] {
            assert!(is_tenant_schema_name(name), "{name}");
        }
        for name in [
            "tenant_",
            "tenant_t_abc123",
            "tenant_tx_abc123",
            "tenant_t1_ABC123",
            "tenant_t1_abc12",
            "tenant_t1_abc1234",
            "tenant_t1_abc123_old",
            "tenants_abc123",
            "public",
        ] {
            assert!(!is_tenant_schema_name(name), "{name}");
        }
        assert!(is_tenant_schema_name(&tenant_schema_name("t12_a1b2c3")));
    }

    #[test]
    fn tables_are_plain_with_keys_checks_and_their_own_identity() {
        let ddl = SchemaTenantDdl::new(&tables(), options(None, false));
        assert_eq!(ddl.schema, "tenant_t7_k3x9q2");
        assert_eq!(ddl.create_schema, "CREATE SCHEMA tenant_t7_k3x9q2");
        assert!(ddl
            .create_role
            .starts_with("CREATE ROLE tenant_t7_k3x9q2 NOLOGIN"));
        assert!(ddl.create_role.contains("NOBYPASSRLS"));
        assert!(ddl.create_role.ends_with("IN ROLE tenants_k3x9q2"));
        // Referenced table first, not partitioned, identity kept, the id
        // quoted as a literal.
        assert!(ddl.tables[0].starts_with("CREATE TABLE tenant_t7_k3x9q2.forms ("));
        assert!(!ddl.tables[0].contains("PARTITION BY"));
        assert!(ddl.tables[0].contains("id bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY"));
        assert!(ddl.tables[0].contains("PRIMARY KEY (tenant_id, id)"));
        assert!(ddl.tables[0].contains("CONSTRAINT tenancy_tenant CHECK (tenant_id = 'o''hara')"));
        assert!(ddl.tables[1].starts_with("CREATE INDEX IF NOT EXISTS"));
        assert!(ddl.tables[1].ends_with("ON tenant_t7_k3x9q2.forms (tenant_id, title)"));
        assert_eq!(
            ddl.foreign_keys,
            vec!["ALTER TABLE tenant_t7_k3x9q2.form_submissions ADD FOREIGN KEY (tenant_id, form_id) \
                  REFERENCES tenant_t7_k3x9q2.forms (tenant_id, id)"]
        );
        assert!(ddl.row_level_security.is_empty());
        assert!(ddl.grants.last().unwrap() == "GRANT tenant_t7_k3x9q2 TO CURRENT_USER");
    }

    #[test]
    fn the_application_role_is_granted_the_tables_and_the_tenant_role() {
        let ddl = SchemaTenantDdl::new(&tables(), options(Some("App"), true));
        assert!(ddl
            .grants
            .contains(&"GRANT tenant_t7_k3x9q2 TO \"App\"".to_string()));
        assert!(ddl.grants.contains(
            &"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tenant_t7_k3x9q2 TO tenant_t7_k3x9q2"
                .to_string()
        ));
        assert_eq!(
            ddl.row_level_security.len(),
            8,
            "{:?}",
            ddl.row_level_security
        );
        assert!(ddl.row_level_security[3].contains("(SELECT tenancy.current_tenant())"));
        assert_eq!(ddl.table_steps().count(), 5 + 1 + 8 + 9);
    }

    #[test]
    fn the_search_path_is_the_tenant_schema_then_public() {
        assert_eq!(
            schema_search_path("tenant_t7_k3x9q2"),
            "tenant_t7_k3x9q2, public"
        );
    }
}
