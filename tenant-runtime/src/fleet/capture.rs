//! The moving parts of a tenant move, below the orchestration: the change
//! log and the fence on the source, the snapshot copy, the replay of the
//! log on the target, the checksums and the sequences.
//!
//! The change log is filled by an `AFTER` row trigger on each of the
//! tenant's partitions on the source. Creating it waits for the writers
//! already running (`SHARE ROW EXCLUSIVE`), so every write committed after
//! it exists is logged, and the snapshot taken after it holds every write
//! committed before. Replaying is idempotent (an upsert or a delete by
//! primary key), so replaying entries the snapshot already holds is
//! harmless; entries are applied in log order, which for one row is commit
//! order (a second writer of a row waits for the first to commit before its
//! trigger runs).
//!
//! The fence is a `BEFORE` row trigger that raises SQLSTATE `TNMOV` on
//! every write. It is catalog state, not data: a transaction that started
//! before it sees it at its next write, whatever its snapshot.

use futures_util::StreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tenant_core::schema::{qualified_name, quote_ident, quote_literal, TableSchema};

use crate::error::Error;

/// The SQLSTATE a write of a fenced (moving) tenant fails with: retry it
/// in a moment, the tenant's database is changing.
pub const MOVING_SQLSTATE: &str = "TNMOV";

/// Whether `error` is the fence of a tenant move (retry in a moment).
pub fn is_moving(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(MOVING_SQLSTATE))
}

const CAPTURE_TRIGGER: &str = "tenant_move_capture";
const FENCE_TRIGGER: &str = "tenant_move_fence";

/// The change log's table in the registry schema `schema`.
pub(crate) fn log_table(schema: &str) -> String {
    qualified_name(Some(schema), "move_log")
}

/// The statements that create the change log and the two trigger
/// functions on a source database (idempotent).
pub(crate) fn capture_ddl(schema: &str) -> Vec<String> {
    let log = log_table(schema);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {log} (\n    \
             id bigserial PRIMARY KEY,\n    \
             tenant_id text NOT NULL,\n    \
             table_name text NOT NULL,\n    \
             op text NOT NULL,\n    \
             old_row jsonb,\n    \
             new_row jsonb\n)"
        ),
        format!("CREATE INDEX IF NOT EXISTS move_log_tenant_id ON {log} (tenant_id, id)"),
        // Definer: the application role writes the log without a grant.
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger \
             LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$\n\
             BEGIN\n  \
               INSERT INTO {log} (tenant_id, table_name, op, old_row, new_row)\n  \
               VALUES (TG_ARGV[0], TG_ARGV[1], TG_OP,\n          \
                       CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,\n          \
                       CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);\n  \
               RETURN NULL;\n\
             END\n$fn$",
            qualified_name(Some(schema), "move_capture")
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger \
             LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$\n\
             BEGIN\n  \
               RAISE EXCEPTION 'tenant % is moving to another database; retry in a moment', TG_ARGV[0]\n    \
                 USING ERRCODE = '{MOVING_SQLSTATE}';\n\
             END\n$fn$",
            qualified_name(Some(schema), "move_fence")
        ),
    ]
}

/// One tenant table of a move: its parent, and the tenant's partitions on
/// the source and on the target.
#[derive(Debug, Clone)]
pub(crate) struct MovedTable {
    pub(crate) parent: String,
    pub(crate) source: String,
    pub(crate) target: String,
    /// Every column but the stored generated ones, quoted.
    columns: Vec<String>,
    /// The tenant column and the primary key, quoted.
    key: Vec<String>,
    /// The same, unquoted (the keys of the logged JSON rows).
    key_names: Vec<String>,
    /// Columns with a sequence (serial or identity), quoted.
    pub(crate) sequenced: Vec<String>,
}

