//! Online moves of a tenant between databases on different servers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tenant_runtime::fleet::{is_moving, Fleet, MoveOptions, MoveStep, PlacedBy};
use tenant_runtime::{Error, Offboard};

use crate::{installed_fleet, Three};

/// Inserts forms `ids` of `tenant` (through its database's parents).
async fn insert_forms(fleet: &Fleet, tenant: &str, ids: std::ops::Range<i64>) {
    let handle = fleet.tenant(tenant).await.expect("the tenant");
    let pool = fleet.pool(&handle).unwrap();
    for id in ids {
        sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(id)
            .bind(format!("form {id}"))
            .execute(pool)
            .await
            .expect("insert");
        sqlx::query("INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ($1, $2, $2)")
            .bind(tenant)
            .bind(id)
            .execute(pool)
            .await
            .expect("insert a submission");
    }
}

/// `(id, title)` of the tenant's forms on `db`, through the parent.
async fn forms_on(db: &crate::servers::ServerDb, tenant: &str) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT id, title FROM forms WHERE tenant_id = $1 ORDER BY id")
        .bind(tenant)
        .fetch_all(&db.pool)
        .await
        .expect("read forms")
}

#[tokio::test]
async fn a_tenant_moves_while_a_writer_and_a_reader_keep_working() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    fleet.onboard("acme").await.expect("acme on b");
    fleet.onboard("globex").await.expect("globex on b");
    insert_forms(&fleet, "acme", 0..500).await;
    insert_forms(&fleet, "globex", 0..10).await;

    let stop = Arc::new(AtomicBool::new(false));
    // The writer: a new form per round, and a rename of an older one; an
    // operation counts once it is acknowledged.
    let writer = {
        let (fleet, stop) = (fleet.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut next, mut fenced, mut acknowledged) = (1_000i64, 0u32, Vec::new());
            let mut unexpected = Vec::new();
            while !stop.load(Ordering::Relaxed) && next < 6_000 {
                let handle = match fleet.tenant("acme").await {
                    Ok(handle) => handle,
                    Err(e) => {
                        unexpected.push(format!("lookup: {e}"));
                        continue;
                    }
                };
                let pool = fleet.pool(&handle).unwrap().clone();
                let result = async {
                    let mut tx = pool.begin().await?;
                    sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, $2, $3)")
                        .bind("acme")
                        .bind(next)
                        .bind(format!("new {next}"))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE forms SET title = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind("acme")
                        .bind(next % 500)
                        .bind(format!("renamed by {next}"))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                }
                .await;
                match result {
                    Ok(()) => {
                        acknowledged.push(next);
                        next += 1;
                    }
                    Err(e) if is_moving(&e) => {
                        fenced += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => {
                        unexpected.push(e.to_string());
                        next += 1;
                    }
                }
            }
            (acknowledged, fenced, unexpected)
        })
    };
    // The reader stands for another process: a fleet of its own, with its
    // own caches, which learns of the move only from the directory.
    let urls = three.urls();
    let elsewhere = Fleet::connect_with(
        &crate::tenancy(crate::fleet_config(Default::default())),
        |v| urls.get(v).cloned(),
    )
    .unwrap();
    let reader = {
        let (fleet, stop) = (elsewhere.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut reads, mut errors) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let result = async {
                    let handle = fleet.tenant("acme").await?;
                    let count: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM forms WHERE tenant_id = $1 AND id < 500",
                    )
                    .bind("acme")
                    .fetch_one(fleet.pool(&handle)?)
                    .await?;
                    Ok::<i64, Error>(count)
                }
                .await;
                match result {
                    Ok(500) => reads += 1,
                    Ok(other) => errors.push(format!("read {other} of the 500 first forms")),
                    Err(e) => errors.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (reads, errors)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = fleet
        .move_tenant("acme", "c", MoveOptions::default())
        .await
        .expect("the move");
    // A little more work on the target, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acknowledged, fenced, unexpected) = writer.await.unwrap();
    let (reads, read_errors) = reader.await.unwrap();
    eprintln!(
        "move: {report:?}; writer: {} acknowledged, {fenced} fenced retries; reader: {reads} reads",
        acknowledged.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} writer errors, the first: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(3)]
    );
    assert!(
        read_errors.is_empty(),
        "{} reader errors, the first: {:?}",
        read_errors.len(),
        &read_errors[..read_errors.len().min(3)]
    );
    assert!(reads > 0 && acknowledged.len() > 10);
    assert_eq!((report.source.as_str(), report.target.as_str()), ("b", "c"));
    assert!(report.fence.is_some());

    // Every acknowledged write is on the target; the source has nothing.
    let on_target = forms_on(&three.c, "acme").await;
    let ids: std::collections::BTreeSet<i64> = on_target.iter().map(|(id, _)| *id).collect();
    for id in &acknowledged {
        assert!(
            ids.contains(id),
            "acknowledged form {id} is not on the target"
        );
    }
    assert_eq!(ids.len(), 500 + acknowledged.len());
    let last = *acknowledged.last().unwrap();
    let renamed = on_target.iter().find(|(id, _)| *id == last % 500).unwrap();
    assert_eq!(renamed.1, format!("renamed by {last}"));
    assert!(forms_on(&three.b, "acme").await.is_empty());
    assert!(!three.b.registers("acme").await);
    assert!(three.c.registers("acme").await);
    // The other tenant of the source did not notice.
    assert_eq!(forms_on(&three.b, "globex").await.len(), 10);
    let placed = fleet.placement_of("acme").await.unwrap();
    assert_eq!(
        (placed.database.as_str(), placed.by),
        ("c", PlacedBy::Directory)
    );
    // New rows on the target draw fresh ids where sequences are involved;
    // here ids are the application's, so one more insert is enough.
    insert_forms(&fleet, "acme", 9_000..9_001).await;
}

