//! Citus mode: the same tenancy on a Citus cluster (a coordinator and
//! workers). Install distributes every tenant parent by its tenant column,
//! co-located with each other, and makes the global tables reference
//! tables; before any DDL it refuses what Citus cannot hold. Tenants are
//! isolated on a shard of their own and moved between workers by Citus's
//! own functions.
//!
//! The statements and the checks are pure functions of the tables and of
//! what the catalog says ([`distribution_ddl`], [`check_constraints`]), so
//! they are tested without a Citus server; only the functions that run them
//! need one.

use sqlx::{PgConnection, PgPool};
use tenant_core::schema::{qualified_name, quote_literal, TableSchema};
use tenant_core::Config;

use super::ddl::execute_ddl;
use super::Tenancy;
use crate::error::Error;

/// A relation of the database, by schema and name as the catalog spells
/// them (unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    pub schema: String,
    pub name: String,
}

impl Relation {
    fn new(schema: &str, name: &str) -> Relation {
        Relation {
            schema: schema.to_string(),
            name: name.to_string(),
        }
    }

    /// The quoted, qualified name.
    fn qualified(&self) -> String {
        qualified_name(Some(&self.schema), &self.name)
    }
}

/// A primary key, unique constraint or foreign key, as the catalog (or the
/// tenancy's model) has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Constraint {
    pub table: Relation,
    pub name: String,
    pub columns: Vec<String>,
    /// For a foreign key: the referenced table and columns.
    pub references: Option<(Relation, Vec<String>)>,
}

/// What install makes of a table in Citus mode.
enum Role<'a> {
    /// A tenant parent, distributed by this column.
    Distributed(&'a str),
    /// A global table: a reference table (a copy on every node).
    Reference,
    /// Neither: stays a local table of the coordinator.
    Local,
}

/// The global tables of `config` as relations (an unqualified name is in
/// `public`). System relations listed there stay what they are.
pub(crate) fn global_relations(config: &Config) -> Vec<Relation> {
    config
        .global_tables
        .iter()
        .map(|name| match name.split_once('.') {
            Some((schema, name)) => Relation::new(schema, name),
            None => Relation::new("public", name),
        })
        .filter(|relation| {
            !matches!(
                relation.schema.as_str(),
                "pg_catalog" | "information_schema"
            )
        })
        .collect()
}

fn role<'a>(tables: &'a [TableSchema], globals: &[Relation], relation: &Relation) -> Role<'a> {
    if let Some(table) = tables
        .iter()
        .find(|t| t.schema_or_default() == relation.schema && t.name == relation.name)
    {
        return Role::Distributed(&table.tenant_column);
    }
    if globals.contains(relation) {
        Role::Reference
    } else {
        Role::Local
    }
}

/// The statements that make the tenancy's tables Citus tables, in order:
/// reference tables first (distributed tables may reference them), then
/// the tenant parents, referenced tables first, each co-located with the
/// first. Each statement is idempotent (it skips a table Citus already
/// holds, and a global table that does not exist) and names tables only
/// through quoted literals.
pub(crate) fn distribution_ddl(tables: &[TableSchema], globals: &[Relation]) -> Vec<String> {
    let mut statements = Vec::new();
    for global in globals {
        statements.push(format!(
            "SELECT create_reference_table(c.oid::regclass) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {} AND c.relname = {} AND c.relkind IN ('r', 'p') \
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid)",
            quote_literal(&global.schema),
            quote_literal(&global.name)
        ));
    }
    let first = tables.first().map(TableSchema::qualified_name);
    for (index, table) in tables.iter().enumerate() {
        // Citus takes the column as a name (not parsed), the co-location
        // partner as a qualified name (parsed, so quoted).
        let colocate = match (&first, index) {
            (Some(first), 1..) => quote_literal(first),
            _ => "'default'".to_string(),
        };
        statements.push(format!(
            "SELECT create_distributed_table(c.oid::regclass, {}, colocate_with => {colocate}) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {} AND c.relname = {} \
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid)",
            quote_literal(&table.tenant_column),
            quote_literal(table.schema_or_default()),
            quote_literal(&table.name)
        ));
    }
    statements
}

