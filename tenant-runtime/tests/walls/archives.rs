//! Finding 6: archives were not read-only against DELETE: a handle kept
//! across `Offboard::Keep` emptied the archive.

use tenant_runtime::tenant_core::route::RouteTemplate;
use tenant_runtime::tenant_core::Analyzer;
use tenant_runtime::Offboard;

use crate::support::{insert_rows, installed};

#[tokio::test]
async fn a_stale_handle_cannot_delete_or_truncate_an_archive() {
    let (db, tenancy) = installed(2).await;
    tenancy.onboard(&db.pool, "alpha").await.unwrap();
    insert_rows(&db, "alpha", 1).await;
    let stale = tenancy.tenant(&db.pool, "alpha").await.unwrap();
    tenancy
        .offboard(&db.pool, "alpha", Offboard::Keep)
        .await
        .unwrap();
    let archive = tenant_runtime::schema::partition_name("follow_ups", stale.partition_suffix());
    let analyzer = Analyzer::new(tenancy.config().clone());
    let delete = analyzer
        .analyze("DELETE FROM follow_ups WHERE tenant_id = $tenant")
        .unwrap();
    let sql = stale.route_sql(&RouteTemplate::from_analysis(&delete));
    assert!(sql.contains(&archive), "{sql}");
    let err = sqlx::query(&sql)
        .bind(stale.id())
        .execute(&db.pool)
        .await
        .expect_err("the archive refuses deletes");
    assert!(err.to_string().contains("read-only archive"), "{err}");
    let err = sqlx::raw_sql(&format!("TRUNCATE {archive}"))
        .execute(&db.pool)
        .await
        .expect_err("and truncation");
    assert!(err.to_string().contains("read-only archive"), "{err}");
    let err = sqlx::raw_sql(&format!("UPDATE {archive} SET note = 'changed'"))
        .execute(&db.pool)
        .await
        .expect_err("and updates");
    assert!(err.to_string().contains("tenancy_archived"), "{err}");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {archive}")).await,
        1
    );
}
