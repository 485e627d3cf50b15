//! The tenancy behind a real PgBouncer in transaction pool mode (1.18, as
//! `scripts/setup.sh` runs it on 127.0.0.1:6432): routed queries, the
//! tenant transaction and row-level security return exactly each tenant's
//! rows, from many tenants and concurrent tasks over one pool.
//!
//! Each test makes its own database through the direct server (5432) and
//! installs and onboards there (administration goes to the server itself);
//! the application's pool goes through the pooler. A missing pooler fails
//! the test with the command that starts it.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Row};
use support::{
    admin_exec_blocking, form_submissions, forms, pgbouncer_options, require_pgbouncer, TestDb,
    PGBOUNCER_PASSWORD,
};
use tenant_runtime::{tenant_query, tenant_query_scalar, Config, Tenancy, Tenant};

/// A tenancy over `forms` and `form_submissions` built for a pool behind a
/// transaction pooler, installed through the direct server.
async fn pooled_tenancy(db: &TestDb, configure: impl FnOnce(Tenancy) -> Tenancy) -> Tenancy {
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .behind_transaction_pooler(true)
        .build()
        .expect("tenancy");
    let tenancy = configure(tenancy);
    assert!(tenancy.behind_transaction_pooler());
    tenancy.install(&db.pool).await.expect("install (direct)");
    tenancy
}

/// Onboards `id` (directly) and gives it `forms` rows `1..=count`, titled
/// `"{id} form {n}"`, each with one submission.
async fn onboard_with_forms(tenancy: &Tenancy, db: &TestDb, id: &str, count: i64) {
    tenancy.onboard(&db.pool, id).await.expect("onboard");
    for n in 1..=count {
        sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(n)
            .bind(format!("{id} form {n}"))
            .execute(&db.pool)
            .await
            .expect("a form");
        sqlx::query(
            "INSERT INTO form_submissions (tenant_id, id, form_id, payload) VALUES ($1, $2, $2, $3)",
        )
        .bind(id)
        .bind(n)
        .bind(format!("{id} payload {n}"))
        .execute(&db.pool)
        .await
        .expect("a submission");
    }
}

/// A pool on the test database through PgBouncer, with the tenancy's
/// connect options.
async fn pool_through_pgbouncer(db: &TestDb, tenancy: &Tenancy, connections: u32) -> PgPool {
    require_pgbouncer().await;
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(tenancy.connect_options(pgbouncer_options(&db.name)))
        .await
        .expect("a pool through PgBouncer")
}

/// The titles the tenant's routed query returns, in id order.
async fn titles(tenant: &Tenant, connection: &mut PgConnection) -> Vec<String> {
    tenant_query_scalar!(
        tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant ORDER BY id"
    )
    .fetch_all(connection)
    .await
    .expect("the routed query")
}

/// Named prepared statements on the server connection this transaction
/// runs on (the count itself is unnamed: it adds none).
async fn named_statements(connection: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_prepared_statements")
        .persistent(false)
        .fetch_one(connection)
        .await
        .expect("pg_prepared_statements")
}

/// `app.tenant_id` as the server connection sees it ('' when unset).
/// Unnamed, inside a transaction (as everything through the pooler).
/// (Not `raw_sql`: its future is not `Send` for every lifetime, which a
/// `tokio::spawn`ed caller needs.)
async fn tenant_setting(connection: &mut PgConnection) -> String {
    sqlx::query_scalar("SELECT coalesce(current_setting('app.tenant_id', true), '')")
        .persistent(false)
        .fetch_one(connection)
        .await
        .expect("current_setting")
}

