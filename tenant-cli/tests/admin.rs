//! End-to-end tests of the admin subcommands: the built `tenant` binary
//! against a throw-away database on the real PostgreSQL (`DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::{Command, Output};
use std::str::FromStr;

use tenant_runtime::sqlx::postgres::PgConnectOptions;
use tenant_runtime::sqlx::{self, ConnectOptions};

mod support;

use support::{admin_url, block_on, tenant_in, TestDb};

/// Plain-SQL tables with their keys declared between the parents, as an
/// existing application would have them.
const SCHEMA: &str = "
    CREATE TABLE users (tenant_id text NOT NULL, id bigint NOT NULL, manager_id bigint,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
    CREATE TABLE tasks (tenant_id text NOT NULL, id bigint NOT NULL, owner_id bigint NOT NULL,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id))
        PARTITION BY LIST (tenant_id);
";

fn add_rows(db: &TestDb, tenant: &str) {
    db.exec(&format!(
        "INSERT INTO users VALUES ('{tenant}', 1, NULL), ('{tenant}', 2, 1); \
         INSERT INTO tasks VALUES ('{tenant}', 1, 2)"
    ))
    .expect("the tenant's rows");
}

#[test]
fn the_admin_subcommands_onboard_move_keys_sync_and_offboard() {
    let db = TestDb::new();
    db.exec(SCHEMA).expect("the schema");

    for tenant in ["acme", "globex"] {
        let output = db.tenant(&["onboard", tenant]);
        assert!(output.status.success(), "{output:?}");
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            out.contains(&format!("onboarded tenant {tenant:?}")),
            "{out}"
        );
        // The keys between the parents are pointed out.
        let note = String::from_utf8_lossy(&output.stderr);
        assert!(
            note.contains("note: 2 foreign keys are declared between parent tables"),
            "{note}"
        );
        add_rows(&db, tenant);
    }
    let again = db.tenant_ok(&["onboard", "acme"]);
    assert!(again.contains("already onboarded"), "{again}");
    let list = db.tenant_ok(&["list"]);
    assert!(
        list.contains("\"acme\"") && list.contains("\"globex\""),
        "{list}"
    );

    let plan = db.tenant_ok(&["move-keys", "--dry-run"]);
    assert!(
        plan.contains("2 foreign keys would move, 0 would stay; nothing changed"),
        "{plan}"
    );
    let moved = db.tenant_ok(&["move-keys"]);
    assert!(
        moved.contains("2 foreign keys moved, 0 kept, 4 added to existing partitions"),
        "{moved}"
    );
    // Keys now live on each tenant's partitions, and still hold.
    assert!(db
        .exec("INSERT INTO tasks VALUES ('globex', 2, 42)")
        .is_err());

    // A tenant onboarded afterwards gets them too, and no note.
    let output = db.tenant(&["onboard", "initech"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let orphan = db.exec("INSERT INTO tasks VALUES ('initech', 1, 1)");
    assert!(orphan.is_err(), "initech's tasks lack the key");
    let synced = db.tenant_ok(&["sync"]);
    assert!(
        synced.contains(
            "synced 3 tenants across 2 tables: 0 partitions created, 0 foreign keys added"
        ),
        "{synced}"
    );
    let schema = db.tenant_ok(&["schema"]);
    assert!(schema.contains("partition_keys"), "{schema}");

    // acme's users reference each other; it leaves all the same.
    let out = db.tenant_ok(&["offboard", "acme", "--keep"]);
    assert!(out.contains("kept as archive tables"), "{out}");
    let list = db.tenant_ok(&["list"]);
    assert!(!list.contains("\"acme\""), "{list}");

    let unknown = db.tenant(&["offboard", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.trim(), "error: unknown tenant \"nobody\"");
}

#[test]
fn admin_subcommands_on_a_database_without_tenant_tables_say_so() {
    let db = TestDb::new();
    let output = db.tenant(&["onboard", "acme"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no tenant tables in this database"),
        "{stderr}"
    );
}

/// How many registry tags the database's partition names carry.
const PARTITION_TAGS: &str =
    "SELECT count(DISTINCT substring(c.relname from '_t[0-9]+_([a-z0-9]+)$'))
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid";

/// The application's registry (`--registry-schema app_registry`) and the
/// default one in the same database: each is its own tenancy, their
/// partitions never collide, and neither can drop the other's tenant.
#[test]
fn a_second_registry_cannot_take_over_a_tenants_partitions() {
    let db = TestDb::new();
    db.exec(SCHEMA).expect("the schema");
    let app = ["--registry-schema", "app_registry"];
    let out = db.tenant_ok(&[&app[..], &["onboard", "alice"]].concat());
    assert!(out.contains("onboarded tenant \"alice\""), "{out}");
    add_rows(&db, "alice");

    // The command without the flag is another tenancy. Its first tenant
    // gets partitions of its own (another suffix); alice is unknown to it.
    db.tenant_ok(&["onboard", "mallory"]);
    add_rows(&db, "mallory");
    let list = db.tenant_ok(&["list"]);
    assert!(list.contains("\"mallory\""), "{list}");
    assert!(!list.contains("\"alice\""), "{list}");
    let refused = db.tenant(&["offboard", "alice"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown tenant \"alice\""));

    // Dropping mallory's partitions leaves alice's rows where they were.
    // Both are the first tenant of their registry; the tags tell them apart.
    assert_eq!(db.count(PARTITION_TAGS), 2, "two registries, two tags");
    let out = db.tenant_ok(&["offboard", "mallory"]);
    assert!(out.contains("mallory"), "{out}");
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE tenant_id = 'alice'"),
        2
    );
    assert_eq!(
        db.count("SELECT count(*) FROM tasks WHERE tenant_id = 'alice'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE tenant_id = 'mallory'"),
        0
    );
    let list = db.tenant_ok(&[&app[..], &["list"]].concat());
    assert!(list.contains("\"alice\""), "{list}");
    // Each partition is named with its registry's own tag.
    assert_eq!(db.count(PARTITION_TAGS), 1, "alice's partitions stay");
}

/// Runs `tenant ARGS` against `url`; returns stderr and how long it took.
fn tenant_against(url: &str, args: &[&str]) -> (Output, std::time::Duration) {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tenant"))
        .args(["--database-url", url])
        .args(args)
        .env_remove("DATABASE_URL")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the tenant binary runs");
    (output, started.elapsed())
}

#[test]
fn connection_errors_name_the_server_and_the_cause_fast_and_hide_the_password() {
    // Port 1: nothing listens there.
    let (output, took) = tenant_against(
        "postgres://postgres:hunter2@127.0.0.1:1/postgres",
        &["list"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("postgres://postgres:***@127.0.0.1:1/postgres")
            && stderr.contains("connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(took.as_secs() < 5, "refused took {took:?}");

    // A database that does not exist on a server that does.
    let admin = PgConnectOptions::from_str(&admin_url()).expect("DATABASE_URL is not valid");
    let missing = admin.database("tenant_cli_no_such_database");
    let url = format!(
        "postgres://{}@{}:{}/tenant_cli_no_such_database",
        missing.get_username(),
        missing.get_host(),
        missing.get_port()
    );
    let (output, _) = tenant_against(&url, &["list"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("tenant_cli_no_such_database") && stderr.contains("does not exist"),
        "{stderr}"
    );

    // A server that accepts the connection and never answers: the command
    // gives up after its connect timeout (5 s), not the pool's.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a silent port");
    let port = listener.local_addr().expect("its address").port();
    let holder = std::thread::spawn(move || {
        // Accept and hold the connection until the command has given up.
        let accepted = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(8));
        drop(accepted);
    });
    let (output, took) = tenant_against(
        &format!("postgres://postgres@127.0.0.1:{port}/x"),
        &["list"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no answer within 5000 ms"), "{stderr}");
    assert!(took.as_secs() < 8, "the silent server took {took:?}");
    holder.join().expect("the holder thread");
}

/// A cluster-wide role made by a test, dropped after the test's database
/// (declare it before the `TestDb`).
struct RoleGuard(String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        let admin = PgConnectOptions::from_str(&admin_url()).expect("DATABASE_URL is not valid");
        let role = self.0.clone();
        block_on(async move {
            if let Ok(mut connection) = admin.connect().await {
                let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
                    .execute(&mut connection)
                    .await;
            }
        });
    }
}

#[test]
fn install_then_onboard_and_list_on_a_fresh_database() {
    let role = format!(
        "tenant_cli_app_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is past 1970")
            .subsec_nanos()
    );
    let _role_guard = RoleGuard(role.clone());
    let db = TestDb::new();
    db.exec(SCHEMA).expect("the schema");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenancy'"),
        0,
        "a fresh database has no registry"
    );

    let out = db.tenant_ok(&["install", "--row-level-security", "--app-role", &role]);
    assert!(
        out.contains(
            "installed the tenant registry in schema tenancy for 2 tenant tables: public.users, public.tasks"
        ),
        "{out}"
    );
    assert!(
        out.contains("row-level security: enabled and forced"),
        "{out}"
    );
    assert!(out.contains(&format!("application role {role:?}")), "{out}");
    // What Tenancy::install does: the registry, the policies, the role.
    assert_eq!(
        db.count("SELECT count(*) FROM tenancy.tenants"),
        0,
        "the registry exists"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pg_class WHERE relname IN ('users', 'tasks') \
             AND relrowsecurity AND relforcerowsecurity"
        ),
        2
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{role}' \
                 AND rolcanlogin AND NOT rolsuper AND NOT rolbypassrls"
        )),
        1
    );
    // Idempotent.
    db.tenant_ok(&["install", "--row-level-security", "--app-role", &role]);

    let out = db.tenant_ok(&["onboard", "acme"]);
    assert!(out.contains("onboarded tenant \"acme\""), "{out}");
    let list = db.tenant(&["list"]);
    assert!(list.status.success(), "{list:?}");
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(stdout.contains("\"acme\"\tactive"), "{stdout}");
    // The new partitions got the policies and the role's grants.
    let stderr = String::from_utf8_lossy(&list.stderr);
    assert!(!stderr.contains("not secured"), "{stderr}");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE c.relrowsecurity AND c.relforcerowsecurity"
        ),
        2
    );
}