#[tokio::test]
async fn a_move_stopped_after_any_step_finishes_when_run_again() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    for step in [
        MoveStep::Prepared,
        MoveStep::Copied,
        MoveStep::Fenced,
        MoveStep::Flipped,
    ] {
        let tenant = format!("zz-{}", step.as_str());
        assert_eq!(fleet.onboard(&tenant).await.unwrap().database, "a");
        insert_forms(&fleet, &tenant, 0..50).await;
        let stopped = fleet
            .move_tenant(
                &tenant,
                "b",
                MoveOptions {
                    stop_after: Some(step),
                    ..MoveOptions::default()
                },
            )
            .await;
        assert!(
            matches!(&stopped, Err(Error::MoveInterrupted { step: s, .. }) if s == step.as_str()),
            "{step:?}: {stopped:?}"
        );
        if step == MoveStep::Fenced {
            // Writes wait for the mover: the retryable error.
            let write = sqlx::query("UPDATE forms SET title = 'x' WHERE tenant_id = $1")
                .bind(&tenant)
                .execute(&three.a.pool)
                .await
                .unwrap_err();
            assert!(is_moving(&write), "{write}");
        }
        // Writes before the fence go on, and move with the tenant.
        if matches!(step, MoveStep::Prepared | MoveStep::Copied) {
            insert_forms(&fleet, &tenant, 50..60).await;
        }
        let report = fleet
            .move_tenant(&tenant, "b", MoveOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{step:?}: resuming: {e}"));
        assert_eq!(report.target, "b");
        let expected = if matches!(step, MoveStep::Prepared | MoveStep::Copied) {
            60
        } else {
            50
        };
        assert_eq!(
            forms_on(&three.b, &tenant).await.len(),
            expected,
            "{step:?}"
        );
        assert!(forms_on(&three.a, &tenant).await.is_empty(), "{step:?}");
        assert!(!three.a.registers(&tenant).await, "{step:?}");
        assert_eq!(
            fleet.tenant(&tenant).await.unwrap().database(),
            Some("b"),
            "{step:?}"
        );
    }
    // Nothing is left of the moves: no record, no log.
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.moves")
        .fetch_one(&three.a.pool)
        .await
        .unwrap();
    let log: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.move_log")
        .fetch_one(&three.a.pool)
        .await
        .unwrap();
    assert_eq!((records, log), (0, 0));
}

