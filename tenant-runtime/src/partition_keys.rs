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
use tenant_core::schema::{partition_name, qualified_name, TableSchema};

/// The indexes (into `table.foreign_keys`) of the keys that the tenant's
/// partition of `table` (partition suffix `suffix`) does not have. A
/// partition that does not exist lacks nothing here (onboarding makes it
/// with its keys).
pub(crate) async fn missing_keys(
    connection: &mut PgConnection,
    table: &TableSchema,
    suffix: &str,
) -> Result<Vec<usize>, sqlx::Error> {
    let partition = table.qualified_partition_name(suffix);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&partition)
        .fetch_one(&mut *connection)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut missing = Vec::new();
    for (index, key) in table.foreign_keys.iter().enumerate() {
        let referenced = qualified_name(
            table.schema.as_deref(),
            &partition_name(&key.ref_table, suffix),
        );
        // Same columns in the same order, to the same partition; the tenant
        // column leads, as onboarding declares it.
        let with_tenant = |columns: &[String]| -> Vec<String> {
            std::iter::once(table.tenant_column.clone())
                .chain(
                    columns
                        .iter()
                        .filter(|c| **c != table.tenant_column)
                        .cloned(),
                )
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
pub(crate) async fn unvalidated_keys(
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
