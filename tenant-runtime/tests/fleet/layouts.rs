//! Moves between layouts: a tenant goes from partition to schema layout on
//! its own database, then to partition layout on another server, keeping
//! every row; the directory records database and layout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tenant_runtime::fleet::{is_moving, Fleet, MoveOptions, MoveStep};
use tenant_runtime::tenant_core::layout::Layout;
use tenant_runtime::{Error, Tenant};

use tenant_runtime::tenant_core::route::RouteTemplate;
use tenant_runtime::tenant_core::{Analyzer, Config};

use crate::{insert_form, installed_fleet, routed_select, Three};

/// Inserts a form through the tenant's routed statement (its partition or
/// its schema's table).
async fn insert_routed(fleet: &Fleet, tenant: &Tenant, id: i64) {
    try_insert_routed(fleet, tenant, id)
        .await
        .expect("routed insert");
}

async fn try_insert_routed(fleet: &Fleet, tenant: &Tenant, id: i64) -> Result<(), sqlx::Error> {
    let analysis = Analyzer::new(Config::default())
        .analyze(&format!(
            "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, {id}, 'routed {id}')"
        ))
        .expect("parse");
    assert!(analysis.is_ok());
    sqlx::query(&tenant.route_sql(&RouteTemplate::from_analysis(&analysis)))
        .bind(tenant.id())
        .execute(fleet.pool(tenant).unwrap())
        .await
        .map(|_| ())
}

/// `(id, title)` of the tenant's forms through its routed query.
async fn rows(fleet: &Fleet, tenant: &Tenant) -> Vec<(i64, String)> {
    sqlx::query_as(&routed_select(tenant))
        .bind(tenant.id())
        .fetch_all(fleet.pool(tenant).unwrap())
        .await
        .expect("the routed query")
}

async fn directory_layout(three: &Three, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT layout FROM tenancy.directory WHERE tenant_id = $1")
        .bind(id)
        .fetch_one(&three.a.pool)
        .await
        .expect("directory entry")
}

async fn relation_exists(db: &crate::servers::ServerDb, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tenant_moves_to_schema_layout_in_place_then_to_partitions_on_another_server() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    // acme goes to `b` by the rules; globex, in schema layout, stays put.
    fleet.onboard("acme").await.expect("acme");
    let globex = fleet
        .onboard_as("globex", Layout::Schema)
        .await
        .expect("globex");
    assert_eq!(globex.outcome.tenant.layout(), Layout::Schema);
    assert_eq!(
        directory_layout(&three, "globex").await.as_deref(),
        Some("schema")
    );
    assert_eq!(
        directory_layout(&three, "acme").await.as_deref(),
        Some("partition")
    );
    let acme = fleet.tenant("acme").await.unwrap();
    for id in 0..40 {
        insert_form(&fleet, &acme, id, &format!("form {id}")).await;
    }
    let before = rows(&fleet, &acme).await;
    assert_eq!(before.len(), 40);
    let partition = format!("public.forms_{}", acme.partition_suffix());

    // 1. The same database, schema layout.
    let on = acme.database().unwrap().to_string();
    let report = fleet
        .move_tenant(
            "acme",
            &on,
            MoveOptions {
                layout: Some(Layout::Schema),
                ..MoveOptions::default()
            },
        )
        .await
        .expect("move to schema layout");
    assert_eq!(report.rows_copied, 40, "40 forms");
    let moved = fleet.tenant("acme").await.unwrap();
    assert_eq!(moved.layout(), Layout::Schema);
    assert_eq!(moved.database(), Some(on.as_str()));
    assert_eq!(rows(&fleet, &moved).await, before);
    assert_eq!(
        directory_layout(&three, "acme").await.as_deref(),
        Some("schema")
    );
    let db = match on.as_str() {
        "b" => &three.b,
        "c" => &three.c,
        _ => &three.a,
    };
    assert!(!relation_exists(db, &partition).await, "partitions dropped");
    // New rows land in the schema, with ids of their own.
    insert_routed(&fleet, &moved, 1_000).await;
    assert_eq!(rows(&fleet, &moved).await.len(), 41);

    // A second move to the layout it has on the database it is on: refused.
    match fleet
        .move_tenant(
            "acme",
            &on,
            MoveOptions {
                layout: Some(Layout::Schema),
                ..MoveOptions::default()
            },
        )
        .await
    {
        Err(Error::MoveRefused { reason, .. }) => {
            assert!(reason.contains("schema layout already"), "{reason}")
        }
        other => panic!("expected MoveRefused, got {other:?}"),
    }

    // 2. Another server, back to partition layout.
    let other = if on == "c" { "b" } else { "c" };
    fleet
        .move_tenant(
            "acme",
            other,
            MoveOptions {
                layout: Some(Layout::Partition),
                ..MoveOptions::default()
            },
        )
        .await
        .expect("move to partitions elsewhere");
    let back = fleet.tenant("acme").await.unwrap();
    assert_eq!(back.layout(), Layout::Partition);
    assert_eq!(back.database(), Some(other));
    let mut expected = before.clone();
    expected.push((1_000, "routed 1000".to_string()));
    assert_eq!(rows(&fleet, &back).await, expected);
    let schema = moved.tenant_schema().unwrap().to_string();
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&schema)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "the schema left {on}");
    let roles: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&schema)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(roles, 0, "and its role");
    // globex never moved.
    let globex = fleet.tenant("globex").await.unwrap();
    assert_eq!(globex.layout(), Layout::Schema);
    assert!(rows(&fleet, &globex).await.is_empty());
}

