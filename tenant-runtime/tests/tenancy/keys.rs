//! Keys: sync (new tables, new keys) and foreign keys moved from the
//! parents onto each tenant's partitions.

use std::time::Duration;

use crate::support::*;
use crate::{self_referencing_tenancy, suffix_of, users_partition};
use tenant_runtime::{Config, Error, Offboard, Tenancy};

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
