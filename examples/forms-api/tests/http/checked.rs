//! The type-checked macros (`check_types = true`) run sqlx's code with the
//! tenant's routed SQL: records and scalars come from the tenant's own
//! partitions, on a pool and in a tenant transaction.

use tenant_runtime::{tenant_query, tenant_query_file, tenant_query_scalar};

use crate::support::Server;

#[tokio::test]
async fn typed_records_run_routed_to_the_tenants_partitions() {
    let server = Server::start(&["alpha", "beta"]).await;
    let (alpha_token, beta_token) = (server.token("alpha"), server.token("beta"));
    server.create_form(&alpha_token, "Alpha survey").await;
    server.create_form(&beta_token, "Beta sign-up").await;
    server.create_form(&beta_token, "Beta feedback").await;
    let alpha = server.tenancy.tenant(&server.pool, "alpha").await.unwrap();
    let beta = server.tenancy.tenant(&server.pool, "beta").await.unwrap();

    // The statement sent names the tenant's partition, not the parent.
    let query = tenant_query!(
        &beta,
        "SELECT id, title FROM forms WHERE tenant_id = $tenant ORDER BY id"
    );
    let sql = query.sql();
    assert!(!sql.contains("public.forms "), "{sql}");
    let partition: String = tenant_runtime::sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'public.forms'::regclass \
           AND pg_get_expr(c.relpartbound, c.oid) LIKE '%''beta''%'",
    )
    .fetch_one(&server.pool)
    .await
    .unwrap();
    assert!(sql.contains(&partition), "{sql} should name {partition}");

    // sqlx's record: typed fields, beta's rows only.
    let rows = query.fetch_all(&server.pool).await.unwrap();
    let titles: Vec<(i64, String)> = rows.into_iter().map(|r| (r.id, r.title)).collect();
    assert_eq!(
        titles,
        [
            (1, "Beta sign-up".to_string()),
            (2, "Beta feedback".to_string())
        ]
    );

    // What ran is the routed statement: run twice (a routed statement is
    // prepared on its second run), the connection's prepared statement
    // names the partition.
    let mut conn = server.pool.acquire().await.unwrap();
    for _ in 0..2 {
        let ids = tenant_query!(
            &beta,
            "SELECT id FROM forms WHERE tenant_id = $tenant AND id > $1",
            0_i64
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(ids.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2]);
    }
    let prepared: Vec<String> = tenant_runtime::sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%id > $1%' AND statement NOT LIKE '%pg_prepared%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(prepared.len(), 1, "{prepared:?}");
    assert!(
        prepared[0].contains(&partition),
        "{prepared:?} should name {partition}"
    );
    drop(conn);

    // The `_file` form: the same, with the SQL in queries/form_titles.sql.
    let newest = tenant_query_file!(&beta, "queries/form_titles.sql")
        .fetch_all(&server.pool)
        .await
        .unwrap();
    let newest: Vec<(i64, String)> = newest.into_iter().map(|r| (r.id, r.title)).collect();
    assert_eq!(
        newest,
        [
            (2, "Beta feedback".to_string()),
            (1, "Beta sign-up".to_string())
        ]
    );

    // In a tenant transaction, through `&mut *tx`, and a scalar whose type
    // sqlx inferred (`!`: never NULL).
    let mut tx = alpha.begin(&server.pool).await.unwrap();
    let title = tenant_query!(
        &alpha,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap()
    .title;
    assert_eq!(title, "Alpha survey");
    let updated = tenant_query!(
        &alpha,
        "UPDATE forms SET title = $1 WHERE tenant_id = $tenant AND id = 1",
        "Alpha survey, renamed"
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    tx.commit().await.unwrap();
    let count: i64 = tenant_query_scalar!(
        &alpha,
        r#"SELECT count(*) AS "count!" FROM forms WHERE tenant_id = $tenant AND title LIKE $1"#,
        "%renamed"
    )
    .fetch_one(&server.pool)
    .await
    .unwrap();
    assert_eq!(count, 1);
    let beta_first: Option<String> = tenant_query_scalar!(
        &beta,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = 1"
    )
    .fetch_optional(&server.pool)
    .await
    .unwrap();
    assert_eq!(beta_first.as_deref(), Some("Beta sign-up"));
}
