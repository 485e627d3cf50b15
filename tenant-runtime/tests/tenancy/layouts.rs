//! Schema layout beside partition layout: a tenancy holding tenants of both,
//! the same checked queries on each, the tenant role's wall, names that
//! exist already, offboarding, hostile ids, and the roles dropped before
//! the database.

use sqlx::{PgConnection, Row};
use tenant_runtime::tenant_core::layout::{tenant_schema_name, tenants_role_name, Layout};
use tenant_runtime::{tenant_query, tenant_query_scalar, Error, Offboard, Tenancy, Tenant};

use crate::support::{installed, TestDb};

/// Inserts `forms` rows `1..=count` titled `"{id} form {n}"` and one
/// submission each, through checked queries in the tenant's transaction.
async fn add_forms(tenancy: &Tenancy, db: &TestDb, id: &str, count: i64) -> Tenant {
    let tenant = tenancy.tenant(&db.pool, id).await.expect("tenant");
    let mut tx = tenant.begin(&db.pool).await.expect("begin");
    for n in 1..=count {
        let title = format!("{id} form {n}");
        tenant_query!(
            &tenant,
            "INSERT INTO forms (tenant_id, id, title) VALUES ($tenant, $1, $2)",
            n,
            title
        )
        .execute(&mut *tx)
        .await
        .expect("insert a form");
        tenant_query!(
            &tenant,
            "INSERT INTO form_submissions (tenant_id, id, form_id) VALUES ($tenant, $1, $1)",
            n
        )
        .execute(&mut *tx)
        .await
        .expect("insert a submission");
    }
    tx.commit().await.expect("commit");
    tenant
}

async fn titles(tenant: &Tenant, connection: &mut PgConnection) -> Vec<String> {
    tenant_query_scalar!(
        tenant,
        "SELECT f.title FROM forms f JOIN form_submissions s ON s.tenant_id = f.tenant_id \
         AND s.form_id = f.id WHERE f.tenant_id = $tenant ORDER BY f.id"
    )
    .fetch_all(connection)
    .await
    .expect("titles")
}

async fn scalar(connection: &mut PgConnection, sql: &str) -> Result<String, sqlx::Error> {
    sqlx::query(sql)
        .fetch_one(connection)
        .await
        .map(|row| row.get::<String, _>(0))
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string())
}

