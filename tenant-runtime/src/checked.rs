//! Type-checked queries (`check_types = true`) run sqlx's own code: the
//! macros expand `sqlx::query!` / `query_scalar!` for the call, so the row
//! type is sqlx's (an anonymous record, or the scalar type sqlx infers) and
//! sqlx's decoding runs on each row. That code carries the SQL on the
//! parents as a literal; [`Checked`] sends the tenant's routed SQL in its
//! place. It does so by wrapping the caller's executor ([`RoutedExecutor`]):
//! sqlx's query objects keep their SQL private, but every statement they
//! run passes through the executor, which can substitute the text.
//!
//! The substitution is sound because the routed SQL is the same statement
//! with the tenant's partitions named for the parents: same parameters, same
//! columns, same types.

use std::fmt;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::query::{Map, Query, QueryScalar};
use sqlx::Describe;
use sqlx::{Either, Execute, Executor, Postgres};

use crate::router::{Routed, RoutedQuery};
use crate::tenant::Tenant;

/// A type-checked tenant query: sqlx's query object for the call, run with
/// the tenant's routed SQL. What `tenant_query!` and `tenant_query_scalar!`
/// return with `check_types = true`; its `fetch_*` methods (and `execute`,
/// for a statement without output columns) take any executor, as sqlx's do.
#[must_use = "a query does nothing until it is run with `fetch_*` or `execute`"]
pub struct Checked<'t, Q> {
    query: Q,
    routed: Routed<'t>,
}

impl<Q> fmt::Debug for Checked<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checked")
            .field("sql", &self.routed.sql)
            .field("persistent", &self.routed.persistent)
            .finish_non_exhaustive()
    }
}

impl<'t, Q> Checked<'t, Q> {
    /// `query` (sqlx's, over the SQL on the parents) to run as `tenant`'s.
    pub(crate) fn new(tenant: &'t Tenant, routed_query: &'static RoutedQuery, query: Q) -> Self {
        Checked {
            query,
            routed: tenant.route(routed_query),
        }
    }

    /// The SQL this query sends: the tenant's routed statement.
    pub fn sql(&self) -> &'t str {
        self.routed.sql
    }

    fn on<E>(&self, executor: E) -> RoutedExecutor<'t, E> {
        RoutedExecutor {
            inner: executor,
            routed: self.routed,
        }
    }
}

/// The `fetch_*` methods of one kind of sqlx query, yielding `$item`, each
/// running the query on the caller's executor with the routed SQL. sqlx's
/// `Query`, `Map` and `QueryScalar` have the same four methods with the
/// same signatures apart from the item and its bounds.
macro_rules! fetch_methods {
    ($item:ty $(, $bounded:ident)*) => {
        /// The rows, as a stream.
        pub fn fetch<'e, 'c: 'e, E>(self, executor: E) -> BoxStream<'e, Result<$item, sqlx::Error>>
        where
            't: 'c,
            E: 'e + Executor<'c, Database = Postgres>,
            $($bounded: 'e,)*
        {
            let on = self.on(executor);
            self.query.fetch(on)
        }

        /// Every row.
        pub async fn fetch_all<'e, 'c: 'e, E>(self, executor: E) -> Result<Vec<$item>, sqlx::Error>
        where
            't: 'c,
            E: 'e + Executor<'c, Database = Postgres>,
            $($bounded: 'e,)*
        {
            let on = self.on(executor);
            self.query.fetch(on).try_collect().await
        }

        /// Exactly one row ([`sqlx::Error::RowNotFound`] when there is none).
        pub async fn fetch_one<'e, 'c: 'e, E>(self, executor: E) -> Result<$item, sqlx::Error>
        where
            't: 'c,
            E: 'e + Executor<'c, Database = Postgres>,
            $($bounded: 'e,)*
        {
            let on = self.on(executor);
            self.query.fetch_one(on).await
        }

        /// The first row, if any.
        pub async fn fetch_optional<'e, 'c: 'e, E>(
            self,
            executor: E,
        ) -> Result<Option<$item>, sqlx::Error>
        where
            't: 'c,
            E: 'e + Executor<'c, Database = Postgres>,
            $($bounded: 'e,)*
        {
            let on = self.on(executor);
            self.query.fetch_optional(on).await
        }
    };
}

/// A statement without output columns, or rows read as `PgRow`s.
impl<'t> Checked<'t, Query<'static, Postgres, PgArguments>> {
    /// Runs the statement; the number of rows it affected and the like.
    pub async fn execute<'e, 'c: 'e, E>(self, executor: E) -> Result<PgQueryResult, sqlx::Error>
    where
        't: 'c,
        E: 'e + Executor<'c, Database = Postgres>,
    {
        let on = self.on(executor);
        self.query.execute(on).await
    }

    fetch_methods!(PgRow);
}

/// Rows read as sqlx's records.
impl<'t, F, O> Checked<'t, Map<'static, Postgres, F, PgArguments>>
where
    F: FnMut(PgRow) -> Result<O, sqlx::Error> + Send,
    O: Send + Unpin,
{
    fetch_methods!(O, F, O);
}

/// A scalar of the type sqlx inferred.
impl<'t, O> Checked<'t, QueryScalar<'static, Postgres, O, PgArguments>>
where
    O: Send + Unpin,
    (O,): Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow>,
{
    fetch_methods!(O, O);
}

/// An executor that runs every statement with the routed SQL in place of
/// the statement's own (the parents' form the sqlx macro wrote).
#[derive(Debug)]
struct RoutedExecutor<'t, E> {
    inner: E,
    routed: Routed<'t>,
}

impl<'c, 't: 'c, E> Executor<'c> for RoutedExecutor<'t, E>
where
    E: Executor<'c, Database = Postgres>,
{
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        let routed = Rerouted::<'e, 'q, Q>::new(query, self.routed);
        self.inner.fetch_many(routed)
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        let routed = Rerouted::<'e, 'q, Q>::new(query, self.routed);
        self.inner.fetch_optional(routed)
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}

/// A statement with its SQL replaced by the routed SQL; its arguments are
/// the statement's own. Never a prepared-statement handle: one prepared for
/// the parents' SQL must not run in place of the tenant's.
struct Rerouted<'s, 'q, Q> {
    inner: Q,
    routed: Routed<'s>,
    arguments_of: std::marker::PhantomData<&'q ()>,
}

impl<'s, 'q, Q> Rerouted<'s, 'q, Q> {
    fn new(inner: Q, routed: Routed<'s>) -> Self {
        Rerouted {
            inner,
            routed,
            arguments_of: std::marker::PhantomData,
        }
    }
}

impl<'s, 'q, Q> Execute<'s, Postgres> for Rerouted<'s, 'q, Q>
where
    Q: Execute<'q, Postgres>,
{
    fn sql(&self) -> &'s str {
        self.routed.sql
    }

    fn statement(&self) -> Option<&PgStatement<'s>> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.inner.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.routed.persistent && self.inner.persistent()
    }
}
