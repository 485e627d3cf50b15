//! Citus mode on a server without Citus (CI has none): install refuses
//! before any DDL, and the mode comes from `tenancy.toml`. The DDL and the
//! constraint checks are golden-tested in `src/tenancy/citus.rs`.

use crate::support::*;
use tenant_runtime::{Config, Error, Tenancy};

#[tokio::test]
async fn install_in_citus_mode_without_the_extension_says_so_and_changes_nothing() {
    let db = TestDb::new(2).await;
    let tenancy = Tenancy::builder(Config::default())
        .schemas([forms(), form_submissions()])
        .citus(true)
        .build()
        .unwrap();
    let error = tenancy.install(&db.pool).await.unwrap_err();
    assert!(
        matches!(&error, Error::CitusNotInstalled { database } if database == &db.name),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("CREATE EXTENSION citus"), "{message}");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenancy'")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relname = 'forms'")
            .await,
        0
    );
    for operation in [
        tenancy.placement(&db.pool, "alpha").await.unwrap_err(),
        Tenancy::from_schemas(Config::default(), [forms()])
            .unwrap()
            .isolate(&db.pool, "alpha", Default::default())
            .await
            .unwrap_err(),
    ] {
        // Not installed, or not Citus mode: never a panic, never a guess.
        assert!(
            matches!(operation, Error::NotInstalled { .. } | Error::Schema(_)),
            "{operation:?}"
        );
    }
}

#[test]
fn citus_mode_comes_from_tenancy_toml_and_the_builder() {
    let config = Config::from_toml_str("citus = true\nglobal_tables = [\"plans\"]\n").unwrap();
    let tenancy = Tenancy::builder(config.clone())
        .schemas([forms(), form_submissions()])
        .build()
        .unwrap();
    assert!(tenancy.citus());
    let ddl = tenancy.citus_ddl();
    assert_eq!(ddl.len(), 3, "{ddl:?}");
    assert!(
        ddl[0].starts_with("SELECT create_reference_table("),
        "{ddl:?}"
    );
    assert!(
        ddl[1].contains(
            "create_distributed_table(c.oid::regclass, 'tenant_id', colocate_with => 'default')"
        ),
        "{ddl:?}"
    );
    assert!(
        ddl[2].contains("colocate_with => 'public.forms'"),
        "{ddl:?}"
    );

    let plain = Tenancy::builder(config)
        .schemas([forms()])
        .citus(false)
        .build()
        .unwrap();
    assert!(!plain.citus());
    assert!(plain.citus_ddl().is_empty());
    // The parents' DDL is the same in both modes: Citus distributes them
    // afterwards.
    assert!(!Tenancy::from_schemas(Config::default(), [forms()])
        .unwrap()
        .citus());
}
