//! The database behind the service: created when missing, the tenancy
//! installed (idempotent), a pool sized for routed queries.

use std::error::Error;
use std::str::FromStr;

use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::sqlx::{self, ConnectOptions, Connection, PgPool};
use tenant_runtime::{Config, Tenancy};

use crate::model::{Form, Submission};

/// The tenancy of the forms model under `config`.
pub fn tenancy(config: Config) -> Result<Tenancy, tenant_runtime::Error> {
    Tenancy::builder(config)
        .table::<Form>()
        .table::<Submission>()
        .build()
}

/// The configuration the macros checked the queries against, embedded at
/// build time.
pub fn config() -> Config {
    tenant_runtime::tenancy_config!()
}

/// Creates database `name` on the server of `url` unless it exists.
pub async fn create_database(url: &str, name: &str) -> Result<(), Box<dyn Error>> {
    let mut conn = admin_connection(url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = tenant_runtime::schema::quote_ident(name);
        sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// Drops database `name` (and its connections).
pub async fn drop_database(url: &str, name: &str) -> Result<(), Box<dyn Error>> {
    let mut conn = admin_connection(url).await?;
    let quoted = tenant_runtime::schema::quote_ident(name);
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// A pool on database `name` for `tenancy`, with the tenancy installed.
pub async fn open(
    url: &str,
    name: &str,
    tenancy: &Tenancy,
    max_connections: u32,
) -> Result<PgPool, Box<dyn Error>> {
    let options = PgConnectOptions::from_str(url)?.database(name);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(tenancy.connect_options(options))
        .await?;
    tenancy.install(&pool).await?;
    Ok(pool)
}

async fn admin_connection(url: &str) -> Result<sqlx::PgConnection, Box<dyn Error>> {
    PgConnectOptions::from_str(url)?
        .connect()
        .await
        .map_err(|e| {
            format!(
                "PostgreSQL at {} is not reachable ({e}); run `bash scripts/setup.sh` first",
                tenant_runtime::connect::redact_url(url)
            )
            .into()
        })
}
