//! Partition-direct routing of the macros' queries, observed on the server:
//! which relation the statement names (`pg_prepared_statements`), when it is
//! kept prepared, and the opt-outs.

mod support;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use support::{form_submissions, forms, TestDb};
use tenant_runtime::routing::{parent_query_options, StatementCaching};
use tenant_runtime::Config;
use tenant_runtime::{
    tenant_query, tenant_query_as, tenant_query_file, tenant_query_file_as,
    tenant_query_file_scalar, tenant_query_scalar, Tenancy, TenancyBuilder, Tenant,
};

async fn setup(
    configure: impl FnOnce(TenancyBuilder) -> TenancyBuilder,
) -> (TestDb, Tenancy, Tenant, Tenant) {
    let db = TestDb::new(4).await;
    let builder = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions());
    let tenancy = configure(builder).build().unwrap();
    tenancy.install(&db.pool).await.unwrap();
    let alpha = tenancy.onboard(&db.pool, "alpha").await.unwrap().tenant;
    let beta = tenancy.onboard(&db.pool, "beta").await.unwrap().tenant;
    for (tenant, title) in [(&alpha, "alpha form"), (&beta, "beta form")] {
        sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, 1, $2)")
            .bind(tenant.id())
            .bind(title)
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO form_submissions (tenant_id, id, form_id, payload) VALUES ($1, 10, 1, $2)",
        )
        .bind(tenant.id())
        .bind(format!("{title} payload"))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    (db, tenancy, alpha, beta)
}

/// A one-connection pool, so the statements one query leaves prepared are
/// the ones `pg_prepared_statements` shows.
async fn single(db: &TestDb, tenancy: &Tenancy) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(tenancy.connect_options(db.options.clone()))
        .await
        .unwrap()
}

