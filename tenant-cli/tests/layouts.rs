//! `tenant` with tenants of both layouts: `onboard --layout`, the
//! configuration's `default_layout`, `list` showing each tenant's layout,
//! `migrate` reaching tenant schemas, and `sync` naming the tables it gave
//! them.

mod support;

use support::{tenant_in, unique, TestDb};

const SCHEMA: &str = "
    CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, title text,
        PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
";

/// A directory removed with this value.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let path = std::env::temp_dir().join(format!("tenant-cli-layouts-{}", unique()));
        std::fs::create_dir_all(path.join("migrations")).expect("the scratch directory");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn onboard_in_either_layout_list_them_and_migrate_their_schemas() {
    let db = TestDb::new();
    db.exec(SCHEMA).expect("the schema");

    let out = db.tenant_ok(&["onboard", "acme"]);
    assert!(out.contains("onboarded tenant \"acme\": "), "{out}");
    let out = db.tenant_ok(&["onboard", "globex", "--layout", "schema"]);
    assert!(
        out.contains("onboarded tenant \"globex\" in schema layout: schema tenant_t"),
        "{out}"
    );
    let schema = out.trim().rsplit(' ').next().unwrap().to_string();
    let again = db.tenant_ok(&["onboard", "globex"]);
    assert!(
        again.contains("already onboarded (schema layout)"),
        "{again}"
    );
    // The other layout for an onboarded tenant is refused.
    let refused = db.tenant(&["onboard", "acme", "--layout", "schema"]);
    assert!(!refused.status.success(), "{refused:?}");
    let bad = db.tenant(&["onboard", "x", "--layout", "sideways"]);
    assert!(!bad.status.success(), "{bad:?}");

    let list = db.tenant_ok(&["list"]);
    let layout_of = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{id:?}\t")))
            .and_then(|l| l.split('\t').nth(2))
            .map(str::to_string)
    };
    assert_eq!(layout_of("acme").as_deref(), Some("partition"), "{list}");
    assert_eq!(layout_of("globex").as_deref(), Some("schema"), "{list}");

    // The configuration's default layout.
    let scratch = Scratch::new();
    std::fs::write(
        scratch.0.join("tenancy.toml"),
        "default_layout = \"schema\"\n",
    )
    .unwrap();
    let env = [("DATABASE_URL", db.url.as_str())];
    let output = tenant_in(&scratch.0, &env, &["onboard", "initech"]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(out.contains("in schema layout"), "{out}");
    let output = tenant_in(
        &scratch.0,
        &env,
        &["onboard", "umbrella", "--layout", "partition"],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("onboarded tenant \"umbrella\": "),
        "{output:?}"
    );

    // A migration reaches the parent and both tenant schemas.
    std::fs::write(
        scratch.0.join("migrations/1_add_note.sql"),
        "ALTER TABLE forms ADD COLUMN note text;\n",
    )
    .unwrap();
    let output = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        out.contains(&format!(
            "schema {schema} (tenant \"globex\"): 1 migrations applied"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "migrated 1 databases: 1 migrations applied; 2 tenant schemas: 2 migrations applied"
        ),
        "{out}"
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note' \
             AND table_name = 'forms' AND table_schema IN ('public', '{schema}')"
        )),
        2
    );
    let output = tenant_in(&scratch.0, &env, &["migrate", "migrations"]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("2 tenant schemas: 0 migrations applied"),
        "{out}"
    );
    // A parent added later: sync gives every schema tenant its table and
    // names them.
    db.exec(
        "CREATE TABLE notes (tenant_id text NOT NULL, id bigint NOT NULL, body text, \
         PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);",
    )
    .expect("a new parent");
    let synced = db.tenant_ok(&["sync"]);
    assert!(
        synced.contains(&format!("  schema tenant globex: added {schema}.notes")),
        "{synced}"
    );
    assert_eq!(
        synced.matches("  schema tenant ").count(),
        2,
        "globex and initech: {synced}"
    );
}
