//! Reading tenant tables back from PostgreSQL's catalog.

use sqlx::{PgPool, Row};
use tenant_core::schema::{qualified_name, ColumnDef, ForeignKey, Generated, TableSchema};
use tenant_core::Config;

use crate::error::Error;

/// Every table LIST-partitioned on a single column that the configuration
/// calls its tenant column, outside the system schemas and `registry_schema`,
/// ordered so that tables referenced by foreign keys come first.
///
/// Foreign keys declared on these parents are left out of the returned
/// schemas: `ATTACH PARTITION` clones them onto new partitions by itself.
/// The keys that `install` declared on each partition instead (between a
/// tenant's own partitions) are read back from the registry's record (see
/// [`partition_keys_table`]), so partitions made from a discovered tenancy
/// get them too.
pub(super) async fn discover(
    pool: &PgPool,
    config: &Config,
    registry_schema: &str,
) -> Result<Vec<TableSchema>, Error> {
    let parents = sqlx::query(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name, \
                a.attname::text AS key \
           FROM pg_partitioned_table p \
           JOIN pg_class c ON c.oid = p.partrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] \
          WHERE p.partstrat = 'l' AND p.partnatts = 1 AND NOT c.relispartition \
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname <> $1 AND n.nspname NOT LIKE 'pg\\_%' \
          ORDER BY n.nspname, c.relname",
    )
    .bind(registry_schema)
    .fetch_all(pool)
    .await?;

    let mut found: Vec<(i64, TableSchema)> = Vec::new();
    for row in parents {
        let oid: i64 = row.try_get("oid")?;
        let schema: String = row.try_get("schema")?;
        let name: String = row.try_get("name")?;
        let key: String = row.try_get("key")?;
        if config.tenant_column_of(Some(&schema), &name).as_deref() != Some(key.as_str()) {
            continue;
        }
        found.push((oid, read_table(pool, oid, schema, name, key).await?));
    }

    let recorded = recorded_partition_keys(&mut *pool.acquire().await?, registry_schema).await?;
    for RecordedKey {
        schema,
        name,
        columns,
        ref_table,
        ref_columns,
    } in recorded
    {
        let referenced = found
            .iter()
            .any(|(_, t)| t.schema.as_deref() == Some(schema.as_str()) && t.name == ref_table);
        let referencing = found
            .iter_mut()
            .find(|(_, t)| t.schema.as_deref() == Some(schema.as_str()) && t.name == name);
        if let (true, Some((_, table))) = (referenced, referencing) {
            table.foreign_keys.push(ForeignKey {
                columns,
                ref_table,
                ref_columns,
            });
        }
    }

    // Order by the foreign keys between the discovered parents, and by the
    // recorded keys between their partitions. (Offboarding detaches in the
    // reverse order, and a partition cannot leave while an attached one
    // references it.)
    let mut edges: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT conrelid::int8, confrelid::int8 FROM pg_constraint \
          WHERE contype = 'f' AND conparentid = 0 AND conrelid <> confrelid",
    )
    .fetch_all(pool)
    .await?;
    for (oid, table) in &found {
        for key in &table.foreign_keys {
            let referenced = found
                .iter()
                .find(|(_, t)| t.schema == table.schema && t.name == key.ref_table);
            if let Some((ref_oid, _)) = referenced.filter(|(ref_oid, _)| ref_oid != oid) {
                edges.push((*oid, *ref_oid));
            }
        }
    }
    let mut ordered = Vec::with_capacity(found.len());
    while !found.is_empty() {
        let ready = found
            .iter()
            .position(|(oid, _)| {
                !edges
                    .iter()
                    .any(|(from, to)| from == oid && found.iter().any(|(other, _)| other == to))
            })
            .unwrap_or(0);
        ordered.push(found.remove(ready).1);
    }
    Ok(ordered)
}

/// Whether the relation `name` (quoted, possibly qualified) exists.
pub(super) async fn relation_exists<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Postgres>,
    name: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(executor)
        .await
}

/// The registry's record of the foreign keys `install` puts on each
/// tenant's partitions (they are not on the parents, so the catalog cannot
/// say which a new partition needs).
pub(super) fn partition_keys_table(registry_schema: &str) -> String {
    qualified_name(Some(registry_schema), "partition_keys")
}

