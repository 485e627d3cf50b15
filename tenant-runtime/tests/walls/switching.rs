//! Finding 5: raw SQL inside `tenant.begin()` switched tenants with
//! `set_config('app.tenant_id', ..)`. The policies now read a tenant the
//! registry verifies; every way of switching tried here reaches no other
//! tenant's rows.

use tenant_runtime::{Config, Tenancy};

use crate::support::{follow_ups, form_submissions, forms, insert_rows, TestDb};
use crate::{count, pool_as, Role};

#[tokio::test]
async fn raw_sql_cannot_switch_the_tenant_of_a_tenant_transaction() {
    let role = Role::new("walls_switch");
    let db = TestDb::new(4).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .schema(follow_ups())
        .row_level_security(true)
        .app_role(&role.0)
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    insert_rows(&db, "alpha", 1).await;
    insert_rows(&db, "beta", 2).await;
    insert_rows(&db, "beta", 3).await;
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // One connection: every transaction below runs on the same backend.
    let pool = pool_as(&db, &role.0, 1).await;
    let alpha = tenancy.tenant(&pool, "alpha").await.unwrap();
    let beta_rows = "SELECT count(*) FROM forms WHERE tenant_id = 'beta'";

    let attempts: &[&str] = &[
        "SELECT set_config('app.tenant_id', 'beta', true)",
        "SELECT set_config('app.tenant_id', 'beta', false)",
        "SELECT set_config('tenancy.tenant', 'beta', true)",
        "SET LOCAL tenancy.tenant = 'beta'",
        "SET tenancy.tenant = 'beta'",
        "RESET tenancy.proof",
        "RESET ALL",
        "SET LOCAL ROLE NONE",
        "RESET ROLE",
    ];
    for attempt in attempts {
        let mut tx = alpha.begin(&pool).await.unwrap();
        assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 1);
        sqlx::query(attempt)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{attempt}: {e}"));
        assert_eq!(count(&mut *tx, beta_rows).await, 0, "after {attempt}");
        tx.rollback().await.unwrap();
    }
    // SET ROLE to the owner is refused: the application role is no member.
    let mut tx = alpha.begin(&pool).await.unwrap();
    let err = sqlx::query(&format!("SET LOCAL ROLE {owner}"))
        .execute(&mut *tx)
        .await
        .expect_err("the application role cannot become the owner");
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    // A savepoint rolled back restores alpha; a switch inside it reached
    // nothing of beta's either.
    let mut tx = alpha.begin(&pool).await.unwrap();
    sqlx::query("SAVEPOINT s").execute(&mut *tx).await.unwrap();
    sqlx::query("SELECT set_config('tenancy.tenant', 'beta', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count(&mut *tx, beta_rows).await, 0);
    sqlx::query("ROLLBACK TO SAVEPOINT s")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 1);

    // Calling enter() without the key, or reading the key, fails.
    let err = sqlx::query("SELECT tenancy.enter('beta', '\\x00'::bytea)")
        .execute(&mut *tx)
        .await
        .expect_err("a wrong key");
    assert!(err.to_string().contains("tenant key"), "{err}");
    tx.rollback().await.unwrap();
    let err = sqlx::query("SELECT app_key FROM tenancy.tenant_key")
        .execute(&pool)
        .await
        .expect_err("the application role cannot read the key");
    assert!(err.to_string().contains("permission denied"), "{err}");

    // A proof copied out of alpha's transaction is worthless in the next
    // one, even on the same backend.
    let mut tx = alpha.begin(&pool).await.unwrap();
    let (tenant, proof): (String, String) = sqlx::query_as(
        "SELECT current_setting('tenancy.tenant'), current_setting('tenancy.proof')",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "SELECT set_config('tenancy.tenant', $1, true), set_config('tenancy.proof', $2, true)",
    )
    .bind(&tenant)
    .bind(&proof)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 0);
    tx.rollback().await.unwrap();
    pool.close().await;
}
