//! Schema layout behind a real PgBouncer in transaction pool mode (1.18, as
//! `scripts/setup.sh` runs it on 127.0.0.1:6432).
//!
//! First the hazard itself, with plain SQL and no runtime: a session-level
//! `SET search_path` or `SET ROLE` by one client stays on the server
//! connection the pooler gave it, and the next client the pooler gives that
//! server connection runs its unqualified queries in the first client's
//! schema, or as its role. Then the runtime's side: a schema tenant's
//! transaction sets its role and search path transaction-locally
//! (`set_config(.., true)`), so every transaction sees exactly its own
//! tenant, and nothing survives the commit for whoever comes next.
//!
//! Each test makes its own database through the direct server (5432); the
//! clients go through the pooler. PgBouncer pools server connections per
//! (database, user), so a test's clients share only the server connections
//! of its own database: used one after the other, they share one.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Row};
use support::{
    admin_exec_blocking, form_submissions, forms, pgbouncer_options, require_pgbouncer, TestDb,
};
use tenant_runtime::tenant_core::layout::Layout;
use tenant_runtime::{tenant_query_scalar, Config, Tenancy, Tenant};

/// A client connection through the pooler to the test database.
async fn pooled_client(db: &TestDb) -> PgConnection {
    require_pgbouncer().await;
    pgbouncer_options(&db.name)
        .connect()
        .await
        .expect("a client connection through PgBouncer")
}

/// One row of simple-protocol SQL (one `Query` message: the pooler gives all
/// of it to one server connection, and no statement is prepared).
async fn row(connection: &mut PgConnection, sql: &str) -> sqlx::postgres::PgRow {
    sqlx::raw_sql(sql)
        .fetch_one(connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What a client sees of its server connection: backend pid, current user,
/// search path, and the bodies of the `notes` its unqualified name reaches.
#[derive(Debug)]
struct Seen {
    pid: i32,
    user: String,
    search_path: String,
    notes: String,
}

async fn seen(connection: &mut PgConnection) -> Seen {
    let row = row(
        connection,
        "SELECT pg_backend_pid(), current_user::text, current_setting('search_path'), \
                (SELECT string_agg(body, ',' ORDER BY body) FROM notes)",
    )
    .await;
    Seen {
        pid: row.get(0),
        user: row.get(1),
        search_path: row.get(2),
        notes: row.get(3),
    }
}

/// Two schemas with a table `notes` each, and `public.notes`, made directly.
async fn two_schemas(db: &TestDb, a: &str, b: &str) {
    db.exec(&format!(
        "CREATE TABLE public.notes (body text NOT NULL);
         INSERT INTO public.notes VALUES ('public note');
         CREATE SCHEMA {a};
         CREATE TABLE {a}.notes (body text NOT NULL);
         INSERT INTO {a}.notes VALUES ('a note 1'), ('a note 2');
         CREATE SCHEMA {b};
         CREATE TABLE {b}.notes (body text NOT NULL);
         INSERT INTO {b}.notes VALUES ('b note 1');"
    ))
    .await;
}

#[tokio::test]
async fn a_session_search_path_leaks_to_the_next_client_through_pgbouncer() {
    let db = TestDb::new(1).await;
    two_schemas(&db, "tenant_a_schema", "tenant_b_schema").await;

    let mut client_a = pooled_client(&db).await;
    let mut client_b = pooled_client(&db).await;
    // Before: B's unqualified `notes` is public's.
    let before = seen(&mut client_b).await;
    assert_eq!(before.notes, "public note", "{before:?}");

    // Client A sets its search path for "the session", outside a
    // transaction, and reads its pid in the same message.
    let a_pid: i32 = row(
        &mut client_a,
        "SET search_path TO tenant_a_schema, public; SELECT pg_backend_pid()",
    )
    .await
    .get(0);
    // Client B, another client connection, on the server connection A left.
    let after = seen(&mut client_b).await;
    assert_eq!(
        after.pid, a_pid,
        "the two clients were meant to share one server connection"
    );
    // The leak: B's unqualified `notes` is tenant A's table.
    assert_eq!(after.search_path, "tenant_a_schema, public", "{after:?}");
    assert_eq!(
        after.notes, "a note 1,a note 2",
        "B saw A's rows: {after:?}"
    );

    // The transaction-local form does not leak: SET LOCAL (what
    // `set_config(.., true)` is) ends with the transaction.
    sqlx::raw_sql("RESET search_path")
        .execute(&mut client_a)
        .await
        .unwrap();
    let mut tx = client_a.begin().await.unwrap();
    let in_a = row(
        &mut tx,
        "SET LOCAL search_path TO tenant_b_schema, public; \
         SELECT (SELECT string_agg(body, ',') FROM notes), pg_backend_pid()",
    )
    .await;
    assert_eq!(in_a.get::<String, _>(0), "b note 1");
    let a_pid: i32 = in_a.get(1);
    tx.commit().await.unwrap();
    let after = seen(&mut client_b).await;
    assert_eq!(after.pid, a_pid, "one shared server connection");
    assert_eq!(after.notes, "public note", "{after:?}");

    client_a.close().await.ok();
    client_b.close().await.ok();
}

/// Drops a cluster-wide test role after the test database is gone (declare
/// it before the `TestDb`).
struct RoleGuard(String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        if !admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0)) {
            eprintln!("warning: could not drop test role {}", self.0);
        }
    }
}