/// The constraints the tenancy's own model gives its parents (and their
/// partitions): every one carries the tenant column, so they pass
/// [`check_constraints`]; listed so that the check covers the model too.
pub(crate) fn model_constraints(tables: &[TableSchema]) -> Vec<Constraint> {
    let mut out = Vec::new();
    for table in tables {
        let relation = Relation::new(table.schema_or_default(), &table.name);
        let with_tenant = |columns: &[String]| {
            let mut all = vec![table.tenant_column.clone()];
            all.extend(
                columns
                    .iter()
                    .filter(|c| **c != table.tenant_column)
                    .cloned(),
            );
            all
        };
        if !table.primary_key.is_empty() {
            out.push(Constraint {
                table: relation.clone(),
                name: format!("{}_pkey", table.name),
                columns: with_tenant(&table.primary_key),
                references: None,
            });
        }
        for unique in &table.unique {
            out.push(Constraint {
                table: relation.clone(),
                name: format!("{}_{}_key", table.name, unique.join("_")),
                columns: with_tenant(unique),
                references: None,
            });
        }
        for key in &table.foreign_keys {
            let referenced = tables
                .iter()
                .find(|t| t.name == key.ref_table && t.schema == table.schema);
            let ref_tenant = referenced.map_or(&table.tenant_column, |t| &t.tenant_column);
            let mut ref_columns = vec![ref_tenant.clone()];
            ref_columns.extend(key.ref_columns.iter().filter(|c| *c != ref_tenant).cloned());
            out.push(Constraint {
                table: relation.clone(),
                name: format!("{}_{}_fkey", table.name, key.columns.join("_")),
                columns: with_tenant(&key.columns),
                references: Some((
                    Relation::new(table.schema_or_default(), &key.ref_table),
                    ref_columns,
                )),
            });
        }
    }
    out
}

/// Refuses, naming the table and the constraint, the first constraint
/// Citus cannot hold once the tenant parents are distributed and the global
/// tables are reference tables:
///
/// - a primary key or unique constraint of a tenant parent without its
///   tenant column (Citus enforces uniqueness per shard only);
/// - a foreign key between tenant parents that does not pair the two tenant
///   columns (the rows it joins could sit on different nodes);
/// - a foreign key from a tenant parent to a table that is neither a tenant
///   table nor a global one (a local table of the coordinator);
/// - a foreign key from a global (reference) table, or from a local table,
///   to a tenant parent (a reference table is copied to every node, the
///   rows it would point at are on one).
pub(crate) fn check_constraints(
    tables: &[TableSchema],
    globals: &[Relation],
    constraints: &[Constraint],
) -> Result<(), Error> {
    for constraint in constraints {
        let refuse = |reason: String| Error::CitusUnsupported {
            table: constraint.table.qualified(),
            constraint: constraint.name.clone(),
            reason,
        };
        let own = role(tables, globals, &constraint.table);
        match (&constraint.references, &own) {
            (None, Role::Distributed(tenant)) => {
                if !constraint.columns.iter().any(|c| c == tenant) {
                    return Err(refuse(format!(
                        "the primary key or unique constraint ({}) leaves out the tenant column {tenant}, and Citus enforces uniqueness only within a shard; add {tenant} to it",
                        constraint.columns.join(", ")
                    )));
                }
            }
            (None, _) => {}
            (Some((referenced, ref_columns)), _) => {
                let target = role(tables, globals, referenced);
                match (&own, target) {
                    (Role::Distributed(tenant), Role::Distributed(ref_tenant)) => {
                        let paired = constraint
                            .columns
                            .iter()
                            .zip(ref_columns)
                            .any(|(from, to)| from == tenant && to == ref_tenant);
                        if !paired {
                            return Err(refuse(format!(
                                "the foreign key ({}) -> {} ({}) does not pair the tenant columns {tenant} and {ref_tenant}, and Citus only holds foreign keys between distributed tables that include the distribution column; add them to the key",
                                constraint.columns.join(", "),
                                referenced.qualified(),
                                ref_columns.join(", ")
                            )));
                        }
                    }
                    (Role::Distributed(_), Role::Reference) => {}
                    (Role::Distributed(_), Role::Local) => {
                        return Err(refuse(format!(
                            "the foreign key references {}, which is neither a tenant table nor a global table, and a distributed table cannot reference a local table of the coordinator; list it in global_tables (it becomes a reference table)",
                            referenced.qualified()
                        )));
                    }
                    (Role::Reference, Role::Distributed(_)) => {
                        return Err(refuse(format!(
                            "the global table references the tenant table {}, and Citus cannot hold a foreign key from a reference table (a copy on every node) to a distributed table; drop the key or make the table a tenant table",
                            referenced.qualified()
                        )));
                    }
                    (Role::Local, Role::Distributed(_)) => {
                        return Err(refuse(format!(
                            "the table references the tenant table {}, and Citus cannot hold a foreign key from a local table to a distributed table; make it a tenant table, or drop the key",
                            referenced.qualified()
                        )));
                    }
                    (Role::Reference, Role::Local) => {
                        return Err(refuse(format!(
                            "the global table references {}, which is not a global table, and a reference table can only reference reference tables; list it in global_tables too",
                            referenced.qualified()
                        )));
                    }
                    (Role::Reference, Role::Reference) | (Role::Local, _) => {}
                }
            }
        }
    }
    Ok(())
}

