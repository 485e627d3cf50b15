//! The tenancy against the real PostgreSQL, one module per concern as in
//! `src/tenancy/`: onboarding, offboarding, keys (sync and key moves) and
//! discovery of tables made with plain SQL. Each test makes its own
//! database (see `support`), so they run in parallel.

#[path = "../support/mod.rs"]
mod support;

mod citus;
mod connect;
mod discover;
mod inserts;
mod keys;
mod layouts;
mod offboard;
mod onboard;
mod verify;

use std::time::Duration;

use support::TestDb;
use tenant_runtime::{Config, Tenancy};

/// A plain-SQL table whose rows reference each other through a key
/// declared on the parent, which PostgreSQL 15 refuses to detach while such
/// rows are attached.
pub(crate) const USERS_SQL: &str = r#"
    CREATE TABLE users (tenant_id text NOT NULL, id bigint NOT NULL, manager_id bigint,
        name text NOT NULL, shout text GENERATED ALWAYS AS (upper(name)) STORED,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
"#;

/// Tasks owned by users (a key from another tenancy table).
pub(crate) const TASKS_SQL: &str = r#"
    CREATE TABLE tasks (tenant_id text NOT NULL, id bigint NOT NULL, owner_id bigint NOT NULL,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
"#;

/// A discovered tenancy over [`USERS_SQL`] (and [`TASKS_SQL`] if `tasks`)
/// and `extra_sql`, with `tenants` onboarded, each with a chain of three
/// users (3 reports to 2, 2 to 1) and, with tasks, a task owned by user 3.
pub(crate) async fn self_referencing_tenancy(
    db: &TestDb,
    tasks: bool,
    extra_sql: &str,
    tenants: &[&str],
    retry_budget: Duration,
) -> Tenancy {
    db.exec(USERS_SQL).await;
    if tasks {
        db.exec(TASKS_SQL).await;
    }
    if !extra_sql.is_empty() {
        db.exec(extra_sql).await;
    }
    let tenancy = Tenancy::builder(Config::default())
        .lock_timeout(Duration::from_millis(200))
        .retry_budget(retry_budget)
        .discover(&db.pool)
        .await
        .unwrap()
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in tenants {
        tenancy.onboard(&db.pool, id).await.unwrap();
        db.exec(&format!(
            "INSERT INTO users (tenant_id, id, manager_id, name) VALUES \
               ('{id}', 1, NULL, 'ada {id}'), ('{id}', 2, 1, 'bob {id}'), ('{id}', 3, 2, 'cy {id}')"
        ))
        .await;
        if tasks {
            db.exec(&format!(
                "INSERT INTO tasks (tenant_id, id, owner_id) VALUES ('{id}', 1, 3)"
            ))
            .await;
        }
    }
    tenancy
}

pub(crate) fn users_partition(tenancy: &Tenancy, suffix: &str) -> String {
    tenancy.tables()[0].qualified_partition_name(suffix)
}

pub(crate) async fn suffix_of(tenancy: &Tenancy, db: &TestDb, id: &str) -> String {
    tenancy
        .tenant(&db.pool, id)
        .await
        .unwrap()
        .partition_suffix()
        .to_string()
}
