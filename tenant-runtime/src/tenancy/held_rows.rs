//! Offboarding a partition whose rows reference each other through a key
//! declared on the parent (`users.manager_id REFERENCES users`).
//!
//! Why: PostgreSQL 15 refuses to detach such a partition ("removing
//! partition .. violates foreign key constraint"): it checks the parent's key
//! as if the partition's rows were deleted, and finds them referenced by the
//! partition's own rows, still attached. So the rows are moved aside first:
//! in one transaction they are copied into a holding table in the registry's
//! schema (kept tenants only) and deleted from the partition; the empty
//! partition detaches; then, in one transaction again, the rows go back into
//! the detached table and the holding table is dropped. Each step commits
//! whole, so an interrupted offboarding resumes from the holding table.
//!
//! Deleting the rows must not reach rows outside the tenant, so it is done
//! only when every key into the parent either carries the tenant column and
//! comes from a tenancy table (it can only reach the tenant's own rows), or
//! has no ON DELETE action that changes rows (NO ACTION or RESTRICT: a
//! reference from outside then fails the delete, and nothing changes).
//!
//! The rows are not deleted from the application's point of view, so the
//! table's own triggers (an audit log, a trigger that cleans up a global
//! table) must not see the delete, nor the rows coming back: each step
//! disables the user triggers that would fire and enables them again in the
//! same transaction, so no other session ever sees them disabled. The
//! foreign-key checks are PostgreSQL's internal triggers and still run.

use sqlx::PgConnection;
use tenant_core::schema::{partition_name, qualified_name, quote_ident, TableSchema};

use super::catalog::relation_exists;
use super::ddl::execute_ddl;

/// What stops a partition of `table` from being detached while its rows
/// reference each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeysIntoParent {
    /// The parent has a key on itself, and no key into it lets deleting the
    /// tenant's rows change rows outside the tenant: moving the rows aside
    /// is safe.
    SelfReferencing,
    /// The parent has no key on itself: the refusal has another cause.
    NoSelfReference,
    /// Keys through which deleting the tenant's rows would change other
    /// rows (ON DELETE CASCADE, SET NULL or SET DEFAULT from outside the
    /// tenancy or without the tenant column): each as `constraint on table`.
    Unsafe(Vec<String>),
}

/// The holding table of `table`'s partition for the tenant with partition
/// suffix `suffix`: in the registry's schema, which only the runtime writes,
/// so it cannot clash with a partition or an application table.
pub(super) fn held_table(registry_schema: &str, table: &TableSchema, suffix: &str) -> String {
    qualified_name(Some(registry_schema), &held_table_name(table, suffix))
}

/// The unquoted name of [`held_table`]: at most 63 bytes (long names are
/// cut and disambiguated with a hash, like partition names).
fn held_table_name(table: &TableSchema, suffix: &str) -> String {
    // The qualified parent name keeps `app.forms` and `public.forms` apart.
    let parent = qualified_name(
        Some(table.schema.as_deref().unwrap_or("public")),
        &table.name,
    );
    partition_name(&format!("held_{parent}"), suffix)
}

/// Classifies the keys that reference `table` (see [`KeysIntoParent`]).
/// `tenancy_tables` are the quoted, qualified names of every tenancy table.
pub(super) async fn keys_into_parent(
    connection: &mut PgConnection,
    table: &TableSchema,
    tenancy_tables: &[String],
) -> Result<KeysIntoParent, sqlx::Error> {
    // Top-level keys only (`conparentid = 0`): the per-partition clones
    // follow them. A key is safe when deleting cannot change rows through
    // it (no action, restrict), or when it maps a tenancy table's tenant
    // column onto the parent's (it reaches the tenant's own rows only).
    let keys: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname::text, \
                c.conrelid = c.confrelid, \
                c.confdeltype IN ('a', 'r') \
                OR c.conrelid = ANY (ARRAY(SELECT to_regclass(t) FROM unnest($2::text[]) t)) \
                AND EXISTS (SELECT 1 FROM unnest(c.conkey, c.confkey) AS k(fk, pk) \
                              JOIN pg_attribute fa ON fa.attrelid = c.conrelid AND fa.attnum = k.fk \
                              JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk \
                             WHERE fa.attname = $3 AND pa.attname = $3) \
           FROM pg_constraint c \
          WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = to_regclass($1) \
          ORDER BY 1, 2",
    )
    .bind(table.qualified_name())
    .bind(tenancy_tables)
    .bind(&table.tenant_column)
    .fetch_all(&mut *connection)
    .await?;
    if !keys.iter().any(|(_, _, on_itself, _)| *on_itself) {
        return Ok(KeysIntoParent::NoSelfReference);
    }
    let unsafe_keys: Vec<String> = keys
        .into_iter()
        .filter(|(_, _, _, safe)| !safe)
        .map(|(from, name, _, _)| format!("{} on {from}", quote_ident(&name)))
        .collect();
    Ok(if unsafe_keys.is_empty() {
        KeysIntoParent::SelfReferencing
    } else {
        KeysIntoParent::Unsafe(unsafe_keys)
    })
}

