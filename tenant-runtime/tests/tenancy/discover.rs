//! Discovery: tenancies over tables made with plain SQL, and the keys
//! `install` records for them.

use crate::support::*;
use tenant_runtime::{Config, Offboard, Tenancy};

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
