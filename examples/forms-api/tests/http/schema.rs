//! `schema.sql`, against which the type-checked queries' offline data is
//! written, still matches the models: loaded into a database of its own, it
//! passes `Tenancy::verify`.

use std::str::FromStr;

use forms_api::setup;
use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::{self, ConnectOptions, Connection};

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
    verdict
        .expect("schema.sql differs from the models: update it, then run scripts/sqlx-prepare.sh");
}