/// How [`Tenancy::isolate`] and [`Tenancy::move_tenant`] copy the shards
/// (Citus's `shard_transfer_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardTransferMode {
    /// Logical replication when every table has a replica identity (a
    /// primary key), else blocking writes (Citus's default).
    #[default]
    Auto,
    /// Logical replication: writes go on during the copy; needs
    /// `wal_level = logical` on the workers.
    ForceLogical,
    /// Blocks writes to the shards while they are copied.
    BlockWrites,
}

impl ShardTransferMode {
    /// Citus's name of the mode.
    pub fn as_sql(self) -> &'static str {
        match self {
            ShardTransferMode::Auto => "auto",
            ShardTransferMode::ForceLogical => "force_logical",
            ShardTransferMode::BlockWrites => "block_writes",
        }
    }
}

/// Where a tenant's rows live on a Citus cluster: the shard of the first
/// tenant parent that holds the tenant (its co-located shards, one per
/// tenant table and partition, are on the same node) and that node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPlacement {
    /// The shard id of the first tenant parent's shard for the tenant.
    pub shard_id: i64,
    /// The worker's host name as Citus knows it (`pg_dist_node`).
    pub node_name: String,
    /// The worker's port.
    pub node_port: i32,
}

/// Isolates one tenant value on new shards of every co-located table; binds
/// the table, the value and the mode (`$1`, `$2`, `$3`).
pub(crate) const ISOLATE_SQL: &str = "SELECT isolate_tenant_to_new_shard(($1::text)::regclass, $2::text, 'CASCADE', shard_transfer_mode => ($3::text)::citus.shard_transfer_mode)";

/// The shard of a table holding one tenant value, and where it is placed.
pub(crate) const PLACEMENT_SQL: &str = "SELECT p.shardid, p.nodename::text, p.nodeport::int4 \
     FROM pg_dist_shard_placement p \
     WHERE p.shardid = get_shard_id_for_distribution_column(($1::text)::regclass, $2::text) \
     ORDER BY p.placementid LIMIT 1";

/// Moves a shard (and its co-located shards) from one node to another.
pub(crate) const MOVE_SQL: &str = "SELECT citus_move_shard_placement($1::int8, $2::text, $3::int4, $4::text, $5::int4, shard_transfer_mode => ($6::text)::citus.shard_transfer_mode)";

/// A row of [`read_constraints`]'s query: schema, table, constraint,
/// columns, referenced schema, table and columns.
type ConstraintRow = (
    String,
    String,
    String,
    Vec<String>,
    Option<String>,
    Option<String>,
    Vec<String>,
);

/// Reads the primary keys, unique constraints and foreign keys of the given
/// relations and the foreign keys that reference them (not those of
/// partitions, which copy their parent's).
async fn read_constraints(
    connection: &mut PgConnection,
    relations: &[Relation],
) -> Result<Vec<Constraint>, sqlx::Error> {
    let schemas: Vec<&str> = relations.iter().map(|r| r.schema.as_str()).collect();
    let names: Vec<&str> = relations.iter().map(|r| r.name.as_str()).collect();
    let rows: Vec<ConstraintRow> =
        sqlx::query_as(
            "WITH wanted AS (SELECT c.oid FROM unnest($1::text[], $2::text[]) w(s, n) \
               JOIN pg_namespace ns ON ns.nspname = w.s \
               JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = w.n) \
             SELECT n.nspname::text, c.relname::text, con.conname::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord), \
               rn.nspname::text, r.relname::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) \
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord) \
             FROM pg_constraint con \
             JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_class r ON r.oid = con.confrelid \
             LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace \
             WHERE con.contype IN ('p', 'u', 'f') AND NOT c.relispartition \
               AND (con.conrelid IN (SELECT oid FROM wanted) OR con.confrelid IN (SELECT oid FROM wanted)) \
             ORDER BY n.nspname, c.relname, con.conname",
        )
        .bind(&schemas)
        .bind(&names)
        .fetch_all(&mut *connection)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(schema, table, name, columns, ref_schema, ref_table, ref_columns)| Constraint {
                table: Relation {
                    schema,
                    name: table,
                },
                name,
                columns,
                references: ref_schema
                    .zip(ref_table)
                    .map(|(schema, name)| (Relation { schema, name }, ref_columns)),
            },
        )
        .collect())
}