#[tokio::test]
async fn an_aborted_move_leaves_the_tenant_where_it_was() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    fleet.onboard("zed").await.unwrap();
    insert_forms(&fleet, "zed", 0..20).await;
    let stopped = fleet
        .move_tenant(
            "zed",
            "c",
            MoveOptions {
                stop_after: Some(MoveStep::Fenced),
                source: Offboard::Keep,
                ..MoveOptions::default()
            },
        )
        .await;
    assert!(matches!(stopped, Err(Error::MoveInterrupted { .. })));
    // Another target while this move is unfinished: refused.
    match fleet.move_tenant("zed", "b", MoveOptions::default()).await {
        Err(Error::MoveRefused { reason, .. }) => {
            assert!(
                reason.contains("a move of it to `c` is unfinished"),
                "{reason}"
            )
        }
        other => panic!("expected MoveRefused, got {other:?}"),
    }
    assert!(fleet.abort_move("zed").await.unwrap());
    assert!(!fleet.abort_move("zed").await.unwrap());
    // The source takes writes again; the target has nothing.
    insert_forms(&fleet, "zed", 20..21).await;
    assert_eq!(forms_on(&three.a, "zed").await.len(), 21);
    assert!(!three.c.registers("zed").await);
    assert_eq!(three.c.partitions("forms").await, 0);
    assert_eq!(fleet.tenant("zed").await.unwrap().database(), Some("a"));
}

#[tokio::test]
async fn bad_moves_are_refused_and_change_nothing() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    fleet.onboard("zed").await.unwrap();
    assert!(matches!(
        fleet
            .move_tenant("nobody", "b", MoveOptions::default())
            .await,
        Err(Error::UnknownTenant { .. })
    ));
    match fleet.move_tenant("zed", "a", MoveOptions::default()).await {
        Err(Error::MoveRefused { reason, .. }) => {
            assert_eq!(reason, "it lives on `a` in partition layout already")
        }
        other => panic!("expected MoveRefused, got {other:?}"),
    }
    assert!(matches!(
        fleet
            .move_tenant("zed", "mars", MoveOptions::default())
            .await,
        Err(Error::UnknownDatabase { .. })
    ));
    // Another process moving the same tenant holds the mover's lock.
    let mut other = three.a.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext('tenant fleet move'), hashtext('zed'))")
        .execute(&mut *other)
        .await
        .unwrap();
    assert!(matches!(
        fleet.move_tenant("zed", "b", MoveOptions::default()).await,
        Err(Error::MoveInProgress { .. })
    ));
    // Its lock goes with its connection (a pooled one would keep it).
    other.close().await.unwrap();
    // A target that does not answer: an error naming it.
    let mut urls = three.urls();
    urls.insert(
        "C_URL".into(),
        "postgres://postgres@127.0.0.1:1/nothing".into(),
    );
    let partial = Fleet::connect_with(
        &crate::tenancy(crate::fleet_config(
            tenant_runtime::tenant_core::fleet::FleetConfig {
                connect_timeout_ms: Some(1_000),
                ..Default::default()
            },
        )),
        |v| urls.get(v).cloned(),
    )
    .unwrap();
    match partial
        .move_tenant("zed", "c", MoveOptions::default())
        .await
    {
        Err(Error::DatabaseUnavailable { database, .. }) => assert_eq!(database, "c"),
        other => panic!("expected DatabaseUnavailable, got {other:?}"),
    }
    // Nothing was recorded or created anywhere.
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.moves")
        .fetch_one(&three.a.pool)
        .await
        .unwrap();
    assert_eq!(records, 0);
    assert!(!three.b.registers("zed").await && !three.c.registers("zed").await);
}
