//! `schema.sql`, against which the type-checked queries' offline data is
//! written, still matches the models: loaded into a database of its own, it
//! passes `Tenancy::verify`. And the offline data (`.sqlx/`) still matches
//! `schema.sql`: each recorded query, prepared on that database, has the
//! columns and parameter types recorded. (A query changed in the code
//! without new data already fails the offline build.)

use std::path::Path;
use std::str::FromStr;

use forms_api::setup;
use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::postgres::PgTypeInfo;
use tenant_runtime::sqlx::{
    self, Column, ConnectOptions, Connection, Either, Executor, PgConnection, Statement, TypeInfo,
};

use crate::support::database_url;

#[tokio::test]
async fn the_schema_the_queries_are_described_against_matches_the_models() {
    let url = database_url();
    let name = format!("forms_api_schema_{}", std::process::id());
    setup::create_database(&url, &name).await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().database(&name);
    let result = async {
        let mut connection = options.connect().await?;
        sqlx::raw_sql(include_str!("../../schema.sql"))
            .execute(&mut connection)
            .await?;
        offline_data_matches(&mut connection).await?;
        connection.close().await?;
        let pool = tenant_runtime::sqlx::PgPool::connect_with(options.clone()).await?;
        let tenancy = setup::tenancy(setup::config())?;
        let verdict = tenancy.verify(&pool).await;
        pool.close().await;
        verdict.map_err(Into::into)
    }
    .await;
    setup::drop_database(&url, &name).await.unwrap();
    let verdict: Result<(), Box<dyn std::error::Error>> = result;
    verdict.expect("schema.sql or the offline data is out of date");
}

/// Every `.sqlx/query-*.json`: the query prepared on `connection` has the
/// recorded columns (name and type) and parameter types.
async fn offline_data_matches(
    connection: &mut PgConnection,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sqlx");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let query = data["query"].as_str().ok_or("a query")?;
        let described = &data["describe"];
        let statement = connection.prepare(query).await?;
        let columns: Vec<(String, String)> = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), type_key(c.type_info())))
            .collect();
        let recorded: Vec<(String, String)> = described["columns"]
            .as_array()
            .ok_or("columns")?
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    recorded_key(&c["type_info"]),
                )
            })
            .collect();
        let parameters: Vec<String> = match statement.parameters() {
            Some(Either::Left(types)) => types.iter().map(type_key).collect(),
            _ => Vec::new(),
        };
        let recorded_parameters: Vec<String> = described["parameters"]["Left"]
            .as_array()
            .map(|types| types.iter().map(recorded_key).collect())
            .unwrap_or_default();
        if (columns, parameters) != (recorded, recorded_parameters) {
            return Err(format!(
                "{} no longer matches schema.sql for `{query}`: run scripts/sqlx-prepare.sh",
                path.display()
            )
            .into());
        }
        checked += 1;
    }
    assert!(checked > 0, "no offline data in {}", dir.display());
    Ok(())
}

/// A type as sqlx records it (`Int8`, `Text`) and as PostgreSQL names it
/// (`INT8`, `TEXT`), compared in one spelling.
fn type_key(type_info: &PgTypeInfo) -> String {
    type_info.name().to_ascii_lowercase().replace("[]", "array")
}

fn recorded_key(value: &serde_json::Value) -> String {
    match value.as_str() {
        Some(name) => name.to_ascii_lowercase(),
        None => value.to_string(),
    }
}
