//! `tenant schema --check FILE`: the live database against the tenant
//! tables a DDL file declares (what `tenant schema` printed, or the
//! application's `schema.sql`), with the comparison `Tenancy::verify` makes
//! against derived models. The CLI has no models of its own; the file
//! stands in for them.
//!
//! The file is loaded into a scratch database on the same server (so its
//! types, defaults and keys are read back exactly as PostgreSQL holds
//! them), its tenant tables are discovered there, and the scratch database
//! is dropped whatever happens.

use std::path::Path;
use std::time::Duration;

use tenant_core::schema::quote_ident;
use tenant_runtime::connect::{connect_options, connect_pool_with};
use tenant_runtime::sqlx::postgres::PgPoolOptions;
use tenant_runtime::sqlx::{self, PgPool};
use tenant_runtime::Tenancy;

/// How long the scratch database's first connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum SchemaCheck {
    /// The database holds every tenant table of the file as declared.
    Matches,
    /// At least one difference (printed).
    Differs,
}

/// Compares the database `pool` reaches with the tenant tables of `file`,
/// printing every difference on stdout, one per line.
pub async fn check(
    pool: &PgPool,
    database_url: &str,
    config: &tenant_core::Config,
    file: &Path,
) -> Result<SchemaCheck, String> {
    let ddl = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let expected = expected_tables(pool, database_url, config, file, &ddl).await?;
    let differences = expected
        .schema_differences(pool)
        .await
        .map_err(|e| e.to_string())?;
    let tables = expected.tables().len();
    if differences.is_empty() {
        println!(
            "the database matches {}: {tables} tenant table{}",
            file.display(),
            if tables == 1 { "" } else { "s" }
        );
        return Ok(SchemaCheck::Matches);
    }
    for difference in &differences {
        println!("{difference}");
    }
    eprintln!(
        "{} difference{} between the database and {}",
        differences.len(),
        if differences.len() == 1 { "" } else { "s" },
        file.display()
    );
    Ok(SchemaCheck::Differs)
}

/// The tenant tables `ddl` declares, read back from a scratch database.
async fn expected_tables(
    pool: &PgPool,
    database_url: &str,
    config: &tenant_core::Config,
    file: &Path,
    ddl: &str,
) -> Result<Tenancy, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = format!("tenant_schema_check_{}_{nanos}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&scratch)))
        .execute(pool)
        .await
        .map_err(|e| {
            format!(
                "cannot create a scratch database to load {}: {e}",
                file.display()
            )
        })?;
    let loaded = load_and_discover(database_url, config, file, ddl, &scratch).await;
    let dropped = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(&scratch)
    ))
    .execute(pool)
    .await;
    let tenancy = loaded?;
    dropped.map_err(|e| format!("cannot drop the scratch database {scratch}: {e}"))?;
    Ok(tenancy)
}

async fn load_and_discover(
    database_url: &str,
    config: &tenant_core::Config,
    file: &Path,
    ddl: &str,
    scratch: &str,
) -> Result<Tenancy, String> {
    let options = connect_options(database_url)
        .map_err(|e| e.to_string())?
        .database(scratch);
    let scratch_pool = connect_pool_with(
        options,
        PgPoolOptions::new().max_connections(1),
        CONNECT_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = async {
        // The file is the user's own DDL, run as written (several
        // statements), in a database that exists only for this check.
        sqlx::raw_sql(ddl)
            .execute(&scratch_pool)
            .await
            .map_err(|e| {
                format!(
                    "{} does not load into an empty database: {e}",
                    file.display()
                )
            })?;
        let tenancy = Tenancy::discover(&scratch_pool, config.clone())
            .await
            .map_err(|e| e.to_string())?;
        if tenancy.tables().is_empty() {
            return Err(format!(
                "{} declares no tenant tables: expected tables PARTITION BY LIST ({})",
                file.display(),
                config.tenant_column
            ));
        }
        Ok(tenancy)
    }
    .await;
    scratch_pool.close().await;
    result
}