impl MovedTable {
    /// `table` of a tenant whose rows are in the table `source` (quoted,
    /// qualified: a partition or a schema tenant's table) on the source and
    /// go to `target` on the target. A table without a primary key cannot
    /// be moved (its rows cannot be replayed one by one).
    pub(crate) fn new(
        table: &TableSchema,
        source: String,
        target: String,
    ) -> Result<MovedTable, String> {
        if table.primary_key.is_empty() {
            return Err(format!(
                "table {} has no primary key, so its changes cannot be replayed row by row",
                table.qualified_name()
            ));
        }
        let columns = table
            .columns
            .iter()
            .filter(|c| !matches!(c.generated, Some(tenant_core::schema::Generated::Stored(_))))
            .map(|c| quote_ident(&c.name))
            .collect();
        // The tenant column once, also when it is the whole key.
        let key_names: Vec<String> =
            tenant_core::schema::key_columns(&table.tenant_column, &table.primary_key)
                .map(String::from)
                .collect();
        let sequenced = table
            .columns
            .iter()
            .filter(|c| {
                matches!(
                    c.generated,
                    Some(
                        tenant_core::schema::Generated::IdentityAlways
                            | tenant_core::schema::Generated::IdentityByDefault
                    )
                ) || c.default.as_deref().is_some_and(|d| d.contains("nextval("))
            })
            .map(|c| quote_ident(&c.name))
            .collect();
        Ok(MovedTable {
            parent: table.qualified_name(),
            source,
            target,
            columns,
            key: key_names.iter().map(|k| quote_ident(k)).collect(),
            key_names,
            sequenced,
        })
    }

    fn column_list(&self) -> String {
        self.columns.join(", ")
    }

    /// `COPY (SELECT ..) TO STDOUT` of the source partition.
    pub(crate) fn copy_out_sql(&self) -> String {
        format!(
            "COPY (SELECT {} FROM {}) TO STDOUT",
            self.column_list(),
            self.source
        )
    }

    /// `COPY .. FROM STDIN` into the target partition.
    pub(crate) fn copy_in_sql(&self) -> String {
        format!("COPY {} ({}) FROM STDIN", self.target, self.column_list())
    }

    /// Inserts or replaces one row (`$1`, a logged JSON row) on the target.
    pub(crate) fn upsert_sql(&self) -> String {
        let updates: Vec<String> = self
            .columns
            .iter()
            .filter(|c| !self.key.contains(c))
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        let action = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM jsonb_populate_record(NULL::{}, $1::jsonb) ON CONFLICT ({}) {action}",
            self.target,
            self.parent,
            self.key.join(", "),
            cols = self.column_list()
        )
    }

    /// Deletes the row whose key `$1` (a logged JSON row) holds, on the
    /// target.
    pub(crate) fn delete_sql(&self) -> String {
        let matches: Vec<String> = self.key.iter().map(|k| format!("t.{k} = r.{k}")).collect();
        format!(
            "DELETE FROM {} t USING jsonb_populate_record(NULL::{}, $1::jsonb) r WHERE {}",
            self.target,
            self.parent,
            matches.join(" AND ")
        )
    }

    /// Row count and checksum of `partition`: the same on both sides when
    /// they hold the same rows.
    pub(crate) fn checksum_sql(&self, partition: &str) -> String {
        format!(
            "SELECT count(*)::bigint, md5(coalesce(string_agg(ROW({cols})::text, E'\\n' ORDER BY {key}), '')) FROM {partition}",
            cols = self.column_list(),
            key = self.key.join(", ")
        )
    }

    /// Whether an update moved the row to another key (the old key must
    /// go before the new row is written).
    fn key_changed(&self, old: &serde_json::Value, new: &serde_json::Value) -> bool {
        self.key_names.iter().any(|k| old.get(k) != new.get(k))
    }
}

/// One entry of the change log.
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub(crate) id: i64,
    table: String,
    op: String,
    old_row: Option<serde_json::Value>,
    new_row: Option<serde_json::Value>,
}