#[tokio::test]
async fn tenants_of_both_layouts_share_one_tenancy_and_its_checked_queries() {
    let (db, tenancy) = installed(4).await;
    tenancy.onboard(&db.pool, "alpha").await.expect("alpha");
    let beta = tenancy
        .onboard_as(&db.pool, "beta", Layout::Schema)
        .await
        .expect("beta");
    let schema = beta.created_schema.clone().expect("a new schema");
    assert_eq!(beta.tenant.tenant_schema(), Some(schema.as_str()));
    assert!(beta.created_partitions.is_empty());
    // Its tables are plain tables, with the model's keys, and no parent
    // gained a partition.
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relkind::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("follow_ups", "r"),
            ("form_submissions", "r"),
            ("forms", "r")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(
        crate::support::partition_count(&db, "public.forms").await,
        1,
        "only alpha's partition"
    );

    let alpha = add_forms(&tenancy, &db, "alpha", 2).await;
    let beta = add_forms(&tenancy, &db, "beta", 3).await;
    assert_eq!(alpha.layout(), Layout::Partition);
    assert_eq!(beta.layout(), Layout::Schema);
    let mut connection = db.connect().await;
    assert_eq!(
        titles(&alpha, &mut connection).await,
        ["alpha form 1", "alpha form 2"]
    );
    assert_eq!(
        titles(&beta, &mut connection).await,
        ["beta form 1", "beta form 2", "beta form 3"]
    );
    // `via_parents` cannot take a schema tenant to the parents, where it
    // has no rows.
    assert_eq!(titles(&beta.via_parents(), &mut connection).await.len(), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM forms WHERE tenant_id = 'beta'")
            .await,
        0
    );
    // The CHECK on the tenant column: another tenant's row cannot go in.
    let err = sqlx::query(&format!(
        "INSERT INTO {}.forms (tenant_id, id, title) VALUES ('alpha', 9, 'x')",
        schema
    ))
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23514"), "{err}");

    let listed: Vec<(String, Layout)> = tenancy
        .list(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|record| (record.id, record.layout))
        .collect();
    assert_eq!(
        listed,
        [
            ("alpha".to_string(), Layout::Partition),
            ("beta".to_string(), Layout::Schema)
        ]
    );
    // Onboarding again keeps the layout; asking for the other is refused.
    let again = tenancy.onboard(&db.pool, "beta").await.expect("again");
    assert!(again.created_schema.is_none());
    match tenancy.onboard_as(&db.pool, "alpha", Layout::Schema).await {
        Err(Error::LayoutMismatch {
            registered: Layout::Partition,
            requested: Layout::Schema,
            ..
        }) => {}
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_schema_tenants_transaction_can_use_only_its_schema_and_leaves_nothing_behind() {
    let (db, tenancy) = installed(1).await;
    for id in ["beta", "gamma"] {
        tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .expect("onboard");
        add_forms(&tenancy, &db, id, 2).await;
    }
    tenancy.onboard(&db.pool, "alpha").await.expect("alpha");
    add_forms(&tenancy, &db, "alpha", 1).await;
    let beta = tenancy.tenant(&db.pool, "beta").await.unwrap();
    let gamma = tenancy.tenant(&db.pool, "gamma").await.unwrap();
    let beta_schema = beta.tenant_schema().unwrap().to_string();
    let gamma_schema = gamma.tenant_schema().unwrap().to_string();

    // One connection (the pool has one): the same server session before,
    // during and after the tenant transaction.
    let mut tx = beta.begin(&db.pool).await.expect("begin");
    assert_eq!(
        scalar(&mut tx, "SELECT current_user::text").await.unwrap(),
        beta_schema
    );
    assert_eq!(
        scalar(&mut tx, "SELECT current_setting('search_path')")
            .await
            .unwrap(),
        format!("{beta_schema}, public")
    );
    // Unchecked SQL: unqualified names are the tenant's own tables.
    assert_eq!(
        scalar(
            &mut tx,
            "SELECT string_agg(title, ',' ORDER BY id) FROM forms"
        )
        .await
        .unwrap(),
        "beta form 1,beta form 2"
    );
    // Another tenant's schema, and the parents, are out of reach.
    for sql in [
        format!("SELECT count(*)::text FROM {gamma_schema}.forms"),
        "SELECT count(*)::text FROM public.forms".to_string(),
        "SELECT count(*)::text FROM tenancy.tenants".to_string(),
    ] {
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await.unwrap();
        let err = scalar(&mut savepoint, &sql).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{sql}: {err}");
        savepoint.rollback().await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut connection = db.pool.acquire().await.unwrap();
    assert_eq!(
        scalar(&mut connection, "SELECT current_user::text")
            .await
            .unwrap(),
        "postgres",
        "the role ended with the transaction"
    );
    assert_eq!(
        scalar(&mut connection, "SELECT current_setting('search_path')")
            .await
            .unwrap(),
        "\"$user\", public"
    );
    drop(connection);
    // And gamma's transaction on the same server connection is gamma's.
    let mut tx = gamma.begin(&db.pool).await.unwrap();
    assert_eq!(
        titles(&gamma, &mut tx).await,
        ["gamma form 1", "gamma form 2"]
    );
    assert_eq!(
        scalar(&mut tx, "SELECT string_agg(title, ',') FROM forms")
            .await
            .unwrap(),
        "gamma form 1,gamma form 2"
    );
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn hostile_ids_get_safe_names_and_existing_names_are_never_reused() {
    let (db, tenancy) = installed(2).await;
    let hostile = [
        "o'hara; DROP SCHEMA public CASCADE; --",
        "spaces and \"quotes\"",
        "ünïcødé 🚀",
        &"x".repeat(200),
    ];
    for id in hostile {
        let outcome = tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        let schema = outcome.created_schema.unwrap();
        assert!(
            schema.starts_with("tenant_t") && schema.is_ascii() && schema.len() < 30,
            "{schema}"
        );
        add_forms(&tenancy, &db, id, 1).await;
        let tenant = tenancy.tenant(&db.pool, id).await.unwrap();
        let mut connection = db.connect().await;
        assert_eq!(
            titles(&tenant, &mut connection).await,
            [format!("{id} form 1")]
        );
    }

    // The name the next schema tenant would get, taken beforehand.
    let next_suffix = || async {
        let (number, tag): (i64, String) = sqlx::query_as(
            "SELECT s.last_value + 1, t.tag FROM tenancy.partition_suffix_seq s, tenancy.settings t",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        format!("t{number}_{tag}")
    };
    let taken = tenant_schema_name(&next_suffix().await);
    db.exec(&format!("CREATE SCHEMA {taken}")).await;
    match tenancy.onboard_as(&db.pool, "delta", Layout::Schema).await {
        Err(Error::SchemaConflict { schema }) => assert_eq!(schema, taken),
        other => panic!("expected SchemaConflict, got {other:?}"),
    }
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM pg_class WHERE relnamespace = '{taken}'::regnamespace"
        ))
        .await,
        0,
        "nothing was created in a schema that is not ours"
    );
    assert!(matches!(
        tenancy.tenant(&db.pool, "delta").await,
        Err(Error::UnknownTenant { .. })
    ));
    let taken_role = tenant_schema_name(&next_suffix().await);
    db.exec(&format!("CREATE ROLE {taken_role} NOLOGIN")).await;
    let result = tenancy.onboard_as(&db.pool, "delta", Layout::Schema).await;
    db.exec(&format!("DROP ROLE {taken_role}")).await;
    match result {
        Err(Error::RoleConflict { role }) => assert_eq!(role, taken_role),
        other => panic!("expected RoleConflict, got {other:?}"),
    }
    tenancy
        .onboard_as(&db.pool, "delta", Layout::Schema)
        .await
        .expect("a free name");
}

#[tokio::test]
async fn offboarding_a_schema_tenant_keeps_an_archive_or_drops_it() {
    let (db, tenancy) = installed(2).await;
    let mut schemas = Vec::new();
    for id in ["kept", "dropped"] {
        let outcome = tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .unwrap();
        add_forms(&tenancy, &db, id, 2).await;
        schemas.push(outcome.created_schema.unwrap());
    }
    let kept = tenancy.tenant(&db.pool, "kept").await.unwrap();
    // Another process: its own tenancy and cache, with a short time to live.
    let other = Tenancy::builder(tenant_runtime::Config::default())
        .schema(crate::support::follow_ups())
        .schema(crate::support::forms())
        .schema(crate::support::form_submissions())
        .tenant_cache_ttl(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(
        other.tenant(&db.pool, "kept").await.unwrap().layout(),
        Layout::Schema
    );
    tenancy
        .offboard(&db.pool, "kept", Offboard::Keep)
        .await
        .expect("keep");
    tenancy
        .offboard(&db.pool, "dropped", Offboard::Drop)
        .await
        .expect("drop");
    for id in ["kept", "dropped"] {
        assert!(
            matches!(
                tenancy.tenant(&db.pool, id).await,
                Err(Error::UnknownTenant { .. })
            ),
            "{id} is unknown at once"
        );
    }
    // The other process: its cached handle until the time to live, then
    // unknown.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert!(matches!(
        other.tenant(&db.pool, "kept").await,
        Err(Error::UnknownTenant { .. })
    ));
    let archive = format!("{}_archive", schemas[0]);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {archive}.forms"))
            .await,
        2,
        "the kept rows"
    );
    for gone in [&schemas[0], &schemas[1]] {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM pg_namespace WHERE nspname = '{gone}'"
            ))
            .await,
            0
        );
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM pg_roles WHERE rolname = '{gone}'"
            ))
            .await,
            0,
            "the role is gone"
        );
    }
    // A stale handle's transaction cannot take the dropped role.
    let err = kept.begin(&db.pool).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // Onboarded again: a new schema, empty.
    let again = tenancy
        .onboard_as(&db.pool, "kept", Layout::Schema)
        .await
        .unwrap();
    assert_ne!(again.created_schema.as_ref(), Some(&schemas[0]));
    let mut connection = db.connect().await;
    assert!(titles(&again.tenant, &mut connection).await.is_empty());
}