#[test]
fn install_refuses_an_unusable_role_name_with_a_clear_error() {
    let db = TestDb::new();
    db.exec(SCHEMA).expect("the schema");
    let output = db.tenant(&["install", "--app-role", ""]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("application role name"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_wrong_password_through_pgbouncer_fails_fast_as_authentication() {
    // The pooler scripts/setup.sh runs: PostgreSQL trusts loopback, PgBouncer
    // asks for a password. Missing, it fails this test naming the command.
    let probe = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6432".parse().expect("an address"),
        std::time::Duration::from_secs(2),
    );
    assert!(
        probe.is_ok(),
        "PgBouncer does not listen on 127.0.0.1:6432 ({probe:?}); run `bash scripts/setup.sh` (as root) to install and start it"
    );
    let (output, took) = tenant_against(
        "postgres://postgres:not-the-password@127.0.0.1:6432/postgres",
        &["list"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot connect to postgres://postgres:***@127.0.0.1:6432/postgres: authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    assert!(took.as_secs() < 5, "took {took:?}");
}

/// `tenant schema --check FILE`: what `tenant schema` printed matches the
/// database it came from; after hand-made changes every difference is a
/// line naming table and column (exit 1); a file that does not load, or
/// declares no tenant table, is an error (exit 2); no scratch database is
/// left behind.
#[test]
fn schema_check_compares_the_database_with_a_ddl_file() {
    let db = TestDb::new();
    db.exec(
        "CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL,
            title varchar(80) NOT NULL, subtitle text, score integer NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
         CREATE INDEX forms_title_idx ON forms (tenant_id, title);",
    )
    .expect("the schema");
    db.tenant_ok(&["onboard", "acme"]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("schema.sql");
    std::fs::write(&file, db.tenant_ok(&["schema"])).expect("write schema.sql");
    let file = file.to_str().expect("a UTF-8 path");

    let matches = db.tenant_ok(&["schema", "--check", file]);
    assert!(
        matches.contains("the database matches") && matches.contains("1 tenant table"),
        "{matches}"
    );

    // Drift, by hand: a column gone, a type changed, a NOT NULL dropped, an
    // index gone.
    db.exec(
        "ALTER TABLE forms DROP COLUMN subtitle;
         ALTER TABLE forms ALTER COLUMN title TYPE varchar(40);
         ALTER TABLE forms ALTER COLUMN score DROP NOT NULL;
         DROP INDEX forms_title_idx;",
    )
    .expect("the drift");
    let output = db.tenant(&["schema", "--check", file]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    for expected in [
        "public.forms.subtitle:",
        "public.forms.title:",
        "public.forms.score:",
        "public.forms: the index on (title) is missing",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stderr.contains("4 differences between the database and"),
        "{stderr}"
    );

    // Files that cannot stand in for the models.
    let broken = dir.path().join("broken.sql");
    std::fs::write(&broken, "CREATE TABLE forms (").unwrap();
    let untenanted = dir.path().join("plain.sql");
    std::fs::write(&untenanted, "CREATE TABLE plans (id bigint PRIMARY KEY);").unwrap();
    let missing = dir.path().join("missing.sql");
    for (path, message) in [
        (&broken, "does not load into an empty database"),
        (&untenanted, "declares no tenant tables"),
        (&missing, "cannot read"),
    ] {
        let output = db.tenant(&["schema", "--check", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{message} missing from: {stderr}");
    }
    assert_eq!(
        db.count("SELECT count(*) FROM pg_database WHERE datname LIKE 'tenant_schema_check_%'"),
        0
    );
}

#[test]
fn the_admin_subcommands_work_across_a_fleet() {
    let a = TestDb::new();
    let b = TestDb::on_server("postgres://postgres@127.0.0.1:5433/postgres");
    let c = TestDb::on_server("postgres://postgres@127.0.0.1:5434/postgres");
    // The model: the parents on the directory database; install gives the
    // other databases the same.
    a.exec(SCHEMA).expect("schema");
    let dir = std::env::temp_dir().join(format!("tenant-cli-fleet-{}", a.name));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    std::fs::write(
        dir.join("tenancy.toml"),
        r#"
[[databases]]
name = "a"
url_env = "FLEET_A_URL"
[[databases]]
name = "b"
url_env = "FLEET_B_URL"
[[databases]]
name = "c"
url_env = "FLEET_C_URL"

[placement]
default = "a"
[[placement.list]]
database = "b"
tenants = ["acme"]
"#,
    )
    .expect("write tenancy.toml");
    let env = [
        ("FLEET_A_URL", a.url.as_str()),
        ("FLEET_B_URL", b.url.as_str()),
        ("FLEET_C_URL", c.url.as_str()),
    ];
    let run = |args: &[&str]| {
        let output = tenant_in(&dir, &env, args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };

    let (code, out, err) = run(&["install"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("on 3 databases: a, b, c; the directory is on `a`"),
        "{out}"
    );
    assert_eq!(c.count("SELECT count(*) FROM pg_partitioned_table"), 2);

    let (code, out, err) = run(&["onboard", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("onboarded tenant \"acme\" on `b`"), "{out}");
    let (code, out, err) = run(&["onboard", "zed", "--on", "c"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("onboarded tenant \"zed\" on `c`"), "{out}");
    assert_eq!(c.count("SELECT count(*) FROM tenancy.tenants"), 1);
    assert_eq!(a.count("SELECT count(*) FROM tenancy.tenants"), 0);
    assert_eq!(a.count("SELECT count(*) FROM tenancy.directory"), 2);

    let (code, _, err) = run(&["onboard", "acme", "--on", "c"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("lives on the database `b`, not `c`"), "{err}");

    let (code, out, err) = run(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: Vec<(String, String)> = out
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].to_string(), fields[1].to_string())
        })
        .collect();
    assert_eq!(
        listed,
        [("\"acme\"", "b"), ("\"zed\"", "c")].map(|(t, d)| (t.to_string(), d.to_string()))
    );

    let (code, out, err) = run(&["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "database\treachable\ttenants\tpartitions",
            "a\tyes\t0\t0",
            "b\tyes\t1\t2",
            "c\tyes\t1\t2"
        ]
    );

    // Moving acme from b to a, and a second time: nothing to do.
    let (code, out, err) = run(&["move", "acme", "--to", "a"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("moved tenant \"acme\" from `b` to `a`: "),
        "{out}"
    );
    assert_eq!(a.count("SELECT count(*) FROM tenancy.tenants"), 1);
    assert_eq!(b.count("SELECT count(*) FROM tenancy.tenants"), 0);
    let (code, _, err) = run(&["move", "acme", "--to", "a"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("it lives on `a` in partition layout already"),
        "{err}"
    );
    let (code, out, err) = run(&["move", "acme", "--abort"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("has no unfinished move"), "{out}");

    let (code, out, err) = run(&["offboard", "zed"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("on `c`; its partitions were dropped"), "{out}");

    // A missing variable names the database and the variable.
    let output = tenant_in(&dir, &env[..2], &["list"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: the database `c` reads its URL from $FLEET_C_URL, which is not set"
    );
    // A database that does not answer: status says so, exit status 1.
    let down = [
        env[0],
        env[1],
        ("FLEET_C_URL", "postgres://postgres@127.0.0.1:1/nothing"),
    ];
    let output = tenant_in(&dir, &down, &["status"]);
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("\nc\tno\t0\t0\t("), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
