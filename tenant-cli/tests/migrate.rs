//! End-to-end tests of `tenant migrate`: the built binary against
//! throw-away databases on the three real servers `scripts/setup.sh` runs
//! (127.0.0.1:5432, 5433 and 5434).

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::{admin_url, unique, TestDb};

/// Versions recorded as applied on `db`.
fn applied(db: &TestDb) -> i64 {
    if db.count("SELECT count(*) FROM pg_class WHERE relname = '_sqlx_migrations'") == 0 {
        return 0;
    }
    db.count("SELECT count(*) FROM _sqlx_migrations WHERE success")
}

/// A scratch directory, removed with this value.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let path = std::env::temp_dir().join(format!("tenant-cli-migrate-{}", unique()));
        std::fs::create_dir_all(path.join("migrations")).expect("a temporary directory");
        Scratch(path)
    }

    fn migration(&self, name: &str, sql: &str) {
        std::fs::write(self.0.join("migrations").join(name), sql).expect("write a migration");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tenant ARGS` in `dir` with `env`: exit code, stdout, stderr.
fn tenant_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let output = support::tenant_in(dir, env, args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const FLEET_TOML: &str = r#"
[[databases]]
name = "a"
url_env = "MIGRATE_A_URL"
[[databases]]
name = "b"
url_env = "MIGRATE_B_URL"
[[databases]]
name = "c"
url_env = "MIGRATE_C_URL"

[placement]
default = "a"
"#;

#[test]
fn migrate_applies_across_the_fleet_stops_at_a_failure_and_resumes() {
    let a = TestDb::on_server(&admin_url());
    let b = TestDb::on_server("postgres://postgres@127.0.0.1:5433/postgres");
    let c = TestDb::on_server("postgres://postgres@127.0.0.1:5434/postgres");
    let scratch = Scratch::new();
    std::fs::write(scratch.0.join("tenancy.toml"), FLEET_TOML).expect("write tenancy.toml");
    scratch.migration(
        "1_create_forms.sql",
        "CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, title text, \
           PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);",
    );
    scratch.migration(
        "2_add_plans.sql",
        "CREATE TABLE plans (id int PRIMARY KEY);\nALTER TABLE forms ADD COLUMN plan int;",
    );
    c.exec("CREATE TABLE plans (id int)").expect("run the SQL");
    let env = [
        ("MIGRATE_A_URL", a.url.as_str()),
        ("MIGRATE_B_URL", b.url.as_str()),
        ("MIGRATE_C_URL", c.url.as_str()),
    ];

    let (code, out, err) = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for needle in [
        "error: database `c`: migration 2 (add plans) failed",
        "\"plans\" already exists",
        "completed by this run: `a`, `b`; run again to resume",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert!(out.contains("`a`: done, 2 migrations applied"), "{out}");
    assert!(out.contains("`c`: applied 1 create forms"), "{out}");
    assert_eq!((applied(&a), applied(&b), applied(&c)), (2, 2, 1));

    c.exec("DROP TABLE plans").expect("run the SQL");
    let (code, out, err) = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    assert_eq!(code, Some(0), "{out}{err}");
    for needle in [
        "`a`: up to date",
        "`b`: up to date",
        "`c`: applied 2 add plans",
        "migrated 3 databases: 1 migrations applied",
    ] {
        assert!(out.contains(needle), "{needle:?} not in: {out}");
    }
    assert_eq!((applied(&a), applied(&b), applied(&c)), (2, 2, 2));

    let (code, out, err) = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("migrated 3 databases: 0 migrations applied"),
        "{out}"
    );

    // A database whose variable is not set: named, nothing done.
    let (code, out, err) = tenant_in(&scratch.0, &env[..2], &["migrate", "migrations"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("MIGRATE_C_URL"), "{err}");
    assert!(err.contains("`c`") || err.contains("\"c\""), "{err}");

    // A missing directory: named.
    let (code, _, err) = tenant_in(&scratch.0, &env, &["migrate", "no-such-dir"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
}

#[test]
fn migrate_preflight_refuses_a_migration_whose_locks_do_not_fit() {
    let db = TestDb::on_server(&admin_url());
    let mut schema = String::from(
        "CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, title text, \
           PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);\n",
    );
    for i in 0..20 {
        schema.push_str(&format!(
            "CREATE TABLE forms_t{i} PARTITION OF forms FOR VALUES IN ('t{i}');\n"
        ));
    }
    db.exec(&schema).expect("run the SQL");
    let scratch = Scratch::new();
    scratch.migration(
        "20260101000000_widen_title.sql",
        "ALTER TABLE forms ALTER COLUMN title TYPE varchar(500);",
    );
    let env = [("DATABASE_URL", db.url.as_str())];

    // 1% of the lock table (64 x 100 on the test server): 64 locks.
    let (code, out, err) = tenant_in(
        &scratch.0,
        &env,
        &["migrate", "migrations", "--max-lock-fraction", "0.01"],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for needle in [
        "error: database `DATABASE_URL`: migration 20260101000000 (widen title)",
        "ALTER TABLE .. ALTER COLUMN TYPE at 1:1 on `forms` locks it and its 20 partitions",
        "Raise max_locks_per_transaction to at least",
        "nothing was applied on any database",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert_eq!(applied(&db), 0);

    let (code, out, err) = tenant_in(
        &scratch.0,
        &env,
        &["migrate", "migrations", "--preflight-only"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("`DATABASE_URL`: 1 pending"), "{out}");
    assert!(out.contains("20260101000000 widen title: at most"), "{out}");
    assert!(out.contains("nothing applied"), "{out}");
    assert_eq!(applied(&db), 0, "--preflight-only applies nothing");

    let (code, out, err) = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(applied(&db), 1);

    let (code, _, err) = tenant_in(
        &scratch.0,
        &env,
        &["migrate", "migrations", "--max-lock-fraction", "2"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at most 1"), "{err}");
}

#[test]
fn migrate_killed_mid_migration_resumes_where_it_stopped() {
    let a = TestDb::on_server(&admin_url());
    let b = TestDb::on_server("postgres://postgres@127.0.0.1:5433/postgres");
    let scratch = Scratch::new();
    std::fs::write(
        scratch.0.join("tenancy.toml"),
        r#"
[[databases]]
name = "a"
url_env = "MIGRATE_A_URL"
[[databases]]
name = "b"
url_env = "MIGRATE_B_URL"

[placement]
default = "a"
"#,
    )
    .expect("write tenancy.toml");
    scratch.migration("1_create_notes.sql", "CREATE TABLE notes (id int);");
    // Slow on `b` while the marker table exists: the command is killed
    // there, inside the migration's transaction.
    scratch.migration(
        "2_slow_note_column.sql",
        "ALTER TABLE notes ADD COLUMN body text;\n\
         SELECT pg_sleep(CASE WHEN to_regclass('slow_marker') IS NULL THEN 0 ELSE 3 END);",
    );
    b.exec("CREATE TABLE slow_marker ()").expect("run the SQL");
    let env = [
        ("MIGRATE_A_URL", a.url.as_str()),
        ("MIGRATE_B_URL", b.url.as_str()),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(["migrate", "migrations"])
        .env_remove("DATABASE_URL")
        .envs(env)
        .current_dir(&scratch.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the tenant binary starts");
    // Wait until `b` is inside migration 2 (sleeping), then kill.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sleeping = b.count(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE datname = current_database() AND query LIKE '%pg_sleep(CASE%' \
                AND pid <> pg_backend_pid()",
        );
        if sleeping > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "migration 2 never started on b"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill the command");
    child.wait().expect("reap the command");
    assert_eq!(applied(&a), 2, "a was complete before b started");
    assert_eq!(applied(&b), 1, "b keeps migration 1; 2 never committed");

    b.exec("DROP TABLE slow_marker").expect("run the SQL");
    // The killed session's transaction (and sqlx's advisory lock) end when
    // its sleep does; the rerun waits for the lock, then finishes b.
    let (code, out, err) = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("`a`: up to date"), "{out}");
    assert!(out.contains("`b`: applied 2 slow note column"), "{out}");
    assert_eq!((applied(&a), applied(&b)), (2, 2));
}
