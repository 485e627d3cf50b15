//! Migrations across the fleet (`tenant_runtime::migrate`) on the three
//! real servers `scripts/setup.sh` runs (127.0.0.1:5432, 5433, 5434): an
//! interrupted run resumed, idempotent reruns, the lock preflight's
//! refusal before anything is applied, and its estimate checked against
//! the locks PostgreSQL really holds.

#[path = "../support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../fleet/servers.rs"]
mod servers;

mod schemas;

use std::path::{Path, PathBuf};
use std::time::Duration;

use servers::{ServerDb, FLEET_PORTS};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tenant_runtime::migrate::{self, Event, MigrationError, Options, Target};

/// A migration directory of one test, removed with this value.
struct Dir(PathBuf);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("migrations_{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&path).expect("create the migration directory");
        for (name, sql) in files {
            std::fs::write(path.join(name), sql).expect("write a migration");
        }
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "1_create_widgets.sql",
        "CREATE TABLE widgets (tenant_id text NOT NULL, id bigint NOT NULL, name text, \
           PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);\n\
         CREATE TABLE widgets_a PARTITION OF widgets FOR VALUES IN ('a');\n",
    ),
    (
        "2_add_gadgets.sql",
        "CREATE TABLE gadgets (id bigint PRIMARY KEY);\n\
         ALTER TABLE widgets ADD COLUMN color text;\n",
    ),
    (
        "3_index_color.sql",
        "CREATE INDEX widgets_color ON widgets (tenant_id, color);\n",
    ),
];

/// `version -> installed_on` of a database, as text.
async fn history(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT version, installed_on::text FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .expect("read _sqlx_migrations")
}

async fn has_history(pool: &PgPool) -> bool {
    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .expect("look for _sqlx_migrations")
}

fn event_text(event: Event<'_>) -> String {
    match event {
        Event::DatabaseStarted { database, pending } => format!("{database} start {pending}"),
        Event::MigrationApplied {
            database, version, ..
        } => format!("{database} applied {version}"),
        Event::DatabaseDone { database, applied } => format!("{database} done {applied}"),
        Event::DatabaseUpToDate { database } => format!("{database} up to date"),
        Event::SchemaDone {
            database,
            schema,
            applied,
            error,
            ..
        } => format!("{database} schema {schema} {applied:?} {error:?}"),
    }
}

async fn run_logged(
    migrator: &sqlx::migrate::Migrator,
    targets: &[Target],
) -> (Result<migrate::Report, MigrationError>, Vec<String>) {
    let mut events = Vec::new();
    let result = migrate::run(migrator, targets, &Options::default(), |event| {
        events.push(event_text(event))
    })
    .await;
    (result, events)
}

