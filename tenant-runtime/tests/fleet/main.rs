//! Tenants spread over several databases on three real servers
//! (127.0.0.1:5432, 5433 and 5434, started by `scripts/setup.sh`), and a
//! private server a test stops. Each test makes its own databases, so they
//! run in parallel.

#[path = "../support/mod.rs"]
mod support;

mod layouts;
mod moves;
mod servers;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use servers::{PrivateServer, ServerDb, FLEET_PORTS};
use tenant_runtime::fleet::{Fleet, PlacedBy};
use tenant_runtime::tenant_core::fleet::FleetConfig;
use tenant_runtime::tenant_core::placement::{
    DatabaseConfig, ListRule, PlacementConfig, PlacementError, RangeRule,
};
use tenant_runtime::tenant_core::route::RouteTemplate;
use tenant_runtime::tenant_core::Analyzer;
use tenant_runtime::{Config, Error, Offboard, Tenancy, Tenant};

/// Three databases, one per server: `a` (the directory), `b`, `c`.
struct Three {
    a: ServerDb,
    b: ServerDb,
    c: ServerDb,
}

impl Three {
    async fn new() -> Three {
        Three {
            a: ServerDb::on_main().await,
            b: ServerDb::on_port(FLEET_PORTS[0]).await,
            c: ServerDb::on_port(FLEET_PORTS[1]).await,
        }
    }

    fn urls(&self) -> HashMap<String, String> {
        [("A_URL", &self.a), ("B_URL", &self.b), ("C_URL", &self.c)]
            .into_iter()
            .map(|(variable, db)| (variable.to_string(), db.url.clone()))
            .collect()
    }
}

fn database(name: &str, variable: &str) -> DatabaseConfig {
    DatabaseConfig {
        name: name.into(),
        url_env: variable.into(),
        pool_size: None,
    }
}

/// `acme` and `globex` listed on `b`; ids from `m` (inclusive) to `t`
/// (exclusive) on `c`; everyone else on `a`.
fn rules() -> PlacementConfig {
    PlacementConfig {
        default: Some("a".into()),
        list: vec![ListRule {
            database: "b".into(),
            tenants: vec!["acme".into(), "globex".into()],
        }],
        range: vec![RangeRule {
            database: "c".into(),
            start: Some("m".into()),
            end: Some("t".into()),
        }],
        ..PlacementConfig::default()
    }
}

fn fleet_config(fleet: FleetConfig) -> Config {
    Config {
        databases: vec![
            database("a", "A_URL"),
            database("b", "B_URL"),
            database("c", "C_URL"),
        ],
        placement: Some(rules()),
        fleet: Some(fleet),
        ..Config::default()
    }
}

fn tenancy(config: Config) -> Tenancy {
    Tenancy::builder(config)
        .schema(support::forms())
        .schema(support::form_submissions())
        .schema(support::follow_ups())
        .lock_timeout(Duration::from_millis(500))
        .tenant_cache_ttl(Duration::from_millis(200))
        .build()
        .expect("tenancy")
}

async fn installed_fleet(three: &Three) -> Fleet {
    let urls = three.urls();
    let fleet = Fleet::connect_with(&tenancy(fleet_config(FleetConfig::default())), |v| {
        urls.get(v).cloned()
    })
    .expect("fleet");
    fleet.install().await.expect("install");
    fleet
}

/// `SELECT id, title FROM forms WHERE tenant_id = $tenant`, routed for
/// `tenant` (its partition on its database).
fn routed_select(tenant: &Tenant) -> String {
    let analysis = Analyzer::new(Config::default())
        .analyze("SELECT id, title FROM forms WHERE tenant_id = $tenant ORDER BY id")
        .expect("parse");
    assert!(analysis.is_ok());
    tenant.route_sql(&RouteTemplate::from_analysis(&analysis))
}

async fn insert_form(fleet: &Fleet, tenant: &Tenant, id: i64, title: &str) {
    sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, $2, $3)")
        .bind(tenant.id())
        .bind(id)
        .bind(title)
        .execute(fleet.pool(tenant).expect("its pool"))
        .await
        .expect("insert a form");
}

