//! Onboarding: partitions, concurrency, killed connections, hostile ids,
//! tenant transactions and the errors of a missing registry.

use std::time::Duration;

use futures_util::future::join_all;
use tenant_runtime::admin::TenantState;
use tenant_runtime::id::{InvalidTenantId, TENANT_SETTING};

use crate::support::*;
use tenant_runtime::{Config, Error, Tenancy};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn install_is_idempotent_and_onboard_creates_one_partition_per_parent() {
    let (db, tenancy) = installed(5).await;
    tenancy.install(&db.pool).await.expect("second install");
    let first = tenancy.onboard(&db.pool, "org-alpha").await.unwrap();
    assert_eq!(first.created_partitions.len(), 3);
    let second = tenancy.onboard(&db.pool, "org-alpha").await.unwrap();
    assert!(second.created_partitions.is_empty());
    assert_eq!(first.tenant, second.tenant);
    for parent in ["forms", "form_submissions", "follow_ups"] {
        assert_eq!(partition_count(&db, parent).await, 1, "{parent}");
    }
    insert_rows(&db, "org-alpha", 1).await;
    // The row landed in the tenant's own partition.
    let partition =
        tenant_runtime::schema::partition_name("forms", first.tenant.partition_suffix());
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {partition}")).await,
        1
    );
    // The bound CHECK was dropped again; the foreign keys stayed.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_constraint WHERE conname = 'tenancy_partition_bound'")
            .await,
        0
    );
    // The per-partition foreign key refuses a submission of a missing form.
    let orphan = sqlx::query(
        "INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ('org-alpha', 9, 999)",
    )
    .execute(&db.pool)
    .await;
    assert!(orphan.is_err(), "orphan accepted");
    let records = tenancy.list(&db.pool).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, "org-alpha");
    assert_eq!(records[0].state, TenantState::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_cannot_reference_another_tenants_row() {
    let (db, tenancy) = installed(5).await;
    tenancy.onboard(&db.pool, "a").await.unwrap();
    tenancy.onboard(&db.pool, "b").await.unwrap();
    insert_rows(&db, "a", 1).await;
    let cross =
        sqlx::query("INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ('b', 2, 1)")
            .execute(&db.pool)
            .await;
    assert!(cross.is_err(), "tenant b referenced tenant a's form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_onboardings_of_one_tenant_make_one_partition_set() {
    let (db, tenancy) = installed(20).await;
    let results = join_all((0..50).map(|_| {
        let tenancy = tenancy.clone();
        let pool = db.pool.clone();
        tokio::spawn(async move { tenancy.onboard(&pool, "org-busy").await })
    }))
    .await;
    let mut creators = 0;
    for result in results {
        let outcome = result.expect("task").expect("onboard");
        if !outcome.created_partitions.is_empty() {
            creators += 1;
        }
    }
    assert_eq!(creators, 1);
    for parent in ["forms", "form_submissions", "follow_ups"] {
        assert_eq!(partition_count(&db, parent).await, 1, "{parent}");
    }
    assert_eq!(db.count("SELECT count(*) FROM tenancy.tenants").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_tenants_onboarded_in_parallel_all_succeed() {
    let (db, tenancy) = installed(20).await;
    let results = join_all((0..20).map(|n| {
        let tenancy = tenancy.clone();
        let pool = db.pool.clone();
        tokio::spawn(async move { tenancy.onboard(&pool, &format!("tenant-{n}")).await })
    }))
    .await;
    for result in results {
        let outcome = result.expect("task").expect("onboard");
        assert_eq!(outcome.created_partitions.len(), 3);
    }
    for parent in ["forms", "form_submissions", "follow_ups"] {
        assert_eq!(partition_count(&db, parent).await, 20, "{parent}");
    }
    for n in 0..20 {
        insert_rows(&db, &format!("tenant-{n}"), n).await;
    }
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_killed_mid_onboarding_leaves_nothing_and_a_retry_succeeds() {
    let db = TestDb::new(5).await;
    let tenancy = Tenancy::builder(Config::default())
        .schemas([forms(), form_submissions(), follow_ups()])
        .lock_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();

    // Hold a lock that makes the onboarding stop at its last ATTACH, after
    // two partitions were created and attached.
    let mut blocker = db.connect().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE follow_ups IN SHARE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let onboarding = {
        let tenancy = tenancy.clone();
        let pool = db.pool.clone();
        tokio::spawn(async move { tenancy.onboard(&pool, "org-killed").await })
    };
    // Polled for up to 30 s: a loaded CI machine can take seconds to get there.
    let mut victim = None;
    for _ in 0..3000 {
        victim = sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity \
              WHERE datname = current_database() AND wait_event_type = 'Lock' \
                AND query LIKE 'ALTER TABLE public.follow_ups ATTACH PARTITION%'",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        if victim.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let victim = victim.expect("onboarding never reached the follow_ups ATTACH");
    // At this point the killed transaction had made two partitions.
    let made: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND mode = 'AccessExclusiveLock' \
           AND locktype = 'relation'",
    )
    .bind(victim)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        made >= 2,
        "the onboarding was not mid-way: {made} new tables locked"
    );
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(victim)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(killed);
    let result = onboarding.await.expect("task");
    assert!(result.is_err(), "the killed onboarding reported success");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();

    // Nothing half-made: no partition tables, no registry row.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
            .await,
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM tenancy.tenants").await, 0);
    assert!(matches!(
        tenancy.tenant(&db.pool, "org-killed").await,
        Err(Error::UnknownTenant { .. })
    ));

    let retried = tenancy
        .onboard(&db.pool, "org-killed")
        .await
        .expect("retry");
    assert_eq!(retried.created_partitions.len(), 3);
    insert_rows(&db, "org-killed", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_ids_get_safe_partitions_or_clear_errors() {
    let (db, tenancy) = installed(5).await;
    insert_rows_for_sentinel(&db, &tenancy).await;
    let long_63_plus = "ü".repeat(40); // 80 bytes
    let good = [
        "x'; DROP TABLE forms; --",
        long_63_plus.as_str(),
        "ünïcødé 租户 \"quoted\" name",
        "back\\slash'quote",
        " spaces ",
        &"a".repeat(200),
    ];
    for (n, id) in good.iter().enumerate() {
        let outcome = tenancy
            .onboard(&db.pool, id)
            .await
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert_eq!(outcome.created_partitions.len(), 3, "{id:?}");
        insert_rows(&db, id, 100 + n as i64).await;
        let tenant = tenancy.tenant(&db.pool, id).await.unwrap();
        assert_eq!(tenant.id(), *id);
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM forms WHERE tenant_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(found, 1, "{id:?}");
    }
    type Expectation = fn(&InvalidTenantId) -> bool;
    let bad: [(&str, Expectation); 4] = [
        ("", |e| *e == InvalidTenantId::Empty),
        ("a\0b", |e| {
            matches!(e, InvalidTenantId::ControlCharacter { code_point: 0, .. })
        }),
        ("new\nline", |e| {
            matches!(e, InvalidTenantId::ControlCharacter { .. })
        }),
        (&"b".repeat(201), |e| {
            matches!(e, InvalidTenantId::TooLong { .. })
        }),
    ];
    for (id, expected) in bad {
        match tenancy.onboard(&db.pool, id).await {
            Err(Error::InvalidTenantId(error)) => {
                assert!(expected(&error), "{id:?}: {error}");
                assert!(!error.to_string().is_empty());
            }
            other => panic!("{id:?}: expected an invalid id error, got {other:?}"),
        }
    }
    // forms is intact and holds every good tenant's row plus the sentinel.
    assert_eq!(
        db.count("SELECT count(*) FROM forms").await,
        good.len() as i64 + 1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'sentinel'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM tenancy.tenants").await,
        good.len() as i64 + 1
    );
}

async fn insert_rows_for_sentinel(db: &TestDb, tenancy: &Tenancy) {
    tenancy.onboard(&db.pool, "sentinel").await.unwrap();
    insert_rows(db, "sentinel", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_transactions_set_the_setting_locally() {
    let (db, tenancy) = installed(1).await;
    tenancy.onboard(&db.pool, "it's me").await.unwrap();
    let tenant = tenancy.tenant(&db.pool, "it's me").await.unwrap();
    let mut transaction = tenant.begin(&db.pool).await.unwrap();
    let inside: String = sqlx::query_scalar("SELECT current_setting($1, true)")
        .bind(TENANT_SETTING)
        .fetch_one(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(inside, "it's me");
    transaction.commit().await.unwrap();
    // Same (single) pooled connection, after the transaction: gone.
    let after: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
        .bind(TENANT_SETTING)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(after.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_tenants_and_missing_registry_are_typed_errors() {
    let db = TestDb::new(2).await;
    let tenancy = seed_tenancy();
    assert!(matches!(
        tenancy.tenant(&db.pool, "nobody").await,
        Err(Error::NotInstalled { .. })
    ));
    tenancy.install(&db.pool).await.unwrap();
    let error = tenancy.tenant(&db.pool, "nobody").await.unwrap_err();
    assert!(matches!(error, Error::UnknownTenant { .. }));
    assert_eq!(error.to_string(), "unknown tenant \"nobody\"");
}

#[test]
fn inconsistent_schemas_are_refused() {
    let error = Tenancy::from_schemas(Config::default(), [form_submissions()]).unwrap_err();
    assert!(error.to_string().contains("forms"), "{error}");
    let error = Tenancy::from_schemas(Config::default(), [forms(), forms()]).unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");
}
