//! Finding 2: row-level security was missing on partitions the RLS-enabled
//! application did not create (tenants onboarded by the `tenant` command),
//! and turning it on after tenants existed secured only the parents.

use tenant_runtime::schema::{ColumnDef, TableSchema};
use tenant_runtime::{Config, Tenancy};

use crate::support::{follow_ups, form_submissions, forms, insert_rows, TestDb};
use crate::{count, pool_as, Role};

fn secured(role: &str) -> Tenancy {
    Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .schema(follow_ups())
        .row_level_security(true)
        .app_role(role)
        .build()
        .expect("tenancy")
}

#[tokio::test]
async fn a_tenant_onboarded_by_the_command_gets_the_policy_and_the_grants() {
    let role = Role::new("walls_cli");
    let db = TestDb::new(4).await;
    let app = secured(&role.0);
    app.install(&db.pool).await.expect("install");
    app.onboard(&db.pool, "alpha").await.expect("alpha");
    // What `tenant onboard carol` does: discover the tables, no RLS setting.
    let command = Tenancy::discover(&db.pool, Config::default())
        .await
        .expect("discover");
    command.onboard(&db.pool, "carol").await.expect("carol");
    insert_rows(&db, "alpha", 1).await;
    insert_rows(&db, "carol", 2).await;
    assert!(
        app.unsecured_partitions(&db.pool).await.unwrap().is_empty(),
        "every partition is secured like its parent"
    );
    let pool = pool_as(&db, &role.0, 2).await;
    let carol = app.tenant(&pool, "carol").await.expect("carol is known");
    let alpha = app.tenant(&pool, "alpha").await.expect("alpha");
    let mut tx = carol.begin(&pool).await.expect("granted and entered");
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 1);
    tx.rollback().await.unwrap();
    // Alpha's transaction reading carol's partition directly sees nothing.
    let carol_partition = forms().qualified_partition_name(carol.partition_suffix());
    let mut tx = alpha.begin(&pool).await.unwrap();
    assert_eq!(
        count(&mut *tx, &format!("SELECT count(*) FROM {carol_partition}")).await,
        0
    );
    tx.rollback().await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn row_level_security_turned_on_late_is_repaired_by_sync() {
    let role = Role::new("walls_late");
    let db = TestDb::new(4).await;
    let plain = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .schema(follow_ups())
        .build()
        .unwrap();
    plain.install(&db.pool).await.unwrap();
    for id in ["alpha", "beta"] {
        plain.onboard(&db.pool, id).await.unwrap();
    }
    insert_rows(&db, "alpha", 1).await;
    insert_rows(&db, "beta", 2).await;
    // Now the application turns row-level security on.
    let app = secured(&role.0);
    app.install(&db.pool).await.expect("install again, secured");
    let unsecured = app.unsecured_partitions(&db.pool).await.unwrap();
    assert_eq!(unsecured.len(), 6, "{unsecured:?}");
    let report = app.sync(&db.pool, |_| {}).await.expect("sync");
    assert_eq!(report.partitions_secured, 6);
    assert!(app.unsecured_partitions(&db.pool).await.unwrap().is_empty());
    let pool = pool_as(&db, &role.0, 2).await;
    let beta = app.tenant(&pool, "beta").await.unwrap();
    let alpha_partition = forms()
        .qualified_partition_name(app.tenant(&pool, "alpha").await.unwrap().partition_suffix());
    let mut tx = beta.begin(&pool).await.unwrap();
    assert_eq!(
        count(&mut *tx, &format!("SELECT count(*) FROM {alpha_partition}")).await,
        0,
        "beta's transaction does not read alpha's partition"
    );
    let updated = sqlx::query(&format!("UPDATE {alpha_partition} SET title = 'taken'"))
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    tx.rollback().await.unwrap();
    pool.close().await;
}

/// Finding 7: with a tenant column that is not text, "no tenant set" was a
/// cast error (`''::uuid`); it is no rows.
#[tokio::test]
async fn no_tenant_set_is_no_rows_for_a_uuid_tenant_column() {
    let role = Role::new("walls_uuid");
    let db = TestDb::new(4).await;
    let table = TableSchema {
        schema: None,
        name: "notes".into(),
        tenant_column: "tenant_id".into(),
        columns: vec![
            ColumnDef {
                name: "tenant_id".into(),
                sql_type: "uuid".into(),
                nullable: false,
                default: None,
                generated: None,
            },
            ColumnDef {
                name: "id".into(),
                sql_type: "bigint".into(),
                nullable: false,
                default: None,
                generated: None,
            },
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        row_level_security: true,
    };
    let tenancy = Tenancy::builder(Config::default())
        .schema(table)
        .app_role(&role.0)
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    let id = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    tenancy
        .onboard(&db.pool, id)
        .await
        .expect("a canonical uuid");
    let err = tenancy
        .onboard(&db.pool, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")
        .await
        .expect_err("the upper-case spelling is the same uuid");
    assert!(err.to_string().contains("canonical"), "{err}");
    db.exec(&format!("INSERT INTO notes VALUES ('{id}', 1)"))
        .await;
    let pool = pool_as(&db, &role.0, 1).await;
    assert_eq!(count(&pool, "SELECT count(*) FROM notes").await, 0);
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "SELECT set_config('tenancy.tenant', '', true), set_config('app.tenant_id', '', true)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM notes").await, 0);
    tx.rollback().await.unwrap();
    let tenant = tenancy.tenant(&pool, id).await.unwrap();
    let mut tx = tenant.begin(&pool).await.unwrap();
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM notes").await, 1);
    tx.rollback().await.unwrap();
    pool.close().await;
}
