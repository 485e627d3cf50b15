//! The guard bound to one tenant: dynamic SQL written with `$tenant`, checked
//! in strict mode, with `$tenant` filled in from the [`Tenant`] handle.
//!
//! Lenient mode accepts `tenant_id = $1` whatever `$1` is bound to: the
//! guard cannot know which tenant the application meant. Bound to a
//! [`Tenant`], the guard knows: only `$tenant` binds, and it is the
//! handle's id, appended as the last parameter. A statement that names
//! another tenant (a literal, another parameter) is unbound, and refused.
//! For a tenant in schema layout, the checked SQL runs on its schema's
//! tables, as the macros' queries do.

use sqlx::postgres::{PgArguments, PgQueryResult, PgRow};
use sqlx::{Arguments, Encode, Postgres, Type};
use tenant_core::route::RouteTemplate;

use super::check::GuardError;
use super::pool::GuardedPool;

use crate::error::Error;
use crate::tenant::Tenant;

/// A [`GuardedPool`] bound to one tenant; see [`GuardedPool::for_tenant`].
#[derive(Debug, Clone, Copy)]
pub struct TenantGuard<'a> {
    pool: &'a GuardedPool,
    tenant: &'a Tenant,
}

impl GuardedPool {
    /// This pool's guard, bound to `tenant`: queries are checked in strict
    /// mode (whatever this guard's own mode of binding) and `$tenant` is
    /// filled in with the tenant's id.
    ///
    /// ```no_run
    /// # async fn demo(guarded: tenant_runtime::guard::GuardedPool, tenant: tenant_runtime::Tenant)
    /// # -> Result<(), tenant_runtime::Error> {
    /// let rows = guarded
    ///     .for_tenant(&tenant)
    ///     .query("SELECT id FROM forms WHERE tenant_id = $tenant AND name = $1")
    ///     .bind("Survey")
    ///     .fetch_all()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn for_tenant<'a>(&'a self, tenant: &'a Tenant) -> TenantGuard<'a> {
        TenantGuard { pool: self, tenant }
    }
}

impl<'a> TenantGuard<'a> {
    /// A query of `sql` (with `$tenant`, and `$1`, `$2`, .. bound with
    /// [`TenantQuery::bind`]).
    pub fn query(&self, sql: impl Into<String>) -> TenantQuery<'a> {
        TenantQuery {
            guard: *self,
            sql: sql.into(),
            arguments: PgArguments::default(),
            bind_error: None,
        }
    }
}

/// A statement for one tenant, checked when it runs.
pub struct TenantQuery<'a> {
    guard: TenantGuard<'a>,
    sql: String,
    arguments: PgArguments,
    bind_error: Option<String>,
}

impl std::fmt::Debug for TenantQuery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantQuery")
            .field("sql", &self.sql)
            .field("tenant", &self.guard.tenant.id())
            .finish_non_exhaustive()
    }
}

impl<'a> TenantQuery<'a> {
    /// Binds the next positional parameter (`$1`, then `$2`, ..).
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'a + Encode<'a, Postgres> + Type<Postgres>,
    {
        if self.bind_error.is_none() {
            if let Err(e) = self.arguments.add(value) {
                self.bind_error = Some(e.to_string());
            }
        }
        self
    }

    /// Checks the statement and returns the SQL to run (`$tenant` as the
    /// last parameter, bound to the tenant's id) with its arguments.
    fn prepared(self) -> Result<(String, PgArguments), Error> {
        if let Some(reason) = self.bind_error {
            return Err(Error::Database(sqlx::Error::Encode(reason.into())));
        }
        let guard = self.guard.pool.guard();
        let verdict = guard
            .verdict(guard.strict_cache(), &self.sql)
            .map_err(guarded)?;
        // DryRun lets a statement that does not parse through unchanged.
        let Ok(analysis) = verdict.as_ref() else {
            return Ok((self.sql, self.arguments));
        };
        let mut arguments = self.arguments;
        if let Some(position) = analysis.tenant_param {
            // `$tenant` became the highest parameter, one past the ones the
            // SQL numbers itself: it is appended, in that position.
            if arguments.len() + 1 != position as usize {
                return Err(Error::Database(sqlx::Error::Protocol(format!(
                    "the statement has {} positional parameters before `$tenant`, but {} values were bound",
                    position - 1,
                    arguments.len()
                ))));
            }
            arguments
                .add(self.guard.tenant.id().to_string())
                .map_err(|e| Error::Database(sqlx::Error::Encode(e)))?;
        }
        // A schema tenant's rows are only in its schema: the checked SQL is
        // rendered there, as the macros' queries are.
        let sql = match self.guard.tenant.tenant_schema() {
            Some(_) => self
                .guard
                .tenant
                .route_sql(&RouteTemplate::from_analysis(analysis)),
            None => analysis.sql.clone(),
        };
        Ok((sql, arguments))
    }

    /// Runs it, returning every row.
    pub async fn fetch_all(self) -> Result<Vec<PgRow>, Error> {
        let pool = self.guard.pool.inner().clone();
        let (sql, arguments) = self.prepared()?;
        Ok(sqlx::query_with(&sql, arguments).fetch_all(&pool).await?)
    }

    /// Runs it, returning at most one row.
    pub async fn fetch_optional(self) -> Result<Option<PgRow>, Error> {
        let pool = self.guard.pool.inner().clone();
        let (sql, arguments) = self.prepared()?;
        Ok(sqlx::query_with(&sql, arguments)
            .fetch_optional(&pool)
            .await?)
    }

    /// Runs it, returning exactly one row.
    pub async fn fetch_one(self) -> Result<PgRow, Error> {
        let pool = self.guard.pool.inner().clone();
        let (sql, arguments) = self.prepared()?;
        Ok(sqlx::query_with(&sql, arguments).fetch_one(&pool).await?)
    }

    /// Runs it, returning how many rows it changed.
    pub async fn execute(self) -> Result<PgQueryResult, Error> {
        let pool = self.guard.pool.inner().clone();
        let (sql, arguments) = self.prepared()?;
        Ok(sqlx::query_with(&sql, arguments).execute(&pool).await?)
    }
}

/// A refusal of the guard as the runtime's error.
fn guarded(error: GuardError) -> Error {
    Error::Database(sqlx::Error::AnyDriverError(Box::new(error)))
}