/// Up to `limit` entries of `tenant` after `after`, in log order.
pub(crate) async fn read_log(
    source: &mut PgConnection,
    schema: &str,
    tenant: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    let rows: Vec<PgRow> = sqlx::query(&format!(
        "SELECT id, table_name, op, old_row::text, new_row::text FROM {} \
          WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        log_table(schema)
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *source)
    .await?;
    rows.into_iter()
        .map(|row| {
            let parse = |text: Option<String>| {
                text.map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            };
            Ok(LogEntry {
                id: row.try_get(0)?,
                table: row.try_get(1)?,
                op: row.try_get(2)?,
                old_row: parse(row.try_get(3)?)?,
                new_row: parse(row.try_get(4)?)?,
            })
        })
        .collect()
}

/// Applies `entries` on the target, in order, in the transaction open on
/// `target`.
pub(crate) async fn apply_log(
    target: &mut PgConnection,
    tables: &[MovedTable],
    entries: &[LogEntry],
) -> Result<(), Error> {
    for entry in entries {
        let table = tables
            .iter()
            .find(|t| t.parent == entry.table)
            .ok_or_else(|| {
                Error::Schema(format!(
                    "the change log names the table {}, which is not one of the tenancy's",
                    entry.table
                ))
            })?;
        let text = |row: &Option<serde_json::Value>| row.as_ref().map(|r| r.to_string());
        match entry.op.as_str() {
            "INSERT" => {
                sqlx::query(&table.upsert_sql())
                    .bind(text(&entry.new_row))
                    .execute(&mut *target)
                    .await?;
            }
            "UPDATE" => {
                if let (Some(old), Some(new)) = (&entry.old_row, &entry.new_row) {
                    if table.key_changed(old, new) {
                        sqlx::query(&table.delete_sql())
                            .bind(old.to_string())
                            .execute(&mut *target)
                            .await?;
                    }
                }
                sqlx::query(&table.upsert_sql())
                    .bind(text(&entry.new_row))
                    .execute(&mut *target)
                    .await?;
            }
            "DELETE" => {
                sqlx::query(&table.delete_sql())
                    .bind(text(&entry.old_row))
                    .execute(&mut *target)
                    .await?;
            }
            other => {
                return Err(Error::Schema(format!(
                    "the change log holds an unknown operation {other:?}"
                )))
            }
        }
    }
    Ok(())
}

/// Creates (or replaces) the capture trigger on each source partition.
pub(crate) fn capture_triggers_ddl(
    schema: &str,
    tenant: &str,
    tables: &[MovedTable],
) -> Vec<String> {
    tables
        .iter()
        .map(|t| {
            format!(
                "CREATE OR REPLACE TRIGGER {CAPTURE_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {} \
                 FOR EACH ROW EXECUTE FUNCTION {}({}, {})",
                t.source,
                qualified_name(Some(schema), "move_capture"),
                quote_literal(tenant),
                quote_literal(&t.parent)
            )
        })
        .collect()
}

/// Creates the fence on each source partition.
pub(crate) fn fence_ddl(schema: &str, tenant: &str, tables: &[MovedTable]) -> Vec<String> {
    tables
        .iter()
        .map(|t| {
            format!(
                "CREATE OR REPLACE TRIGGER {FENCE_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE ON {} \
                 FOR EACH ROW EXECUTE FUNCTION {}({})",
                t.source,
                qualified_name(Some(schema), "move_fence"),
                quote_literal(tenant)
            )
        })
        .collect()
}

/// Drops the capture trigger and the fence from each source partition
/// that still exists.
pub(crate) fn unfence_ddl(tables: &[MovedTable]) -> Vec<String> {
    tables
        .iter()
        .flat_map(|t| {
            [CAPTURE_TRIGGER, FENCE_TRIGGER].map(|trigger| {
                format!(
                    "DO $do$ BEGIN IF to_regclass({}) IS NOT NULL THEN \
                     EXECUTE 'DROP TRIGGER IF EXISTS {trigger} ON ' || {}; END IF; END $do$",
                    quote_literal(&t.source),
                    quote_literal(&t.source)
                )
            })
        })
        .collect()
}

/// Streams each source partition into its target partition (the open
/// transactions on both), referenced tables first; returns the rows copied.
pub(crate) async fn copy_rows(
    source: &mut PgConnection,
    target: &mut PgConnection,
    tables: &[MovedTable],
) -> Result<u64, Error> {
    let mut rows = 0;
    for table in tables {
        let mut copy_in = target.copy_in_raw(&table.copy_in_sql()).await?;
        let mut stream = source.copy_out_raw(&table.copy_out_sql()).await?;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => copy_in.send(chunk).await?,
                Err(e) => {
                    drop(stream);
                    copy_in.abort("the source stopped sending").await.ok();
                    return Err(e.into());
                }
            };
        }
        drop(stream);
        rows += copy_in.finish().await?;
    }
    Ok(rows)
}

/// The row count and checksum of each table on `connection`'s side.
pub(crate) async fn checksums(
    connection: &mut PgConnection,
    tables: &[MovedTable],
    source_side: bool,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let mut out = Vec::with_capacity(tables.len());
    for table in tables {
        let partition = if source_side {
            &table.source
        } else {
            &table.target
        };
        let (count, sum): (i64, String) = sqlx::query_as(&table.checksum_sql(partition))
            .fetch_one(&mut *connection)
            .await?;
        out.push((count, sum));
    }
    Ok(out)
}