/// Empties the attached `partition` in one transaction, copying its rows
/// into `held` first when they are kept (appending if `held` already holds
/// rows of an earlier attempt). Returns how many rows left the partition.
pub(super) async fn move_rows_aside(
    connection: &mut PgConnection,
    partition: &str,
    held: &str,
    keep: bool,
) -> Result<u64, sqlx::Error> {
    let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
    // The delete checks the parent's key once per row with a cached plan;
    // after five rows PostgreSQL switches to a generic plan over the parent,
    // which locks every tenant's partition and index (4,006 locks at 2,000
    // partitions) and waits on any other tenant's exclusively held
    // partition. A custom plan prunes to this tenant's partition (8 locks;
    // tenant-bench/move-aside-locks.sql).
    execute_ddl(
        &mut transaction,
        "SET LOCAL plan_cache_mode = force_custom_plan",
    )
    .await?;
    if keep {
        let copy = if relation_exists(&mut *transaction, held).await? {
            format!("INSERT INTO {held} SELECT * FROM {partition}")
        } else {
            // CREATE TABLE AS keeps the column types; generated columns
            // become plain ones here and are left out when the rows go back.
            format!("CREATE TABLE {held} AS SELECT * FROM {partition}")
        };
        execute_ddl(&mut transaction, &copy).await?;
    }
    let silenced = silence_user_triggers(&mut transaction, partition).await?;
    // One statement: keys between the deleted rows are checked at its end,
    // when the referencing rows are gone too.
    let deleted = sqlx::Executor::execute(
        &mut *transaction,
        format!("DELETE FROM {partition}").as_str(),
    )
    .await?
    .rows_affected();
    restore_user_triggers(&mut transaction, partition, &silenced).await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// Puts the rows of `held` back into the detached `partition` and drops
/// `held`, in one transaction. Nothing to do when `held` does not exist.
/// Returns how many rows came back.
pub(super) async fn restore_held_rows(
    connection: &mut PgConnection,
    partition: &str,
    held: &str,
) -> Result<u64, sqlx::Error> {
    let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
    if !relation_exists(&mut *transaction, held).await? {
        return Ok(0);
    }
    // The partition's own columns, generated ones excepted (PostgreSQL
    // computes them again).
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute \
          WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped \
            AND attgenerated = '' \
          ORDER BY attnum",
    )
    .bind(partition)
    .fetch_all(&mut *transaction)
    .await?;
    let list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let silenced = silence_user_triggers(&mut transaction, partition).await?;
    let restored = sqlx::Executor::execute(
        &mut *transaction,
        format!("INSERT INTO {partition} ({list}) SELECT {list} FROM {held}").as_str(),
    )
    .await?
    .rows_affected();
    restore_user_triggers(&mut transaction, partition, &silenced).await?;
    execute_ddl(&mut transaction, &format!("DROP TABLE {held}")).await?;
    transaction.commit().await?;
    Ok(restored)
}

/// A user trigger that fires in an ordinary session: `pg_trigger.tgenabled`
/// is `O` (enabled) or `A` (`ENABLE ALWAYS`, `always`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserTrigger {
    name: String,
    always: bool,
}

