//! The runtime's walls, each finding of an attack on them as a test against
//! the real server: two registries that took over each other's partitions,
//! partitions without row-level security, temporary tables that captured
//! routed queries, a guard that lexed SQL unlike the server, raw SQL that
//! switched tenants inside a tenant transaction, archives emptied through a
//! stale handle, and the smaller ones (a strict guard bound to a tenant,
//! "no tenant" under a uuid column, the registry as the application role
//! sees it, look-alike tenant ids). Each test failed before its wall.

#[path = "../support/mod.rs"]
mod support;

mod archives;
mod capture;
mod ids;
mod lexing;
mod registries;
mod row_level_security;
mod switching;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use support::{admin_exec_blocking, TestDb};

/// A cluster-wide login role for one test, dropped after the test database
/// (declare it before the `TestDb`, so it is dropped after it).
pub struct Role(pub String);

impl Role {
    /// A fresh role name; the role is created by `app_role(..)` installs or
    /// by [`Role::create`].
    pub fn new(prefix: &str) -> Role {
        Role(format!(
            "{prefix}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ))
    }

    /// Creates it as a plain login role.
    pub async fn create(&self, db: &TestDb) {
        db.exec(&format!("CREATE ROLE {} LOGIN", self.0)).await;
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if !admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0)) {
            eprintln!("warning: could not drop test role {}", self.0);
        }
    }
}

/// A pool of `connections` on the test database as `role`.
pub async fn pool_as(db: &TestDb, role: &str, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(db.options.clone().username(role))
        .await
        .unwrap_or_else(|e| panic!("connect as {role}: {e}"))
}

/// One i64 from a query on any executor.
pub async fn count(executor: impl sqlx::PgExecutor<'_>, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(executor)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
