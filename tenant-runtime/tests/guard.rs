//! The runtime guard on a real PostgreSQL: Enforce refuses before the
//! statement reaches the server, DryRun lets it run and counts it.
mod support;

use sqlx::Row;
use support::TestDb;
use tenant_runtime::guard::{Guard, GuardError, GuardMode};
use tenant_runtime::Config;

async fn seeded() -> TestDb {
    let db = TestDb::new(4).await;
    db.exec("CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, name text, PRIMARY KEY (tenant_id, id))")
        .await;
    db.exec("INSERT INTO forms VALUES ('a', 1, 'alpha form'), ('b', 2, 'beta form')")
        .await;
    db
}

fn guard_error(err: sqlx::Error) -> GuardError {
    match err {
        sqlx::Error::AnyDriverError(inner) => *inner
            .downcast::<GuardError>()
            .expect("the error is the guard's"),
        other => panic!("expected the guard's refusal, got {other}"),
    }
}

#[tokio::test]
async fn enforce_refuses_leaks_before_they_reach_postgres() {
    let db = seeded().await;
    let guard = Guard::builder(Config::default()).build();
    let guarded = guard.wrap(db.pool.clone());

    let rows = sqlx::query("SELECT name FROM forms WHERE tenant_id = $1 ORDER BY id")
        .bind("a")
        .fetch_all(&guarded)
        .await
        .expect("a bound query runs");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("name"), "alpha form");

    let err = sqlx::query("SELECT name FROM forms WHERE id = $1")
        .bind(2_i64)
        .fetch_all(&guarded)
        .await
        .expect_err("an unbound query is refused");
    match guard_error(err) {
        GuardError::Violation {
            violations,
            fingerprint,
        } => {
            assert_eq!(violations[0].rule.name(), "unbound-table");
            assert_eq!(fingerprint.len(), 16);
        }
        other => panic!("unexpected {other}"),
    }

    // Refused before PostgreSQL sees it: a statement against a missing
    // table fails with the guard's error, not "relation does not exist".
    let err = sqlx::query("SELECT * FROM no_such_table")
        .fetch_optional(&guarded)
        .await
        .expect_err("refused");
    assert!(matches!(guard_error(err), GuardError::Violation { .. }));

    // Two tenants in one statement, even though each table is bound.
    let err = sqlx::query(
        "SELECT * FROM forms a JOIN forms b ON b.id = a.id WHERE a.tenant_id = $1 AND b.tenant_id = $2",
    )
    .bind("a")
    .bind("b")
    .fetch_all(&guarded)
    .await
    .expect_err("refused");
    match guard_error(err) {
        GuardError::Violation { violations, .. } => {
            assert!(violations
                .iter()
                .any(|v| v.rule.name() == "conflicting-tenants"))
        }
        other => panic!("unexpected {other}"),
    }

    // Raw SQL that does not parse.
    let err = sqlx::raw_sql("SELEC 1")
        .execute(&guarded)
        .await
        .expect_err("refused");
    assert!(matches!(guard_error(err), GuardError::Parse(_)));

    let stats = guard.stats();
    assert_eq!(stats.checked, 5);
    assert_eq!(stats.refused, 4);
    assert_eq!(stats.parse_errors, 1);
}

#[tokio::test]
async fn dry_run_lets_statements_through_and_counts_them() {
    let db = seeded().await;
    let guard = Guard::builder(Config::default())
        .mode(GuardMode::DryRun)
        .build();
    let guarded = guard.wrap(db.pool.clone());
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM forms")
        .fetch_one(&guarded)
        .await
        .expect("dry run lets it run");
    assert_eq!(all, 2);
    sqlx::query("SELECT * FROM forms WHERE tenant_id = $1")
        .bind("a")
        .fetch_all(&guarded)
        .await
        .expect("runs");
    let stats = guard.stats();
    assert_eq!(stats.checked, 2);
    assert_eq!(stats.dry_run_violations, 1);
    assert_eq!(stats.refused, 0);
}

#[tokio::test]
async fn forbid_delete_and_strict_mode_are_honoured() {
    let db = seeded().await;
    let config = Config::from_toml_str("forbid_delete = true").unwrap();
    let guard = Guard::builder(config).build();
    let guarded = guard.wrap(db.pool.clone());
    let err = sqlx::query("DELETE FROM forms WHERE tenant_id = $1")
        .bind("a")
        .execute(&guarded)
        .await
        .expect_err("delete is forbidden");
    match guard_error(err) {
        GuardError::Violation { violations, .. } => {
            assert_eq!(violations[0].rule.name(), "delete-forbidden")
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 2);

    let strict = Guard::builder(Config::default()).strict(true).build();
    assert!(strict
        .check("SELECT * FROM forms WHERE tenant_id = $1")
        .is_err());
    assert!(strict
        .check("SELECT * FROM forms WHERE tenant_id = $tenant")
        .is_ok());
}

#[test]
fn cached_checks_are_shared_across_threads() {
    let guard = Guard::builder(Config::default()).capacity(16).build();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let guard = guard.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let sql = format!(
                        "SELECT * FROM forms WHERE tenant_id = $1 AND id = {}",
                        i % 8
                    );
                    guard.check(&sql).expect("bound");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(guard.stats().checked, 800);
}

/// The wall of a schema tenant's transaction (its role and transaction-local
/// `search_path`): the guard refuses SQL that would move it
/// (`search-path-or-role`) or reach past it (`tenant-schema-reference`), in
/// lenient and strict mode, before it reaches PostgreSQL.
#[test]
fn the_guard_refuses_moving_or_crossing_the_schema_wall() {
    for strict in [false, true] {
        let guard = Guard::builder(Config::default()).strict(strict).build();
        for (sql, rule) in [
            (
                "SET search_path = tenant_t9_q8w7e6, public",
                "search-path-or-role",
            ),
            ("SET LOCAL ROLE postgres", "search-path-or-role"),
            ("RESET ALL", "search-path-or-role"),
            (
                "SELECT set_config('search_path', 'public', true)",
                "search-path-or-role",
            ),
            ("SELECT set_config($1, $2, true)", "search-path-or-role"),
            (
                "SELECT * FROM tenant_t9_q8w7e6.forms WHERE tenant_id = $1",
                "tenant-schema-reference",
            ),
            (
                "SELECT * FROM tenant_t9_q8w7e6_archive.forms WHERE tenant_id = $tenant",
                "tenant-schema-reference",
            ),
        ] {
            match guard.check(sql) {
                Err(GuardError::Violation { violations, .. }) => assert!(
                    violations.iter().any(|v| v.rule.name() == rule),
                    "{sql}: {violations:?}"
                ),
                other => panic!("{sql} (strict: {strict}): expected {rule}, got {other:?}"),
            }
        }
        guard
            .check("SELECT current_setting('search_path'), current_setting('role')")
            .expect("reading the settings changes nothing");
    }
}
