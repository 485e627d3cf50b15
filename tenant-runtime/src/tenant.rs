//! The tenant handle.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};

use crate::Error;

/// The PostgreSQL setting a tenant transaction sets to the tenant id (read by
/// row-level security policies with `current_setting('app.tenant_id', true)`).
pub const TENANT_SETTING: &str = "app.tenant_id";

/// A known, onboarded tenant: what the query macros bind as "the requesting
/// tenant". Only the runtime makes one ([`Tenancy::tenant`]), so holding a
/// `Tenant` means the id was checked against the registry.
///
/// Cheap to clone.
///
/// [`Tenancy::tenant`]: crate::Tenancy::tenant
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tenant {
    id: Arc<str>,
    partition_suffix: Arc<str>,
}

impl Tenant {
    pub(crate) fn new(id: &str, partition_suffix: &str) -> Tenant {
        Tenant {
            id: id.into(),
            partition_suffix: partition_suffix.into(),
        }
    }

    /// The tenant id (the value of the tenant column).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The suffix of this tenant's partition names: the partition of parent
    /// `p` is [`tenant_core::schema::partition_name`]`(p, suffix)`.
    pub fn partition_suffix(&self) -> &str {
        &self.partition_suffix
    }

    /// Begins a transaction in which `app.tenant_id` is this tenant's id.
    /// The setting is transaction-local (`set_config(.., true)`), so it never
    /// leaks to the next user of the pooled connection, and is safe behind a
    /// transaction-pooling proxy.
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
        let mut transaction = pool.begin().await?;
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(TENANT_SETTING)
            .bind(self.id())
            .execute(&mut *transaction)
            .await?;
        Ok(transaction)
    }
}