/// A recorded partition key, tenant column left out.
#[derive(Debug, tenant_macros::FromRow)]
pub(super) struct RecordedKey {
    /// Schema of the referencing table (`public` for a table declared
    /// without one).
    #[row(rename = "table_schema")]
    pub schema: String,
    /// The referencing table.
    #[row(rename = "table_name")]
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// The referenced table, in the same schema.
    pub ref_table: String,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
}

/// The recorded partition keys, none when no install has recorded any.
pub(super) async fn recorded_partition_keys(
    connection: &mut sqlx::PgConnection,
    registry_schema: &str,
) -> Result<Vec<RecordedKey>, Error> {
    let table = partition_keys_table(registry_schema);
    if !relation_exists(&mut *connection, &table).await? {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(&format!(
        "SELECT DISTINCT table_schema, table_name, columns, ref_table, ref_columns FROM {table} \
          ORDER BY 1, 2, 3, 4, 5"
    ))
    .fetch_all(connection)
    .await?)
}

/// A key's columns without the tenant column (the model prepends it). A
/// key of the tenant column alone (`tenants (id PRIMARY KEY)`) keeps it, so
/// the key is not lost: `key_columns` lists the tenant column once.
fn strip_tenant(columns: Vec<String>, tenant: &str) -> Vec<String> {
    if columns.iter().all(|c| c == tenant) {
        return columns.into_iter().take(1).collect();
    }
    columns.into_iter().filter(|c| c != tenant).collect()
}

pub(super) async fn read_table(
    pool: &PgPool,
    oid: i64,
    schema: String,
    name: String,
    tenant_column: String,
) -> Result<TableSchema, Error> {
    let columns = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, \
                NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default_expr, \
                a.attidentity::text AS identity, a.attgenerated::text AS generated \
           FROM pg_attribute a \
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
          WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped \
          ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        let expression: Option<String> = row.try_get("default_expr")?;
        let identity: String = row.try_get("identity")?;
        let generated: String = row.try_get("generated")?;
        // pg_attrdef holds a generated column's expression, not a default.
        let (default, generated) = match (identity.as_str(), generated.as_str()) {
            ("a", _) => (None, Some(Generated::IdentityAlways)),
            ("d", _) => (None, Some(Generated::IdentityByDefault)),
            (_, "s") => (None, expression.map(Generated::Stored)),
            _ => (expression, None),
        };
        Ok(ColumnDef {
            name: row.try_get("name")?,
            sql_type: row.try_get("sql_type")?,
            nullable: row.try_get("nullable")?,
            default,
            generated,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let constraints: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT c.contype::text, \
                ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) \
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num \
                       ORDER BY k.ord) \
           FROM pg_constraint c \
          WHERE c.conrelid = $1::int8::oid AND c.contype IN ('p', 'u') \
          ORDER BY c.contype, c.conname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut primary_key = Vec::new();
    let mut unique = Vec::new();
    for (kind, columns) in constraints {
        let columns = strip_tenant(columns, &tenant_column);
        if kind == "p" {
            primary_key = columns;
        } else {
            unique.push(columns);
        }
    }

    // Plain indexes on columns only (expression and partial indexes are
    // copied by LIKE all the same; they just do not appear in the model).
    let indexes: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) \
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num \
                       ORDER BY k.ord) \
           FROM pg_index i \
           JOIN pg_class ic ON ic.oid = i.indexrelid \
          WHERE i.indrelid = $1::int8::oid AND NOT i.indisprimary AND NOT i.indisunique \
            AND i.indexprs IS NULL AND i.indpred IS NULL \
          ORDER BY ic.relname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;

    Ok(TableSchema {
        schema: Some(schema),
        name,
        columns,
        primary_key,
        unique,
        indexes: indexes
            .into_iter()
            .map(|columns| strip_tenant(columns, &tenant_column))
            .collect(),
        foreign_keys: Vec::new(),
        tenant_column,
        // Policies of existing tables are left as they are; the tenancy-wide
        // switch decides for discovered tables.
        row_level_security: false,
    })
}
