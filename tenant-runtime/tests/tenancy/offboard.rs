//! Offboarding: archives and drops, resumed offboardings, and partitions
//! whose rows reference each other through a key on the parent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use crate::{self_referencing_tenancy, suffix_of, users_partition};
use tenant_runtime::{Error, Offboard};

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
    let archive =
        tenant_runtime::schema::partition_name("form_submissions", alpha.partition_suffix());
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
    let follow_ups_partition =
        tenant_runtime::schema::partition_name("follow_ups", tenant.partition_suffix());
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

/// The users rows of `table` as `(tenant, id, manager, shout)`, ordered.
async fn users_of(db: &TestDb, table: &str) -> Vec<(String, i64, Option<i64>, String)> {
    sqlx::query_as(&format!(
        "SELECT tenant_id, id, manager_id, shout FROM {table} ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Tables the runtime left in its registry schema besides the registry and
/// its record of partition keys.
async fn leftovers_in_registry_schema(db: &TestDb) -> i64 {
    db.count(
        "SELECT count(*) FROM pg_class \
          WHERE relnamespace = 'tenancy'::regnamespace AND relkind = 'r' \
            AND relname NOT IN ('tenants', 'partition_keys', 'settings', 'tenant_key')",
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
          WHERE tgrelid = to_regclass($1) AND NOT tgisinternal \
            AND tgname NOT LIKE 'tenancy\\_archive\\_%' ORDER BY tgname",
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
