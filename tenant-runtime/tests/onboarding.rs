//! Onboarding, offboarding, sync and discovery against the real PostgreSQL.
//! Each test makes its own database (see `support`), so they run in parallel.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use support::*;
use tenant_runtime::tenant_core::Config;
use tenant_runtime::{Error, InvalidTenantId, Offboard, Tenancy, TenantState, TENANT_SETTING};

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
    let partition = tenant_runtime::tenant_core::schema::partition_name(
        "forms",
        first.tenant.partition_suffix(),
    );
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
                AND query LIKE 'ALTER TABLE follow_ups ATTACH PARTITION%'",
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
async fn offboarded_tenants_are_unknown_and_their_rows_unreachable() {
    let (db, tenancy) = installed(5).await;
    let alpha = tenancy.onboard(&db.pool, "alpha").await.unwrap().tenant;
    tenancy.onboard(&db.pool, "beta").await.unwrap();
    tenancy.onboard(&db.pool, "gamma").await.unwrap();
    for (n, id) in ["alpha", "beta", "gamma"].iter().enumerate() {
        insert_rows(&db, id, n as i64).await;
    }
    // A second Tenancy (another process, say) has alpha cached.
    assert_eq!(tenancy.tenant(&db.pool, "alpha").await.unwrap(), alpha);

    tenancy
        .offboard(&db.pool, "alpha", Offboard::Keep)
        .await
        .unwrap();
    assert!(matches!(
        tenancy.tenant(&db.pool, "alpha").await,
        Err(Error::UnknownTenant { .. })
    ));
    for parent in ["forms", "form_submissions", "follow_ups"] {
        let reachable: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {parent} WHERE tenant_id = 'alpha'"
        ))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(reachable, 0, "{parent}");
        assert_eq!(partition_count(&db, parent).await, 2, "{parent}");
    }
    // Keep: the archive is a standalone table with the rows and a comment.
    let archive = tenant_runtime::tenant_core::schema::partition_name(
        "form_submissions",
        alpha.partition_suffix(),
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {archive}")).await,
        1
    );
    let comment: Option<String> =
        sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
            .bind(&archive)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(comment.unwrap_or_default().contains("alpha"));

    tenancy
        .offboard(&db.pool, "beta", Offboard::Drop)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_t2' AND relkind = 'r'")
            .await,
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 1);
    assert!(matches!(
        tenancy.offboard(&db.pool, "beta", Offboard::Drop).await,
        Err(Error::UnknownTenant { .. })
    ));
    let ids: Vec<String> = tenancy
        .list(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["gamma"]);

    // The id can come back, with fresh partitions.
    let again = tenancy.onboard(&db.pool, "alpha").await.unwrap();
    assert_ne!(again.tenant.partition_suffix(), alpha.partition_suffix());
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'alpha'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_offboarding_resumes() {
    let (db, tenancy) = installed(5).await;
    let tenant = tenancy.onboard(&db.pool, "half").await.unwrap().tenant;
    insert_rows(&db, "half", 1).await;
    // Simulate a crash after the first detach.
    let follow_ups_partition = tenant_runtime::tenant_core::schema::partition_name(
        "follow_ups",
        tenant.partition_suffix(),
    );
    db.exec("UPDATE tenancy.tenants SET state = 'offboarding'")
        .await;
    db.exec(&format!(
        "ALTER TABLE follow_ups DETACH PARTITION {follow_ups_partition} CONCURRENTLY"
    ))
    .await;
    let other = seed_tenancy(); // a fresh cache
    assert!(matches!(
        other.tenant(&db.pool, "half").await,
        Err(Error::UnknownTenant { .. })
    ));
    assert!(matches!(
        other.onboard(&db.pool, "half").await,
        Err(Error::OffboardInProgress { .. })
    ));
    other
        .offboard(&db.pool, "half", Offboard::Drop)
        .await
        .expect("resume");
    assert_eq!(db.count("SELECT count(*) FROM tenancy.tenants").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_creates_the_partitions_of_a_new_table_for_every_tenant() {
    let db = TestDb::new(5).await;
    let forms_only = Tenancy::from_schemas(Config::default(), [forms()]).unwrap();
    forms_only.install(&db.pool).await.unwrap();
    for id in ["a", "b", "c"] {
        forms_only.onboard(&db.pool, id).await.unwrap();
    }
    let everything = seed_tenancy();
    everything.install(&db.pool).await.unwrap();
    let mut seen = Vec::new();
    let report = everything
        .sync(&db.pool, |progress| {
            seen.push((progress.done, progress.total, progress.created))
        })
        .await
        .unwrap();
    assert_eq!(report.tenants, 3);
    assert_eq!(report.partitions_created, 6);
    assert_eq!(report.keys_added, 0, "new partitions come with their keys");
    assert_eq!(seen, [(1, 3, 2), (2, 3, 2), (3, 3, 2)]);
    for id in ["a", "b", "c"] {
        insert_rows(&db, id, 1).await;
    }
    let again = everything.sync(&db.pool, |_| {}).await.unwrap();
    assert_eq!(again.partitions_created, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discover_and_onboard_a_database_made_with_plain_sql() {
    let db = TestDb::new(5).await;
    db.exec(
        r#"
        CREATE SCHEMA app;
        CREATE TABLE app."Forms" (org text NOT NULL, id bigint NOT NULL, title text DEFAULT 'untitled',
            PRIMARY KEY (org, id)) PARTITION BY LIST (org);
        CREATE TABLE app.entries (org text NOT NULL, id bigint NOT NULL, form_id bigint NOT NULL,
            PRIMARY KEY (org, id),
            FOREIGN KEY (org, form_id) REFERENCES app."Forms" (org, id)) PARTITION BY LIST (org);
        CREATE INDEX ON app.entries (org, form_id);
        CREATE TABLE app.events (at date NOT NULL, org text) PARTITION BY RANGE (at);
        CREATE TABLE app.by_region (region text NOT NULL) PARTITION BY LIST (region);
        CREATE TABLE app.plain (org text);
        "#,
    )
    .await;
    let config = Config::from_toml_str("tenant_column = \"org\"").unwrap();
    let tenancy = Tenancy::discover(&db.pool, config).await.unwrap();
    let names: Vec<&str> = tenancy.tables().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Forms", "entries"]);
    assert_eq!(tenancy.tables()[1].primary_key, ["id"]);
    assert_eq!(tenancy.tables()[1].indexes, [vec!["form_id".to_string()]]);

    for id in ["acme", "globex"] {
        let outcome = tenancy.onboard(&db.pool, id).await.unwrap();
        assert_eq!(outcome.created_partitions.len(), 2);
        sqlx::raw_sql(&format!(
            "INSERT INTO app.\"Forms\" (org, id) VALUES ('{id}', 1); \
             INSERT INTO app.entries (org, id, form_id) VALUES ('{id}', 1, 1)"
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // The parent's foreign key was cloned onto the partitions by ATTACH.
    let orphan = sqlx::raw_sql("INSERT INTO app.entries (org, id, form_id) VALUES ('acme', 2, 42)")
        .execute(&db.pool)
        .await;
    assert!(orphan.is_err());

    tenancy
        .offboard(&db.pool, "acme", Offboard::Keep)
        .await
        .unwrap();
    tenancy
        .offboard(&db.pool, "globex", Offboard::Drop)
        .await
        .unwrap();
    assert_eq!(db.count("SELECT count(*) FROM app.entries").await, 0);
    assert_eq!(partition_count(&db, "app.\"Forms\"").await, 0);
    // A fresh tenant after both left.
    tenancy.onboard(&db.pool, "initech").await.unwrap();
    assert_eq!(partition_count(&db, "app.entries").await, 1);
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

/// A plain-SQL table whose rows reference each other through a key
/// declared on the parent, which PostgreSQL 15 refuses to detach while such
/// rows are attached.
const USERS_SQL: &str = r#"
    CREATE TABLE users (tenant_id text NOT NULL, id bigint NOT NULL, manager_id bigint,
        name text NOT NULL, shout text GENERATED ALWAYS AS (upper(name)) STORED,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
"#;

/// Tasks owned by users (a key from another tenancy table).
const TASKS_SQL: &str = r#"
    CREATE TABLE tasks (tenant_id text NOT NULL, id bigint NOT NULL, owner_id bigint NOT NULL,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
"#;

/// A discovered tenancy over [`USERS_SQL`] (and [`TASKS_SQL`] if `tasks`)
/// and `extra_sql`, with `tenants` onboarded, each with a chain of three
/// users (3 reports to 2, 2 to 1) and, with tasks, a task owned by user 3.
async fn self_referencing_tenancy(
    db: &TestDb,
    tasks: bool,
    extra_sql: &str,
    tenants: &[&str],
    retry_budget: Duration,
) -> Tenancy {
    db.exec(USERS_SQL).await;
    if tasks {
        db.exec(TASKS_SQL).await;
    }
    if !extra_sql.is_empty() {
        db.exec(extra_sql).await;
    }
    let tenancy = Tenancy::builder(Config::default())
        .lock_timeout(Duration::from_millis(200))
        .retry_budget(retry_budget)
        .discover(&db.pool)
        .await
        .unwrap()
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in tenants {
        tenancy.onboard(&db.pool, id).await.unwrap();
        db.exec(&format!(
            "INSERT INTO users (tenant_id, id, manager_id, name) VALUES \
               ('{id}', 1, NULL, 'ada {id}'), ('{id}', 2, 1, 'bob {id}'), ('{id}', 3, 2, 'cy {id}')"
        ))
        .await;
        if tasks {
            db.exec(&format!(
                "INSERT INTO tasks (tenant_id, id, owner_id) VALUES ('{id}', 1, 3)"
            ))
            .await;
        }
    }
    tenancy
}

/// The users rows of `table` as `(tenant, id, manager, shout)`, ordered.
async fn users_of(db: &TestDb, table: &str) -> Vec<(String, i64, Option<i64>, String)> {
    sqlx::query_as(&format!(
        "SELECT tenant_id, id, manager_id, shout FROM {table} ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

fn users_partition(tenancy: &Tenancy, suffix: &str) -> String {
    tenancy.tables()[0].qualified_partition_name(suffix)
}

async fn suffix_of(tenancy: &Tenancy, db: &TestDb, id: &str) -> String {
    tenancy
        .tenant(&db.pool, id)
        .await
        .unwrap()
        .partition_suffix()
        .to_string()
}

/// Tables the runtime left in its registry schema besides the registry and
/// its record of partition keys.
async fn leftovers_in_registry_schema(db: &TestDb) -> i64 {
    db.count(
        "SELECT count(*) FROM pg_class \
          WHERE relnamespace = 'tenancy'::regnamespace AND relkind = 'r' \
            AND relname NOT IN ('tenants', 'partition_keys')",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_whose_rows_reference_each_other_through_the_parent_is_kept_or_dropped() {
    let db = TestDb::new(5).await;
    let tenancy = self_referencing_tenancy(
        &db,
        true,
        "",
        &["kept", "dropped", "stays"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        tenancy.tables()[0].name,
        "users",
        "referenced tables come first"
    );
    let kept_suffix = suffix_of(&tenancy, &db, "kept").await;
    let before = users_of(&db, &users_partition(&tenancy, &kept_suffix)).await;
    assert_eq!(before.len(), 3);
    let stays_before = users_of(&db, "users WHERE tenant_id = 'stays'").await;

    tenancy
        .offboard(&db.pool, "kept", Offboard::Keep)
        .await
        .expect("offboarding a tenant with self-references, keeping it");
    // The archive holds the same rows, references and generated values.
    assert_eq!(
        users_of(&db, &users_partition(&tenancy, &kept_suffix)).await,
        before
    );
    assert_eq!(partition_count(&db, "users").await, 2);
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE tenant_id = 'kept'")
            .await,
        0
    );

    let dropped_suffix = suffix_of(&tenancy, &db, "dropped").await;
    tenancy
        .offboard(&db.pool, "dropped", Offboard::Drop)
        .await
        .expect("offboarding a tenant with self-references, dropping it");
    let dropped_table = users_partition(&tenancy, &dropped_suffix);
    assert!(
        db.count(&format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass('{dropped_table}')"
        ))
        .await
            == 0,
        "{dropped_table} is still there"
    );

    // The tenant that stays is untouched, its keys still enforced.
    assert_eq!(
        users_of(&db, "users WHERE tenant_id = 'stays'").await,
        stays_before
    );
    assert_eq!(
        db.count("SELECT count(*) FROM tasks WHERE tenant_id = 'stays'")
            .await,
        1
    );
    assert!(sqlx::raw_sql(
        "INSERT INTO users (tenant_id, id, manager_id, name) VALUES ('stays', 9, 42, 'x')"
    )
    .execute(&db.pool)
    .await
    .is_err());
    assert_eq!(leftovers_in_registry_schema(&db).await, 0);
    assert_eq!(db.count("SELECT count(*) FROM tenancy.tenants").await, 1);
}

/// A global audit table and a function that logs each row it sees there.
const AUDIT_SQL: &str = r#"
    CREATE TABLE audit (event text NOT NULL);
    CREATE FUNCTION log_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO audit VALUES (TG_NAME || ' ' || TG_OP);
        RETURN NULL;
    END $$;
    CREATE TRIGGER parent_log AFTER INSERT OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION log_row();
"#;

/// `(trigger, tgenabled)` of the user triggers on `table`, by name.
async fn user_triggers(db: &TestDb, table: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT tgname::text, tgenabled::text FROM pg_trigger \
          WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY tgname",
    )
    .bind(table)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_rows_aside_fires_no_user_trigger_and_leaves_each_as_it_was() {
    // A deferred key leaves its checks pending after the delete, which
    // ALTER TABLE refuses ("pending trigger events") unless they run first.
    for (mode, deferred_key) in [
        (Offboard::Keep, false),
        (Offboard::Drop, false),
        (Offboard::Keep, true),
    ] {
        let db = TestDb::new(5).await;
        let tenancy = self_referencing_tenancy(
            &db,
            false,
            AUDIT_SQL,
            &["leaving", "stays"],
            Duration::from_secs(30),
        )
        .await;
        if deferred_key {
            db.exec(
                "ALTER TABLE users ALTER CONSTRAINT users_tenant_id_manager_id_fkey \
                   DEFERRABLE INITIALLY DEFERRED",
            )
            .await;
        }
        let suffix = suffix_of(&tenancy, &db, "leaving").await;
        let partition = users_partition(&tenancy, &suffix);
        // Triggers of the partition's own, in each state a trigger can be in
        // that fires (or not) in an ordinary session.
        db.exec(&format!(
            "CREATE TRIGGER own_log AFTER INSERT OR DELETE ON {partition} \
                 FOR EACH ROW EXECUTE FUNCTION log_row(); \
             CREATE TRIGGER own_always AFTER INSERT OR DELETE ON {partition} \
                 FOR EACH STATEMENT EXECUTE FUNCTION log_row(); \
             ALTER TABLE {partition} ENABLE ALWAYS TRIGGER own_always; \
             CREATE TRIGGER own_off AFTER DELETE ON {partition} \
                 FOR EACH ROW EXECUTE FUNCTION log_row(); \
             ALTER TABLE {partition} DISABLE TRIGGER own_off; \
             CREATE TRIGGER own_replica AFTER DELETE ON {partition} \
                 FOR EACH ROW EXECUTE FUNCTION log_row(); \
             ALTER TABLE {partition} ENABLE REPLICA TRIGGER own_replica; \
             DELETE FROM audit;"
        ))
        .await;
        let before = users_of(&db, &partition).await;

        tenancy
            .offboard(&db.pool, "leaving", mode)
            .await
            .unwrap_or_else(|e| panic!("offboarding ({mode:?}, deferred {deferred_key}): {e}"));

        let events: Vec<String> = sqlx::query_scalar("SELECT event FROM audit ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            events,
            Vec::<String>::new(),
            "({mode:?}) the rows moved aside and back are not deleted or inserted rows"
        );
        if mode == Offboard::Keep {
            assert_eq!(users_of(&db, &partition).await, before);
            // The parent's trigger left with the partition (PostgreSQL drops
            // clones at detach); the partition's own are as they were.
            assert_eq!(
                user_triggers(&db, &partition).await,
                [
                    ("own_always", "A"),
                    ("own_log", "O"),
                    ("own_off", "D"),
                    ("own_replica", "R")
                ]
                .map(|(name, state)| (name.to_string(), state.to_string()))
            );
        }
        // The tenant that stays still fires the parent's trigger.
        db.exec("DELETE FROM users WHERE tenant_id = 'stays' AND id = 3")
            .await;
        assert_eq!(
            db.count("SELECT count(*) FROM audit WHERE event = 'parent_log DELETE'")
                .await,
            1,
            "({mode:?})"
        );
    }
}

/// The move checks the parent's key once per deleted row. Those checks run
/// with custom plans, which reach the leaving tenant's partition only: after
/// five rows PostgreSQL would otherwise switch to a generic plan over the
/// parent, which takes ROW SHARE on every tenant's partition (4,006 locks at
/// 2,000 partitions) and waits on any that another tenant holds
/// exclusively.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_rows_aside_checks_keys_on_the_leaving_tenants_partition_only() {
    let db = TestDb::new(5).await;
    let tenancy = self_referencing_tenancy(
        &db,
        false,
        "",
        &["leaving", "other"],
        Duration::from_secs(30),
    )
    .await;
    // Many rows: the monitor samples pg_locks while the delete runs.
    db.exec(
        "INSERT INTO users (tenant_id, id, manager_id, name) \
         SELECT 'leaving', i, i - 1, 'x' FROM generate_series(4, 3000) i",
    )
    .await;
    let leaving = users_partition(&tenancy, &suffix_of(&tenancy, &db, "leaving").await);
    let other = users_partition(&tenancy, &suffix_of(&tenancy, &db, "other").await);
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = spawn_lock_monitor(&db, vec![other.clone()], 0, stop.clone()).await;
    tenancy
        .offboard(&db.pool, "leaving", Offboard::Keep)
        .await
        .expect("offboarding a tenant with 3,000 rows that reference each other");
    stop.store(true, Ordering::Relaxed);
    let seen = monitor.await.expect("lock monitor");
    // (Dropping the archive's key on the parent then locks every partition
    // exclusively, once: the documented cost of a key on the parent.)
    let key_checks: Vec<&SeenLock> = seen
        .iter()
        .filter(|lock| lock.mode == "RowShareLock")
        .collect();
    assert!(
        key_checks.is_empty(),
        "the move's key checks locked another tenant's partition: {key_checks:?}"
    );
    assert_eq!(users_of(&db, &leaving).await.len(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offboarding_interrupted_with_rows_held_aside_resumes_and_restores_them() {
    let db = TestDb::new(5).await;
    let tenancy =
        self_referencing_tenancy(&db, false, "", &["paused"], Duration::from_millis(800)).await;
    let suffix = suffix_of(&tenancy, &db, "paused").await;
    let partition = users_partition(&tenancy, &suffix);
    let before = users_of(&db, &partition).await;

    // A reader of the parent with an open snapshot: the rows can be moved
    // aside under it, but the detach then waits for it (DETACH ..
    // CONCURRENTLY waits out the parent's users) until the retry budget runs
    // out. (No tasks table here: dropping the detached tasks partition's key
    // on users would wait for the reader before the rows are moved.)
    let mut reader = db.connect().await;
    sqlx::raw_sql(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM users WHERE tenant_id = 'x'",
    )
    .execute(&mut reader)
    .await
    .unwrap();
    let interrupted = tenancy.offboard(&db.pool, "paused", Offboard::Keep).await;
    assert!(
        matches!(interrupted, Err(Error::LockTimeout { .. })),
        "{interrupted:?}"
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {partition}")).await,
        0,
        "the rows were not moved aside"
    );
    assert_eq!(leftovers_in_registry_schema(&db).await, 1);
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();

    tenancy
        .offboard(&db.pool, "paused", Offboard::Keep)
        .await
        .expect("the resumed offboarding");
    assert_eq!(users_of(&db, &partition).await, before);
    assert_eq!(leftovers_in_registry_schema(&db).await, 0);
    assert_eq!(partition_count(&db, "users").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn references_from_outside_the_tenancy_block_offboarding_with_a_clear_error() {
    let db = TestDb::new(5).await;
    // Global tables (not partitioned by tenant) referencing the users: one
    // whose key would cascade a delete, one whose key would refuse it.
    let tenancy = self_referencing_tenancy(
        &db,
        true,
        "CREATE TABLE audit (tenant_id text NOT NULL, user_id bigint NOT NULL, \
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)); \
         CREATE TABLE notes (tenant_id text NOT NULL, user_id bigint NOT NULL, \
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE)",
        &["audited"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(tenancy.tables().len(), 2, "audit and notes are global");
    db.exec("INSERT INTO audit VALUES ('audited', 1); INSERT INTO notes VALUES ('audited', 2)")
        .await;
    let intact = |db: &TestDb| {
        let db = db.pool.clone();
        async move {
            let count = |sql: &'static str| {
                let db = db.clone();
                async move {
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&db)
                        .await
                        .unwrap()
                }
            };
            (
                count("SELECT count(*) FROM users WHERE tenant_id = 'audited'").await,
                count("SELECT count(*) FROM audit").await,
            )
        }
    };

    // The cascading key: moving the rows aside would delete a note.
    let refused = tenancy.offboard(&db.pool, "audited", Offboard::Drop).await;
    let Err(Error::OffboardBlocked {
        id,
        partition,
        reason,
    }) = refused
    else {
        panic!("expected OffboardBlocked, got {refused:?}");
    };
    assert_eq!(id, "audited");
    assert!(partition.contains("users"), "{partition}");
    assert!(
        reason.contains("notes"),
        "the reason names the key: {reason}"
    );
    assert_eq!(db.count("SELECT count(*) FROM notes").await, 1);
    assert_eq!(intact(&db).await, (3, 1));
    assert!(matches!(
        tenancy.tenant(&db.pool, "audited").await,
        Err(Error::UnknownTenant { .. })
    ));

    // The refusing key: the delete fails whole, nothing changes.
    db.exec("DROP TABLE notes").await;
    let refused = tenancy.offboard(&db.pool, "audited", Offboard::Drop).await;
    let Err(Error::OffboardBlocked { reason, .. }) = refused else {
        panic!("expected OffboardBlocked, got {refused:?}");
    };
    assert!(
        reason.contains("audit"),
        "the reason names the table: {reason}"
    );
    assert_eq!(intact(&db).await, (3, 1));

    // Cleared, the offboarding resumes.
    db.exec("DELETE FROM audit").await;
    tenancy
        .offboard(&db.pool, "audited", Offboard::Drop)
        .await
        .expect("offboarding once the outside reference is gone");
    assert_eq!(partition_count(&db, "users").await, 0);
    assert_eq!(leftovers_in_registry_schema(&db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_discovered_tenancy_gives_new_partitions_the_keys_install_declared() {
    let (db, installed) = installed(5).await;
    installed.onboard(&db.pool, "by-the-app").await.unwrap();

    // What the `tenant` command sees: the catalog and the registry only.
    let discovered = Tenancy::discover(&db.pool, Config::default())
        .await
        .unwrap();
    for table in installed.tables() {
        let found = discovered
            .tables()
            .iter()
            .find(|t| t.name == table.name)
            .unwrap_or_else(|| panic!("{} was not discovered", table.name));
        assert_eq!(found.foreign_keys, table.foreign_keys, "{}", table.name);
    }
    let order: Vec<&str> = discovered
        .tables()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(order, ["forms", "form_submissions", "follow_ups"]);

    let by_cli = discovered
        .onboard(&db.pool, "by-the-cli")
        .await
        .unwrap()
        .tenant;
    let keys_of = |partition: String| {
        format!("SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('{partition}') AND contype = 'f'")
    };
    let app_suffix = installed
        .tenant(&db.pool, "by-the-app")
        .await
        .unwrap()
        .partition_suffix()
        .to_string();
    for table in installed.tables() {
        assert_eq!(
            db.count(&keys_of(table.partition_name(by_cli.partition_suffix())))
                .await,
            db.count(&keys_of(table.partition_name(&app_suffix))).await,
            "{}",
            table.name
        );
    }
    // The database refuses a submission of a form the tenant does not have.
    let orphan = sqlx::raw_sql(
        "INSERT INTO forms (tenant_id, id, title) VALUES ('by-the-app', 1, 'theirs'); \
         INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ('by-the-cli', 1, 1)",
    )
    .execute(&db.pool)
    .await;
    assert!(orphan.is_err(), "a key is missing on the new partition");

    // Forgetting a key in the model and installing again forgets it.
    let mut fewer = form_submissions();
    fewer.foreign_keys.clear();
    Tenancy::builder(Config::default())
        .schemas([forms(), fewer, follow_ups()])
        .build()
        .unwrap()
        .install(&db.pool)
        .await
        .unwrap();
    let rediscovered = Tenancy::discover(&db.pool, Config::default())
        .await
        .unwrap();
    let submissions = rediscovered
        .tables()
        .iter()
        .find(|t| t.name == "form_submissions")
        .unwrap();
    assert!(submissions.foreign_keys.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_adds_a_key_added_to_the_model_to_existing_partitions() {
    let db = TestDb::new(5).await;
    let mut keyless = follow_ups();
    keyless.foreign_keys.clear();
    let before =
        Tenancy::from_schemas(Config::default(), [forms(), form_submissions(), keyless]).unwrap();
    before.install(&db.pool).await.unwrap();
    for id in ["clean", "dangling"] {
        before.onboard(&db.pool, id).await.unwrap();
        insert_rows(&db, id, 1).await;
    }
    // Without the key, a follow-up may point at a submission that does not
    // exist.
    db.exec(
        "INSERT INTO follow_ups (tenant_id, id, submission_id, note) VALUES ('dangling', 99, 4242, 'x')",
    )
    .await;

    let after = seed_tenancy();
    after.install(&db.pool).await.unwrap();
    let mut first = Vec::new();
    let refused = after
        .sync(&db.pool, |progress| {
            first.push((progress.tenant.clone(), progress.keys_added))
        })
        .await;
    assert_eq!(first, [("clean".to_string(), 1)]);
    let Err(Error::PartitionKeyViolated {
        id,
        partition,
        reason,
    }) = refused
    else {
        panic!("expected PartitionKeyViolated, got {refused:?}");
    };
    assert_eq!(id, "dangling");
    assert!(partition.contains("follow_ups"), "{partition}");
    assert!(reason.contains("4242"), "{reason}");
    // Added though not validated: new dangling rows are refused already.
    assert!(sqlx::raw_sql(
        "INSERT INTO follow_ups (tenant_id, id, submission_id, note) VALUES ('dangling', 100, 4343, 'x')"
    )
    .execute(&db.pool)
    .await
    .is_err());

    db.exec("DELETE FROM follow_ups WHERE id = 99").await;
    let mut seen = Vec::new();
    let report = after
        .sync(&db.pool, |progress| {
            seen.push((progress.tenant.clone(), progress.keys_added))
        })
        .await
        .expect("sync once the dangling row is gone");
    // "clean" got its key in the first sync, "dangling" had it added then
    // and validated now.
    assert_eq!(report.keys_added, 0);
    assert_eq!(
        seen,
        [("clean".to_string(), 0), ("dangling".to_string(), 0)]
    );
    let unvalidated = db
        .count("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated")
        .await;
    assert_eq!(unvalidated, 0);
    for id in ["clean", "dangling"] {
        let orphan = sqlx::raw_sql(&format!(
            "INSERT INTO follow_ups (tenant_id, id, submission_id, note) VALUES ('{id}', 7, 4444, 'x')"
        ))
        .execute(&db.pool)
        .await;
        assert!(orphan.is_err(), "{id}'s follow-ups lack the key");
    }
    let again = after.sync(&db.pool, |_| {}).await.unwrap();
    assert_eq!(again.keys_added, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_between_parents_move_onto_each_tenants_partitions() {
    let db = TestDb::new(5).await;
    // users (self key) and tasks (key to users) as plain SQL, and notes
    // whose key cascades, which partition keys would not reproduce.
    let tenancy = self_referencing_tenancy(
        &db,
        true,
        "CREATE TABLE notes (tenant_id text NOT NULL, id bigint NOT NULL, task_id bigint, \
            PRIMARY KEY (tenant_id, id), \
            FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE) \
            PARTITION BY LIST (tenant_id)",
        &["a", "b"],
        Duration::from_secs(30),
    )
    .await;
    let parent_keys = "SELECT count(*) FROM pg_constraint \
        WHERE contype = 'f' AND conparentid = 0 AND conrelid IN ('users'::regclass, 'tasks'::regclass)";
    assert_eq!(db.count(parent_keys).await, 2);

    let plan = tenancy.keys_between_parents(&db.pool).await.unwrap();
    assert_eq!(
        (plan.moved.len(), plan.kept.len(), plan.keys_added),
        (2, 1, 0)
    );
    assert_eq!(db.count(parent_keys).await, 2, "a plan changes nothing");

    let report = tenancy.move_parent_keys(&db.pool).await.unwrap();
    assert_eq!(report.moved, plan.moved);
    assert_eq!(report.moved.len(), 2, "{report:?}");
    assert_eq!(report.kept.len(), 1, "{report:?}");
    assert!(report.kept[0].0.contains("notes"), "{report:?}");
    assert!(report.kept[0].1.contains("ON DELETE"), "{report:?}");
    assert_eq!(report.keys_added, 4, "two keys on two tenants' partitions");
    assert_eq!(db.count(parent_keys).await, 0);

    // Still enforced, now per partition: no dangling reference, and no
    // reference into another tenant's rows.
    for sql in [
        "INSERT INTO users (tenant_id, id, manager_id, name) VALUES ('b', 9, 42, 'x')",
        "INSERT INTO tasks (tenant_id, id, owner_id) VALUES ('b', 9, 42)",
    ] {
        assert!(sqlx::raw_sql(sql).execute(&db.pool).await.is_err(), "{sql}");
    }

    // A tenancy discovered now gives new tenants the same keys.
    let rediscovered = Tenancy::discover(&db.pool, Config::default())
        .await
        .unwrap();
    let order: Vec<&str> = rediscovered
        .tables()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        order,
        ["users", "tasks", "notes"],
        "referenced tables first"
    );
    let users = &rediscovered.tables()[0];
    assert_eq!(users.foreign_keys.len(), 1);
    assert_eq!(users.foreign_keys[0].ref_table, "users");
    rediscovered.onboard(&db.pool, "c").await.unwrap();
    assert!(
        sqlx::raw_sql("INSERT INTO tasks (tenant_id, id, owner_id) VALUES ('c', 1, 1)")
            .execute(&db.pool)
            .await
            .is_err()
    );
    // So does the tenancy built before the move: it reads the record.
    tenancy.onboard(&db.pool, "d").await.unwrap();
    for sql in [
        "INSERT INTO users (tenant_id, id, manager_id, name) VALUES ('d', 1, 42, 'x')",
        "INSERT INTO tasks (tenant_id, id, owner_id) VALUES ('d', 1, 1)",
    ] {
        assert!(
            sqlx::raw_sql(sql).execute(&db.pool).await.is_err(),
            "{sql}: a tenancy built before the move gave no key"
        );
    }

    // A tenant whose users reference each other now detaches as it is.
    rediscovered
        .offboard(&db.pool, "a", Offboard::Keep)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE tenant_id = 'a'")
            .await,
        0
    );

    let again = rediscovered.move_parent_keys(&db.pool).await.unwrap();
    assert_eq!(
        (again.moved.len(), again.kept.len(), again.keys_added),
        (0, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_onboarded_while_parent_keys_move_gets_the_keys_too() {
    let db = TestDb::new(6).await;
    let tenancy =
        self_referencing_tenancy(&db, false, "", &["early"], Duration::from_secs(60)).await;
    let own_keys = |partition: String| {
        format!(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
               AND conrelid = '{partition}'::regclass AND confrelid = '{partition}'::regclass"
        )
    };
    let early = users_partition(&tenancy, &suffix_of(&tenancy, &db, "early").await);

    // A reader of the parent holds off the drop of the parent's key (ACCESS
    // EXCLUSIVE), so the move stops between adding the keys to the tenants
    // it listed and dropping the parent's.
    let mut reader = db.connect().await;
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM users")
        .execute(&mut reader)
        .await
        .unwrap();
    let mover = {
        let (tenancy, pool) = (tenancy.clone(), db.pool.clone());
        tokio::spawn(async move { tenancy.move_parent_keys(&pool).await })
    };
    let mut waited = Duration::ZERO;
    while db.count(&own_keys(early.clone())).await == 0 {
        assert!(
            waited < Duration::from_secs(30),
            "the move never keyed the early tenant"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    // Onboarded now, as by an onboarding that read the registry's record of
    // partition keys before the move wrote it (the record is set aside
    // meanwhile), with this tenancy's model from before the move: its
    // partition only inherits the parent's key, which the drop removes.
    db.exec("CREATE TABLE set_aside AS SELECT * FROM tenancy.partition_keys")
        .await;
    db.exec("DELETE FROM tenancy.partition_keys").await;
    tenancy
        .onboard(&db.pool, "late")
        .await
        .expect("onboarding between the move's steps");
    db.exec("INSERT INTO tenancy.partition_keys SELECT * FROM set_aside; DROP TABLE set_aside")
        .await;
    let late = users_partition(&tenancy, &suffix_of(&tenancy, &db, "late").await);
    assert_eq!(db.count(&own_keys(late.clone())).await, 0);
    assert!(!mover.is_finished(), "the reader should hold the drop off");
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();

    let report = mover.await.unwrap().expect("the move");
    assert_eq!(report.moved.len(), 1, "{report:?}");
    assert_eq!(report.keys_added, 2, "early's key, then late's");
    assert_eq!(db.count(&own_keys(late)).await, 1);
    let dangling =
        "INSERT INTO users (tenant_id, id, manager_id, name) VALUES ('late', 1, 42, 'x')";
    assert!(
        sqlx::raw_sql(dangling).execute(&db.pool).await.is_err(),
        "late's users lack the key"
    );
}
