//! The registry's settings: what every process that onboards, syncs or
//! offboards must do the same way, recorded in the database rather than in
//! each process's configuration.
//!
//! - The registry's **tag**, drawn once at random when the registry is
//!   created: every partition suffix carries it (`t7_k3x9q2`), so two
//!   registries in one database (an application's and a `tenant` command
//!   pointed at another schema, two tenancies in one process) never hand out
//!   the same partition names.
//! - The **application role**, granted each new partition. Row-level
//!   security itself is read from the parents (`relrowsecurity`): a parent
//!   with row-level security gives every partition its policy, whoever
//!   creates the partition.

use sqlx::PgConnection;
use tenant_core::schema::{qualified_name, quote_literal};

/// The settings table of the registry in `schema`.
pub(super) fn settings_table(schema: &str) -> String {
    qualified_name(Some(schema), "settings")
}

/// DDL that creates the settings table and its single row (idempotent).
pub(super) fn settings_ddl(schema: &str) -> Vec<String> {
    let table = settings_table(schema);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    \
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),\n    \
             tag text NOT NULL CHECK (tag ~ '^[a-z0-9]{{6}}$'),\n    \
             app_role text\n)"
        ),
        // Six base-36 digits from PostgreSQL's strong random source
        // (gen_random_uuid): about 31 bits, so two registries of one
        // database practically never share a tag, and onboarding checks
        // partition bounds anyway.
        format!(
            "INSERT INTO {table} (tag) \
             SELECT string_agg(substr('abcdefghijklmnopqrstuvwxyz0123456789', \
                    1 + (get_byte(uuid_send(gen_random_uuid()), 0) % 36), 1), '') \
               FROM generate_series(1, 6) \
             ON CONFLICT (singleton) DO NOTHING"
        ),
    ]
}

/// Records the application role every new partition is granted (install
/// keeps an earlier role when none is configured).
pub(super) fn record_app_role_ddl(schema: &str, role: &str) -> String {
    format!(
        "UPDATE {} SET app_role = {}",
        settings_table(schema),
        quote_literal(role)
    )
}

/// The registry's settings as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) tag: String,
    pub(super) app_role: Option<String>,
}

/// Reads the settings of the registry in `schema`.
pub(super) async fn read(
    connection: &mut PgConnection,
    schema: &str,
) -> Result<Settings, sqlx::Error> {
    let (tag, app_role): (String, Option<String>) = sqlx::query_as(&format!(
        "SELECT tag, app_role FROM {}",
        settings_table(schema)
    ))
    .fetch_one(&mut *connection)
    .await?;
    Ok(Settings { tag, app_role })
}

/// The partition suffix of the `number`th tenant of a registry tagged `tag`.
pub(super) fn partition_suffix(number: i64, tag: &str) -> String {
    format!("t{number}_{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_carry_the_registry_tag() {
        assert_eq!(partition_suffix(7, "k3x9q2"), "t7_k3x9q2");
        assert_ne!(partition_suffix(7, "aaaaaa"), partition_suffix(7, "bbbbbb"));
    }

    #[test]
    fn the_tag_is_drawn_once_and_checked() {
        let ddl = settings_ddl("tenancy");
        assert!(
            ddl[0].contains("CHECK (tag ~ '^[a-z0-9]{6}$')"),
            "{}",
            ddl[0]
        );
        assert!(ddl[1].contains("ON CONFLICT (singleton) DO NOTHING"));
    }
}
