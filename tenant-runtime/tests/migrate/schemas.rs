//! Fleet migrations in tenant schemas: after the database's own run, each
//! tenant in schema layout gets the same migrations in its schema (its own
//! `_sqlx_migrations`), a bounded number at once; a failing schema is named
//! and the rerun resumes it; a `-- tenancy: parents-only` migration stays
//! out of the schemas, and an unmarked one that creates a partitioned table
//! is refused before anything runs.

use tenant_runtime::migrate::{self, Event, MigrationError, Options, Target};
use tenant_runtime::tenant_core::layout::Layout;
use tenant_runtime::{Config, Tenancy};

use crate::support::{form_submissions, forms, TestDb};
use crate::Dir;

const SCHEMA_MIGRATIONS: &[(&str, &str)] = &[
    (
        "1_add_note.sql",
        "ALTER TABLE forms ADD COLUMN note text;\n",
    ),
    (
        "2_create_widgets.sql",
        "-- tenancy: parents-only\n\
         CREATE TABLE widgets (tenant_id text NOT NULL, id bigint NOT NULL, \
           PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);\n",
    ),
    (
        "3_index_note.sql",
        "CREATE INDEX forms_note ON forms (note);\n",
    ),
];

/// A database with a partition tenant `p` and schema tenants `s1`..`s3`;
/// their schemas by tenant.
async fn fleet_with_schema_tenants() -> (TestDb, Vec<(String, String)>) {
    let db = TestDb::new(6).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    tenancy.onboard(&db.pool, "p").await.unwrap();
    let mut schemas = Vec::new();
    for id in ["s1", "s2", "s3"] {
        let outcome = tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .unwrap();
        schemas.push((id.to_string(), outcome.created_schema.unwrap()));
    }
    (db, schemas)
}

async fn versions(db: &TestDb, schema: &str) -> Vec<i64> {
    sqlx::query_scalar(&format!(
        "SELECT version FROM {schema}._sqlx_migrations WHERE success ORDER BY version"
    ))
    .fetch_all(&db.pool)
    .await
    .expect("the schema's history")
}

