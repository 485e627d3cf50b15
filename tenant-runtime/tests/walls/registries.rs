//! Finding 1: two registries handed out the same partition suffix, and one
//! tenant took over another's partitions; onboarding and offboarding found
//! partitions by name and never checked the bound.

use tenant_runtime::schema::TableSchema;
use tenant_runtime::{Config, Error, Offboard, Tenancy};

use crate::support::{form_submissions, forms, TestDb};

fn tenancy(registry: Option<&str>) -> Tenancy {
    let builder = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions());
    match registry {
        Some(schema) => builder.registry_schema(schema),
        None => builder,
    }
    .build()
    .expect("tenancy")
}

/// An application on registry `app_registry` and the `tenant` command on
/// the default one (what it used when it had no registry option), or two
/// tenancies in one process: each tenant keeps its own partitions.
#[tokio::test]
async fn a_second_registry_cannot_take_over_a_tenants_partitions() {
    let db = TestDb::new(4).await;
    let app = tenancy(Some("app_registry"));
    app.install(&db.pool).await.expect("install");
    let alice = app.onboard(&db.pool, "alice").await.expect("alice").tenant;
    db.exec("INSERT INTO forms (tenant_id, id, title) VALUES ('alice', 1, 'alice''s')")
        .await;

    // What the `tenant` command does: discover the tables, its own registry.
    let command = Tenancy::discover(&db.pool, Config::default())
        .await
        .expect("discover");
    let mallory = command
        .onboard(&db.pool, "mallory")
        .await
        .expect("mallory onboards on the other registry");
    assert!(
        !mallory.created_partitions.is_empty(),
        "mallory got partitions of its own, not alice's: {:?}",
        mallory.created_partitions
    );
    assert_ne!(mallory.tenant.partition_suffix(), alice.partition_suffix());
    command
        .offboard(&db.pool, "mallory", Offboard::Drop)
        .await
        .expect("mallory offboards");
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'alice'")
            .await,
        1,
        "alice's partition survived mallory's offboarding"
    );
    let partition = forms().partition_name(alice.partition_suffix());
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {partition}")).await,
        1
    );

    // Two tenancies of one process on two registries.
    let second = tenancy(Some("second_registry"));
    second.install(&db.pool).await.expect("install");
    let bob = second.onboard(&db.pool, "bob").await.expect("bob").tenant;
    assert_ne!(bob.partition_suffix(), alice.partition_suffix());
    insert_rows_forms_only(&db, "bob").await;
    second
        .offboard(&db.pool, "bob", Offboard::Drop)
        .await
        .expect("bob offboards");
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'alice'")
            .await,
        1
    );
}

async fn insert_rows_forms_only(db: &TestDb, tenant: &str) {
    sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ($1, 7, 'x')")
        .bind(tenant)
        .execute(&db.pool)
        .await
        .expect("insert");
}

/// A partition under the expected name that belongs to another tenant is
/// refused with both tenants named, and nothing changes, whether found by
/// onboarding, offboarding or sync.
#[tokio::test]
async fn a_partition_is_checked_by_its_bound_not_its_name() {
    let db = TestDb::new(4).await;
    let first = tenancy(Some("reg_a"));
    first.install(&db.pool).await.expect("install");
    let alice = first
        .onboard(&db.pool, "alice")
        .await
        .expect("alice")
        .tenant;
    insert_rows_forms_only(&db, "alice").await;
    // A second registry whose registry row for mallory is forged to point
    // at alice's suffix (what a shared sequence used to do by accident).
    let second = tenancy(Some("reg_b"));
    second.install(&db.pool).await.expect("install");
    db.exec(&format!(
        "INSERT INTO reg_b.tenants (id, partition_suffix) VALUES ('mallory', '{}')",
        alice.partition_suffix()
    ))
    .await;
    let err = second
        .onboard(&db.pool, "mallory")
        .await
        .expect_err("alice's partitions are not mallory's");
    match &err {
        Error::PartitionOwnedByAnother { tenant, owner, .. } => {
            assert_eq!(tenant, "mallory");
            assert!(owner.contains("'alice'"), "{owner}");
        }
        other => panic!("unexpected: {other}"),
    }
    for mode in [Offboard::Drop, Offboard::Keep] {
        let err = second
            .offboard(&db.pool, "mallory", mode)
            .await
            .expect_err("offboarding mallory must not touch alice's partitions");
        assert!(
            matches!(err, Error::PartitionOwnedByAnother { .. }),
            "{err}"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'alice'")
            .await,
        1
    );
    let attached = |table: &TableSchema| {
        format!(
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass('{}')",
            table.qualified_partition_name(alice.partition_suffix())
        )
    };
    assert_eq!(db.count(&attached(&forms())).await, 1);
    assert_eq!(db.count(&attached(&form_submissions())).await, 1);
}

/// The `tenant` command takes the registry schema from a flag or from
/// `registry_schema` in tenancy.toml.
#[test]
fn the_registry_schema_is_configurable() {
    let config = Config::from_toml_str("registry_schema = \"App_Registry\"").unwrap();
    assert_eq!(config.registry_schema.as_deref(), Some("app_registry"));
    let quoted = Config::from_toml_str("registry_schema = '\"App\"'").unwrap();
    assert_eq!(quoted.registry_schema.as_deref(), Some("App"));
    assert!(Config::from_toml_str("registry_schema = \"\"").is_err());
}