impl Tenancy {
    /// Whether this tenancy runs on a Citus cluster (see
    /// [`TenancyBuilder::citus`](super::builder::TenancyBuilder::citus)).
    pub fn citus(&self) -> bool {
        self.inner.citus
    }

    /// The statements Citus mode runs after [`install_ddl`](Self::install_ddl)'s:
    /// `create_reference_table` for each global table, then
    /// `create_distributed_table` for each tenant parent by its tenant
    /// column, co-located with the first. Each skips a table Citus already
    /// holds. Empty unless the tenancy is in Citus mode.
    pub fn citus_ddl(&self) -> Vec<String> {
        if !self.inner.citus {
            return Vec::new();
        }
        distribution_ddl(&self.inner.tables, &global_relations(&self.inner.config))
    }

    /// Checks, without changing anything, that the database can take Citus
    /// mode: the `citus` extension is installed
    /// ([`Error::CitusNotInstalled`] otherwise), and no constraint of the
    /// tenant parents, the global tables or the tables referencing them is
    /// one Citus cannot hold ([`Error::CitusUnsupported`], naming the table
    /// and the constraint). [`install`](Self::install) runs it first in
    /// Citus mode.
    pub async fn check_citus(&self, pool: &PgPool) -> Result<(), Error> {
        let mut connection = pool.acquire().await?;
        let installed: Option<String> =
            sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
                .fetch_optional(&mut *connection)
                .await?;
        if installed.is_none() {
            let database: String = sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(&mut *connection)
                .await?;
            return Err(Error::CitusNotInstalled { database });
        }
        let globals = global_relations(&self.inner.config);
        let mut relations: Vec<Relation> = self
            .inner
            .tables
            .iter()
            .map(|t| Relation::new(t.schema_or_default(), &t.name))
            .collect();
        relations.extend(globals.iter().cloned());
        let mut constraints = model_constraints(&self.inner.tables);
        constraints.extend(read_constraints(&mut connection, &relations).await?);
        check_constraints(&self.inner.tables, &globals, &constraints)
    }

    /// Runs [`citus_ddl`](Self::citus_ddl), one statement at a time (a
    /// distribution copies a table's rows to the workers and commits on
    /// its own).
    pub(super) async fn distribute(&self, pool: &PgPool) -> Result<(), Error> {
        let mut connection = pool.acquire().await?;
        for statement in self.citus_ddl() {
            execute_ddl(&mut connection, &statement).await?;
        }
        Ok(())
    }

    /// The first tenant parent, the table Citus's tenant functions are
    /// called on (the others are co-located with it).
    fn citus_anchor(&self) -> Result<String, Error> {
        if !self.inner.citus {
            return Err(Error::Schema(
                "this operation needs Citus mode (TenancyBuilder::citus or `citus = true` in tenancy.toml)".into(),
            ));
        }
        self.inner
            .tables
            .first()
            .map(TableSchema::qualified_name)
            .ok_or_else(|| Error::Schema("the tenancy has no tenant tables".into()))
    }

    /// Puts tenant `id` on shards of its own (Citus's
    /// `isolate_tenant_to_new_shard`, CASCADE: every co-located tenant table
    /// and partition), so that [`move_tenant`](Self::move_tenant) can move
    /// it alone. Returns the new shard id of the first tenant parent.
    ///
    /// Citus splits the shard group that holds the tenant: one shard per
    /// co-located table (every tenant parent and every partition), copied
    /// with `mode`; with [`ShardTransferMode::ForceLogical`] (and with
    /// `Auto` when every table has a primary key) writes go on during the
    /// copy, which needs `wal_level = logical` on the workers. Handles from
    /// [`tenant`](Self::tenant) stay valid: they name the tenant's
    /// partitions, which Citus keeps.
    pub async fn isolate(
        &self,
        pool: &PgPool,
        id: &str,
        mode: ShardTransferMode,
    ) -> Result<i64, Error> {
        let anchor = self.citus_anchor()?;
        let tenant = self.tenant(pool, id).await?;
        let shard: i64 = sqlx::query_scalar(ISOLATE_SQL)
            .bind(&anchor)
            .bind(tenant.id())
            .bind(mode.as_sql())
            .fetch_one(pool)
            .await?;
        tracing::info!(tenant = tenant.id(), shard, "tenant isolated");
        Ok(shard)
    }