fn to_schema() -> MoveOptions {
    MoveOptions {
        layout: Some(Layout::Schema),
        ..MoveOptions::default()
    }
}

#[tokio::test]
async fn a_move_to_schema_layout_in_place_keeps_every_acknowledged_write() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    fleet.onboard("acme").await.expect("acme");
    let acme = fleet.tenant("acme").await.unwrap();
    for id in 0..200 {
        insert_routed(&fleet, &acme, id).await;
    }
    let on = acme.database().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fleet, stop) = (fleet.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut next, mut fenced, mut acknowledged) = (10_000i64, 0u32, Vec::new());
            let mut unexpected = Vec::new();
            while !stop.load(Ordering::Relaxed) && next < 15_000 {
                let handle = match fleet.tenant("acme").await {
                    Ok(handle) => handle,
                    Err(e) => {
                        unexpected.push(format!("lookup: {e}"));
                        continue;
                    }
                };
                match try_insert_routed(&fleet, &handle, next).await {
                    Ok(()) => {
                        acknowledged.push(next);
                        next += 1;
                    }
                    Err(e) if is_moving(&e) => fenced += 1,
                    Err(e) => {
                        unexpected.push(format!("insert {next} ({:?}): {e}", handle.layout()));
                        next += 1;
                    }
                }
            }
            (acknowledged, fenced, unexpected)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let report = fleet
        .move_tenant("acme", &on, to_schema())
        .await
        .expect("move in place");
    assert!(report.fence.is_some());
    // The writer goes on a little on the new layout, then stops.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acknowledged, fenced, unexpected) = writer.await.unwrap();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(acknowledged.len() > 20, "the writer kept working");
    let moved = fleet.tenant("acme").await.unwrap();
    assert_eq!(moved.layout(), Layout::Schema);
    let ids: Vec<i64> = rows(&fleet, &moved)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    let mut expected: Vec<i64> = (0..200).chain(acknowledged.iter().copied()).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every acknowledged write, nothing else ({fenced} fenced)"
    );
}

#[tokio::test]
async fn a_move_between_layouts_resumes_after_each_step_and_aborts_cleanly() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    fleet.onboard("acme").await.expect("acme");
    let acme = fleet.tenant("acme").await.unwrap();
    for id in 0..30 {
        insert_routed(&fleet, &acme, id).await;
    }
    let before = rows(&fleet, &acme).await;
    let on = acme.database().unwrap().to_string();
    let db = match on.as_str() {
        "b" => &three.b,
        "c" => &three.c,
        _ => &three.a,
    };
    let schema = format!("tenant_{}", acme.partition_suffix());
    let schema_exists = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        )
        .bind(&schema)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };

    // Aborted after the copy: the schema goes, the partitions stay and
    // take writes.
    let stopped = fleet
        .move_tenant(
            "acme",
            &on,
            MoveOptions {
                stop_after: Some(MoveStep::Copied),
                ..to_schema()
            },
        )
        .await;
    assert!(
        matches!(stopped, Err(Error::MoveInterrupted { .. })),
        "{stopped:?}"
    );
    assert!(schema_exists().await);
    assert!(fleet.abort_move("acme").await.expect("abort"));
    assert!(
        !schema_exists().await,
        "the target layout's tables are gone"
    );
    let still = fleet.tenant("acme").await.unwrap();
    assert_eq!(still.layout(), Layout::Partition);
    insert_routed(&fleet, &still, 100).await;
    assert_eq!(rows(&fleet, &still).await.len(), before.len() + 1);

    // Stopped after every step in turn, and resumed.
    for step in [
        MoveStep::Prepared,
        MoveStep::Copied,
        MoveStep::Fenced,
        MoveStep::Flipped,
    ] {
        let result = fleet
            .move_tenant(
                "acme",
                &on,
                MoveOptions {
                    stop_after: Some(step),
                    ..to_schema()
                },
            )
            .await;
        assert!(
            matches!(result, Err(Error::MoveInterrupted { .. })),
            "{step:?}: {result:?}"
        );
    }
    fleet
        .move_tenant("acme", &on, to_schema())
        .await
        .expect("the move finishes");
    let moved = fleet.tenant("acme").await.unwrap();
    assert_eq!(moved.layout(), Layout::Schema);
    assert_eq!(rows(&fleet, &moved).await.len(), before.len() + 1);
}
