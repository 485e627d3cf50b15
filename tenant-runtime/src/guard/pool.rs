//! [`GuardedPool`]: a pool whose every query passes the guard first.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgPool, Postgres};

use super::check::Guard;

impl Guard {
    /// Wraps a pool so that every query sent through it is checked first.
    pub fn wrap(&self, pool: PgPool) -> GuardedPool {
        GuardedPool {
            pool,
            guard: self.clone(),
        }
    }
}

/// A pool whose queries pass the guard first. Use `&guarded` wherever sqlx
/// takes an executor: `sqlx::query(sql).fetch_all(&guarded)`.
#[derive(Debug, Clone)]
pub struct GuardedPool {
    pool: PgPool,
    guard: Guard,
}

impl GuardedPool {
    /// The pool underneath (unguarded).
    pub fn inner(&self) -> &PgPool {
        &self.pool
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    fn refusal(&self, sql: &str) -> Option<sqlx::Error> {
        self.guard
            .check(sql)
            .err()
            .map(|e| sqlx::Error::AnyDriverError(Box::new(e)))
    }
}

impl<'p> Executor<'p> for &'p GuardedPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        match self.refusal(query.sql()) {
            Some(error) => Box::pin(futures_util::stream::once(async move { Err(error) })),
            None => (&self.pool).fetch_many(query),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        match self.refusal(query.sql()) {
            Some(error) => Box::pin(async move { Err(error) }),
            None => (&self.pool).fetch_optional(query),
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        match self.refusal(sql) {
            Some(error) => Box::pin(async move { Err(error) }),
            None => (&self.pool).prepare_with(sql, parameters),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        match self.refusal(sql) {
            Some(error) => Box::pin(async move { Err(error) }),
            None => (&self.pool).describe(sql),
        }
    }
}
