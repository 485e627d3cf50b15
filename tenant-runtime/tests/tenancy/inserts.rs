//! Inserts that give rows back: the columns the database fills (identity,
//! serial, defaults left to it, generated columns) are left out of the
//! derived `insert` and come back through `RETURNING`, routed to the
//! tenant's partition or through the parents; `insert_many` writes a batch
//! in one statement.

use tenant_runtime::{Config, Tenancy, Tenant, TenantTable};

use crate::support::TestDb;

/// One column of each kind the database can fill, and two it must not.
#[derive(Debug, Clone, PartialEq, TenantTable)]
#[tenant(table = "tickets")]
struct Ticket {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    /// A serial: its default draws from a sequence of the parent.
    #[tenant(sql_type = "bigserial")]
    number: i64,
    title: String,
    /// Left to its default on insert.
    #[tenant(default = "'open'", skip_insert)]
    status: String,
    /// Has a default, but insert writes the field (false must stay false).
    #[tenant(default = "true")]
    notify: bool,
    /// Computed by the database from `title`.
    #[tenant(generated = "lower(title)")]
    title_key: String,
    note: Option<String>,
}

/// Only the database writes anything but the tenant.
#[derive(Debug, Clone, PartialEq, TenantTable)]
#[tenant(table = "ticks")]
struct Tick {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
}

fn ticket(title: &str, notify: bool) -> Ticket {
    Ticket {
        id: -1,
        tenant_id: "ignored".into(),
        number: -1,
        title: title.into(),
        status: "ignored".into(),
        notify,
        title_key: "ignored".into(),
        note: Some(format!("about {title}")),
    }
}

async fn tickets(db: &TestDb, tenants: &[&str]) -> Tenancy {
    let tenancy = Tenancy::builder(Config::default())
        .table::<Ticket>()
        .table::<Tick>()
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for id in tenants {
        tenancy.onboard(&db.pool, id).await.unwrap();
    }
    tenancy
}

async fn handle(tenancy: &Tenancy, db: &TestDb, id: &str) -> Tenant {
    tenancy.tenant(&db.pool, id).await.unwrap()
}

#[tokio::test]
async fn insert_gives_back_what_the_database_filled() {
    let db = TestDb::new(4).await;
    let tenancy = tickets(&db, &["alpha", "beta"]).await;
    let alpha = handle(&tenancy, &db, "alpha").await;
    let beta = handle(&tenancy, &db, "beta").await;
    assert!(alpha.is_routed());

    let first = ticket("Printer ON FIRE", false)
        .insert(&alpha)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        first.tenant_id, "alpha",
        "the row belongs to the handle's tenant"
    );
    assert!(first.id > 0 && first.number > 0, "{first:?}");
    assert_eq!(
        first.status, "open",
        "a skip_insert column takes its default"
    );
    assert!(
        !first.notify,
        "a written column keeps the value given, not its default"
    );
    assert_eq!(
        first.title_key, "printer on fire",
        "the generated column comes back"
    );
    assert_eq!(first.note.as_deref(), Some("about Printer ON FIRE"));

    // Every partition draws from the parent's sequences: ids never repeat
    // across tenants, routed or through the parents.
    let second = ticket("VPN", true)
        .insert(&beta)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let third = ticket("Badge", true)
        .insert(&alpha.via_parents())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let ids = [first.id, second.id, third.id];
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    assert!(first.number < second.number && second.number < third.number);
    assert_eq!(second.tenant_id, "beta");

    // What came back is what is stored.
    let stored = Ticket::find(&alpha, &first.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, first);
    assert!(Ticket::find(&beta, &first.id)
        .fetch_optional(&db.pool)
        .await
        .unwrap()
        .is_none());

    // update leaves the generated column to the database, which recomputes it.
    let mut renamed = stored.clone();
    renamed.title = "Printer FIXED".into();
    renamed.status = "closed".into();
    renamed.update(&alpha).execute(&db.pool).await.unwrap();
    let stored = Ticket::find(&alpha, &first.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        (stored.title_key.as_str(), stored.status.as_str()),
        ("printer fixed", "closed")
    );

    // A row with nothing but the tenant and an identity.
    let tick = Tick {
        id: 0,
        tenant_id: String::new(),
    }
    .insert(&beta)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(tick.id > 0);
    assert_eq!(tick.tenant_id, "beta");
}

#[tokio::test]
async fn insert_many_writes_a_batch_in_one_statement_in_order() {
    let db = TestDb::new(4).await;
    let tenancy = tickets(&db, &["alpha", "beta"]).await;
    let alpha = handle(&tenancy, &db, "alpha").await;
    let beta = handle(&tenancy, &db, "beta").await;

    let batch: Vec<Ticket> = (0..50)
        .map(|i| {
            let mut t = ticket(&format!("Ticket {i}"), i % 2 == 0);
            if i % 5 == 0 {
                t.note = None;
            }
            t
        })
        .collect();
    let stored = Ticket::insert_many(&alpha, &batch)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 50);
    for (i, (given, row)) in batch.iter().zip(&stored).enumerate() {
        assert_eq!(
            row.title, given.title,
            "row {i} comes back in the order given"
        );
        assert_eq!(row.title_key, given.title.to_lowercase());
        assert_eq!(row.notify, given.notify);
        assert_eq!(row.note, given.note);
        assert_eq!(
            (row.tenant_id.as_str(), row.status.as_str()),
            ("alpha", "open")
        );
    }
    assert!(
        stored.windows(2).all(|w| w[0].id < w[1].id),
        "ids in insertion order"
    );

    // Through the parents too, and an empty batch inserts nothing.
    let more = Ticket::insert_many(&beta.via_parents(), &batch[..3])
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(more.len(), 3);
    assert!(more.iter().all(|r| r.tenant_id == "beta"));
    let none = Ticket::insert_many(&beta, &[])
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        Ticket::list(&alpha)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .len(),
        50
    );
    assert_eq!(
        Ticket::list(&beta).fetch_all(&db.pool).await.unwrap().len(),
        3
    );

    // A batch of rows with no column of their own: one id each.
    let ticks = vec![
        Tick {
            id: 0,
            tenant_id: String::new()
        };
        4
    ];
    let stored = Tick::insert_many(&alpha, &ticks)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|t| t.tenant_id == "alpha" && t.id > 0));
    assert_eq!(db.count("SELECT count(DISTINCT id) FROM ticks").await, 4);
}
