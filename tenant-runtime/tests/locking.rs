//! Onboarding does not wait for, or block, the queries of other tenants.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use support::*;
use tenant_runtime::schema::partition_name;
use tenant_runtime::Offboard;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_reader_of_tenant_a_does_not_delay_onboarding_tenant_b() {
    let (db, tenancy) = installed(10).await;
    tenancy.onboard(&db.pool, "tenant-a").await.unwrap();
    insert_rows(&db, "tenant-a", 1).await;

    // A transaction that has read tenant A through every parent, then sleeps 20 s.
    let mut reader = db.connect().await;
    let reader_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    sqlx::raw_sql(
        "BEGIN; \
         SELECT count(*) FROM forms WHERE tenant_id = 'tenant-a'; \
         SELECT count(*) FROM form_submissions WHERE tenant_id = 'tenant-a'; \
         SELECT count(*) FROM follow_ups WHERE tenant_id = 'tenant-a'",
    )
    .execute(&mut reader)
    .await
    .unwrap();
    let reader_started = Instant::now();
    let sleeper = tokio::spawn(async move {
        // (`Executor::execute` with a `&str`: a spawned `raw_sql` future is
        // not `Send` in sqlx 0.8.)
        sqlx::Executor::execute(&mut reader, "SELECT pg_sleep(20)")
            .await
            .expect("the reader's sleep");
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM forms WHERE tenant_id = 'tenant-a'")
                .fetch_one(&mut reader)
                .await
                .expect("the reader's last query");
        sqlx::Executor::execute(&mut reader, "COMMIT")
            .await
            .unwrap();
        reader.close().await.ok();
        count
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Record every relation lock on the parents, by anyone but the reader.
    let stop = Arc::new(AtomicBool::new(false));
    let parents = ["forms", "form_submissions", "follow_ups"].map(String::from);
    let monitor = spawn_lock_monitor(&db, parents.to_vec(), reader_pid, stop.clone()).await;
    // Tenant A's queries keep running meanwhile.
    let queries = {
        let stop = stop.clone();
        let pool = db.pool.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut count = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let rows: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM forms f JOIN form_submissions s \
                        ON s.tenant_id = f.tenant_id AND s.form_id = f.id \
                      WHERE f.tenant_id = 'tenant-a'",
                )
                .fetch_one(&pool)
                .await
                .expect("tenant A query");
                assert_eq!(rows, 1);
                slowest = slowest.max(started.elapsed());
                count += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (count, slowest)
        })
    };

    let started = Instant::now();
    let onboarded = tenancy.onboard(&db.pool, "tenant-b").await.unwrap();
    let onboard_b = started.elapsed();
    assert_eq!(onboarded.created_partitions.len(), 3);

    // A second onboarding made to stop mid-way for a moment (a SHARE lock on
    // the last parent), so the monitor surely sees the locks it holds.
    let mut staller = db.connect().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE follow_ups IN SHARE MODE")
        .execute(&mut staller)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        sqlx::Executor::execute(&mut staller, "ROLLBACK")
            .await
            .unwrap();
    });
    let started = Instant::now();
    tenancy.onboard(&db.pool, "tenant-c").await.unwrap();
    let onboard_c = started.elapsed();
    release.await.unwrap();
    insert_rows(&db, "tenant-b", 2).await;
    insert_rows(&db, "tenant-c", 3).await;

    stop.store(true, Ordering::Relaxed);
    let seen = monitor.await.unwrap();
    let (query_count, slowest_query) = queries.await.unwrap();
    let reader_still_sleeping = !sleeper.is_finished();

    println!("onboard B {onboard_b:?}, C {onboard_c:?}; {query_count} tenant A queries, slowest {slowest_query:?}");
    println!("locks seen on parents: {seen:#?}");
    assert!(reader_still_sleeping, "the reader finished early");
    assert!(
        reader_started.elapsed() < Duration::from_secs(15),
        "onboarding took as long as the reader's sleep"
    );
    assert!(
        onboard_b < Duration::from_secs(3),
        "onboarding B took {onboard_b:?}"
    );
    assert!(
        onboard_c < Duration::from_secs(4),
        "onboarding C took {onboard_c:?}"
    );
    assert!(query_count >= 5, "tenant A ran only {query_count} queries");
    assert!(
        slowest_query < Duration::from_secs(1),
        "a tenant A query took {slowest_query:?}"
    );
    let exclusive: Vec<&SeenLock> = seen
        .iter()
        .filter(|lock| lock.mode == "AccessExclusiveLock")
        .collect();
    assert!(
        exclusive.is_empty(),
        "ACCESS EXCLUSIVE on a parent: {exclusive:?}"
    );
    assert!(
        seen.iter().any(|lock| lock.relation == "forms"
            && lock.mode == "ShareUpdateExclusiveLock"
            && lock.granted),
        "the monitor never saw the onboarding's ATTACH lock: {seen:?}"
    );

    // The reader's transaction survives and still sees tenant A only.
    assert_eq!(sleeper.await.expect("reader"), 1);
}

/// Work that holds one tenant's partitions exclusively (a `TRUNCATE`, a
/// `VACUUM FULL`, a schema change) does not hold up onboarding another
/// tenant: onboarding locks the parents, never their other partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exclusive_lock_on_tenant_a_partitions_does_not_delay_onboarding_tenant_b() {
    let (db, tenancy) = installed(10).await;
    let tenant_a = tenancy.onboard(&db.pool, "tenant-a").await.unwrap();
    let suffix = tenant_a.tenant.partition_suffix().to_string();
    let onboarded = while_partitions_held_exclusively(
        &db,
        &suffix,
        "onboarding tenant B",
        tenancy.onboard(&db.pool, "tenant-b"),
    )
    .await
    .unwrap();
    assert_eq!(onboarded.created_partitions.len(), 3);
    insert_rows(&db, "tenant-b", 1).await;
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'tenant-b'")
            .await,
        1
    );
}