#[tokio::test]
async fn routed_queries_in_the_tenant_transaction_through_pgbouncer() {
    let db = TestDb::new(2).await;
    let tenancy = pooled_tenancy(&db, |t| t).await;
    onboard_with_forms(&tenancy, &db, "alpha", 2).await;
    onboard_with_forms(&tenancy, &db, "beta", 3).await;
    let pooled = pool_through_pgbouncer(&db, &tenancy, 3).await;

    // The handles come from the registry through the pooler.
    let alpha = tenancy.tenant(&pooled, "alpha").await.expect("alpha");
    let beta = tenancy.tenant(&pooled, "beta").await.expect("beta");
    assert!(alpha.is_routed());
    let expected = |id: &str, count: i64| -> Vec<String> {
        (1..=count).map(|n| format!("{id} form {n}")).collect()
    };

    for round in 0..20 {
        for (tenant, count) in [(&alpha, 2), (&beta, 3)] {
            let mut tx = tenant.begin(&pooled).await.expect("tenant transaction");
            assert_eq!(tenant_setting(&mut tx).await, tenant.id());
            assert_eq!(titles(tenant, &mut tx).await, expected(tenant.id(), count));
            // The same on the parents (a `via_parents` handle).
            assert_eq!(
                titles(&tenant.via_parents(), &mut tx).await,
                expected(tenant.id(), count)
            );
            // A join, and a query with a parameter.
            let payloads: Vec<String> = tenant_query_scalar!(
                tenant,
                "SELECT s.payload FROM forms f JOIN form_submissions s \
                 ON s.tenant_id = f.tenant_id AND s.form_id = f.id \
                 WHERE f.tenant_id = $tenant AND f.id <= $1 ORDER BY s.id",
                2_i64
            )
            .fetch_all(&mut *tx)
            .await
            .expect("the join");
            let id = tenant.id();
            assert_eq!(
                payloads,
                [format!("{id} payload 1"), format!("{id} payload 2")]
            );
            // Nothing named is left on the server connection, by anyone.
            assert_eq!(named_statements(&mut tx).await, 0, "round {round}");
            tx.commit().await.expect("commit");
        }
    }

    // A write through the pooler lands in the tenant's own partition.
    let mut tx = beta.begin(&pooled).await.unwrap();
    let inserted = tenant_query!(
        &beta,
        "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, $1, $2)",
        100_i64,
        "beta form 100"
    )
    .execute(&mut *tx)
    .await
    .expect("insert");
    assert_eq!(inserted.rows_affected(), 1);
    tx.commit().await.unwrap();
    let partition = forms().qualified_partition_name(beta.partition_suffix());
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {partition} WHERE id = 100"))
            .await,
        1
    );

    // The tenant setting was transaction-local: no later transaction, on
    // whichever server connection the pooler gives it, sees a tenant.
    for _ in 0..20 {
        let mut tx = pooled.begin().await.unwrap();
        assert_eq!(tenant_setting(&mut tx).await, "");
        tx.commit().await.unwrap();
    }
    pooled.close().await;
}

/// One count by raw SQL (simple protocol).
async fn count(connection: &mut PgConnection, sql: &str) -> i64 {
    sqlx::raw_sql(sql)
        .fetch_one(connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// Drops the cluster-wide test role after the test database is gone
/// (declare it before the `TestDb`).
struct RoleGuard(String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        if !admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0)) {
            eprintln!("warning: could not drop test role {}", self.0);
        }
    }
}