/// Drops the server-wide application role after the test database (declare
/// it before the `TestDb`).
struct RoleGuard(String);

impl Drop for RoleGuard {
    fn drop(&mut self) {
        crate::support::admin_exec_blocking(format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

#[tokio::test]
async fn with_row_level_security_a_schema_tenant_is_walled_twice() {
    let role = format!("tenant_app_{:08x}", crate::support::fastrand_u64() as u32);
    let _role_guard = RoleGuard(role.clone());
    let db = TestDb::new(2).await;
    let tenancy = Tenancy::builder(tenant_runtime::Config::default())
        .schema(crate::support::forms())
        .schema(crate::support::form_submissions())
        .row_level_security(true)
        .app_role(&role)
        .build()
        .expect("tenancy");
    tenancy.install(&db.pool).await.expect("install");
    let mut schemas = Vec::new();
    for (id, count) in [("beta", 2), ("gamma", 3)] {
        let outcome = tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .expect("onboard");
        let schema = outcome.created_schema.unwrap();
        // As the owner (a superuser here, past the policies).
        for n in 1..=count {
            db.exec(&format!(
                "INSERT INTO {schema}.forms (tenant_id, id, title) VALUES ('{id}', {n}, '{id} form {n}');
                 INSERT INTO {schema}.form_submissions (tenant_id, id, form_id) VALUES ('{id}', {n}, {n})"
            ))
            .await;
        }
        schemas.push(schema);
    }
    let app = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.options.clone().username(&role))
        .await
        .expect("connect as the application role");
    let beta = tenancy.tenant(&app, "beta").await.expect("beta");
    // No tenant transaction: the policies admit nothing.
    let outside = scalar(
        &mut app.acquire().await.unwrap(),
        &format!("SELECT count(*)::text FROM {}.forms", schemas[0]),
    )
    .await
    .unwrap();
    assert_eq!(outside, "0");

    let mut tx = beta.begin(&app).await.expect("begin as the app role");
    assert_eq!(
        titles(&beta, &mut tx).await,
        ["beta form 1", "beta form 2"],
        "checked queries run as the tenant role, the policy's function included"
    );
    // SQL that takes the role back (what the guard refuses) still meets
    // the policies, which read the verified tenant.
    sqlx::query("RESET ROLE").execute(&mut *tx).await.unwrap();
    assert_eq!(
        scalar(&mut tx, "SELECT current_user::text").await.unwrap(),
        role
    );
    let gamma_rows = scalar(
        &mut tx,
        &format!("SELECT count(*)::text FROM {}.forms", schemas[1]),
    )
    .await
    .unwrap();
    assert_eq!(gamma_rows, "0", "the second wall");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn guarded_dynamic_sql_of_a_schema_tenant_runs_on_its_schema_and_cannot_leave_it() {
    use tenant_runtime::guard::Guard;

    let (db, tenancy) = installed(2).await;
    tenancy
        .onboard_as(&db.pool, "beta", Layout::Schema)
        .await
        .unwrap();
    tenancy.onboard(&db.pool, "alpha").await.unwrap();
    let beta = add_forms(&tenancy, &db, "beta", 2).await;
    add_forms(&tenancy, &db, "alpha", 1).await;
    let guarded = Guard::builder(tenant_runtime::Config::default())
        .build()
        .wrap(db.pool.clone());
    let rows = guarded
        .for_tenant(&beta)
        .query("SELECT title FROM forms WHERE tenant_id = $tenant ORDER BY id")
        .fetch_all()
        .await
        .expect("guarded query");
    let titles: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(titles, ["beta form 1", "beta form 2"]);
    // Escapes are refused before they reach PostgreSQL.
    let schema = beta.tenant_schema().unwrap().to_string();
    for sql in [
        "SET search_path TO public".to_string(),
        "SELECT set_config('role', 'postgres', true)".to_string(),
        format!("SELECT title FROM {schema}.forms WHERE tenant_id = $tenant"),
    ] {
        let err = guarded
            .for_tenant(&beta)
            .query(sql.clone())
            .fetch_all()
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains("tenant guard refused"),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn sync_gives_a_schema_tenant_the_tables_added_to_the_model_since() {
    let db = crate::support::TestDb::new(4).await;
    let two = Tenancy::builder(tenant_runtime::Config::default())
        .schema(crate::support::forms())
        .schema(crate::support::form_submissions())
        .build()
        .unwrap();
    two.install(&db.pool).await.unwrap();
    let solo = two
        .onboard_as(&db.pool, "solo", Layout::Schema)
        .await
        .expect("schema tenant");
    let schema = solo.created_schema.clone().expect("a new schema");
    two.onboard(&db.pool, "part")
        .await
        .expect("partition tenant");
    add_forms(&two, &db, "solo", 2).await;
    let follow_ups_of = format!("{schema}.follow_ups");
    let exists = format!("SELECT (to_regclass('{follow_ups_of}') IS NOT NULL)::int::int8");
    assert_eq!(db.count(&exists).await, 0);

    // A tenancy built with a third table, referencing the second.
    let three = crate::support::seed_tenancy();
    three.install(&db.pool).await.unwrap();
    let mut seen = Vec::new();
    let report = three
        .sync(&db.pool, |p| {
            seen.push((p.tenant.clone(), p.created, p.schema_tables_added.clone()))
        })
        .await
        .expect("sync");
    assert_eq!(report.tenants, 2);
    assert_eq!(report.schema_tenants, 1);
    assert_eq!(report.partitions_created, 1, "part's follow_ups");
    assert_eq!(report.schema_tables_added.len(), 1, "{report:?}");
    let (tenant, tables) = &report.schema_tables_added[0];
    assert_eq!(tenant, "solo");
    assert_eq!(tables.len(), 1, "{tables:?}");
    assert!(
        tables[0].contains(&schema) && tables[0].ends_with("follow_ups"),
        "{tables:?}"
    );
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("part".to_string(), 1, vec![]),
            ("solo".to_string(), 0, tables.clone())
        ]
    );
    assert_eq!(db.count(&exists).await, 1);
    // A plain table, its key onto the schema's own form_submissions, the
    // tenant role's grants.
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relname = 'follow_ups' AND c.relkind = 'r'"
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
             AND conrelid = '{schema}.follow_ups'::regclass \
             AND confrelid = '{schema}.form_submissions'::regclass"
        ))
        .await,
        1
    );
    for privilege in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        assert_eq!(
            db.count(&format!(
                "SELECT has_table_privilege('{schema}', '{follow_ups_of}', '{privilege}')::int::int8"
            ))
            .await,
            1,
            "{privilege}"
        );
    }

    // Checked queries on it, through the new tenancy, in the tenant's
    // transaction (its role, its schema).
    let tenant = three.tenant(&db.pool, "solo").await.unwrap();
    assert_eq!(tenant.layout(), Layout::Schema);
    let mut tx = tenant.begin(&db.pool).await.unwrap();
    tenant_query!(
        &tenant,
        "INSERT INTO follow_ups (tenant_id, id, submission_id, note) VALUES ($tenant, 1, 2, 'call')"
    )
    .execute(&mut *tx)
    .await
    .expect("a follow-up of an existing submission");
    let notes: Vec<Option<String>> = tenant_query_scalar!(
        &tenant,
        "SELECT note FROM follow_ups WHERE tenant_id = $tenant ORDER BY id"
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(notes, vec![Some("call".to_string())]);
    tx.commit().await.unwrap();
    let mut tx = tenant.begin(&db.pool).await.unwrap();
    let dangling = tenant_query!(
        &tenant,
        "INSERT INTO follow_ups (tenant_id, id, submission_id, note) VALUES ($tenant, 2, 99, 'x')"
    )
    .execute(&mut *tx)
    .await
    .expect_err("the key holds");
    assert_eq!(sqlstate(&dangling).as_deref(), Some("23503"));
    drop(tx);
    // The rows are the schema's, not the parent's.
    assert_eq!(db.count("SELECT count(*) FROM public.follow_ups").await, 0);

    let again = three.sync(&db.pool, |_| {}).await.unwrap();
    assert!(again.schema_tables_added.is_empty(), "{again:?}");
    assert_eq!(again.partitions_created, 0);
}