/// Moves each sequence of the target's parents past the largest value the
/// moved rows hold, so that new rows there draw fresh ones.
pub(crate) async fn advance_sequences(
    target: &mut PgConnection,
    tables: &[MovedTable],
) -> Result<(), sqlx::Error> {
    for table in tables {
        for column in &table.sequenced {
            sqlx::query(&format!(
                "SELECT setval(s.seq, x.m) \
                   FROM (SELECT coalesce(pg_get_serial_sequence($3, $2), \
                                         pg_get_serial_sequence($1, $2))::regclass AS seq) s, \
                        (SELECT max({column})::bigint AS m FROM {}) x \
                  WHERE s.seq IS NOT NULL AND x.m IS NOT NULL \
                    AND x.m > coalesce(pg_sequence_last_value(s.seq), 0)",
                table.target
            ))
            .bind(&table.parent)
            .bind(column.trim_matches('"'))
            // A schema tenant's table has a sequence of its own; a partition
            // draws from its parent's.
            .bind(&table.target)
            .execute(&mut *target)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_core::schema::{ColumnDef, Generated};

    fn table() -> TableSchema {
        let column = |name: &str, generated: Option<Generated>, default: Option<&str>| ColumnDef {
            default: default.map(Into::into),
            generated,
            ..ColumnDef::new(name, "bigint")
        };
        TableSchema {
            schema: None,
            name: "forms".into(),
            tenant_column: "tenant_id".into(),
            columns: vec![
                column("tenant_id", None, None),
                column("id", Some(Generated::IdentityByDefault), None),
                column("n", None, Some("nextval('n_seq'::regclass)")),
                column("twice", Some(Generated::Stored("n * 2".into())), None),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            row_level_security: false,
        }
    }

    #[test]
    fn replay_statements_skip_generated_columns_and_match_the_whole_key() {
        let moved = MovedTable::new(
            &table(),
            "public.forms_t1_aaaaaa".into(),
            "public.forms_t4_bbbbbb".into(),
        )
        .unwrap();
        assert_eq!(moved.target, "public.forms_t4_bbbbbb");
        assert_eq!(
            moved.upsert_sql(),
            "INSERT INTO public.forms_t4_bbbbbb (tenant_id, id, n) SELECT tenant_id, id, n FROM jsonb_populate_record(NULL::public.forms, $1::jsonb) ON CONFLICT (tenant_id, id) DO UPDATE SET n = EXCLUDED.n"
        );
        assert_eq!(
            moved.delete_sql(),
            "DELETE FROM public.forms_t4_bbbbbb t USING jsonb_populate_record(NULL::public.forms, $1::jsonb) r WHERE t.tenant_id = r.tenant_id AND t.id = r.id"
        );
        assert_eq!(moved.sequenced, ["id", "n"]);
        assert_eq!(
            moved.copy_out_sql(),
            "COPY (SELECT tenant_id, id, n FROM public.forms_t1_aaaaaa) TO STDOUT"
        );
        let old = serde_json::json!({"tenant_id": "x", "id": 1, "n": 1});
        assert!(!moved.key_changed(
            &old,
            &serde_json::json!({"tenant_id": "x", "id": 1, "n": 2})
        ));
        assert!(moved.key_changed(
            &old,
            &serde_json::json!({"tenant_id": "x", "id": 2, "n": 1})
        ));
    }

    #[test]
    fn a_table_without_a_primary_key_cannot_move() {
        let mut keyless = table();
        keyless.primary_key.clear();
        let err = MovedTable::new(&keyless, "a".into(), "b".into()).unwrap_err();
        assert!(err.contains("has no primary key"), "{err}");
    }

    #[test]
    fn triggers_quote_the_tenant_and_the_fence_raises_the_moving_state() {
        let moved = MovedTable::new(
            &table(),
            "public.forms_t1_aaaaaa".into(),
            "public.forms_t4_bbbbbb".into(),
        )
        .unwrap();
        let capture = capture_triggers_ddl("tenancy", "o'hara", std::slice::from_ref(&moved));
        assert!(
            capture[0].contains("('o''hara', 'public.forms')"),
            "{}",
            capture[0]
        );
        let ddl = capture_ddl("tenancy");
        assert!(ddl[3].contains("ERRCODE = 'TNMOV'"));
        assert!(ddl[2].contains("SECURITY DEFINER"));
    }
}
