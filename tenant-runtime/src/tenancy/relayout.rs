//! A tenant's rows in both layouts on one database for a while: what a
//! fleet's move between layouts needs of the tenancy. The registry row
//! keeps one suffix, so the tenant's partitions (`forms_t7_<tag>`) and its
//! schema (`tenant_t7_<tag>`) can exist side by side; the row's layout
//! says which one handles route to, and changes in one statement.

use sqlx::PgPool;
use tenant_core::layout::Layout;

use super::ddl::{map_registry_error, tenant_transaction};
use super::offboard::Offboard;
use super::registry::parse_layout;
use super::Tenancy;
use crate::error::Error;

impl Tenancy {
    /// The registry's suffix and layout of `id`, whatever its state.
    pub(crate) async fn registered(
        &self,
        pool: &PgPool,
        id: &str,
    ) -> Result<Option<(String, Layout)>, Error> {
        let found: Option<(String, String, String)> = sqlx::query_as(&self.inner.select_tenant)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(map_registry_error(&self.inner.registry_schema))?;
        Ok(found.map(|(suffix, _, layout)| (suffix, parse_layout(&layout))))
    }

    /// Gives the registered tenant `id` its tables in `layout` too (its
    /// schema, or its partitions), empty, without touching its registry
    /// row. Idempotent. Returns its suffix.
    pub(crate) async fn add_layout(
        &self,
        pool: &PgPool,
        id: &str,
        layout: Layout,
    ) -> Result<String, Error> {
        if layout == Layout::Schema {
            self.check_schema_layout()?;
        }
        let (suffix, _) = self
            .registered(pool, id)
            .await?
            .ok_or_else(|| Error::UnknownTenant { id: id.to_string() })?;
        let mut transaction = tenant_transaction(pool, id, self.inner.lock_timeout).await?;
        match layout {
            Layout::Schema => {
                self.create_schema_tenant(&mut transaction, id, &suffix)
                    .await?;
            }
            Layout::Partition => {
                let missing = self
                    .missing_partitions(&mut transaction, id, &suffix)
                    .await?;
                if !missing.is_empty() {
                    self.create_partitions(&mut transaction, id, &suffix, &missing)
                        .await?;
                }
            }
        }
        transaction.commit().await?;
        Ok(suffix)
    }

    /// Points the registry row of `id` at `layout`: from the next lookup
    /// on (at once in this process, within the cache's time to live in
    /// others), its handles route there.
    pub(crate) async fn set_layout(
        &self,
        pool: &PgPool,
        id: &str,
        layout: Layout,
    ) -> Result<(), Error> {
        sqlx::query(&format!(
            "UPDATE {} SET layout = $2, updated_at = now() WHERE id = $1",
            self.inner.registry
        ))
        .bind(id)
        .bind(layout.as_str())
        .execute(pool)
        .await
        .map_err(map_registry_error(&self.inner.registry_schema))?;
        self.cache_remove(id);
        Ok(())
    }

    /// Removes the tables of `id` in `layout` (kept as archives or
    /// dropped), leaving its registry row and its other layout alone.
    pub(crate) async fn remove_layout(
        &self,
        pool: &PgPool,
        id: &str,
        layout: Layout,
        mode: Offboard,
    ) -> Result<(), Error> {
        let (suffix, _) = self
            .registered(pool, id)
            .await?
            .ok_or_else(|| Error::UnknownTenant { id: id.to_string() })?;
        match layout {
            Layout::Schema => {
                let mut connection = pool.acquire().await?;
                self.remove_schema_tenant(&mut connection, id, &suffix, mode)
                    .await
            }
            Layout::Partition => self.remove_partitions(pool, id, &suffix, mode).await,
        }
    }
}
