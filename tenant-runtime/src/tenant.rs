//! The tenant handle.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tenant_core::route::RouteTemplate;

use crate::error::Error;
use crate::id::TENANT_SETTING;
use crate::router::{Routed, RoutedQuery, TenantRoutes};

/// A known, onboarded tenant: what the query macros bind as "the requesting
/// tenant". Only the runtime makes one ([`Tenancy::tenant`]), so holding a
/// `Tenant` means the id was checked against the registry.
///
/// Queries of the macros run on this tenant's partitions (see
/// [`via_parents`](Tenant::via_parents) and the crate's routing docs).
/// Cheap to clone; clones share the SQL rendered for this tenant.
///
/// [`Tenancy::tenant`]: crate::Tenancy::tenant
#[derive(Clone, Debug)]
pub struct Tenant {
    id: Arc<str>,
    partition_suffix: Arc<str>,
    routes: Arc<TenantRoutes>,
    /// False for a handle from [`Tenant::via_parents`].
    routed: bool,
}

impl PartialEq for Tenant {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.partition_suffix == other.partition_suffix
    }
}

impl Eq for Tenant {}

impl std::hash::Hash for Tenant {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.partition_suffix.hash(state);
    }
}

impl Tenant {
    pub(crate) fn new(id: &str, partition_suffix: &str, routes: TenantRoutes) -> Tenant {
        Tenant {
            id: id.into(),
            partition_suffix: partition_suffix.into(),
            routed: routes.enabled(),
            routes: Arc::new(routes),
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

    /// The same tenant, but the macros' queries through this handle name the
    /// parent tables instead of the tenant's partitions: the per-query
    /// opt-out of routing (`tenant_query!(&tenant.via_parents(), ..)`). The
    /// tenancy-wide opt-out is [`TenancyBuilder::routing`].
    ///
    /// [`TenancyBuilder::routing`]: crate::TenancyBuilder::routing
    pub fn via_parents(&self) -> Tenant {
        Tenant {
            routed: false,
            ..self.clone()
        }
    }

    /// True when the macros' queries through this handle run on the
    /// tenant's partitions.
    pub fn is_routed(&self) -> bool {
        self.routed
    }

    /// `template` rendered on this tenant's partitions (on the parents for a
    /// [`via_parents`](Tenant::via_parents) handle). For SQL built at run
    /// time from [`RouteTemplate::from_analysis`]; the macros use a cached
    /// path.
    pub fn route_sql(&self, template: &RouteTemplate) -> String {
        if self.routed {
            self.routes.render(template)
        } else {
            template.parent_sql()
        }
    }

    /// The SQL a macro's query runs for this tenant.
    pub(crate) fn route(&self, query: &'static RoutedQuery) -> Routed<'_> {
        if self.routed {
            self.routes.route(query)
        } else {
            Routed {
                sql: query.parent_sql,
                persistent: true,
            }
        }
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