#[tokio::test]
async fn onboarding_lands_on_the_database_the_rules_place_it_on() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;

    // Before onboarding, the rules answer.
    let placed = fleet.placement_of("acme").await.expect("placed");
    assert_eq!(
        (placed.database.as_str(), placed.by),
        ("b", PlacedBy::Rules)
    );

    for (tenant, expected) in [("acme", "b"), ("nora", "c"), ("zed", "a"), ("alpha", "a")] {
        let onboarded = fleet.onboard(tenant).await.expect("onboard");
        assert_eq!(onboarded.database, expected, "{tenant}");
        assert_eq!(onboarded.outcome.tenant.database(), Some(expected));
    }
    // Checked with a plain connection to each server: the registry and the
    // partitions are where the rules said, and nowhere else.
    for (db, expected) in [
        (&three.a, ["zed", "alpha"].as_slice()),
        (&three.b, ["acme"].as_slice()),
        (&three.c, ["nora"].as_slice()),
    ] {
        for tenant in ["acme", "nora", "zed", "alpha"] {
            assert_eq!(
                db.registers(tenant).await,
                expected.contains(&tenant),
                "{tenant}"
            );
        }
        assert_eq!(db.partitions("forms").await, expected.len() as i64);
    }
    // The directory records each placement, so a change of the rules moves
    // no one.
    let entries = fleet.directory_entries().await.expect("directory");
    assert_eq!(
        entries,
        [("acme", "b"), ("alpha", "a"), ("nora", "c"), ("zed", "a")]
            .map(|(t, d)| (t.to_string(), d.to_string()))
    );
    let placed = fleet.placement_of("acme").await.expect("placed");
    assert_eq!(placed.by, PlacedBy::Directory);

    // Handles know their database and read their own rows there.
    let acme = fleet.tenant("acme").await.expect("acme");
    assert_eq!(acme.database(), Some("b"));
    insert_form(&fleet, &acme, 1, "acme's form").await;
    let rows: Vec<(i64, String)> = sqlx::query_as(&routed_select(&acme))
        .bind(acme.id())
        .fetch_all(fleet.pool(&acme).unwrap())
        .await
        .expect("routed select on its database");
    assert_eq!(rows, [(1, "acme's form".to_string())]);

    // Onboarding again changes nothing; status counts per database.
    let again = fleet.onboard("acme").await.expect("onboard again");
    assert!(again.outcome.created_partitions.is_empty());
    let status = fleet.status().await;
    let counts: Vec<(&str, bool, i64, i64)> = status
        .iter()
        .map(|s| (s.database.as_str(), s.reachable, s.tenants, s.partitions))
        .collect();
    assert_eq!(
        counts,
        [("a", true, 2, 6), ("b", true, 1, 3), ("c", true, 1, 3)]
    );
    let listed: Vec<(String, Vec<String>)> = fleet
        .list()
        .await
        .into_iter()
        .map(|d| {
            let ids = d
                .tenants
                .expect("listed")
                .into_iter()
                .map(|t| t.id)
                .collect();
            (d.database, ids)
        })
        .collect();
    assert_eq!(listed[0].1, ["alpha", "zed"]);
    assert_eq!(listed[2].1, ["nora"]);
}

#[tokio::test]
async fn a_routed_query_run_on_another_database_fails_instead_of_reading_rows() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    // The first tenant of `a` and the first of `b`: the same number in
    // their registries' sequences.
    let zed = fleet.onboard("zed").await.expect("zed").outcome.tenant;
    let acme = fleet.onboard("acme").await.expect("acme").outcome.tenant;
    insert_form(&fleet, &zed, 1, "zed's form").await;
    insert_form(&fleet, &acme, 1, "acme's form").await;
    assert_ne!(zed.partition_suffix(), acme.partition_suffix());

    // zed's routed SQL on acme's database: an error, never acme's rows.
    let wrong = sqlx::query_as::<_, (i64, String)>(&routed_select(&zed))
        .bind(zed.id())
        .fetch_all(&three.b.pool)
        .await;
    match wrong {
        Err(sqlx::Error::Database(e)) => assert_eq!(e.code().as_deref(), Some("42P01"), "{e}"),
        other => panic!("zed's query on database b must fail, got {other:?}"),
    }
    // On its own database it reads its own row.
    let rows: Vec<(i64, String)> = sqlx::query_as(&routed_select(&zed))
        .bind(zed.id())
        .fetch_all(fleet.pool(&zed).unwrap())
        .await
        .expect("zed on a");
    assert_eq!(rows, [(1, "zed's form".to_string())]);
    // A handle of a single-database tenancy has no fleet pool.
    let single = support::seed_tenancy();
    let own = &three.a.pool;
    let handle = single
        .tenant(own, "zed")
        .await
        .expect("zed through a plain tenancy");
    assert!(matches!(
        fleet.pool(&handle),
        Err(Error::NotAFleetTenant { .. })
    ));
}

