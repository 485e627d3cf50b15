//! Test support shared by the `tenant` command's end-to-end tests: a
//! throw-away database on a real server, and running the built binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::str::FromStr;

use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::{self, ConnectOptions, Connection, PgConnection};

/// The server the tests use (`DATABASE_URL`).
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Runs `future` on a runtime of its own.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A suffix unique across parallel tests and processes.
pub fn unique() -> String {
    format!(
        "{}_{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is past 1970")
            .as_nanos()
    )
}

/// A database made for one test, dropped when this value is (also when the
/// test panics).
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    server: String,
}

impl TestDb {
    /// A database on the `DATABASE_URL` server.
    pub fn new() -> TestDb {
        TestDb::on_server(&admin_url())
    }

    /// A database on the server of `server_url` (its `postgres` database).
    pub fn on_server(server_url: &str) -> TestDb {
        let name = format!("tenant_cli_test_{}", unique());
        let admin = PgConnectOptions::from_str(server_url).expect("a valid server URL");
        block_on(async {
            let mut connection = admin.connect().await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {server_url} is not reachable ({e}); `bash scripts/setup.sh` starts the test servers")
            });
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await
                .expect("create the test database");
            connection.close().await.ok();
        });
        let url = admin.database(&name).to_url_lossy().to_string();
        TestDb {
            name,
            url,
            server: server_url.to_string(),
        }
    }

    /// Runs `sql` (one or more statements); `Err` with PostgreSQL's message.
    pub fn exec(&self, sql: &str) -> Result<(), String> {
        block_on(async {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let result = sqlx::raw_sql(sql).execute(&mut connection).await;
            connection.close().await.ok();
            result.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    /// One i64 from a query.
    pub fn count(&self, sql: &str) -> i64 {
        block_on(async {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            let n = sqlx::query_scalar(sql)
                .fetch_one(&mut connection)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            connection.close().await.ok();
            n
        })
    }

    /// Runs `tenant ARGS` on this database.
    pub fn tenant(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tenant"))
            .args(["--database-url", &self.url])
            .args(args)
            .env_remove("DATABASE_URL")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("the tenant binary runs")
    }

    /// Runs `tenant ARGS`, asserts it succeeded, and returns its stdout.
    pub fn tenant_ok(&self, args: &[&str]) -> String {
        let output = self.tenant(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "tenant {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

/// Drops the server-wide roles of the current database's schema tenants (a
/// tenant's `tenant_t7_<tag>`, a registry's `tenants_<tag>`): roles that
/// only objects of this database depend on.
pub const DROP_SCHEMA_TENANT_ROLES: &str =
    include_str!("../../../tenant-runtime/tests/support/drop_schema_tenant_roles.sql");

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = PgConnectOptions::from_str(&self.server).expect("a valid server URL");
        let name = self.name.clone();
        let url = self.url.clone();
        block_on(async move {
            // Schema tenants' roles first, while the database that shows
            // which are ours exists.
            if let Ok(mut connection) = PgConnection::connect(&url).await {
                let _ = sqlx::raw_sql(DROP_SCHEMA_TENANT_ROLES)
                    .execute(&mut connection)
                    .await;
                connection.close().await.ok();
            }
            if let Ok(mut connection) = admin.connect().await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await;
            }
        });
    }
}

/// `tenant ARGS` in `dir` (where its `tenancy.toml` is) with `env`, and no
/// `DATABASE_URL` unless `env` gives one.
pub fn tenant_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenant"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the tenant binary runs")
}