async fn prepared(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT statement FROM pg_prepared_statements ORDER BY prepare_time")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn title(pool: &PgPool, tenant: &Tenant) -> Option<String> {
    tenant_query_scalar!(
        tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn queries_name_the_tenants_partition_and_are_prepared_from_the_second_run() {
    let (db, tenancy, alpha, beta) = setup(|t| t).await;
    let pool = single(&db, &tenancy).await;
    assert!(alpha.is_routed());

    assert_eq!(title(&pool, &alpha).await.as_deref(), Some("alpha form"));
    // First run of the pair: the unnamed statement, nothing kept.
    assert!(
        !prepared(&pool).await.iter().any(|s| s.contains("forms_t")),
        "{:?}",
        prepared(&pool).await
    );
    assert_eq!(title(&pool, &alpha).await.as_deref(), Some("alpha form"));
    assert_eq!(title(&pool, &beta).await.as_deref(), Some("beta form"));
    assert_eq!(title(&pool, &beta).await.as_deref(), Some("beta form"));
    let statements = prepared(&pool).await;
    let alpha_partition = format!("forms_{} AS forms", alpha.partition_suffix());
    let beta_partition = format!("forms_{} AS forms", beta.partition_suffix());
    assert!(
        statements.iter().any(|s| s.contains(&alpha_partition)),
        "{statements:?}"
    );
    assert!(
        statements.iter().any(|s| s.contains(&beta_partition)),
        "{statements:?}"
    );
    assert!(
        !statements
            .iter()
            .any(|s| s.contains("FROM public.forms WHERE")),
        "{statements:?}"
    );
}

#[derive(tenant_runtime::FromRow, Debug, PartialEq)]
struct Joined {
    title: String,
    payload: Option<String>,
}

#[tokio::test]
async fn joins_dml_and_returning_resolve_through_the_alias() {
    let (db, _tenancy, alpha, beta) = setup(|t| t).await;
    let pool = &db.pool;
    let rows: Vec<Joined> = tenant_query_as!(
        Joined,
        &alpha,
        "SELECT forms.title, s.payload FROM forms JOIN form_submissions s \
           ON s.tenant_id = forms.tenant_id AND s.form_id = forms.id \
         WHERE forms.tenant_id = $tenant ORDER BY forms.id"
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![Joined {
            title: "alpha form".into(),
            payload: Some("alpha form payload".into())
        }]
    );

    let returned: String = tenant_query_scalar!(
        &beta,
        "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, 2, $1) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET title = EXCLUDED.title \
         RETURNING forms.title",
        "second"
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(returned, "second");
    let updated = tenant_query!(
        &beta,
        "UPDATE forms SET title = forms.title || '!' WHERE tenant_id = $tenant AND id = 2"
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    // Visible through the parent, and only in beta's partition.
    let in_partition: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM forms_{} WHERE title = 'second!'",
        beta.partition_suffix()
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(in_partition, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE title = 'second!' AND tenant_id = 'beta'")
            .await,
        1
    );
}

#[tokio::test]
async fn queries_from_sql_files_run_on_the_tenants_partitions() {
    let (db, tenancy, alpha, beta) = setup(|t| t).await;
    let pool = single(&db, &tenancy).await;
    // Alpha twice: a call site's statement is kept from its second run.
    for tenant in [&alpha, &beta, &alpha] {
        let rows: Vec<Joined> =
            tenant_query_file_as!(Joined, tenant, "tests/sql/form_with_payloads.sql", 1_i64)
                .fetch_all(&pool)
                .await
                .unwrap();
        let title = format!("{} form", tenant.id());
        assert_eq!(
            rows,
            vec![Joined {
                payload: Some(format!("{title} payload")),
                title,
            }]
        );
    }
    let statements = prepared(&pool).await;
    let routed_join = format!(
        "FROM public.forms_{} AS forms\nJOIN public.form_submissions_{} s",
        alpha.partition_suffix(),
        alpha.partition_suffix()
    );
    assert!(
        statements.iter().any(|s| s.contains(&routed_join)),
        "{statements:?}"
    );
    let renamed: String =
        tenant_query_file_scalar!(&beta, "tests/sql/rename_form.sql", 1_i64, "renamed")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(renamed, "renamed");
    let row = tenant_query_file!(&alpha, "tests/sql/rename_form.sql", 1_i64, "alpha renamed")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("title"), "alpha renamed");
    // Each tenant's rename reached its own row only.
    assert_eq!(title(&pool, &alpha).await.as_deref(), Some("alpha renamed"));
    assert_eq!(title(&pool, &beta).await.as_deref(), Some("renamed"));
}

#[tokio::test]
async fn via_parents_and_the_tenancy_switch_name_the_parents() {
    let (db, tenancy, alpha, _beta) = setup(|t| t).await;
    let pool = single(&db, &tenancy).await;
    let parents = alpha.via_parents();
    assert!(!parents.is_routed());
    assert_eq!(parents, alpha, "same tenant");
    assert_eq!(title(&pool, &parents).await.as_deref(), Some("alpha form"));
    let statements = prepared(&pool).await;
    assert!(
        statements
            .iter()
            .any(|s| s.contains("FROM public.forms WHERE")),
        "{statements:?}"
    );
    assert!(
        !statements.iter().any(|s| s.contains("forms_t")),
        "{statements:?}"
    );

    let db2 = TestDb::new(2).await;
    let unrouted = Tenancy::builder(Config::default())
        .schema(forms())
        .routing(false)
        .build()
        .unwrap();
    unrouted.install(&db2.pool).await.unwrap();
    let gamma = unrouted.onboard(&db2.pool, "gamma").await.unwrap().tenant;
    assert!(!gamma.is_routed());
    let pool2 = single(&db2, &unrouted).await;
    assert_eq!(title(&pool2, &gamma).await, None);
    assert!(prepared(&pool2)
        .await
        .iter()
        .any(|s| s.contains("FROM public.forms WHERE")));
}

/// The query of [`a_failing_condition_reveals_nothing_when_routed`]: accepted
/// (every tenant table is bound), but on the parents the DISTINCT keeps
/// PostgreSQL from carrying `$tenant` over to `s`, so it scans every
/// tenant's submissions and applies the regular expression to each.
async fn matching_submissions(pool: &PgPool, tenant: &Tenant) -> Result<i64, sqlx::Error> {
    tenant_query_scalar!(
        tenant,
        "SELECT count(*) FROM (SELECT DISTINCT f.tenant_id FROM forms f WHERE f.tenant_id = $tenant) d \
         JOIN form_submissions s ON s.tenant_id = d.tenant_id AND 'form' ~ s.payload"
    )
    .fetch_one(pool)
    .await
}

#[tokio::test]
async fn a_failing_condition_reveals_nothing_when_routed() {
    let (db, tenancy, alpha, beta) = setup(|t| t).await;
    // Beta's payload is not a valid regular expression: a query that
    // evaluated `~` on it would fail, and so tell alpha that beta has it.
    sqlx::query("UPDATE form_submissions SET payload = '(' WHERE tenant_id = $1")
        .bind(beta.id())
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE form_submissions SET payload = 'form' WHERE tenant_id = $1")
        .bind(alpha.id())
        .execute(&db.pool)
        .await
        .unwrap();
    let pool = single(&db, &tenancy).await;
    // With these few rows PostgreSQL may look `s` up per row of `d`, and
    // prune beta's partition at run time; with more rows it hashes, and
    // scans every partition. Ask for the latter (one connection: it stays).
    sqlx::query("SET enable_nestloop = off")
        .execute(&pool)
        .await
        .unwrap();

    // Routed, the statement names alpha's partitions only: beta's rows are
    // not in it at all.
    assert_eq!(matching_submissions(&pool, &alpha).await.unwrap(), 1);
    assert_eq!(matching_submissions(&pool, &alpha).await.unwrap(), 1);

    // On the parents the same accepted statement fails on beta's row: the
    // side channel that routing (or row-level security, see rls.rs) closes.
    let err = matching_submissions(&pool, &alpha.via_parents())
        .await
        .expect_err("the parents' plan applies `~` to beta's rows");
    assert!(
        err.to_string().contains("invalid regular expression"),
        "{err}"
    );
}

#[tokio::test]
async fn unnamed_caching_keeps_no_routed_statement() {
    let (db, tenancy, alpha, _beta) =
        setup(|b| b.statement_caching(StatementCaching::Unnamed)).await;
    let pool = single(&db, &tenancy).await;
    for _ in 0..3 {
        assert_eq!(title(&pool, &alpha).await.as_deref(), Some("alpha form"));
    }
    let statements = prepared(&pool).await;
    assert!(
        !statements.iter().any(|s| s.contains("forms_t")),
        "{statements:?}"
    );
}

#[tokio::test]
async fn cte_named_like_a_table_and_global_only_queries() {
    let (db, _tenancy, alpha, _beta) = setup(|t| t).await;
    let count: i64 = tenant_query_scalar!(
        &alpha,
        "WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT count(*) FROM forms"
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(count, 1);
    let row = tenant_query!(&alpha, "SELECT 1 AS one")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i32, _>("one"), 1);
}

#[tokio::test]
async fn parent_query_options_plan_each_execution() {
    let db = TestDb::new(1).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(parent_query_options(db.options.clone()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "force_custom_plan");
}

#[tokio::test]
async fn a_stale_handle_after_offboarding_never_reaches_another_tenant() {
    use tenant_runtime::{Error, Offboard};
    let (db, tenancy, alpha, beta) = setup(|b| b).await;
    // Warm the handles so their routed SQL is rendered and prepared.
    for _ in 0..2 {
        assert_eq!(title(&db.pool, &alpha).await.as_deref(), Some("alpha form"));
        assert_eq!(title(&db.pool, &beta).await.as_deref(), Some("beta form"));
    }
    tenancy
        .offboard(&db.pool, "alpha", Offboard::Keep)
        .await
        .unwrap();
    assert!(matches!(
        tenancy.tenant(&db.pool, "alpha").await,
        Err(Error::UnknownTenant { .. })
    ));
    // The stale handle still reads alpha's own archive, never beta's rows...
    let read: Vec<String> = tenant_query_scalar!(
        &alpha,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(read, vec!["alpha form".to_string()]);
    // ...and cannot write into it.
    let write = tenant_query!(
        &alpha,
        "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, 5, 'late')"
    )
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert!(write.to_string().contains("tenancy_archived"), "{write}");

    tenancy
        .offboard(&db.pool, "beta", Offboard::Drop)
        .await
        .unwrap();
    let gone = tenant_query_scalar!(
        &beta,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_all(&db.pool)
    .await
    .map(|rows: Vec<String>| rows)
    .unwrap_err();
    let code = gone
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("42P01"), "{gone}");
    assert!(matches!(
        tenancy.tenant(&db.pool, "nobody").await,
        Err(Error::UnknownTenant { .. })
    ));
}

/// Two `Tenancy` values stand for two processes: `server` serves queries,
/// `admin` (the `tenant` command, say) offboards and onboards again.
#[tokio::test]
async fn another_process_offboarding_and_onboarding_again_reaches_this_one_within_the_cache_ttl() {
    use std::time::Duration;
    use tenant_runtime::{Error, Offboard};
    const TTL: Duration = Duration::from_millis(300);
    let (db, admin, _, _) = setup(|b| b).await;
    let server = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .tenant_cache_ttl(TTL)
        .build()
        .unwrap();
    let pool = single(&db, &server).await;
    // Handles come through the shared pool, queries run on `pool`, so
    // `pg_prepared_statements` of `pool` shows only the routed statement.
    let alpha = server.tenant(&db.pool, "alpha").await.unwrap();
    // First sight of the pair: run unnamed, nothing prepared.
    assert_eq!(title(&pool, &alpha).await.as_deref(), Some("alpha form"));
    let partition = format!("forms_{} AS forms", alpha.partition_suffix());
    let routed_prepared =
        |statements: Vec<String>| statements.iter().any(|s| s.contains(&partition));
    assert!(!routed_prepared(prepared(&pool).await));

    // Unchanged in the registry: past the TTL the registry is read again and
    // the same handle comes back, so this is the pair's second sight (it is
    // prepared now); a new handle would have run it unnamed again.
    tokio::time::sleep(TTL).await;
    let again = server.tenant(&db.pool, "alpha").await.unwrap();
    assert_eq!(again, alpha);
    assert_eq!(title(&pool, &again).await.as_deref(), Some("alpha form"));
    assert!(
        routed_prepared(prepared(&pool).await),
        "{:?}",
        prepared(&pool).await
    );

    admin
        .offboard(&db.pool, "alpha", Offboard::Drop)
        .await
        .unwrap();
    // Within the TTL the server still hands out its cached handle...
    let cached = server.tenant(&db.pool, "alpha").await;
    assert!(cached.is_ok(), "{cached:?}");
    // ...and past it the tenant is unknown there too.
    tokio::time::sleep(TTL).await;
    assert!(matches!(
        server.tenant(&db.pool, "alpha").await,
        Err(Error::UnknownTenant { id }) if id == "alpha"
    ));

    // Onboarded again by the admin: the server's next handle names the new
    // partitions (an empty tenant), not the dropped ones.
    let fresh = admin.onboard(&db.pool, "alpha").await.unwrap().tenant;
    assert_ne!(fresh.partition_suffix(), alpha.partition_suffix());
    let served = server.tenant(&db.pool, "alpha").await.unwrap();
    assert_eq!(served.partition_suffix(), fresh.partition_suffix());
    assert_eq!(title(&db.pool, &served).await, None);
    tenant_query!(
        &served,
        "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, 1, 'alpha again')"
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        title(&db.pool, &served).await.as_deref(),
        Some("alpha again")
    );
    // The other tenant was never touched.
    let beta = server.tenant(&db.pool, "beta").await.unwrap();
    assert_eq!(title(&db.pool, &beta).await.as_deref(), Some("beta form"));
}