/// Disables the user triggers of `table` that would fire in this session
/// (its own and those cloned from its parent; not PostgreSQL's internal
/// foreign-key triggers) and returns them for [`restore_user_triggers`].
/// Locks `table` alone (SHARE ROW EXCLUSIVE), not its parent.
async fn silence_user_triggers(
    connection: &mut PgConnection,
    table: &str,
) -> Result<Vec<UserTrigger>, sqlx::Error> {
    let triggers: Vec<(String, bool)> = sqlx::query_as(
        "SELECT tgname::text, tgenabled = 'A' FROM pg_trigger \
          WHERE tgrelid = to_regclass($1) AND NOT tgisinternal AND tgenabled IN ('O', 'A') \
          ORDER BY tgname",
    )
    .bind(table)
    .fetch_all(&mut *connection)
    .await?;
    let triggers: Vec<UserTrigger> = triggers
        .into_iter()
        .map(|(name, always)| UserTrigger { name, always })
        .collect();
    if let Some(sql) = alter_triggers(table, &triggers, |_| "DISABLE") {
        execute_ddl(connection, &sql).await?;
    }
    Ok(triggers)
}

/// Enables again, as they were, the triggers [`silence_user_triggers`]
/// disabled.
async fn restore_user_triggers(
    connection: &mut PgConnection,
    table: &str,
    triggers: &[UserTrigger],
) -> Result<(), sqlx::Error> {
    let Some(sql) = alter_triggers(table, triggers, enable_as_it_was) else {
        return Ok(());
    };
    // ALTER TABLE refuses a table with pending trigger events: run the
    // checks of deferred keys now rather than at commit.
    execute_ddl(connection, "SET CONSTRAINTS ALL IMMEDIATE").await?;
    execute_ddl(connection, &sql).await
}

/// The `ALTER TABLE` action that gives `trigger` back its state.
fn enable_as_it_was(trigger: &UserTrigger) -> &'static str {
    if trigger.always {
        "ENABLE ALWAYS"
    } else {
        "ENABLE"
    }
}

/// One `ALTER TABLE` that applies `action` to each trigger, or `None` when
/// there is none.
fn alter_triggers(
    table: &str,
    triggers: &[UserTrigger],
    action: impl Fn(&UserTrigger) -> &'static str,
) -> Option<String> {
    if triggers.is_empty() {
        return None;
    }
    let actions = triggers
        .iter()
        .map(|trigger| format!("{} TRIGGER {}", action(trigger), quote_ident(&trigger.name)))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!("ALTER TABLE {table} {actions}"))
}

/// Drops `held` if it exists (a tenant dropped after an interrupted
/// offboarding that kept its rows).
pub(super) async fn drop_held_rows(
    connection: &mut PgConnection,
    held: &str,
) -> Result<(), sqlx::Error> {
    execute_ddl(connection, &format!("DROP TABLE IF EXISTS {held}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str) -> TableSchema {
        TableSchema {
            schema: schema.map(str::to_string),
            name: name.to_string(),
            tenant_column: "tenant_id".to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            row_level_security: false,
        }
    }

    #[test]
    fn held_tables_live_in_the_registry_schema_and_keep_schemas_apart() {
        let users = table(None, "users");
        assert_eq!(
            held_table("tenancy", &users, "t42"),
            "tenancy.\"held_public.users_t42\""
        );
        let public = held_table_name(&users, "t42");
        assert_eq!(
            public,
            held_table_name(&table(Some("public"), "users"), "t42")
        );
        assert_ne!(public, held_table_name(&table(Some("app"), "users"), "t42"));
        assert_ne!(
            public,
            held_table_name(&table(Some("public_users"), "x"), "t42")
        );
        assert_ne!(public, held_table_name(&users, "t43"));
    }

    #[test]
    fn triggers_are_altered_in_one_statement_with_quoted_names() {
        let triggers = [
            UserTrigger {
                name: "audit".to_string(),
                always: false,
            },
            UserTrigger {
                name: "Odd \"name\"".to_string(),
                always: true,
            },
        ];
        assert_eq!(
            alter_triggers("app.users_t1", &triggers, enable_as_it_was).as_deref(),
            Some("ALTER TABLE app.users_t1 ENABLE TRIGGER audit, ENABLE ALWAYS TRIGGER \"Odd \"\"name\"\"\"")
        );
        assert_eq!(alter_triggers("app.users_t1", &[], enable_as_it_was), None);
    }

    #[test]
    fn long_names_stay_within_the_identifier_limit_and_apart() {
        let long = |schema: &str| held_table_name(&table(Some(schema), &"u".repeat(60)), "t42");
        let (a, b) = (long(&"s".repeat(60)), long(&"z".repeat(60)));
        assert!(a.len() <= 63, "{a} is {} bytes", a.len());
        assert!(a.ends_with("_t42"), "{a}");
        assert_ne!(a, b);
    }
}
