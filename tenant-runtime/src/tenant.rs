//! The tenant handle.

use std::sync::{Arc, OnceLock};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tenant_core::layout::Layout;
use tenant_core::route::RouteTemplate;

use crate::error::Error;
use crate::id::TENANT_SETTING;
use crate::router::{Routed, RoutedQuery, TenantRoutes};

/// How a tenancy's tenant transactions name their tenant, shared by every
/// handle of the tenancy.
#[derive(Debug)]
pub(crate) struct TenantSession {
    /// `SELECT registry.enter($1, $2)` when row-level security reads the
    /// verified tenant; `None` when only the plain setting is set.
    pub(crate) enter_sql: Option<String>,
    /// The same for a schema tenant, which also takes its role and search
    /// path (`$3`, `$4`) for the transaction (see
    /// [`TenantSession::schema_enter_sql`]).
    pub(crate) enter_schema_sql: String,
    /// The application's tenant key (see the tenancy's `session` module),
    /// once loaded.
    pub(crate) key: OnceLock<Vec<u8>>,
    /// The registry schema, for error messages.
    pub(crate) registry_schema: String,
    /// Whether the transaction's first statement may be a named, cached
    /// prepared statement (`false` behind a transaction pooler).
    pub(crate) persistent: bool,
}

impl TenantSession {
    /// What a schema tenant's transaction runs first: the tenant as
    /// `enter_sql` makes it (`registry.enter($1, $2)`, or the plain setting
    /// `$1` = `$2`), then `role` = `$3` and `search_path` = `$4`, all
    /// transaction-local. One statement, so one round trip; the role comes
    /// last in the list, after the definer function ran.
    pub(crate) fn schema_enter_sql(enter_sql: Option<&str>) -> String {
        let tenant = match enter_sql {
            Some(enter) => enter.trim_start_matches("SELECT ").to_string(),
            None => "set_config($1, $2, true)".to_string(),
        };
        format!(
            "SELECT {tenant}, set_config('search_path', $4, true), set_config('role', $3, true)"
        )
    }
}

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
    session: Arc<TenantSession>,
    /// False for a handle from [`Tenant::via_parents`].
    routed: bool,
    /// The fleet database the tenant lives on (`None` outside a fleet).
    database: Option<Arc<str>>,
    /// A schema tenant's schema (and role); `None` in partition layout.
    tenant_schema: Option<Arc<str>>,
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
    pub(crate) fn new(
        id: &str,
        partition_suffix: &str,
        routes: TenantRoutes,
        session: Arc<TenantSession>,
        database: Option<Arc<str>>,
    ) -> Tenant {
        let tenant_schema = (routes.layout() == Layout::Schema)
            .then(|| tenant_core::layout::tenant_schema_name(partition_suffix).into());
        Tenant {
            id: id.into(),
            partition_suffix: partition_suffix.into(),
            // A schema tenant's queries always run on its schema.
            routed: routes.enabled() || tenant_schema.is_some(),
            tenant_schema,
            routes: Arc::new(routes),
            session,
            database,
        }
    }

    /// This handle, entering transactions ([`enter`](Tenant::enter)) with
    /// the tenant set but as the connection's own role, on its own
    /// `search_path`: for the mover, which writes the tenant's tables in
    /// either layout as the tables' owner. Its routes are unchanged.
    pub(crate) fn without_role(&self) -> Tenant {
        Tenant {
            tenant_schema: None,
            ..self.clone()
        }
    }

    /// The name of the fleet database this tenant lives on (its
    /// `[[databases]]` entry), for a handle from
    /// [`Fleet::tenant`](crate::fleet::Fleet::tenant); `None` for a
    /// tenancy of one database. Run its queries on
    /// [`Fleet::pool`](crate::fleet::Fleet::pool)`(&tenant)`: its partition
    /// names carry that database's registry tag, so a routed query run on
    /// another database fails (no such table) instead of reading rows.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Where the tenant's rows live: a partition of every parent, or a
    /// schema of its own (see [`tenant_core::layout`]).
    pub fn layout(&self) -> Layout {
        self.routes.layout()
    }

    /// The schema of a tenant in schema layout (unquoted), which is also the
    /// name of its role; `None` in partition layout.
    pub fn tenant_schema(&self) -> Option<&str> {
        self.tenant_schema.as_deref()
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
    /// A tenant in schema layout has no rows in the parents: its handle is
    /// returned unchanged, and its queries keep running on its schema.
    ///
    /// [`TenancyBuilder::routing`]: crate::TenancyBuilder::routing
    pub fn via_parents(&self) -> Tenant {
        Tenant {
            routed: self.tenant_schema.is_some(),
            ..self.clone()
        }
    }

    /// True when the macros' queries through this handle run on the
    /// tenant's partitions.
    pub fn is_routed(&self) -> bool {
        self.routed
    }

    /// `template` rendered on this tenant's partitions (on the parents for a
    /// [`via_parents`](Tenant::via_parents) handle), or on its schema's
    /// tables in schema layout. For SQL built at run time from
    /// [`RouteTemplate::from_analysis`]; the macros use a cached path.
    pub fn route_sql(&self, template: &RouteTemplate) -> String {
        if self.tenant_schema.is_some() || (self.routed && template.is_routable()) {
            self.routes.render(template)
        } else {
            self.routes.render_parents(template)
        }
    }

    /// The SQL a macro's query runs for this tenant.
    pub(crate) fn route(&self, query: &'static RoutedQuery) -> Routed<'_> {
        if self.routed {
            self.routes.route(query)
        } else {
            self.routes.on_parents(query)
        }
    }

    /// Begins a transaction for this tenant, in which `app.tenant_id` is
    /// the tenant's id. Everything it sets is transaction-local
    /// (`set_config(.., true)`), so nothing leaks to the next user of the
    /// pooled connection, and it is safe behind a transaction-pooling proxy:
    /// there every statement of the transaction reaches the same server
    /// connection, so this is where the macros' queries run behind one (see
    /// [`TenancyBuilder::behind_transaction_pooler`](crate::TenancyBuilder::behind_transaction_pooler)).
    ///
    /// A tenant in schema layout also takes its own role and a search path
    /// of its schema then `public`, both transaction-local
    /// (`set_config(.., true)`, as `SET LOCAL`): SQL run in the transaction,
    /// checked or not, can then use only its schema's tables (and what the
    /// tenants' group role is granted); other tenants' schemas and the
    /// parents are refused with "permission denied". The runtime guard
    /// refuses SQL that would set the role or search path back.
    ///
    /// With row-level security, the transaction is entered through the
    /// registry's `enter` function with the application's tenant key: the
    /// policies then admit this tenant's rows only, and SQL run inside the
    /// transaction cannot switch to another tenant (a changed setting has
    /// no proof; see the book's security page). Without the key loaded
    /// (`install`, [`Tenancy::load_tenant_key`](crate::Tenancy::load_tenant_key)
    /// or [`TenancyBuilder::tenant_key`](crate::TenancyBuilder::tenant_key)),
    /// this is [`Error::TenantKeyMissing`].
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
        // The key first: a missing key fails before a connection is taken.
        self.tenant_key()?;
        let mut transaction = pool.begin().await?;
        self.enter(&mut transaction).await?;
        Ok(transaction)
    }

    /// The application's tenant key, when tenant transactions need it.
    fn tenant_key(&self) -> Result<Option<&[u8]>, Error> {
        match &self.session.enter_sql {
            Some(_) => self
                .session
                .key
                .get()
                .map(|key| Some(key.as_slice()))
                .ok_or_else(|| Error::TenantKeyMissing {
                    schema: self.session.registry_schema.clone(),
                }),
            None => Ok(None),
        }
    }

    /// Makes the transaction open on `connection` this tenant's, as
    /// [`begin`](Tenant::begin) does (for a transaction begun otherwise,
    /// such as a mover's `REPEATABLE READ` snapshot).
    pub(crate) async fn enter(&self, connection: &mut PgConnection) -> Result<(), Error> {
        let key = self.tenant_key()?;
        if let Some(schema) = &self.tenant_schema {
            let search_path = tenant_core::layout::schema_search_path(schema);
            let query = sqlx::query(&self.session.enter_schema_sql);
            let query = match (&self.session.enter_sql, key) {
                (Some(_), Some(key)) => query.bind(self.id()).bind(key),
                _ => query.bind(TENANT_SETTING).bind(self.id()),
            };
            query
                .bind(&**schema)
                .bind(search_path)
                .persistent(self.session.persistent)
                .execute(&mut *connection)
                .await?;
            return Ok(());
        }
        match (&self.session.enter_sql, key) {
            (Some(enter), Some(key)) => {
                sqlx::query(enter)
                    .bind(self.id())
                    .bind(key)
                    .persistent(self.session.persistent)
                    .execute(&mut *connection)
                    .await?;
            }
            _ => {
                sqlx::query("SELECT set_config($1, $2, true)")
                    .bind(TENANT_SETTING)
                    .bind(self.id())
                    .persistent(self.session.persistent)
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Ok(())
    }
}