async fn has_note(db: &TestDb, schema: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'forms' AND column_name = 'note')",
    )
    .bind(schema)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_tenant_schema_gets_the_migrations_and_a_failed_one_resumes() {
    let (db, schemas) = fleet_with_schema_tenants().await;
    let (failing_id, failing) = schemas[1].clone();
    // s2's schema has a column the first migration adds: it fails there.
    db.exec(&format!("ALTER TABLE {failing}.forms ADD COLUMN note text"))
        .await;
    let dir = Dir::new(SCHEMA_MIGRATIONS);
    let migrator = migrate::load(&dir.0).await.unwrap();
    let targets = [Target::new("a", db.pool.clone())];
    let options = Options {
        schema_parallelism: 2,
        ..Options::default()
    };
    let mut events = Vec::new();
    let err = migrate::run(&migrator, &targets, &options, |event| {
        if let Event::SchemaDone {
            schema,
            tenant,
            applied,
            error,
            done,
            total,
            ..
        } = event
        {
            events.push((
                schema.to_string(),
                tenant.to_string(),
                applied.to_vec(),
                error.is_some(),
                done,
                total,
            ));
        }
    })
    .await
    .expect_err("one schema fails");
    let MigrationError::Schemas {
        database,
        total,
        failures,
        ..
    } = &err
    else {
        panic!("expected schema failures, got {err:?}");
    };
    assert_eq!((database.as_str(), *total), ("a", 3));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].schema, failing);
    assert_eq!(failures[0].tenant, failing_id);
    let message = err.to_string();
    assert!(
        message.contains(&format!("schema `{failing}` (tenant \"s2\")"))
            && message.contains("migration 1 (add note)"),
        "{message}"
    );
    // Progress: every schema once, counted 1..=3 of 3.
    assert_eq!(events.len(), 3, "{events:?}");
    let counts: Vec<(usize, usize)> = events.iter().map(|e| (e.4, e.5)).collect();
    assert_eq!(counts, vec![(1, 3), (2, 3), (3, 3)]);
    for (schema, tenant, applied, failed, ..) in &events {
        if *schema == failing {
            assert!(*failed && applied.is_empty(), "{events:?}");
        } else {
            assert!(!failed, "{events:?}");
            assert_eq!(
                applied,
                &vec![1, 3],
                "{tenant}: the parents-only one skipped"
            );
        }
    }
    // The database has all three; the parents-only one made no table in
    // the schemas; the migrated schemas have the column, the index and
    // their own history.
    assert_eq!(
        db.count("SELECT count(*) FROM public._sqlx_migrations WHERE success")
            .await,
        3
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'public.widgets'::regclass")
            .await,
        1
    );
    assert!(has_note(&db, "public").await, "the parent");
    for (_, schema) in &schemas {
        assert_eq!(
            db.count(&format!(
                "SELECT (to_regclass('{schema}.widgets') IS NOT NULL)::int::int8"
            ))
            .await,
            0,
            "{schema}"
        );
        if *schema != failing {
            assert!(has_note(&db, schema).await, "{schema}");
            assert_eq!(versions(&db, schema).await, vec![1, 3], "{schema}");
            assert_eq!(
                db.count(&format!(
                    "SELECT (to_regclass('{schema}.forms_note') IS NOT NULL)::int::int8"
                ))
                .await,
                1,
                "{schema}"
            );
        }
    }
    // The failed schema is at a migration boundary: nothing applied.
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM {failing}._sqlx_migrations WHERE success"
        ))
        .await,
        0
    );

    // Fixed, the rerun resumes: the database and the other schemas are up
    // to date, the failed one gets what it lacks.
    db.exec(&format!("ALTER TABLE {failing}.forms DROP COLUMN note"))
        .await;
    let report = migrate::run(&migrator, &targets, &options, |_| {})
        .await
        .expect("resumed");
    assert_eq!(report.applied(), 0);
    assert_eq!(report.applied_in_schemas(), 2);
    let applied: Vec<(String, Vec<i64>)> = report.databases[0]
        .schemas
        .iter()
        .map(|s| (s.tenant.clone(), s.applied.clone()))
        .collect();
    assert_eq!(
        applied,
        vec![
            ("s1".to_string(), vec![]),
            ("s2".to_string(), vec![1, 3]),
            ("s3".to_string(), vec![])
        ]
    );
    assert!(has_note(&db, &failing).await);
    // A third run applies nothing anywhere.
    let again = migrate::run(&migrator, &targets, &options, |_| {})
        .await
        .unwrap();
    assert_eq!((again.applied(), again.applied_in_schemas()), (0, 0));
}

#[tokio::test]
async fn an_unmarked_partitioned_table_is_refused_where_tenant_schemas_exist() {
    let (db, _schemas) = fleet_with_schema_tenants().await;
    let dir = Dir::new(&[
        (
            "1_add_note.sql",
            "ALTER TABLE forms ADD COLUMN note text;\n",
        ),
        (
            "2_create_gizmos.sql",
            "CREATE TABLE gizmos (tenant_id text NOT NULL, id bigint NOT NULL) \
             PARTITION BY LIST (tenant_id);\n",
        ),
    ]);
    let migrator = migrate::load(&dir.0).await.unwrap();
    let targets = [Target::new("a", db.pool.clone())];
    let err = migrate::run(&migrator, &targets, &Options::default(), |_| {})
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, MigrationError::PartitionedInSchemas { database, migration }
            if database == "a" && migration.version == 2),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("-- tenancy: parents-only")
            && message.contains("nothing was applied on any database"),
        "{message}"
    );
    assert_eq!(
        db.count("SELECT (to_regclass('public._sqlx_migrations') IS NOT NULL)::int::int8")
            .await,
        0,
        "nothing applied"
    );
    assert!(!has_note(&db, "public").await);

    // Without schema tenants the same directory runs as before.
    let plain = TestDb::new(2).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .build()
        .unwrap();
    tenancy.install(&plain.pool).await.unwrap();
    tenancy.onboard(&plain.pool, "p").await.unwrap();
    let report = migrate::run(
        &migrator,
        &[Target::new("plain", plain.pool.clone())],
        &Options::default(),
        |_| {},
    )
    .await
    .expect("no tenant schemas");
    assert_eq!(report.applied(), 2);
    assert!(report.databases[0].schemas.is_empty());
}
