//! Finding 4: the guard and the server lexed differently when
//! `standard_conforming_strings` was off: a statement the guard accepted as
//! one tenant's delete removed every tenant's rows.

use sqlx::postgres::PgPoolOptions;
use tenant_runtime::{Config, Tenancy};

use crate::count;
use crate::support::{forms, TestDb};

/// Accepted as `title = 'x\'` and `title = ' OR true --'` with the setting
/// on; with it off, one string then `OR true`.
const DELETE: &str =
    r"DELETE FROM forms WHERE tenant_id = $1 AND title = 'x\' AND title = ' OR true --'";

#[tokio::test]
async fn a_literal_read_two_ways_is_refused_by_the_guard() {
    let db = TestDb::new(2).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    db.exec("INSERT INTO forms (tenant_id, id, title) VALUES ('alpha', 1, 'a'), ('beta', 2, 'b')")
        .await;
    let off = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            db.options
                .clone()
                .options([("standard_conforming_strings", "off")]),
        )
        .await
        .unwrap();
    // The hazard is real: on such a connection the statement deletes beta's
    // row too (shown in a transaction rolled back).
    let mut tx = off.begin().await.unwrap();
    let deleted = sqlx::query(DELETE)
        .bind("alpha")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        deleted.rows_affected(),
        2,
        "with the setting off, OR true reads every row"
    );
    tx.rollback().await.unwrap();
    // The guard refuses the literal, whatever the connection's setting.
    let guarded = tenancy.guard().build().wrap(off.clone());
    let err = sqlx::query(DELETE)
        .bind("alpha")
        .execute(&guarded)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("standard_conforming_strings"),
        "{err}"
    );
    assert_eq!(count(&off, "SELECT count(*) FROM forms").await, 2);
    // The same value as an escape string or a parameter is fine.
    sqlx::query(r"DELETE FROM forms WHERE tenant_id = $1 AND title = E'x\\'")
        .bind("alpha")
        .execute(&guarded)
        .await
        .expect("an escape string reads one way");
    off.close().await;
}
