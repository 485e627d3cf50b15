//! The directory: each tenant's database, in a table of the directory
//! database's registry, and the lookup that reads it before the rules.

use std::time::Instant;

use sqlx::PgPool;
use tenant_core::layout::Layout;
use tenant_core::schema::qualified_name;

use super::reports::{Placed, PlacedBy};
use super::{unavailable, CachedPlacement, Fleet};
use crate::error::Error;

/// Where [`Fleet::locate`] found a tenant.
pub(crate) struct Located {
    pub(crate) index: usize,
    pub(crate) by: PlacedBy,
}

/// The directory's table in the registry schema `schema`.
pub(crate) fn directory_table(schema: &str) -> String {
    qualified_name(Some(schema), "directory")
}

/// The statements that create the directory (idempotent): the table and
/// the lookup an application role may run (it reads one tenant's entry,
/// not the whole directory).
pub(crate) fn directory_ddl(schema: &str) -> Vec<String> {
    let table = directory_table(schema);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    \
             tenant_id text PRIMARY KEY,\n    \
             database text NOT NULL,\n    \
             updated_at timestamptz NOT NULL DEFAULT now()\n)"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {}(tenant text) RETURNS text \
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$\n\
             SELECT d.database FROM {table} d WHERE d.tenant_id = tenant\n$fn$",
            qualified_name(Some(schema), "directory_lookup")
        ),
        // The moves under way: where each stands, so that a mover run again
        // resumes it.
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    \
             tenant_id text PRIMARY KEY,\n    \
             source text NOT NULL,\n    \
             target text NOT NULL,\n    \
             state text NOT NULL,\n    \
             applied_through bigint NOT NULL DEFAULT 0,\n    \
             keep_source boolean NOT NULL,\n    \
             started_at timestamptz NOT NULL DEFAULT now(),\n    \
             updated_at timestamptz NOT NULL DEFAULT now()\n)",
            moves_table(schema)
        ),
        // Added with schema layout: the tenant's layout beside its database
        // (NULL in entries written before), and a move's target layout
        // (NULL: the source's).
        format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS layout text"),
        format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS target_layout text",
            moves_table(schema)
        ),
    ]
}

/// The table of moves under way, in the registry schema `schema`.
pub(crate) fn moves_table(schema: &str) -> String {
    qualified_name(Some(schema), "moves")
}

impl Fleet {
    /// Where `id` lives: its directory entry, else the rules. Reads the
    /// directory (not the tenant's registry), so it also answers for a
    /// tenant not onboarded yet.
    pub async fn placement_of(&self, id: &str) -> Result<Placed, Error> {
        let id = self.inner.template.accept_id(id)?;
        let located = self.locate(&id).await?;
        Ok(Placed {
            database: self.inner.databases[located.index].name.clone(),
            by: located.by,
        })
    }

