//! Test support: a throw-away database per test, and the seed's tables.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tenant_runtime::schema::{ColumnDef, ForeignKey, TableSchema};
use tenant_runtime::Config;
use tenant_runtime::Tenancy;

/// The server the tests use.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Where `scripts/setup.sh` runs PgBouncer (transaction pool mode, in
/// front of the `DATABASE_URL` server): host, port, user and password.
pub const PGBOUNCER_HOST: &str = "127.0.0.1";
/// PgBouncer's port.
pub const PGBOUNCER_PORT: u16 = 6432;
/// The user of PgBouncer's user list.
pub const PGBOUNCER_USER: &str = "postgres";
/// Its password (PostgreSQL itself trusts loopback; PgBouncer asks).
pub const PGBOUNCER_PASSWORD: &str = "tenant-test";

/// Connect options for `database` through the tests' PgBouncer.
pub fn pgbouncer_options(database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host(PGBOUNCER_HOST)
        .port(PGBOUNCER_PORT)
        .username(PGBOUNCER_USER)
        .password(PGBOUNCER_PASSWORD)
        .database(database)
}

/// Fails the test, naming the command that starts the pooler, unless the
/// tests' PgBouncer answers and pools by transaction (its admin console
/// says `pool_mode = transaction`). Never a skip: a missing pooler is a
/// machine that is not set up.
pub async fn require_pgbouncer() {
    let fix = "the pooler tests need PgBouncer in transaction mode at 127.0.0.1:6432; run `bash scripts/setup.sh` (as root) to install and start it";
    let console = pgbouncer_options("pgbouncer");
    let mut connection = match tokio::time::timeout(Duration::from_secs(5), console.connect()).await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!("PgBouncer's admin console does not answer ({e}): {fix}"),
        Err(_) => panic!("PgBouncer's admin console did not answer within 5 s: {fix}"),
    };
    // The console speaks the simple protocol only.
    let rows = sqlx::raw_sql("SHOW CONFIG")
        .fetch_all(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("SHOW CONFIG on PgBouncer's console failed ({e}): {fix}"));
    let pool_mode = rows.iter().find_map(|row| {
        use sqlx::Row;
        let key: String = row.try_get(0).ok()?;
        (key == "pool_mode")
            .then(|| row.try_get::<String, _>(1).ok())
            .flatten()
    });
    assert_eq!(
        pool_mode.as_deref(),
        Some("transaction"),
        "PgBouncer at 127.0.0.1:6432 does not pool by transaction: {fix}"
    );
    connection.close().await.ok();
}

/// A database created for one test, dropped (WITH (FORCE)) when this value
/// is dropped, also when the test panics.
pub struct TestDb {
    /// Pool on the test database.
    pub pool: PgPool,
    /// Connect options for the test database.
    pub options: PgConnectOptions,
    /// The database's name.
    pub name: String,
}

impl TestDb {
    /// Creates `tenant_test_<random>` and a pool of `max_connections` on it.
    /// Panics (failing the test loudly) when PostgreSQL is unreachable.
    pub async fn new(max_connections: u32) -> TestDb {
        let admin = PgConnectOptions::from_str(&admin_url()).expect("DATABASE_URL is not valid");
        let name = format!("tenant_test_{:016x}", fastrand_u64());
        let mut connection = admin
            .connect()
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {} is not reachable: {e}", admin_url()));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("create test database");
        connection.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await
            .expect("connect to test database");
        TestDb {
            pool,
            options,
            name,
        }
    }

    /// Its URL (trust authentication: user, host, port and database).
    pub fn url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.options.get_username(),
            self.options.get_host(),
            self.options.get_port(),
            self.name
        )
    }

    /// A fresh connection outside the pool.
    pub async fn connect(&self) -> PgConnection {
        self.options.connect().await.expect("connect")
    }

    /// Runs SQL (several statements allowed) on the pool.
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One i64 from a query.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// A number unique across parallel tests and processes (database names).
pub fn fastrand_u64() -> u64 {
    // Unique across parallel tests and processes.
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Runs one statement on the admin database from synchronous code (a
/// `Drop`), which cannot block on the test's own runtime: a thread with its
/// own runtime does it. Returns whether it succeeded.
pub fn admin_exec_blocking(sql: String) -> bool {
    match PgConnectOptions::from_str(&admin_url()) {
        Ok(admin) => exec_blocking(admin, sql),
        Err(_) => false,
    }
}

/// [`admin_exec_blocking`] on the database of `options`.
pub fn exec_blocking(options: PgConnectOptions, sql: String) -> bool {
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut connection = options.connect().await.ok()?;
            sqlx::raw_sql(&sql).execute(&mut connection).await.ok()?;
            connection.close().await.ok()
        })
    })
    .join();
    matches!(done, Ok(Some(())))
}

/// Drops the server-wide roles that hold privileges in the current database
/// only and whose names are the runtime's schema-layout roles (a tenant's
/// `tenant_t7_<tag>`, a registry's `tenants_<tag>`): a test database's
/// schema tenants leave roles behind otherwise.
pub const DROP_SCHEMA_TENANT_ROLES: &str = include_str!("drop_schema_tenant_roles.sql");