#[tokio::test]
async fn a_session_role_leaks_to_the_next_client_through_pgbouncer() {
    // A role with a schema of its name: the default search path
    // (`"$user", public`) puts that schema first for whoever has the role.
    let role = format!("pgb_leak_{:016x}", support::fastrand_u64());
    let _role_guard = RoleGuard(role.clone());
    let db = TestDb::new(1).await;
    db.exec(&format!("CREATE ROLE {role} NOLOGIN")).await;
    two_schemas(&db, &role, "tenant_b_schema").await;
    db.exec(&format!(
        "GRANT USAGE ON SCHEMA {role} TO {role}; GRANT SELECT ON {role}.notes TO {role}"
    ))
    .await;

    let mut client_a = pooled_client(&db).await;
    let mut client_b = pooled_client(&db).await;
    let before = seen(&mut client_b).await;
    assert_eq!(before.user, "postgres", "{before:?}");
    assert_eq!(before.notes, "public note", "{before:?}");

    let a_pid: i32 = row(
        &mut client_a,
        &format!("SET ROLE {role}; SELECT pg_backend_pid()"),
    )
    .await
    .get(0);
    let after = seen(&mut client_b).await;
    assert_eq!(
        after.pid, a_pid,
        "the two clients were meant to share one server connection"
    );
    // The leak: B runs as A's role, and its unqualified `notes` is the
    // role's schema's (search_path itself unchanged: `"$user"` moved).
    assert_eq!(after.user, role, "B runs as A's role: {after:?}");
    assert_eq!(after.search_path, "\"$user\", public", "{after:?}");
    assert_eq!(
        after.notes, "a note 1,a note 2",
        "B saw A's rows: {after:?}"
    );
    // And with A's privileges only: B's own tables are refused.
    let refused = sqlx::raw_sql("SELECT count(*) FROM tenant_b_schema.notes")
        .fetch_one(&mut client_b)
        .await
        .expect_err("B lost its own privileges");
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );

    // Give the server connection back its role before the test ends.
    sqlx::raw_sql("RESET ROLE")
        .execute(&mut client_b)
        .await
        .unwrap();
    assert_eq!(seen(&mut client_a).await.user, "postgres");
    client_a.close().await.ok();
    client_b.close().await.ok();
}

/// The backend pid of the server connection, unnamed (behind the pooler).
async fn backend(connection: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .persistent(false)
        .fetch_one(connection)
        .await
        .expect("pg_backend_pid")
}

/// The runtime's side: a tenancy behind the pooler with tenants in schema
/// layout and one in partition layout.
async fn schema_tenancy(db: &TestDb) -> Tenancy {
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .behind_transaction_pooler(true)
        .default_layout(Layout::Schema)
        .build()
        .expect("tenancy");
    tenancy.install(&db.pool).await.expect("install (direct)");
    tenancy
}