/// Offboarding, in both modes, does not wait on another tenant's partitions
/// either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exclusive_lock_on_tenant_a_partitions_does_not_delay_offboarding_others() {
    let (db, tenancy) = installed(10).await;
    let tenant_a = tenancy.onboard(&db.pool, "tenant-a").await.unwrap();
    for (n, id) in ["dropped", "kept"].iter().enumerate() {
        tenancy.onboard(&db.pool, id).await.unwrap();
        insert_rows(&db, id, n as i64).await;
    }
    let suffix = tenant_a.tenant.partition_suffix().to_string();
    while_partitions_held_exclusively(&db, &suffix, "offboarding", async {
        tenancy
            .offboard(&db.pool, "dropped", Offboard::Drop)
            .await?;
        tenancy.offboard(&db.pool, "kept", Offboard::Keep).await
    })
    .await
    .unwrap();
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 0);
}

/// Runs `work` while a transaction holds ACCESS EXCLUSIVE on every partition
/// with `suffix` (what a `TRUNCATE` of that tenant's tables holds), then
/// releases them. Fails the test, naming `what`, if `work` is still waiting
/// after 10 s.
async fn while_partitions_held_exclusively<T>(
    db: &TestDb,
    suffix: &str,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let partitions: Vec<String> = ["forms", "form_submissions", "follow_ups"]
        .iter()
        .map(|parent| format!("\"{}\"", partition_name(parent, suffix)))
        .collect();
    let mut holder = db.connect().await;
    sqlx::raw_sql(&format!(
        "BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        partitions.join(", ")
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), work).await;
    let waited = started.elapsed();
    sqlx::Executor::execute(&mut holder, "ROLLBACK")
        .await
        .unwrap();
    holder.close().await.ok();
    outcome.unwrap_or_else(|_| panic!("{what} waited {waited:?} on another tenant's partitions"))
}

/// Waits (up to 30 s) until a backend other than `reader_pid` holds a
/// granted SHARE UPDATE EXCLUSIVE lock on a parent while waiting for
/// `reader_pid`: `DETACH .. CONCURRENTLY` finishing its detach. False if that
/// never happened.
async fn wait_for_detach_waiting_on(db: &TestDb, reader_pid: i32) -> bool {
    let mut connection = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l \
                 WHERE l.locktype = 'relation' AND l.mode = 'ShareUpdateExclusiveLock' \
                   AND l.granted AND l.pid <> $1 \
                   AND l.relation IN ('forms'::regclass, 'form_submissions'::regclass, \
                                      'follow_ups'::regclass) \
                   AND $1 = ANY (pg_blocking_pids(l.pid)))",
        )
        .bind(reader_pid)
        .fetch_one(&mut connection)
        .await
        .expect("pg_locks");
        if waiting {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offboarding_takes_no_access_exclusive_lock_on_parents_or_other_tenants() {
    let (db, tenancy) = installed(10).await;
    let mut suffixes = Vec::new();
    for (n, id) in ["stays", "dropped", "kept"].iter().enumerate() {
        let outcome = tenancy.onboard(&db.pool, id).await.unwrap();
        suffixes.push(outcome.tenant.partition_suffix().to_string());
        insert_rows(&db, id, n as i64).await;
    }
    let parents = ["forms", "form_submissions", "follow_ups"];
    let mut watched: Vec<String> = parents.iter().map(|p| p.to_string()).collect();
    watched.extend(parents.iter().map(|p| partition_name(p, &suffixes[0])));

    // A transaction that has read the leaving tenant's `forms` partition
    // directly (not through the parent) and stays open. The detach of that
    // partition comes last (referencing tables first); after its wait for the
    // parent's users it takes SHARE UPDATE EXCLUSIVE on `forms` and queues for
    // ACCESS EXCLUSIVE on the partition behind this reader, so the monitor
    // surely sees the parent's lock (an uncontended detach holds it for well
    // under the monitor's period).
    let mut reader = db.connect().await;
    let reader_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN; SELECT count(*) FROM \"{}\"",
        partition_name("forms", &suffixes[1])
    ))
    .execute(&mut reader)
    .await
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let monitor = spawn_lock_monitor(&db, watched, reader_pid, stop.clone()).await;
    let dropping = {
        let (tenancy, pool) = (tenancy.clone(), db.pool.clone());
        tokio::spawn(async move { tenancy.offboard(&pool, "dropped", Offboard::Drop).await })
    };
    let waited = wait_for_detach_waiting_on(&db, reader_pid).await;
    // Give the monitor a few periods to record the waiting detach's locks.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sqlx::Executor::execute(&mut reader, "COMMIT")
        .await
        .unwrap();
    reader.close().await.ok();
    dropping.await.expect("offboarding task").unwrap();
    assert!(
        waited,
        "DETACH .. CONCURRENTLY never waited for the open reader of the partition"
    );
    tenancy
        .offboard(&db.pool, "kept", Offboard::Keep)
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = monitor.await.unwrap();
    println!("locks seen while offboarding: {seen:#?}");
    let exclusive: Vec<&SeenLock> = seen
        .iter()
        .filter(|lock| lock.mode == "AccessExclusiveLock")
        .collect();
    assert!(
        exclusive.is_empty(),
        "ACCESS EXCLUSIVE on a parent or on another tenant's partition: {exclusive:?}"
    );
    assert!(
        seen.iter()
            .any(|lock| lock.mode == "ShareUpdateExclusiveLock" && lock.granted),
        "the monitor never saw a DETACH CONCURRENTLY lock: {seen:?}"
    );
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'stays'")
            .await,
        1
    );
}