impl Drop for TestDb {
    fn drop(&mut self) {
        // Roles first, while the database that shows which are ours exists.
        exec_blocking(self.options.clone(), DROP_SCHEMA_TENANT_ROLES.to_string());
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if !admin_exec_blocking(drop_database) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

fn column(name: &str, sql_type: &str, nullable: bool, default: Option<&str>) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        sql_type: sql_type.into(),
        nullable,
        default: default.map(Into::into),
        generated: None,
    }
}

/// `forms`.
pub fn forms() -> TableSchema {
    TableSchema {
        schema: None,
        name: "forms".into(),
        tenant_column: "tenant_id".into(),
        columns: vec![
            column("tenant_id", "text", false, None),
            column("id", "bigint", false, None),
            column("title", "text", false, None),
            column("created_at", "timestamptz", false, Some("now()")),
        ],
        primary_key: vec!["id".into()],
        unique: vec![vec!["title".into()]],
        indexes: vec![vec!["created_at".into()]],
        foreign_keys: vec![],
        row_level_security: false,
    }
}

/// `form_submissions`, referencing `forms`.
pub fn form_submissions() -> TableSchema {
    TableSchema {
        schema: None,
        name: "form_submissions".into(),
        tenant_column: "tenant_id".into(),
        columns: vec![
            column("tenant_id", "text", false, None),
            column("id", "bigint", false, None),
            column("form_id", "bigint", false, None),
            column("payload", "text", true, None),
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![vec!["form_id".into()]],
        foreign_keys: vec![ForeignKey {
            columns: vec!["form_id".into()],
            ref_table: "forms".into(),
            ref_columns: vec!["id".into()],
        }],
        row_level_security: false,
    }
}

/// `follow_ups`, referencing `form_submissions`.
pub fn follow_ups() -> TableSchema {
    TableSchema {
        schema: None,
        name: "follow_ups".into(),
        tenant_column: "tenant_id".into(),
        columns: vec![
            column("tenant_id", "text", false, None),
            column("id", "bigint", false, None),
            column("submission_id", "bigint", false, None),
            column("note", "text", true, None),
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![ForeignKey {
            columns: vec!["submission_id".into()],
            ref_table: "form_submissions".into(),
            ref_columns: vec!["id".into()],
        }],
        row_level_security: false,
    }
}

/// A tenancy over the three seed tables (declared out of order on purpose).
pub fn seed_tenancy() -> Tenancy {
    Tenancy::builder(Config::default())
        .schema(follow_ups())
        .schema(forms())
        .schema(form_submissions())
        .lock_timeout(Duration::from_millis(500))
        .build()
        .expect("seed tenancy")
}

/// A database with the seed tenancy installed.
pub async fn installed(max_connections: u32) -> (TestDb, Tenancy) {
    let db = TestDb::new(max_connections).await;
    let tenancy = seed_tenancy();
    tenancy.install(&db.pool).await.expect("install");
    (db, tenancy)
}

/// Number of partitions attached to `parent`.
pub async fn partition_count(db: &TestDb, parent: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)")
        .bind(parent)
        .fetch_one(&db.pool)
        .await
        .expect("partition count")
}

/// Inserts one form, submission and follow-up of `tenant` through the parents.
pub async fn insert_rows(db: &TestDb, tenant: &str, id: i64) {
    for sql in [
        "INSERT INTO forms (tenant_id, id, title) VALUES ($1, $2, 'form ' || $2)",
        "INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ($1, $2, $2)",
        "INSERT INTO follow_ups (tenant_id, id, submission_id) VALUES ($1, $2, $2)",
    ] {
        sqlx::query(sql)
            .bind(tenant)
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql} for {tenant:?}: {e}"));
    }
}

/// A relation lock seen in `pg_locks` by [`spawn_lock_monitor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenLock {
    /// The backend holding or awaiting it.
    pub pid: i32,
    /// The relation, as `regclass` prints it.
    pub relation: String,
    /// The lock mode, e.g. `RowShareLock`.
    pub mode: String,
    /// Granted, or awaited.
    pub granted: bool,
}

/// Records every relation lock taken on `relations` by anyone but
/// `ignored_pid`, until `stop` is set.
pub async fn spawn_lock_monitor(
    db: &TestDb,
    relations: Vec<String>,
    ignored_pid: i32,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<SeenLock>> {
    let mut connection = db.connect().await;
    tokio::spawn(async move {
        let mut seen: Vec<SeenLock> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let rows: Vec<(i32, String, String, bool)> = sqlx::query_as(
                "SELECT pid, relation::regclass::text, mode, granted FROM pg_locks \
                  WHERE locktype = 'relation' AND pid <> pg_backend_pid() AND pid <> $1 \
                    AND relation = ANY (ARRAY(SELECT to_regclass(r) FROM unnest($2::text[]) r))",
            )
            .bind(ignored_pid)
            .bind(&relations)
            .fetch_all(&mut connection)
            .await
            .expect("pg_locks");
            for (pid, relation, mode, granted) in rows {
                let lock = SeenLock {
                    pid,
                    relation,
                    mode,
                    granted,
                };
                if !seen.contains(&lock) {
                    seen.push(lock);
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        seen
    })
}