    /// Where tenant `id`'s rows are: its shard of the first tenant parent
    /// and the node that holds it (Citus's metadata).
    pub async fn placement(&self, pool: &PgPool, id: &str) -> Result<TenantPlacement, Error> {
        let anchor = self.citus_anchor()?;
        let tenant = self.tenant(pool, id).await?;
        let (shard_id, node_name, node_port): (i64, String, i32) = sqlx::query_as(PLACEMENT_SQL)
            .bind(&anchor)
            .bind(tenant.id())
            .fetch_one(pool)
            .await?;
        Ok(TenantPlacement {
            shard_id,
            node_name,
            node_port,
        })
    }

    /// Moves tenant `id`'s shards (and every shard co-located with them) to
    /// the worker `node_name:node_port` (Citus's
    /// `citus_move_shard_placement`). Isolate the tenant first, or its
    /// shard's other tenants move with it. Nothing to do when the tenant
    /// is there already. Handles stay valid.
    pub async fn move_tenant(
        &self,
        pool: &PgPool,
        id: &str,
        node_name: &str,
        node_port: i32,
        mode: ShardTransferMode,
    ) -> Result<TenantPlacement, Error> {
        let from = self.placement(pool, id).await?;
        if from.node_name == node_name && from.node_port == node_port {
            return Ok(from);
        }
        sqlx::query(MOVE_SQL)
            .bind(from.shard_id)
            .bind(&from.node_name)
            .bind(from.node_port)
            .bind(node_name)
            .bind(node_port)
            .bind(mode.as_sql())
            .execute(pool)
            .await?;
        tracing::info!(
            tenant = id,
            shard = from.shard_id,
            node_name,
            node_port,
            "tenant moved"
        );
        self.placement(pool, id).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use tenant_core::schema::{ColumnDef, ForeignKey};

    use super::*;

    /// Compares `actual` with the golden file `name` under
    /// `tests/golden/citus/`; `TENANT_BLESS=1` rewrites the file instead.
    fn golden(name: &str, actual: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/citus")
            .join(name);
        if std::env::var_os("TENANT_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (TENANT_BLESS=1 writes it)", path.display()));
        assert_eq!(
            expected,
            actual,
            "{} differs (TENANT_BLESS=1 rewrites it)",
            path.display()
        );
    }