#[tokio::test]
async fn drop_roles_removes_the_schema_tenants_server_wide_roles_before_the_database_goes() {
    // A database without a registry has no roles to drop: not an error.
    let bare = TestDb::new(1).await;
    assert!(crate::support::seed_tenancy()
        .drop_roles(&bare.pool)
        .await
        .expect("no registry")
        .is_empty());

    let (db, tenancy) = installed(2).await;
    let alpha = tenancy.onboard(&db.pool, "alpha").await.unwrap().tenant;
    // Partition layout makes no role either.
    assert!(tenancy.drop_roles(&db.pool).await.unwrap().is_empty());
    let mut tenant_roles = Vec::new();
    for id in ["beta", "gamma"] {
        let outcome = tenancy
            .onboard_as(&db.pool, id, Layout::Schema)
            .await
            .unwrap();
        add_forms(&tenancy, &db, id, 1).await;
        tenant_roles.push(outcome.created_schema.expect("a new schema"));
    }
    let tag = alpha
        .partition_suffix()
        .split_once('_')
        .expect("t<number>_<tag>")
        .1
        .to_string();
    let group = tenants_role_name(&tag);
    let beta = tenancy.tenant(&db.pool, "beta").await.unwrap();

    let dropped = tenancy.drop_roles(&db.pool).await.expect("drop roles");
    assert_eq!(dropped.last(), Some(&group), "the group role last");
    let mut members = dropped[..dropped.len() - 1].to_vec();
    members.sort();
    tenant_roles.sort();
    assert_eq!(members, tenant_roles, "every tenant role, nothing else");
    let left: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)")
            .bind(&dropped)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(left.is_empty(), "still on the server: {left:?}");
    // Nothing left to drop.
    assert!(tenancy.drop_roles(&db.pool).await.unwrap().is_empty());

    // As documented: a schema tenant cannot begin any more; a partition
    // tenant, which never had a role, still can.
    let err = beta.begin(&db.pool).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    alpha
        .begin(&db.pool)
        .await
        .expect("partition tenant")
        .commit()
        .await
        .unwrap();
}