#[tokio::test]
async fn row_level_security_through_pgbouncer_as_the_application_role() {
    let role = format!("tenant_pgb_app_{:08x}", fastrand_u32());
    let _role_guard = RoleGuard(role.clone());
    let db = TestDb::new(2).await;
    // The role logs in through PgBouncer with its PostgreSQL password
    // (PgBouncer looks it up); PostgreSQL itself trusts loopback.
    db.exec(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{PGBOUNCER_PASSWORD}'"
    ))
    .await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .row_level_security(true)
        .app_role(&role)
        .behind_transaction_pooler(true)
        .build()
        .expect("tenancy");
    tenancy.install(&db.pool).await.expect("install (direct)");
    onboard_with_forms(&tenancy, &db, "alpha", 1).await;
    onboard_with_forms(&tenancy, &db, "beta", 2).await;

    require_pgbouncer().await;
    let app = PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(tenancy.connect_options(pgbouncer_options(&db.name).username(&role)))
        .await
        .expect("the application role through PgBouncer");
    let subject_to_policies: bool = sqlx::raw_sql(
        "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&app)
    .await
    .unwrap()
    .get(0);
    assert!(subject_to_policies);

    let alpha = tenancy.tenant(&app, "alpha").await.expect("alpha");
    let beta = tenancy.tenant(&app, "beta").await.expect("beta");
    for _ in 0..10 {
        for (tenant, rows, other) in [(&alpha, 1, "beta"), (&beta, 2, "alpha")] {
            let mut tx = tenant.begin(&app).await.expect("tenant transaction");
            // Raw SQL on the parent, no tenant predicate: the policy admits
            // this tenant's rows only.
            assert_eq!(count(&mut tx, "SELECT count(*) FROM forms").await, rows);
            assert_eq!(
                count(&mut tx, "SELECT count(*) FROM form_submissions").await,
                rows
            );
            // The routed query agrees.
            assert_eq!(titles(tenant, &mut tx).await.len(), rows as usize);
            // Switching to the other tenant's id inside the transaction
            // gains nothing: the setting has no proof for it.
            sqlx::query("SELECT set_config('tenancy.tenant', $1, true)")
                .bind(other)
                .persistent(false)
                .execute(&mut *tx)
                .await
                .unwrap();
            assert_eq!(count(&mut tx, "SELECT count(*) FROM forms").await, 0);
            tx.rollback().await.unwrap();
        }
        // Outside a tenant transaction: no rows, on any server connection.
        let mut tx = app.begin().await.unwrap();
        assert_eq!(count(&mut tx, "SELECT count(*) FROM forms").await, 0);
        tx.commit().await.unwrap();
    }

    // Another process, which never installs, loads the tenant key through
    // the pooler with the owner's pool and enters tenants as well.
    let owner = pool_through_pgbouncer(&db, &tenancy, 2).await;
    let other_process = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .row_level_security(true)
        .behind_transaction_pooler(true)
        .build()
        .unwrap();
    other_process
        .load_tenant_key(&owner)
        .await
        .expect("the key, through the pooler");
    let beta = other_process.tenant(&app, "beta").await.unwrap();
    let mut tx = beta.begin(&app).await.unwrap();
    assert_eq!(count(&mut tx, "SELECT count(*) FROM forms").await, 2);
    tx.commit().await.unwrap();
    // A registry that is not there: the error names the ways to install.
    let elsewhere = Tenancy::builder(Config::default())
        .schema(forms())
        .registry_schema("no_registry_here")
        .behind_transaction_pooler(true)
        .build()
        .unwrap();
    let error = elsewhere.load_tenant_key(&owner).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("no_registry_here.tenants does not exist")
            && message.contains("`tenant install`")
            && message.contains("Tenancy::install"),
        "{message}"
    );
    owner.close().await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tenants_and_concurrent_tasks_over_one_pool_through_pgbouncer() {
    const TENANTS: i64 = 24;
    const TASKS: usize = 12;
    const TRANSACTIONS_PER_TASK: usize = 40;
    let db = TestDb::new(4).await;
    let tenancy = pooled_tenancy(&db, |t| t).await;
    // Tenant i has i % 4 + 1 forms: the counts differ between neighbours.
    let mut expected = BTreeMap::new();
    for i in 0..TENANTS {
        let id = format!("tenant-{i:02}");
        let count = i % 4 + 1;
        onboard_with_forms(&tenancy, &db, &id, count).await;
        expected.insert(
            id.clone(),
            (1..=count)
                .map(|n| format!("{id} form {n}"))
                .collect::<Vec<_>>(),
        );
    }
    // Fewer client connections than tasks, and the pooler hands each
    // transaction to any of its server connections.
    let pooled = pool_through_pgbouncer(&db, &tenancy, 6).await;
    let mut handles = Vec::new();
    for id in expected.keys() {
        handles.push(tenancy.tenant(&pooled, id).await.expect("handle"));
    }
    let (handles, expected) = (Arc::new(handles), Arc::new(expected));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (pooled, handles, expected) = (pooled.clone(), handles.clone(), expected.clone());
        tasks.push(tokio::spawn(async move {
            let mut checked = 0;
            for step in 0..TRANSACTIONS_PER_TASK {
                let tenant = handles[(task * 7 + step * 5) % handles.len()].clone();
                let want = expected[tenant.id()].clone();
                one_tenant_transaction(tenant, &pooled, want, format!("task {task} step {step}"))
                    .await;
                checked += 1;
            }
            checked
        }));
    }
    let mut checked = 0;
    for task in tasks {
        checked += task.await.expect("a task panicked");
    }
    assert_eq!(checked, TASKS * TRANSACTIONS_PER_TASK);
    pooled.close().await;
}

/// One tenant transaction of the concurrent test: the tenant's rows, its
/// first row by a point query, its setting, and nothing else.
async fn one_tenant_transaction(tenant: Tenant, pooled: &PgPool, want: Vec<String>, at: String) {
    let mut tx = tenant.begin(pooled).await.expect("tenant transaction");
    assert_eq!(
        titles(&tenant, &mut tx).await,
        want,
        "{at}: tenant {} got other rows",
        tenant.id()
    );
    let first: Option<String> = tenant_query_scalar!(
        &tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_optional(&mut *tx)
    .await
    .expect("a point query");
    assert_eq!(first.as_deref(), Some(want[0].as_str()), "{at}");
    assert_eq!(tenant_setting(&mut tx).await, tenant.id(), "{at}");
    tx.commit().await.expect("commit");
}

fn fastrand_u32() -> u32 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}
