//! Cross-tenant SQL on PostgreSQL: reads see every tenant, a write runs only
//! with `allow_writes`, every query leaves a tracing record with its
//! fingerprint and purpose, and none is kept as a prepared statement.
//!
//! A test binary of its own with one test: tracing caches per call site
//! whether anyone listens, and other tests running beside it without a
//! subscriber would race with the thread-local one set here.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::Connection;
use tenant_runtime::{
    cross_tenant_query, cross_tenant_query_as, cross_tenant_query_scalar, Config, FromRow, Tenancy,
    TenantTable,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use support::TestDb;

#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "forms")]
#[allow(dead_code)] // read back only by the derive's own code
struct Form {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    title: String,
}

#[derive(Debug, PartialEq, FromRow)]
struct Usage {
    tenant_id: String,
    forms: i64,
}

/// One event: its level, target and fields as text.
#[derive(Debug, Clone)]
struct Recorded {
    level: Level,
    target: String,
    fields: Vec<(String, String)>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Events {
    seen: Arc<Mutex<Vec<Recorded>>>,
    next_id: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

impl Subscriber for Events {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.seen.lock().unwrap().push(Recorded {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Events {
    fn cross_tenant(&self) -> Vec<Recorded> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.target == tenant_runtime::cross_tenant::TRACING_TARGET)
            .cloned()
            .collect()
    }
}

const USAGE_SQL: &str =
    "SELECT tenant_id, count(*) AS forms FROM forms GROUP BY tenant_id ORDER BY tenant_id";

#[tokio::test] // one thread: the queries are built on this thread's subscriber
async fn cross_tenant_queries_read_everything_write_on_purpose_and_leave_a_record() {
    let db = TestDb::new(4).await;
    let tenancy = Tenancy::builder(Config::default())
        .table::<Form>()
        .build()
        .unwrap();
    tenancy.install(&db.pool).await.unwrap();
    for (tenant, count) in [("alpha", 2), ("beta", 3)] {
        tenancy.onboard(&db.pool, tenant).await.unwrap();
        let handle = tenancy.tenant(&db.pool, tenant).await.unwrap();
        for n in 0..count {
            Form {
                id: 0,
                tenant_id: String::new(),
                title: format!("form {n}"),
            }
            .insert(&handle)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        }
    }

    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let billing = tenancy.cross_tenant("monthly billing report");
    assert_eq!(billing.purpose(), "monthly billing report");

    // A read sees every tenant.
    let usage: Vec<Usage> = cross_tenant_query_as!(
        Usage,
        &billing,
        "SELECT tenant_id, count(*) AS forms FROM forms GROUP BY tenant_id ORDER BY tenant_id"
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        usage,
        [
            Usage {
                tenant_id: "alpha".into(),
                forms: 2
            },
            Usage {
                tenant_id: "beta".into(),
                forms: 3
            },
        ]
    );
    let records = events.cross_tenant();
    assert_eq!(records.len(), 1, "{records:?}");
    let read = &records[0];
    assert_eq!(read.level, Level::INFO);
    assert_eq!(read.field("purpose"), Some("monthly billing report"));
    assert_eq!(
        read.field("fingerprint"),
        tenant_runtime::tenant_core::fingerprint(USAGE_SQL).as_deref()
    );
    assert_eq!(read.field("kind"), Some("SELECT"));
    assert_eq!(read.field("writes"), Some("false"));
    assert!(
        read.field("location")
            .is_some_and(|l| l.contains("tests/cross_tenant.rs:")),
        "{read:?}"
    );

    // A write across tenants runs only as written on purpose, and is a warning.
    let support = tenancy.cross_tenant("support ticket 4711: retitle old forms");
    let retitled = cross_tenant_query!(
        &support,
        allow_writes,
        "UPDATE forms SET title = upper(title) WHERE id > $1",
        0_i64
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(retitled.rows_affected(), 5);
    let write = events.cross_tenant().pop().unwrap();
    assert_eq!(write.level, Level::WARN);
    assert_eq!(write.field("writes"), Some("true"));
    assert_eq!(write.field("kind"), Some("UPDATE"));
    assert_eq!(
        write.field("purpose"),
        Some("support ticket 4711: retitle old forms")
    );

    // Maintenance runs through the same path.
    cross_tenant_query!(&billing, "VACUUM (ANALYZE) forms")
        .execute(&db.pool)
        .await
        .unwrap();
    let upper: i64 = cross_tenant_query_scalar!(
        &billing,
        "SELECT count(*) FROM forms WHERE title = upper(title)"
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(upper, 5);
    assert_eq!(events.cross_tenant().len(), 4);

    // Never kept as a prepared statement (so planned for its arguments each
    // time); a persistent query on the same connection is, which shows the
    // check can tell.
    let mut connection = db.connect().await;
    for _ in 0..6 {
        let _: i64 =
            cross_tenant_query_scalar!(&billing, "SELECT count(*) FROM forms WHERE id > $1", 1_i64)
                .fetch_one(&mut connection)
                .await
                .unwrap();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM forms WHERE id < $1")
            .bind(100_i64)
            .fetch_one(&mut connection)
            .await
            .unwrap();
    }
    let prepared: Vec<String> = sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT count(*) FROM forms WHERE id%'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(prepared, ["SELECT count(*) FROM forms WHERE id < $1"]);
    connection.close().await.unwrap();
}