/// Onboards `id` in `layout` (directly) and gives it `forms` rows
/// `1..=count` titled `"{id} form {n}"`, written where its rows live.
async fn onboard_with_forms(tenancy: &Tenancy, db: &TestDb, id: &str, layout: Layout, count: i64) {
    let outcome = tenancy
        .onboard_as(&db.pool, id, layout)
        .await
        .expect("onboard");
    assert_eq!(outcome.tenant.layout(), layout);
    let table = match outcome.tenant.tenant_schema() {
        Some(schema) => format!("\"{schema}\".forms"),
        None => "public.forms".to_string(),
    };
    for n in 1..=count {
        sqlx::query(&format!(
            "INSERT INTO {table} (tenant_id, id, title) VALUES ($1, $2, $3)"
        ))
        .bind(id)
        .bind(n)
        .bind(format!("{id} form {n}"))
        .execute(&db.pool)
        .await
        .expect("a form");
    }
}

/// What a transaction sees of its server connection: the current user, the
/// search path setting and the schemas it resolves to.
async fn identity(connection: &mut PgConnection) -> (String, String, Vec<String>) {
    // Unnamed (behind the pooler), inside the caller's transaction.
    let row = sqlx::query(
        "SELECT current_user::text, current_setting('search_path'), \
                current_schemas(false)::text[]",
    )
    .persistent(false)
    .fetch_one(connection)
    .await
    .expect("current_user, search_path");
    (row.get(0), row.get(1), row.get(2))
}

/// The titles unqualified `forms` reaches in this transaction.
async fn unqualified_titles(connection: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT title FROM forms ORDER BY id")
        .persistent(false)
        .fetch_all(connection)
        .await
        .expect("unqualified forms")
}

/// The default identity of the server connections: the pooler's user, the
/// server's default search path, nothing of any tenant.
async fn assert_default_identity(pooled: &PgPool, at: &str) {
    let mut connection = pooled.acquire().await.expect("a plain connection");
    let mut tx = connection.begin().await.expect("a plain transaction");
    let (user, search_path, schemas) = identity(&mut tx).await;
    assert_eq!(user, "postgres", "{at}: a tenant's role survived");
    assert_eq!(
        search_path, "\"$user\", public",
        "{at}: a search path survived"
    );
    assert_eq!(schemas, ["public"], "{at}");
    let role: String = sqlx::query_scalar("SELECT current_setting('role')")
        .persistent(false)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(role, "none", "{at}");
    tx.commit().await.unwrap();
}