    /// The directory entries, `(tenant, database)`, ordered by tenant.
    pub async fn directory_entries(&self) -> Result<Vec<(String, String)>, Error> {
        let directory = self.directory_database();
        sqlx::query_as(&format!(
            "SELECT tenant_id, database FROM {} ORDER BY tenant_id",
            directory_table(self.inner.template.registry_schema())
        ))
        .fetch_all(directory.pool())
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))
    }

    /// `id`'s database: from the cache while fresh, else the directory,
    /// else the rules. When the directory database does not answer, a
    /// cached placement is used however old (a tenant that was found once
    /// keeps working); without one it is [`Error::DatabaseUnavailable`].
    pub(crate) async fn locate(&self, id: &str) -> Result<Located, Error> {
        let cached = self.cached_placement(id);
        if let Some(entry) = &cached {
            if entry.confirmed.elapsed() < self.inner.template.tenant_cache_ttl() {
                return Ok(Located {
                    index: entry.index,
                    by: entry.by,
                });
            }
        }
        let entry = match self.directory_entry(id).await {
            Ok(Some(name)) => Some(name),
            Ok(None) => None,
            Err(error @ Error::DatabaseUnavailable { .. }) => {
                return match cached {
                    Some(entry) => {
                        tracing::warn!(
                            tenant = id,
                            directory = self.directory_database().name(),
                            "the directory database is unreachable; using the tenant's cached placement"
                        );
                        Ok(Located {
                            index: entry.index,
                            by: entry.by,
                        })
                    }
                    None => Err(error),
                };
            }
            Err(error) => return Err(error),
        };
        let located = match entry {
            Some(name) => Located {
                index: self.index_of(&name)?,
                by: PlacedBy::Directory,
            },
            None => Located {
                index: self.index_of(self.inner.placement.place(id)?)?,
                by: PlacedBy::Rules,
            },
        };
        self.cache_placement(id, &located);
        Ok(located)
    }

    /// The directory's entry for `id`, if any.
    pub(crate) async fn directory_entry(&self, id: &str) -> Result<Option<String>, Error> {
        let directory = self.directory_database();
        let sql = format!(
            "SELECT {}($1)",
            qualified_name(
                Some(self.inner.template.registry_schema()),
                "directory_lookup"
            )
        );
        let found: Result<Option<String>, sqlx::Error> =
            if self.inner.template.behind_transaction_pooler() {
                // Both steps of the unnamed statement on one server connection.
                async {
                    let mut transaction = directory.pool().begin().await?;
                    let found = sqlx::query_scalar(&sql)
                        .bind(id)
                        .persistent(false)
                        .fetch_one(&mut *transaction)
                        .await?;
                    transaction.commit().await?;
                    Ok(found)
                }
                .await
            } else {
                sqlx::query_scalar(&sql)
                    .bind(id)
                    .fetch_one(directory.pool())
                    .await
            };
        found.map_err(|e| match &e {
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("42883" | "3F000")) =>
            {
                Error::NotInstalled {
                    schema: self.inner.template.registry_schema().to_string(),
                }
            }
            _ => unavailable(directory.name(), e.into()),
        })
    }

    /// Records that `id` lives on `database` in `layout` (replacing any
    /// entry; `None` keeps the entry's layout, for a tenant onboarded
    /// again).
    pub(crate) async fn set_directory_entry(
        &self,
        id: &str,
        database: &str,
        layout: Option<Layout>,
    ) -> Result<(), Error> {
        let directory = self.directory_database();
        sqlx::query(&format!(
            "INSERT INTO {} (tenant_id, database, layout) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET database = EXCLUDED.database, \
             layout = coalesce(EXCLUDED.layout, directory.layout), updated_at = now()",
            directory_table(self.inner.template.registry_schema())
        ))
        .bind(id)
        .bind(database)
        .bind(layout.map(Layout::as_str))
        .execute(directory.pool())
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))?;
        self.forget_placement(id);
        Ok(())
    }

    /// Removes `id`'s directory entry, if any.
    pub(crate) async fn remove_directory_entry(&self, id: &str) -> Result<(), Error> {
        let directory = self.directory_database();
        sqlx::query(&format!(
            "DELETE FROM {} WHERE tenant_id = $1",
            directory_table(self.inner.template.registry_schema())
        ))
        .bind(id)
        .execute(directory.pool())
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))?;
        self.forget_placement(id);
        Ok(())
    }

    /// Creates the directory on the directory database (idempotent), once
    /// per process: later calls return at once.
    pub(crate) async fn install_directory(&self) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        if self.inner.directory_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let directory = self.directory_database();
        run_all(
            directory.pool(),
            &directory_ddl(self.inner.template.registry_schema()),
        )
        .await
        .map_err(|e| unavailable(directory.name(), e.into()))?;
        self.inner.directory_ready.store(true, Ordering::Release);
        Ok(())
    }

    fn placements(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, CachedPlacement>> {
        // The map stays consistent even if a holder panicked.
        self.inner
            .placements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached_placement(&self, id: &str) -> Option<CachedPlacement> {
        self.placements().get(id).cloned()
    }

    fn cache_placement(&self, id: &str, located: &Located) {
        self.placements().insert(
            id.to_string(),
            CachedPlacement {
                index: located.index,
                by: located.by,
                confirmed: Instant::now(),
            },
        );
    }

    /// Forgets the cached placement of `id`.
    pub(crate) fn forget_placement(&self, id: &str) {
        self.placements().remove(id);
    }
}

/// Runs `statements` in one transaction, under an advisory lock so that two
/// processes installing at once do not race on `CREATE .. IF NOT EXISTS`.
async fn run_all(pool: &PgPool, statements: &[String]) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenant fleet directory'))")
        .execute(&mut *transaction)
        .await?;
    for statement in statements {
        sqlx::raw_sql(statement).execute(&mut *transaction).await?;
    }
    transaction.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_lives_in_the_registry_schema_and_is_read_by_a_definer_function() {
        let ddl = directory_ddl("Reg \"x\"");
        assert!(ddl[0].starts_with("CREATE TABLE IF NOT EXISTS \"Reg \"\"x\"\"\".directory"));
        assert!(ddl[1].contains("SECURITY DEFINER SET search_path = pg_catalog, pg_temp"));
        assert!(ddl[1].contains("\"Reg \"\"x\"\"\".directory_lookup(tenant text)"));
    }
}