    fn table(name: &str, keys: Vec<ForeignKey>) -> TableSchema {
        TableSchema {
            schema: None,
            name: name.into(),
            tenant_column: "tenant_id".into(),
            columns: vec![
                ColumnDef::new("tenant_id", "text"),
                ColumnDef::new("id", "bigint"),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: keys,
            row_level_security: false,
        }
    }

    /// forms, and "Submissions" (quoted name, its own tenant column)
    /// referencing it.
    fn tables() -> Vec<TableSchema> {
        let mut submissions = table(
            "Submissions",
            vec![ForeignKey {
                columns: vec!["form_id".into()],
                ref_table: "forms".into(),
                ref_columns: vec!["id".into()],
            }],
        );
        submissions.tenant_column = "tenantId".into();
        submissions.columns[0] = ColumnDef::new("tenantId", "text");
        submissions
            .columns
            .push(ColumnDef::new("form_id", "bigint"));
        vec![table("forms", vec![]), submissions]
    }

    fn globals() -> Vec<Relation> {
        let config = Config::from_toml_str(
            r#"global_tables = ["plans", "ref.countries", "pg_catalog.pg_class", "\"O'Brien\""]
citus = true
"#,
        )
        .unwrap();
        global_relations(&config)
    }

    #[test]
    fn the_distribution_ddl_is_reference_tables_then_co_located_parents() {
        let mut out = String::new();
        for statement in distribution_ddl(&tables(), &globals()) {
            out.push_str(&statement);
            out.push_str(";\n");
        }
        out.push_str("-- isolate\n");
        out.push_str(ISOLATE_SQL);
        out.push_str(";\n-- placement\n");
        out.push_str(PLACEMENT_SQL);
        out.push_str(";\n-- move\n");
        out.push_str(MOVE_SQL);
        out.push_str(";\n");
        golden("distribution.sql", &out);
    }

    #[test]
    fn system_relations_listed_as_global_stay_what_they_are() {
        let names: Vec<String> = globals().iter().map(Relation::qualified).collect();
        assert_eq!(
            names,
            ["public.\"O'Brien\"", "public.plans", "ref.countries"],
            "{names:?}"
        );
    }

    #[test]
    fn the_models_own_constraints_pass() {
        let constraints = model_constraints(&tables());
        assert_eq!(constraints.len(), 3, "{constraints:?}");
        check_constraints(&tables(), &globals(), &constraints).unwrap();
    }

    fn relation(name: &str) -> Relation {
        Relation::new("public", name)
    }

    /// One constraint per case: what the catalog could say, and why Citus
    /// cannot hold it (the golden file holds each refusal's message).
    #[test]
    fn what_citus_cannot_hold_is_refused_naming_table_and_constraint() {
        let unique = |table: &str, name: &str, columns: &[&str]| Constraint {
            table: relation(table),
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            references: None,
        };
        let key =
            |table: &str, name: &str, columns: &[&str], to: Relation, ref_columns: &[&str]| {
                Constraint {
                    table: relation(table),
                    name: name.into(),
                    columns: columns.iter().map(|c| c.to_string()).collect(),
                    references: Some((to, ref_columns.iter().map(|c| c.to_string()).collect())),
                }
            };
        let refused = [
            unique("forms", "forms_code_key", &["code"]),
            unique("Submissions", "Submissions_pkey", &["id"]),
            key(
                "Submissions",
                "submissions_form_fkey",
                &["form_id"],
                relation("forms"),
                &["id"],
            ),
            // Both tenant columns, but not paired with each other.
            key(
                "Submissions",
                "submissions_crossed_fkey",
                &["tenantId", "form_id"],
                relation("forms"),
                &["id", "tenant_id"],
            ),
            key(
                "forms",
                "forms_owner_fkey",
                &["tenant_id", "owner"],
                relation("users"),
                &["tenant_id", "id"],
            ),
            key(
                "plans",
                "plans_example_form_fkey",
                &["tenant_id", "form_id"],
                relation("forms"),
                &["tenant_id", "id"],
            ),
            key(
                "audit",
                "audit_form_fkey",
                &["tenant_id", "form_id"],
                relation("forms"),
                &["tenant_id", "id"],
            ),
            key(
                "plans",
                "plans_currency_fkey",
                &["currency"],
                relation("currencies"),
                &["code"],
            ),
        ];
        let mut out = String::new();
        for constraint in &refused {
            let error = check_constraints(&tables(), &globals(), std::slice::from_ref(constraint))
                .expect_err(&constraint.name);
            let Error::CitusUnsupported {
                constraint: name, ..
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!(name, &constraint.name);
            out.push_str(&error.to_string());
            out.push('\n');
        }
        golden("refusals.txt", &out);

        let accepted = [
            unique("forms", "forms_code_key", &["tenant_id", "code"]),
            unique("plans", "plans_pkey", &["id"]),
            unique("audit", "audit_pkey", &["id"]),
            key(
                "forms",
                "forms_plan_fkey",
                &["plan_id"],
                relation("plans"),
                &["id"],
            ),
            key(
                "Submissions",
                "submissions_form_fkey",
                &["form_id", "tenantId"],
                relation("forms"),
                &["id", "tenant_id"],
            ),
            key(
                "audit",
                "audit_plan_fkey",
                &["plan_id"],
                relation("plans"),
                &["id"],
            ),
            Constraint {
                table: Relation::new("ref", "countries"),
                name: "countries_plan_fkey".into(),
                columns: vec!["plan".into()],
                references: Some((relation("plans"), vec!["id".into()])),
            },
        ];
        check_constraints(&tables(), &globals(), &accepted).unwrap();
    }

    #[test]
    fn transfer_modes_are_citus_names() {
        assert_eq!(ShardTransferMode::default().as_sql(), "auto");
        assert_eq!(ShardTransferMode::ForceLogical.as_sql(), "force_logical");
        assert_eq!(ShardTransferMode::BlockWrites.as_sql(), "block_writes");
    }
}
