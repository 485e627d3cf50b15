//! What every tenancy operation runs on: DDL without prepared statements,
//! PostgreSQL's errors mapped to the runtime's, the lock-timeout retry and
//! the runtime's advisory locks.
//!
//! This module sits below every other one of the tenancy: it imports none of
//! them, so they can all use it without an import cycle.

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Postgres};

use crate::error::Error;

/// First key of every advisory lock the runtime takes (`'tena'`), so its locks
/// do not collide with an application's own single-key advisory locks.
pub(super) const LOCK_CLASS: i32 = 0x7465_6e61;

/// Runs DDL without preparing it (per-tenant DDL would only fill the
/// connection's statement cache).
pub(super) async fn execute_ddl(
    connection: &mut PgConnection,
    sql: &str,
) -> Result<(), sqlx::Error> {
    tracing::debug!(sql, "tenancy ddl");
    // A bare `&str` runs through the simple-query protocol: no prepared
    // statement, no cache entry.
    sqlx::Executor::execute(&mut *connection, sql).await?;
    Ok(())
}

/// Turns "relation (or function, or schema) does not exist" from a registry
/// query into [`Error::NotInstalled`].
pub(super) fn map_registry_error(schema: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |error| match &error {
        sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("42P01" | "42883" | "3F000")) =>
        {
            Error::NotInstalled {
                schema: schema.to_string(),
            }
        }
        _ => Error::Database(error),
    }
}

/// PostgreSQL's message with its DETAIL line (which names the key and the
/// rows), for errors that carry it in a reason string.
pub(super) fn message_with_detail(error: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = error else {
        return error.to_string();
    };
    match db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.detail())
    {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    }
}

/// `true` for PostgreSQL's foreign_key_violation (23503).
pub(super) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}

/// `lock_timeout` as PostgreSQL's setting spells it (at least 1 ms: 0 would
/// mean no timeout at all).
pub(super) fn lock_timeout_setting(lock_timeout: Duration) -> String {
    format!("{}ms", lock_timeout.as_millis().max(1))
}

/// A transaction holding tenant `id`'s advisory lock (so it does not
/// interleave with an onboarding or offboarding of the tenant) with the
/// tenancy's lock timeout. Waiting for the advisory lock is not under
/// lock_timeout: its holder is itself bounded.
pub(super) async fn tenant_transaction(
    pool: &PgPool,
    id: &str,
    lock_timeout: Duration,
) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(id)
        .execute(&mut *transaction)
        .await?;
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(lock_timeout_setting(lock_timeout))
        .execute(&mut *transaction)
        .await?;
    Ok(transaction)
}

/// Retries an operation on lock timeouts, deadlocks and serialization
/// failures, with exponential backoff and jitter, within a time budget.
pub(super) struct Retry {
    operation: String,
    started: Instant,
    attempts: u32,
    budget: Duration,
}

impl Retry {
    pub(super) fn new(operation: String, budget: Duration) -> Retry {
        Retry {
            operation,
            started: Instant::now(),
            attempts: 0,
            budget,
        }
    }

    /// Waits before the next attempt, or turns `error` into the final error.
    pub(super) async fn failed(&mut self, error: Error) -> Result<(), Error> {
        self.attempts += 1;
        let sql_error = match &error {
            Error::Database(sql_error) if Error::is_transient(sql_error) => sql_error,
            _ => return Err(error),
        };
        let elapsed = self.started.elapsed();
        let exponent = self.attempts.min(6);
        let ceiling = Duration::from_millis(20 << exponent).min(Duration::from_secs(1));
        // Jitter spreads out contenders that timed out together.
        let pause = ceiling.mul_f64(0.5 + fastrand::f64() * 0.5);
        if elapsed + pause > self.budget {
            return Err(Error::LockTimeout {
                operation: self.operation.clone(),
                attempts: self.attempts,
                elapsed,
                last: sql_error.to_string(),
            });
        }
        tracing::info!(
            operation = %self.operation,
            attempt = self.attempts,
            error = %sql_error,
            "lock wait timed out; retrying after {pause:?}"
        );
        tokio::time::sleep(pause).await;
        Ok(())
    }
}