#[tokio::test]
async fn across_three_servers_interrupted_and_resumed() {
    let (a, b, c) = (
        ServerDb::on_main().await,
        ServerDb::on_port(FLEET_PORTS[0]).await,
        ServerDb::on_port(FLEET_PORTS[1]).await,
    );
    // The third database has a table the second migration creates.
    sqlx::raw_sql("CREATE TABLE gadgets (id int)")
        .execute(&c.pool)
        .await
        .expect("the conflicting table");
    let dir = Dir::new(MIGRATIONS);
    let migrator = migrate::load(&dir.0).await.expect("load");
    let targets = [
        Target::new("a", a.pool.clone()),
        Target::new("b", b.pool.clone()),
        Target::new("c", c.pool.clone()),
    ];

    let (result, events) = run_logged(&migrator, &targets).await;
    let err = result.expect_err("the second migration fails on c");
    let message = err.to_string();
    match &err {
        MigrationError::Apply {
            database,
            migration,
            done,
            ..
        } => {
            assert_eq!(database, "c");
            assert_eq!(migration.version, 2);
            assert_eq!(migration.description, "add gadgets");
            assert_eq!(done, &["a".to_string(), "b".to_string()]);
        }
        other => panic!("expected a failed migration, got {other:?}"),
    }
    for needle in [
        "database `c`",
        "migration 2 (add gadgets)",
        "\"gadgets\" already exists",
        "`a`, `b`",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert_eq!(
        events,
        [
            "a start 3",
            "a applied 1",
            "a applied 2",
            "a applied 3",
            "a done 3",
            "b start 3",
            "b applied 1",
            "b applied 2",
            "b applied 3",
            "b done 3",
            "c start 3",
            "c applied 1",
        ]
    );
    // c stopped at a migration boundary: 1 applied, 2 rolled back whole.
    let c_history = history(&c.pool).await;
    assert_eq!(
        c_history.iter().map(|h| h.0).collect::<Vec<_>>(),
        [1],
        "c keeps the first migration only"
    );
    let color: Option<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute \
          WHERE attrelid = 'widgets'::regclass AND attname = 'color'",
    )
    .fetch_optional(&c.pool)
    .await
    .expect("look for the column");
    assert_eq!(color, None, "migration 2 rolled back on c");
    let a_before = history(&a.pool).await;
    let b_before = history(&b.pool).await;

    // Remove the conflict; the rerun finishes c only.
    sqlx::raw_sql("DROP TABLE gadgets")
        .execute(&c.pool)
        .await
        .expect("drop the conflict");
    let (result, events) = run_logged(&migrator, &targets).await;
    let report = result.expect("the rerun finishes");
    assert_eq!(
        events,
        [
            "a up to date",
            "b up to date",
            "c start 2",
            "c applied 2",
            "c applied 3",
            "c done 2",
        ]
    );
    assert_eq!(report.applied(), 2);
    assert_eq!(report.databases[2].applied, [2, 3]);
    assert_eq!(history(&a.pool).await, a_before, "a was not re-applied");
    assert_eq!(history(&b.pool).await, b_before, "b was not re-applied");
    for db in [&a, &b, &c] {
        assert_eq!(history(&db.pool).await.len(), 3);
        let index: bool = sqlx::query_scalar("SELECT to_regclass('widgets_color') IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .expect("look for the index");
        assert!(index);
    }

    // Idempotent: a third run applies nothing and changes nothing.
    let (result, events) = run_logged(&migrator, &targets).await;
    let report = result.expect("an idempotent rerun");
    assert_eq!(report.applied(), 0);
    assert_eq!(report.plan.pending(), 0);
    assert_eq!(events, ["a up to date", "b up to date", "c up to date"]);
    assert_eq!(history(&a.pool).await, a_before);
}

#[tokio::test]
async fn an_unreachable_database_is_named_and_nothing_is_applied() {
    let a = ServerDb::on_main().await;
    // Nothing listens on port 1.
    let down = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(
            PgConnectOptions::new()
                .host("127.0.0.1")
                .port(1)
                .username("postgres")
                .database("postgres"),
        );
    let dir = Dir::new(MIGRATIONS);
    let migrator = migrate::load(&dir.0).await.expect("load");
    let targets = [Target::new("a", a.pool.clone()), Target::new("down", down)];
    let (result, events) = run_logged(&migrator, &targets).await;
    let err = result.expect_err("down is unreachable");
    assert!(
        matches!(&err, MigrationError::Unreachable { database, .. } if database == "down"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("database `down` is unreachable"),
        "{err}"
    );
    assert!(events.is_empty(), "{events:?}");
    // The preflight runs on every database first: `a` was not touched.
    assert!(!has_history(&a.pool).await, "nothing was applied on a");
}

#[tokio::test]
async fn a_modified_or_missing_migration_is_refused_by_the_preflight() {
    let a = ServerDb::on_main().await;
    let dir = Dir::new(&MIGRATIONS[..1]);
    let migrator = migrate::load(&dir.0).await.expect("load");
    let targets = [Target::new("a", a.pool.clone())];
    run_logged(&migrator, &targets).await.0.expect("first run");
    std::fs::write(
        dir.0.join("1_create_widgets.sql"),
        "CREATE TABLE widgets (id int);",
    )
    .expect("modify the migration");
    let migrator = migrate::load(&dir.0).await.expect("load");
    let err = run_logged(&migrator, &targets)
        .await
        .0
        .expect_err("modified");
    let message = err.to_string();
    assert!(
        message.contains("database `a`: migration 1 (create widgets) was modified"),
        "{message}"
    );

    let empty = Dir::new(&[]);
    let migrator = migrate::load(&empty.0).await.expect("load");
    let err = run_logged(&migrator, &targets)
        .await
        .0
        .expect_err("missing");
    assert!(
        err.to_string()
            .contains("migration 1 was applied here but is not in the migration directory"),
        "{err}"
    );

    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_such_migrations_dir");
    let err = migrate::load(&missing).await.expect_err("no directory");
    assert!(err.to_string().contains("no_such_migrations_dir"), "{err}");
}

/// A LIST-partitioned parent with `partitions` partitions, a primary key,
/// one more index and a text column (a TOAST table per partition), and a
/// referenced table.
async fn partitioned(pool: &PgPool, parent: &str, partitions: usize) {
    let mut sql = format!(
        "CREATE TABLE {parent}_ref (id bigint PRIMARY KEY);\n\
         CREATE TABLE {parent} (tenant_id text NOT NULL, id bigint NOT NULL, title text, \
           n int, r bigint, PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);\n\
         CREATE INDEX {parent}_title ON {parent} (tenant_id, title);\n"
    );
    for i in 0..partitions {
        sql.push_str(&format!(
            "CREATE TABLE {parent}_p{i} PARTITION OF {parent} FOR VALUES IN ('t{i}');\n"
        ));
    }
    sqlx::raw_sql(&sql)
        .execute(pool)
        .await
        .expect("create the partitioned table");
}

/// Runs `sql` in a transaction and counts the relation locks this backend
/// holds before rolling back: (rows of pg_locks, distinct relations), the
/// lock on pg_locks itself left out.
async fn locks_held(pool: &PgPool, sql: &str) -> (u64, u64) {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::raw_sql(sql)
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let (rows, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT relation) FROM pg_locks \
          WHERE locktype = 'relation' AND pid = pg_backend_pid() \
            AND relation <> 'pg_locks'::regclass",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("count locks");
    tx.rollback().await.expect("rollback");
    (rows as u64, distinct as u64)
}

#[tokio::test]
async fn the_estimate_covers_the_locks_postgresql_holds() {
    const N: usize = 50;
    let db = ServerDb::on_main().await;
    partitioned(&db.pool, "p", N).await;
    let target = Target::new("main", db.pool.clone());
    for sql in [
        "ALTER TABLE p ADD COLUMN c int",
        "ALTER TABLE p ADD COLUMN c int DEFAULT 5",
        "ALTER TABLE p ADD COLUMN c bigserial",
        "ALTER TABLE p ADD COLUMN c float8 DEFAULT random()",
        "ALTER TABLE p ALTER COLUMN n SET NOT NULL",
        "ALTER TABLE p ADD CONSTRAINT ck CHECK (n > 0)",
        "ALTER TABLE p ADD CONSTRAINT u UNIQUE (tenant_id, n)",
        "ALTER TABLE p ADD FOREIGN KEY (r) REFERENCES p_ref (id)",
        "ALTER TABLE p DROP COLUMN n",
        "ALTER TABLE p RENAME COLUMN n TO m",
        "CREATE INDEX ON p (tenant_id, n)",
        "ALTER TABLE p ALTER COLUMN n TYPE bigint",
        "ALTER TABLE p ALTER COLUMN title TYPE varchar(100)",
        "ALTER TABLE p ALTER COLUMN n TYPE bigint; ALTER TABLE p ALTER COLUMN n TYPE int",
        "ALTER TABLE p ADD COLUMN c int; CREATE INDEX ON p (tenant_id, c)",
        "DROP INDEX p_title",
        "TRUNCATE p",
        "DROP TABLE p",
        "ALTER TABLE ONLY p ENABLE ROW LEVEL SECURITY",
        "CREATE TABLE p_new PARTITION OF p FOR VALUES IN ('new')",
        "ALTER TABLE p DETACH PARTITION p_p0",
    ] {
        let (rows, distinct) = locks_held(&db.pool, sql).await;
        let estimate = migrate::estimate_sql_locks(&target, sql)
            .await
            .expect("estimate");
        println!("{sql}: estimate {estimate}, pg_locks rows {rows}, relations {distinct}");
        assert!(
            estimate >= rows,
            "{sql}: estimate {estimate} below the {rows} locks held"
        );
        assert!(
            estimate <= 2 * rows + 20,
            "{sql}: estimate {estimate} is absurdly above the {rows} locks held"
        );
    }
}

#[tokio::test]
async fn the_preflight_refuses_before_anything_is_applied() {
    // `a` has no such table (nothing to lock); `b` has it with 40
    // partitions. The preflight reads both before applying anything.
    let (a, b) = (
        ServerDb::on_main().await,
        ServerDb::on_port(FLEET_PORTS[0]).await,
    );
    sqlx::raw_sql(
        "CREATE TABLE big (tenant_id text NOT NULL, id bigint NOT NULL, title text, \
           PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id)",
    )
    .execute(&a.pool)
    .await
    .expect("the small parent");
    partitioned(&b.pool, "big", 40).await;
    let dir = Dir::new(&[
        ("1_plain.sql", "CREATE TABLE notes (id int);"),
        (
            "2_widen_title.sql",
            "SELECT 1;\nALTER TABLE big ALTER COLUMN title TYPE varchar(200);",
        ),
    ]);
    let migrator = migrate::load(&dir.0).await.expect("load");
    let targets = [
        Target::new("a", a.pool.clone()),
        Target::new("b", b.pool.clone()),
    ];
    let settings: (i64, i64, i64) = sqlx::query_as(
        "SELECT current_setting('max_locks_per_transaction')::bigint, \
                current_setting('max_connections')::bigint, \
                current_setting('max_prepared_transactions')::bigint",
    )
    .fetch_one(&b.pool)
    .await
    .expect("settings");
    let capacity = (settings.0 * (settings.1 + settings.2)) as u64;
    // The rewrite of a 40-partition tree takes ~500 locks: allow a share
    // of the lock table just below that (and above what `a` needs).
    let options = Options {
        max_lock_fraction: 300.0 / capacity as f64,
        ..Options::default()
    };
    let mut events = Vec::new();
    let err = migrate::run(&migrator, &targets, &options, |e| {
        events.push(event_text(e))
    })
    .await
    .expect_err("refused");
    let MigrationError::TooManyLocks(refusal) = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(refusal.database, "b");
    assert_eq!(refusal.migration.version, 2);
    assert_eq!(refusal.table, "big");
    assert_eq!(refusal.partitions, 40);
    assert_eq!(refusal.capacity.capacity(), capacity);
    assert!(refusal.estimated_locks > 300, "{refusal:?}");
    let message = err.to_string();
    for needle in [
        "database `b`: migration 2 (widen title)",
        "ALTER TABLE .. ALTER COLUMN TYPE at 2:1 on `big`",
        "its 40 partitions",
        "max_locks_per_transaction",
        "split the change",
        "nothing was applied on any database",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert!(events.is_empty(), "{events:?}");
    assert!(!has_history(&a.pool).await, "nothing was applied on a");
    assert!(!has_history(&b.pool).await, "nothing was applied on b");

    // With the default share the same migration fits and runs.
    let report = migrate::run(&migrator, &targets, &Options::default(), |_| {})
        .await
        .expect("fits the default share");
    assert_eq!(report.applied(), 4);
    let planned = &report.plan.databases[1].pending[1];
    assert!(planned.estimated_locks > 300, "{planned:?}");
}

#[tokio::test]
async fn unparseable_sql_is_refused_by_the_preflight() {
    let a = ServerDb::on_main().await;
    let dir = Dir::new(&[("1_broken.sql", "CREATE TABLE x (id int);\nALTER TABLE;")]);
    let migrator = migrate::load(&dir.0).await.expect("load");
    let targets = [Target::new("a", a.pool.clone())];
    let err = run_logged(&migrator, &targets)
        .await
        .0
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("database `a`: cannot check the locks of migration 1 (broken)"),
        "{message}"
    );
    assert!(message.contains("at 2:"), "{message}");
    assert!(!has_history(&a.pool).await);
}
