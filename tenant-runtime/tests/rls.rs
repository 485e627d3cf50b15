//! Row-level security as a second wall: raw, unchecked SQL run by the
//! application's (non-owner, non-superuser) role sees and writes only the
//! tenant of its tenant transaction.
mod support;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use support::{admin_exec_blocking, follow_ups, form_submissions, forms, insert_rows, TestDb};
use tenant_runtime::Config;
use tenant_runtime::Tenancy;

/// Drops the cluster-wide test role after the test database is gone (declare
/// it before the `TestDb`, so it is dropped after it).
struct RoleGuard(String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        if !admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0)) {
            eprintln!("warning: could not drop test role {}", self.0);
        }
    }
}

async fn count(pool_or_tx: impl sqlx::PgExecutor<'_>, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool_or_tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn the_application_role_sees_only_its_tenant() {
    let role = format!(
        "tenant_app_{}",
        std::process::id() as u64 * 1000 + fastrand_suffix()
    );
    let _role_guard = RoleGuard(role.clone());
    let db = TestDb::new(4).await;
    let tenancy = Tenancy::builder(Config::default())
        .schema(forms())
        .schema(form_submissions())
        .schema(follow_ups())
        .row_level_security(true)
        .app_role(&role)
        .build()
        .expect("tenancy");
    tenancy.install(&db.pool).await.expect("install");
    tenancy
        .install(&db.pool)
        .await
        .expect("install is idempotent");
    for id in ["alpha", "beta"] {
        tenancy.onboard(&db.pool, id).await.expect("onboard");
    }
    // The test's own user is a superuser: it bypasses the policies.
    insert_rows(&db, "alpha", 1).await;
    insert_rows(&db, "beta", 2).await;
    insert_rows(&db, "beta", 3).await;
    assert_eq!(db.count("SELECT count(*) FROM forms").await, 3);

    let app: PgPool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(db.options.clone().username(&role))
        .await
        .expect("connect as the application role");
    let is_super: bool = sqlx::query_scalar(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&app)
    .await
    .unwrap();
    assert!(
        !is_super,
        "the application role must be subject to policies"
    );

    // No tenant set: nothing.
    assert_eq!(count(&app, "SELECT count(*) FROM forms").await, 0);

    let alpha = tenancy
        .tenant(&app, "alpha")
        .await
        .expect("the app role reads the registry");
    let beta = tenancy.tenant(&app, "beta").await.expect("known");
    let mut tx = alpha.begin(&app).await.expect("tenant transaction");
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 1);
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM follow_ups").await, 1);
    // Naming beta's partition directly does not get around the wall.
    let beta_partition = forms().partition_name(beta.partition_suffix());
    assert_eq!(
        count(&mut *tx, &format!("SELECT count(*) FROM {beta_partition}")).await,
        0
    );
    // Writing a row of another tenant is refused by the database.
    let err = sqlx::query("INSERT INTO forms (tenant_id, id, title) VALUES ('beta', 10, 'x')")
        .execute(&mut *tx)
        .await
        .expect_err("a row of another tenant is refused");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = beta.begin(&app).await.unwrap();
    assert_eq!(count(&mut *tx, "SELECT count(*) FROM forms").await, 2);
    let updated = sqlx::query("UPDATE forms SET title = title || ' (mine)'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        updated.rows_affected(),
        2,
        "an unfiltered UPDATE touches only beta's rows"
    );
    tx.commit().await.unwrap();
    // The setting was transaction-local: the pooled connection forgot it.
    assert_eq!(count(&app, "SELECT count(*) FROM forms").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE title LIKE '%(mine)'")
            .await,
        2
    );

    // A condition that fails on another tenant's row would tell of that
    // row. Beta's payload is not a valid regular expression; the statement
    // is one the analyzer accepts, run on the parents, where the DISTINCT
    // keeps PostgreSQL from carrying the tenant over to `s`.
    for (tenant, payload) in [("alpha", "form"), ("beta", "(")] {
        sqlx::query("UPDATE form_submissions SET payload = $2 WHERE tenant_id = $1")
            .bind(tenant)
            .bind(payload)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let probe = "SELECT count(*) FROM (SELECT DISTINCT f.tenant_id FROM forms f \
                 WHERE f.tenant_id = 'alpha') d \
                 JOIN form_submissions s ON s.tenant_id = d.tenant_id AND 'form' ~ s.payload";
    // With a hash join, as with more rows, every partition of `s` is
    // scanned. Without the wall (the test's superuser skips the policies)
    // the statement fails on beta's row...
    let no_nested_loops = "SET LOCAL enable_nestloop = off";
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query(no_nested_loops)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query_scalar::<_, i64>(probe)
        .fetch_one(&mut *tx)
        .await
        .expect_err("without policies `~` meets beta's payload");
    assert!(
        err.to_string().contains("invalid regular expression"),
        "{err}"
    );
    tx.rollback().await.unwrap();
    // ...while the policy, a security qualifier, runs before any function
    // that is not leakproof, so beta's rows never reach `~`.
    let mut tx = alpha.begin(&app).await.unwrap();
    sqlx::query(no_nested_loops)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count(&mut *tx, probe).await, 1);
    tx.rollback().await.unwrap();
    app.close().await;
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % 1000)
        .unwrap_or(0)
}

#[test]
fn row_level_security_can_be_chosen_per_table() {
    let mut secured = forms();
    secured.row_level_security = true;
    let tenancy = Tenancy::builder(Config::default())
        .schema(secured)
        .schema(form_submissions())
        .schema(follow_ups())
        .build()
        .expect("tenancy");
    let ddl = tenancy.install_ddl();
    let secured_tables: Vec<&String> = ddl
        .iter()
        .filter(|s| s.contains("ENABLE ROW LEVEL SECURITY"))
        .collect();
    assert_eq!(
        secured_tables,
        ["ALTER TABLE public.forms ENABLE ROW LEVEL SECURITY"]
    );
    assert!(ddl
        .iter()
        .any(|s| s.starts_with("CREATE POLICY tenant_isolation ON public.forms ")));
}
