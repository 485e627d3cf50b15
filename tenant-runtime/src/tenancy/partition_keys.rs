//! Foreign keys between a tenant's partitions that its existing partitions
//! lack: a key added to the model after the tenant was onboarded, or a
//! partition made without it. [`Tenancy::sync`](crate::Tenancy::sync) adds
//! them.
//!
//! Why two steps: `ADD FOREIGN KEY .. NOT VALID` holds its SHARE ROW
//! EXCLUSIVE locks (on the tenant's two partitions only) for a catalog
//! update, not a scan; `VALIDATE CONSTRAINT` then scans under locks that let
//! the tenant's reads and writes go on.

use sqlx::PgConnection;
use tenant_core::schema::{key_columns, partition_name, qualified_name, ForeignKey, TableSchema};

use super::catalog::relation_exists;

/// The indexes (into `table.foreign_keys`) of the keys that the tenant's
/// partition of `table` (partition suffix `suffix`) does not have. A
/// partition that does not exist lacks nothing here (onboarding makes it
/// with its keys).
pub(super) async fn missing_keys(
    connection: &mut PgConnection,
    table: &TableSchema,
    suffix: &str,
) -> Result<Vec<usize>, sqlx::Error> {
    let partition = table.qualified_partition_name(suffix);
    if !relation_exists(&mut *connection, &partition).await? {
        return Ok(Vec::new());
    }
    let mut missing = Vec::new();
    for (index, key) in table.foreign_keys.iter().enumerate() {
        let referenced = qualified_name(
            table.schema.as_deref(),
            &partition_name(&key.ref_table, suffix),
        );
        // Same columns in the same order, to the same partition, as
        // onboarding declares it.
        let with_tenant = |columns: &[String]| -> Vec<String> {
            key_columns(&table.tenant_column, columns)
                .map(str::to_string)
                .collect()
        };
        let present: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint c \
                WHERE c.conrelid = to_regclass($1) AND c.contype = 'f' \
                  AND c.confrelid = to_regclass($2) \
                  AND ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) \
                              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num \
                             ORDER BY k.ord) = $3::text[] \
                  AND ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, ord) \
                              JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num \
                             ORDER BY k.ord) = $4::text[])",
        )
        .bind(&partition)
        .bind(&referenced)
        .bind(with_tenant(&key.columns))
        .bind(with_tenant(&key.ref_columns))
        .fetch_one(&mut *connection)
        .await?;
        if !present {
            missing.push(index);
        }
    }
    Ok(missing)
}

/// The foreign keys of `partition` into `own_partitions` (the tenant's
/// partitions) that are declared but not validated yet, such as those an
/// earlier, interrupted sync added `NOT VALID`.
pub(super) async fn unvalidated_keys(
    connection: &mut PgConnection,
    partition: &str,
    own_partitions: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint \
          WHERE conrelid = to_regclass($1) AND contype = 'f' AND NOT convalidated \
            AND confrelid = ANY (ARRAY(SELECT to_regclass(p) FROM unnest($2::text[]) p)) \
          ORDER BY conname",
    )
    .bind(partition)
    .bind(own_partitions)
    .fetch_all(&mut *connection)
    .await
}

/// A foreign key declared on a parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParentKey {
    /// The constraint's name.
    pub name: String,
    /// Referencing columns, tenant column included, in key order.
    pub columns: Vec<String>,
    /// The referenced table, as `regclass` text (for messages).
    pub referenced: String,
    /// The referenced table's name (it is in the same schema when movable).
    pub ref_table: String,
    /// Referenced columns, in key order.
    pub ref_columns: Vec<String>,
    /// Why it cannot become a key between each tenant's partitions, if so.
    pub unmovable: Option<String>,
}

/// The foreign keys declared on the parent `table`, each with the reason
/// it cannot be declared per partition instead, if any. `tenancy_tables`
/// are the quoted, qualified names of the tenancy's tables.
pub(super) async fn parent_keys(
    connection: &mut PgConnection,
    table: &TableSchema,
    tenancy_tables: &[String],
) -> Result<Vec<ParentKey>, sqlx::Error> {
    type Row = (
        String,
        Vec<String>,
        String,
        String,
        Vec<String>,
        bool,
        bool,
        bool,
        bool,
    );
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT c.conname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) \
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num \
                           ORDER BY k.ord), \
                    c.confrelid::regclass::text, \
                    (SELECT relname::text FROM pg_class WHERE oid = c.confrelid), \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, ord) \
                            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num \
                           ORDER BY k.ord), \
                    c.confrelid = ANY (ARRAY(SELECT to_regclass(t) FROM unnest($2::text[]) t)), \
                    (SELECT n.nspname FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace \
                      WHERE r.oid = c.confrelid) \
                      = (SELECT n.nspname FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace \
                          WHERE r.oid = c.conrelid), \
                    c.confdeltype = 'a' AND c.confupdtype = 'a' AND c.confmatchtype = 's', \
                    c.condeferrable \
               FROM pg_constraint c \
              WHERE c.conrelid = to_regclass($1) AND c.contype = 'f' AND c.conparentid = 0 \
              ORDER BY c.conname",
        )
        .bind(table.qualified_name())
        .bind(tenancy_tables)
        .fetch_all(&mut *connection)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                name,
                columns,
                referenced,
                ref_table,
                ref_columns,
                in_tenancy,
                same_schema,
                plain,
                deferrable,
            )| {
                let tenant = &table.tenant_column;
                let tenant_bound = columns
                    .iter()
                    .zip(&ref_columns)
                    .any(|(from, to)| from == tenant && to == tenant);
                let unmovable = if !in_tenancy {
                    Some(format!("{referenced} is not a tenancy table"))
                } else if !same_schema {
                    Some(format!("{referenced} is in another schema"))
                } else if !tenant_bound {
                    Some(format!("it does not map {tenant} onto {tenant}"))
                } else if !plain || deferrable {
                    Some(
                        "it has an ON DELETE/ON UPDATE action, MATCH FULL or is deferrable, \
                         which the keys between partitions do not reproduce"
                            .to_string(),
                    )
                } else {
                    None
                };
                ParentKey {
                    name,
                    columns,
                    referenced,
                    ref_table,
                    ref_columns,
                    unmovable,
                }
            },
        )
        .collect())
}

impl ParentKey {
    /// The same key between one tenant's partitions, as the model writes it
    /// (tenant column left out of both sides).
    pub fn per_partition(&self, tenant_column: &str) -> ForeignKey {
        let (columns, ref_columns) = self
            .columns
            .iter()
            .zip(&self.ref_columns)
            .filter(|(from, to)| !(*from == tenant_column && *to == tenant_column))
            .map(|(from, to)| (from.clone(), to.clone()))
            .unzip();
        ForeignKey {
            columns,
            ref_table: self.ref_table.clone(),
            ref_columns,
        }
    }
}
