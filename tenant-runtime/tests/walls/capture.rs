//! Finding 3: a temporary table named like another tenant's partition (or
//! like a parent, for `via_parents`) captured that tenant's later reads and
//! inserts on the same pooled connection: routed names of tables declared
//! without a schema were rendered unqualified, and `pg_temp` is searched
//! first.

use sqlx::postgres::PgPoolOptions;
use tenant_runtime::tenant_core::route::RouteTemplate;
use tenant_runtime::tenant_core::Analyzer;

use crate::count;
use crate::support::{insert_rows, installed};

#[tokio::test]
async fn a_temporary_table_cannot_capture_routed_or_parent_queries() {
    let (db, tenancy) = installed(2).await;
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    insert_rows(&db, "beta", 1).await;
    // One pooled connection, shared by the "attacker" and beta's queries.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let beta = tenancy.tenant(&pool, "beta").await.unwrap();
    let partition = tenant_runtime::schema::partition_name("forms", beta.partition_suffix());
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE {partition} (tenant_id text, id bigint, title text, created_at timestamptz); \
         CREATE TEMP TABLE forms (tenant_id text, id bigint, title text, created_at timestamptz)"
    ))
    .execute(&pool)
    .await
    .unwrap();

    let analyzer = Analyzer::new(tenancy.config().clone());
    let render = |tenant: &tenant_runtime::Tenant, sql: &str| {
        let analysis = analyzer.analyze(sql).unwrap();
        assert!(analysis.is_ok(), "{sql}");
        tenant.route_sql(&RouteTemplate::from_analysis(&analysis))
    };
    let read = "SELECT count(*) FROM forms WHERE tenant_id = $tenant";
    let insert = "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, 2, 'second')";
    for tenant in [beta.clone(), beta.via_parents()] {
        let sql = render(&tenant, read);
        let seen: i64 = sqlx::query_scalar(&sql)
            .bind(tenant.id())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(seen >= 1, "{sql} read the temporary table");
    }
    for (tenant, id) in [(beta.clone(), 2_i64), (beta.via_parents(), 3)] {
        let sql = render(&tenant, insert)
            .replace(", 2,", &format!(", {id},"))
            .replace("'second'", &format!("'form {id}'"));
        sqlx::query(&sql)
            .bind(tenant.id())
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM pg_temp.{partition}")).await,
        0
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM pg_temp.forms").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM public.forms WHERE tenant_id = 'beta'")
            .await,
        3
    );
    pool.close().await;
}