#[tokio::test]
async fn explicit_placement_overrides_the_rules_and_refuses_a_second_home() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    // `zed` goes by the rules to `a`; placed on `c` by hand instead.
    let onboarded = fleet.onboard_on("zed", "c").await.expect("onboard on c");
    assert_eq!(onboarded.database, "c");
    assert!(three.c.registers("zed").await && !three.a.registers("zed").await);
    assert_eq!(fleet.tenant("zed").await.unwrap().database(), Some("c"));
    // Onboarding it again by the rules keeps it on `c`.
    assert_eq!(fleet.onboard("zed").await.unwrap().database, "c");
    // A second home is refused, nothing changed.
    match fleet.onboard_on("zed", "b").await {
        Err(Error::TenantPlacedElsewhere {
            database,
            requested,
            ..
        }) => assert_eq!((database.as_str(), requested.as_str()), ("c", "b")),
        other => panic!("expected TenantPlacedElsewhere, got {other:?}"),
    }
    assert!(!three.b.registers("zed").await);
    // An unknown database is named with the known ones.
    let err = fleet.onboard_on("newco", "mars").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no database `mars` in this fleet's `[[databases]]` (it has: a, b, c)"
    );
    // Offboarding with Keep keeps the entry (the archive is there); with
    // Drop the entry goes, and the tenant is unknown.
    assert_eq!(fleet.offboard("zed", Offboard::Keep).await.unwrap(), "c");
    assert!(matches!(
        fleet.tenant("zed").await,
        Err(Error::UnknownTenant { .. })
    ));
    assert_eq!(fleet.placement_of("zed").await.unwrap().database, "c");
    fleet.onboard("zed").await.expect("back on c");
    assert_eq!(fleet.offboard("zed", Offboard::Drop).await.unwrap(), "c");
    let placed = fleet.placement_of("zed").await.unwrap();
    assert_eq!(
        (placed.database.as_str(), placed.by),
        ("a", PlacedBy::Rules)
    );
}

