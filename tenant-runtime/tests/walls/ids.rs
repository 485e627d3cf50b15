//! Finding 7, the smaller ones: the guard bound to a tenant, the registry as
//! the application role sees it, look-alike tenant ids.

use tenant_runtime::id::InvalidTenantId;
use tenant_runtime::{Config, Error, Tenancy};

use crate::support::{forms, insert_rows, installed, TestDb};
use crate::{count, pool_as, Role};

#[tokio::test]
async fn a_guard_bound_to_a_tenant_fills_in_its_id_and_refuses_any_other() {
    let (db, tenancy) = installed(2).await;
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    insert_rows(&db, "alpha", 1).await;
    insert_rows(&db, "beta", 2).await;
    let alpha = tenancy.tenant(&db.pool, "alpha").await.unwrap();
    let guarded = tenancy.guard().build().wrap(db.pool.clone());
    let for_alpha = guarded.for_tenant(&alpha);
    let rows = for_alpha
        .query("SELECT id FROM forms WHERE tenant_id = $tenant AND title <> $1")
        .bind("nothing")
        .fetch_all()
        .await
        .expect("$tenant is alpha");
    assert_eq!(rows.len(), 1);
    for other in [
        "SELECT id FROM forms WHERE tenant_id = 'beta'",
        "SELECT id FROM forms WHERE tenant_id = $1",
    ] {
        let err = for_alpha
            .query(other)
            .bind("beta")
            .fetch_all()
            .await
            .expect_err("only $tenant binds");
        assert!(err.to_string().contains("unbound-table"), "{other}: {err}");
    }
    // The lenient guard itself would have let `$1` through.
    assert!(guarded
        .guard()
        .check("SELECT id FROM forms WHERE tenant_id = $1")
        .is_ok());
}

#[tokio::test]
async fn the_application_role_looks_tenants_up_but_cannot_list_them() {
    let role = Role::new("walls_registry");
    let db = TestDb::new(2).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .app_role(&role.0)
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    let pool = pool_as(&db, &role.0, 1).await;
    assert_eq!(tenancy.tenant(&pool, "alpha").await.unwrap().id(), "alpha");
    assert!(matches!(
        tenancy.tenant(&pool, "gamma").await,
        Err(Error::UnknownTenant { .. })
    ));
    for sql in [
        "SELECT count(*) FROM tenancy.tenants",
        "SELECT count(*) FROM tenancy.partition_keys",
        "SELECT count(*) FROM tenancy.tenant_key",
    ] {
        let err = sqlx::query(sql)
            .execute(&pool)
            .await
            .expect_err("not granted");
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    assert!(tenancy.list(&pool).await.is_err());
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM tenancy.tenants").await,
        2
    );
    pool.close().await;
}

#[tokio::test]
async fn look_alike_ids_are_one_tenant_or_refused() {
    let (db, tenancy) = installed(2).await;
    let composed = tenancy.onboard(&db.pool, "\u{e9}cole").await.unwrap();
    let decomposed = tenancy.onboard(&db.pool, "e\u{301}cole").await.unwrap();
    assert!(
        decomposed.created_partitions.is_empty(),
        "the decomposed spelling is the same tenant"
    );
    assert_eq!(decomposed.tenant, composed.tenant);
    for hidden in ["al\u{200B}ice", "\u{FEFF}alice", "alice\u{202E}"] {
        match tenancy.onboard(&db.pool, hidden).await {
            Err(Error::InvalidTenantId(InvalidTenantId::InvisibleCharacter { .. })) => {}
            other => panic!("{hidden:?}: {other:?}"),
        }
    }
    let allowing = Tenancy::builder(Config::default())
        .schema(crate::support::follow_ups())
        .schema(crate::support::forms())
        .schema(crate::support::form_submissions())
        .allow_invisible_tenant_ids(true)
        .build()
        .unwrap();
    allowing
        .onboard(&db.pool, "al\u{200B}ice")
        .await
        .expect("allowed when asked for");
}