/// One schema or partition tenant's transaction through the pooler, all of
/// whose views must be this tenant's only; then a plain transaction that
/// must see none of it.
async fn one_tenant_transaction(tenant: Tenant, pooled: &PgPool, want: Vec<String>, at: String) {
    let mut tx = tenant.begin(pooled).await.expect("tenant transaction");
    // Checked: rendered on the tenant's schema (or partition).
    let checked: Vec<String> = tenant_query_scalar!(
        &tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant ORDER BY id"
    )
    .fetch_all(&mut *tx)
    .await
    .expect("the checked query");
    assert_eq!(checked, want, "{at}: tenant {} (checked)", tenant.id());
    let first: Option<String> = tenant_query_scalar!(
        &tenant,
        "SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1",
        1_i64
    )
    .fetch_optional(&mut *tx)
    .await
    .expect("a point query");
    assert_eq!(first.as_deref(), Some(want[0].as_str()), "{at}");
    // Unchecked: the role and search path the transaction runs with, and
    // what unqualified `forms` is.
    let (user, search_path, schemas) = identity(&mut tx).await;
    match tenant.tenant_schema() {
        Some(schema) => {
            assert_eq!(user, schema, "{at}: the tenant's role");
            assert!(
                search_path.contains(schema) && !search_path.contains("$user"),
                "{at}: search_path {search_path}"
            );
            assert_eq!(schemas, [schema, "public"], "{at}");
        }
        None => {
            assert_eq!(user, "postgres", "{at}: a partition tenant keeps the user");
            assert_eq!(search_path, "\"$user\", public", "{at}");
        }
    }
    // A schema tenant's unqualified `forms` is its own table; the partition
    // tenant's is the parent, which holds its rows only here.
    assert_eq!(
        unqualified_titles(&mut tx).await,
        want,
        "{at}: tenant {} (unqualified)",
        tenant.id()
    );
    tx.commit().await.expect("commit");
    assert_default_identity(pooled, &at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_tenants_through_pgbouncer_see_only_themselves_and_leave_nothing() {
    const SCHEMA_TENANTS: i64 = 12;
    const TASKS: usize = 12;
    const TRANSACTIONS_PER_TASK: usize = 30;
    let db = TestDb::new(2).await;
    let tenancy = schema_tenancy(&db).await;
    // Tenant i has i % 4 + 1 forms; one tenant is in partition layout.
    let mut expected = BTreeMap::new();
    for i in 0..=SCHEMA_TENANTS {
        let (id, layout) = if i == SCHEMA_TENANTS {
            ("partitioned".to_string(), Layout::Partition)
        } else {
            (format!("schema-{i:02}"), Layout::Schema)
        };
        let count = i % 4 + 1;
        onboard_with_forms(&tenancy, &db, &id, layout, count).await;
        expected.insert(
            id.clone(),
            (1..=count)
                .map(|n| format!("{id} form {n}"))
                .collect::<Vec<_>>(),
        );
    }

    // Fewer client connections than tasks; the pooler hands each
    // transaction to any of its server connections.
    require_pgbouncer().await;
    let pooled = PgPoolOptions::new()
        .max_connections(6)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(tenancy.connect_options(pgbouncer_options(&db.name)))
        .await
        .expect("a pool through PgBouncer");
    let mut handles = Vec::new();
    for id in expected.keys() {
        let tenant = tenancy.tenant(&pooled, id).await.expect("handle");
        let layout = if id == "partitioned" {
            Layout::Partition
        } else {
            Layout::Schema
        };
        assert_eq!(tenant.layout(), layout, "{id}");
        handles.push(tenant);
    }
    let (handles, expected) = (Arc::new(handles), Arc::new(expected));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (pooled, handles, expected) = (pooled.clone(), handles.clone(), expected.clone());
        tasks.push(tokio::spawn(async move {
            let mut checked = 0;
            for step in 0..TRANSACTIONS_PER_TASK {
                let tenant = handles[(task * 7 + step * 5) % handles.len()].clone();
                let want = expected[tenant.id()].clone();
                one_tenant_transaction(tenant, &pooled, want, format!("task {task} step {step}"))
                    .await;
                checked += 1;
            }
            checked
        }));
    }
    let mut checked = 0;
    for task in tasks {
        checked += task.await.expect("a task panicked");
    }
    assert_eq!(checked, TASKS * TRANSACTIONS_PER_TASK);
    // Every server connection the pooler holds for this database, taken in
    // turn: none kept a tenant's role or search path.
    for round in 0..20 {
        assert_default_identity(&pooled, &format!("after the tasks, round {round}")).await;
    }
    pooled.close().await;
}

#[tokio::test]
async fn a_schema_tenant_transaction_leaves_nothing_for_the_next_client() {
    // The hazard's order of events, with the runtime's transaction in place
    // of the session-level SET: client A's tenant transaction, then client
    // B on the same server connection.
    let db = TestDb::new(2).await;
    let tenancy = schema_tenancy(&db).await;
    onboard_with_forms(&tenancy, &db, "alpha", Layout::Schema, 2).await;
    require_pgbouncer().await;
    let client_pool = || {
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(tenancy.connect_options(pgbouncer_options(&db.name)))
    };
    let client_a = client_pool().await.expect("client A");
    let client_b = client_pool().await.expect("client B");
    let alpha = tenancy.tenant(&client_a, "alpha").await.expect("alpha");
    let schema = alpha.tenant_schema().expect("a schema tenant").to_string();
    // The pooler may open a second server connection now and then (a
    // client's pool checks its connection): count the rounds in which B
    // met A's server connection, and require some.
    let mut shared = 0;
    for round in 0..10 {
        let mut tx = alpha.begin(&client_a).await.expect("tenant transaction");
        let a_pid = backend(&mut tx).await;
        assert_eq!(identity(&mut tx).await.0, schema);
        assert_eq!(unqualified_titles(&mut tx).await.len(), 2);
        tx.commit().await.unwrap();

        let mut tx = client_b.begin().await.unwrap();
        if backend(&mut tx).await == a_pid {
            shared += 1;
        }
        let (user, search_path, _) = identity(&mut tx).await;
        assert_eq!(user, "postgres", "round {round}");
        assert_eq!(search_path, "\"$user\", public", "round {round}");
        // Unqualified `forms` is the parent again, which holds no rows of a
        // schema tenant.
        assert!(
            unqualified_titles(&mut tx).await.is_empty(),
            "round {round}"
        );
        tx.commit().await.unwrap();
    }
    assert!(shared > 0, "B never met A's server connection");
    client_a.close().await;
    client_b.close().await;
}