#[tokio::test]
async fn hostile_ids_and_bad_configuration_are_clear_errors() {
    let three = Three::new().await;
    let fleet = installed_fleet(&three).await;
    // Quotes, a statement, non-ASCII: stored as given, on the rules' database.
    for id in ["a'hara\"; DROP TABLE forms; --", "ñandú 🦤", "m'; SELECT 1"] {
        let onboarded = fleet.onboard(id).await.expect("onboard a hostile id");
        let expected = if id.starts_with('m') { "c" } else { "a" };
        assert_eq!(onboarded.database, expected, "{id}");
        assert_eq!(fleet.tenant(id).await.unwrap().id(), id);
    }
    assert_eq!(three.a.partitions("forms").await, 2);

    // No rule places an id below the range without a default.
    let mut config = fleet_config(FleetConfig::default());
    config.placement.as_mut().unwrap().default = None;
    let urls = three.urls();
    let strict = Fleet::connect_with(&tenancy(config), |v| urls.get(v).cloned()).unwrap();
    match strict.onboard("zed").await {
        Err(Error::Placement(PlacementError::Unplaced { tenant })) => assert_eq!(tenant, "zed"),
        other => panic!("expected Unplaced, got {other:?}"),
    }
    // A missing variable and a malformed URL name the database.
    let err = Fleet::connect_with(&tenancy(fleet_config(FleetConfig::default())), |v| {
        (v != "B_URL").then(|| urls[v].clone())
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "placement: the database `b` reads its URL from $B_URL, which is not set"
    );
    let err = Fleet::connect_with(&tenancy(fleet_config(FleetConfig::default())), |v| {
        Some(if v == "C_URL" {
            "postgres://[::1".into()
        } else {
            urls[v].clone()
        })
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the database `c`: the URL in $C_URL is not valid"),
        "{err}"
    );
    // No fleet without [[databases]].
    assert!(matches!(
        Fleet::connect(&support::seed_tenancy()),
        Err(Error::NotAFleet)
    ));
}

#[tokio::test]
async fn install_refuses_one_database_listed_twice() {
    let three = Three::new().await;
    let mut urls = three.urls();
    urls.insert("C_URL".into(), three.b.url.clone());
    let fleet = Fleet::connect_with(&tenancy(fleet_config(FleetConfig::default())), |v| {
        urls.get(v).cloned()
    })
    .unwrap();
    match fleet.install().await {
        Err(Error::SharedRegistryTag { first, second, .. }) => {
            assert_eq!((first.as_str(), second.as_str()), ("b", "c"))
        }
        other => panic!("expected SharedRegistryTag, got {other:?}"),
    }
}

/// An installed fleet on the databases at `a`, `b` and `c`, whose
/// databases fail within a second when they do not answer.
async fn quick_failing_fleet(a: &str, b: &str, c: &str) -> Fleet {
    let urls: HashMap<String, String> = [("A_URL", a), ("B_URL", b), ("C_URL", c)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let fleet = Fleet::connect_with(
        &tenancy(fleet_config(FleetConfig {
            connect_timeout_ms: Some(1_000),
            ..FleetConfig::default()
        })),
        |v| urls.get(v).cloned(),
    )
    .unwrap();
    fleet.install().await.expect("install");
    fleet
}

#[tokio::test]
async fn a_stopped_server_fails_its_own_tenants_only() {
    let a = ServerDb::on_main().await;
    let b = ServerDb::on_port(FLEET_PORTS[0]).await;
    let mut private = PrivateServer::start();
    let fleet = quick_failing_fleet(&a.url, &b.url, &private.url).await;
    let zed = fleet.onboard("zed").await.unwrap().outcome.tenant;
    let acme = fleet.onboard("acme").await.unwrap().outcome.tenant;
    let nora = fleet.onboard("nora").await.unwrap().outcome.tenant;
    for (tenant, id) in [(&zed, 1), (&acme, 2), (&nora, 3)] {
        insert_form(&fleet, tenant, id, "before").await;
    }

    private.stop();
    // Past the cache's time to live, every lookup reads again.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for tenant in ["zed", "acme"] {
        let handle = fleet
            .tenant(tenant)
            .await
            .expect("a tenant of a running server");
        let rows: Vec<(i64, String)> = sqlx::query_as(&routed_select(&handle))
            .bind(handle.id())
            .fetch_all(fleet.pool(&handle).unwrap())
            .await
            .expect("its query runs");
        assert_eq!(rows.len(), 1, "{tenant}");
    }
    let started = Instant::now();
    match fleet.tenant("nora").await {
        Err(Error::DatabaseUnavailable { database, .. }) => assert_eq!(database, "c"),
        other => panic!("expected DatabaseUnavailable for nora, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the error took {:?}",
        started.elapsed()
    );
    // Listing and status go on, the stopped database marked.
    let listed = fleet.list().await;
    assert!(listed[0].tenants.is_ok() && listed[1].tenants.is_ok());
    assert!(matches!(
        listed[2].tenants,
        Err(Error::DatabaseUnavailable { .. })
    ));
    let status = fleet.status().await;
    assert_eq!(
        status.iter().map(|s| s.reachable).collect::<Vec<_>>(),
        [true, true, false]
    );
    // Onboarding on the running servers goes on too.
    assert_eq!(fleet.onboard("bob").await.unwrap().database, "a");
}

#[tokio::test]
async fn cached_placements_survive_the_directory_going_down() {
    let mut private = PrivateServer::start();
    let b = ServerDb::on_port(FLEET_PORTS[0]).await;
    let c = ServerDb::on_port(FLEET_PORTS[1]).await;
    let fleet = quick_failing_fleet(&private.url, &b.url, &c.url).await;
    fleet.onboard("acme").await.expect("acme on b");
    fleet.onboard("nora").await.expect("nora on c");
    assert_eq!(fleet.tenant("acme").await.unwrap().database(), Some("b"));

    private.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // acme was found before: its placement is used, its database answers.
    assert_eq!(fleet.tenant("acme").await.unwrap().database(), Some("b"));
    // globex never was: without the directory, an error naming it.
    match fleet.tenant("globex").await {
        Err(Error::DatabaseUnavailable { database, .. }) => assert_eq!(database, "a"),
        other => panic!("expected DatabaseUnavailable for the directory, got {other:?}"),
    }
}
