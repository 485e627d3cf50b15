//! A forms SaaS in one file: three tenant tables declared as structs,
//! installed as LIST-partitioned parents, two tenants onboarded, one in each
//! layout (`org-alpha` in partitions of the parents, `org-beta` in a schema
//! and a role of its own), rows written and read through the same checked
//! queries for both, `org-beta` offboarded (its schema kept as an archive),
//! and the schema tenants' server-wide roles dropped before the database is.
//!
//! Run it with `cargo run -p forms-app` (uses `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; it creates and drops its
//! own database `tenant_example`, or `FORMS_APP_DATABASE`).

use std::error::Error;
use std::str::FromStr;

use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::sqlx::{ConnectOptions, Connection, PgPool};
use tenant_runtime::tenant_core::layout::{archive_schema_name, Layout};
use tenant_runtime::{tenancy_config, tenant_query, tenant_query_as, tenant_query_file_scalar};
use tenant_runtime::{Offboard, Tenancy, Tenant, TenantTable};

/// A form a tenant publishes.
#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "forms")]
struct Form {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    title: String,
    #[tenant(default = "true")]
    published: bool,
}

/// Someone filled in a form. The composite foreign key
/// `(tenant_id, form_id) REFERENCES forms (tenant_id, id)` lets the database
/// itself refuse a submission that points at another tenant's form.
#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "form_submissions")]
#[allow(dead_code)] // fields are read back from the database
struct FormSubmission {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    #[tenant(references = "forms(id)", index)]
    form_id: i64,
    email: String,
}

/// A task created from a submission. Its id is an identity: the database
/// numbers follow-ups, and `insert` gives the stored row back.
#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "follow_ups")]
#[allow(dead_code)] // fields are read back from the database
struct FollowUp {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    #[tenant(references = "form_submissions(id)")]
    submission_id: i64,
    note: Option<String>,
}

/// The example's own database (`FORMS_APP_DATABASE` changes it).
fn database() -> String {
    std::env::var("FORMS_APP_DATABASE").unwrap_or_else(|_| "tenant_example".into())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    // The tenancy.toml the macros checked the queries against, embedded at
    // build time: the binary needs no file at run time.
    let config = tenancy_config!();
    println!(
        "configuration (embedded at build time): tenant column {:?}, global tables {:?}",
        config.tenant_column, config.global_tables
    );

    let tenancy = Tenancy::builder(config)
        .table::<Form>()
        .table::<FormSubmission>()
        .table::<FollowUp>()
        .build()?;
    // The pool's statement cache is sized for routed queries: each tenant's
    // queries name its own partitions, so each is its own prepared statement.
    let pool = fresh_database(&url, &tenancy).await?;
    tenancy.install(&pool).await?;
    println!("installed {} partitioned parents:", tenancy.tables().len());
    for table in tenancy.tables() {
        println!(
            "    {} PARTITION BY LIST ({}), {} columns",
            table.name,
            table.tenant_column,
            table.columns.len()
        );
    }

    // One tenant of each layout: alpha in a partition of every parent (the
    // default), beta in a schema and a role of its own. Nothing below this
    // differs between them.
    tenancy.onboard(&pool, "org-alpha").await?;
    tenancy
        .onboard_as(&pool, "org-beta", Layout::Schema)
        .await?;
    let alpha = tenancy.tenant(&pool, "org-alpha").await?;
    let beta = tenancy.tenant(&pool, "org-beta").await?;
    println!("\nonboarded {} and {}:", alpha.id(), beta.id());
    for tenant in [&alpha, &beta] {
        println!(
            "    {:<10} {} layout, rows in {}",
            tenant.id(),
            tenant.layout(),
            where_rows_live(&tenancy, tenant)
        );
    }

    seed(&alpha, &pool, 1, "Customer survey").await?;
    seed(&beta, &pool, 3, "Beta sign-up").await?;

    println!("\nwhat each tenant sees (same queries, different tenant handle and layout):");
    for tenant in [&alpha, &beta] {
        let forms = Form::list(tenant).fetch_all(&pool).await?;
        let titles: Vec<&str> = forms.iter().map(|f| f.title.as_str()).collect();
        // Longer SQL can live in a file, checked like inline SQL.
        let submissions: i64 =
            tenant_query_file_scalar!(tenant, "queries/published_submissions.sql", true)
                .fetch_one(&pool)
                .await?;
        println!(
            "    {:<10} forms {:?}, {} submission(s)",
            tenant.id(),
            titles,
            submissions
        );
    }

    // Form 3 is beta's: alpha's handle cannot reach it.
    let own = Form::find(&alpha, &1).fetch_optional(&pool).await?;
    let other = Form::find(&alpha, &3).fetch_optional(&pool).await?;
    println!(
        "\nForm::find(alpha, 1) -> {:?}\nForm::find(alpha, 3) -> {:?} (form 3 belongs to beta)",
        own.map(|f| (f.tenant_id, f.title)),
        other.map(|f| (f.tenant_id, f.title))
    );

    let rows = tenant_query_as!(
        FormSubmission,
        &alpha,
        "SELECT * FROM form_submissions WHERE tenant_id = $tenant AND email LIKE $1",
        "%.example.com"
    )
    .fetch_all(&pool)
    .await?;
    println!("alpha's submissions from example.com: {}", rows.len());

    // The database refuses a row of alpha pointing at beta's form 3.
    let cross = FormSubmission {
        id: 99,
        tenant_id: alpha.id().to_string(),
        form_id: 3,
        email: "mallory@example.com".into(),
    };
    match cross.insert(&alpha).fetch_one(&pool).await {
        Err(e) => println!(
            "a submission of alpha pointing at beta's form: refused ({})",
            short(&e)
        ),
        Ok(_) => return Err("the composite foreign key did not hold".into()),
    }

    // Forgetting the tenant does not compile. Uncomment to see the error:
    // tenant_query!(&alpha, "SELECT * FROM form_submissions WHERE form_id = $1", 1_i64);

    let renamed = tenant_query!(
        &alpha,
        "UPDATE forms SET title = $1 WHERE tenant_id = $tenant AND id = $2",
        "Customer survey (2026)",
        1_i64
    )
    .execute(&pool)
    .await?;
    println!("renamed {} of alpha's forms", renamed.rows_affected());

    // Keep: a schema tenant's schema is renamed to an archive, out of the
    // application's reach, and its role is dropped.
    tenancy.offboard(&pool, "org-beta", Offboard::Keep).await?;
    let archive = archive_schema_name(beta.partition_suffix());
    match tenancy.tenant(&pool, "org-beta").await {
        Err(e) => println!(
            "\noffboarded org-beta (its schema kept as the archive {archive}); asking for it now: {e}"
        ),
        Ok(_) => return Err("an offboarded tenant is still known".into()),
    }
    // Plain SQL on purpose: the archive belongs to no tenant any more.
    let archived: i64 = tenant_runtime::sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.forms",
        tenant_runtime::schema::quote_ident(&archive)
    ))
    .fetch_one(&pool)
    .await?;
    println!("the archive keeps org-beta's {archived} form(s)");
    let left: Vec<String> = tenancy
        .list(&pool)
        .await?
        .into_iter()
        .map(|t| format!("{} ({} layout)", t.id, t.layout))
        .collect();
    println!("tenants left: {left:?}");

    // Roles belong to the server, not to the database: without this the
    // group role of schema tenants (and the role of any schema tenant
    // still onboarded) would outlive `DROP DATABASE`.
    let roles = tenancy.drop_roles(&pool).await?;
    println!("\ndropped roles: {roles:?}");
    pool.close().await;
    drop_database(&url).await?;
    println!("\ndone: dropped database {}", database());
    Ok(())
}

/// Where `tenant`'s rows live: its partition of every parent, or its schema.
fn where_rows_live(tenancy: &Tenancy, tenant: &Tenant) -> String {
    match (tenant.layout(), tenant.tenant_schema()) {
        (Layout::Schema, Some(schema)) => format!("schema {schema} (role {schema})"),
        _ => {
            let partitions: Vec<String> = tenancy
                .tables()
                .iter()
                .map(|table| table.partition_name(tenant.partition_suffix()))
                .collect();
            format!("partitions {}", partitions.join(", "))
        }
    }
}

/// Two forms, a submission and a follow-up for one tenant, through the
/// derived CRUD (its SQL was checked at compile time).
async fn seed(
    tenant: &Tenant,
    pool: &PgPool,
    first_id: i64,
    title: &str,
) -> Result<(), Box<dyn Error>> {
    let mut tx = tenant.begin(pool).await?;
    for (id, title) in [
        (first_id, title.to_string()),
        (first_id + 1, format!("{title}, draft")),
    ] {
        let form = Form {
            id,
            tenant_id: tenant.id().into(),
            title,
            published: id == first_id,
        };
        form.insert(tenant).fetch_one(&mut *tx).await?;
    }
    FormSubmission {
        id: first_id,
        tenant_id: tenant.id().into(),
        form_id: first_id,
        email: format!("first@{}.example.com", tenant.id()),
    }
    .insert(tenant)
    .fetch_one(&mut *tx)
    .await?;
    let follow_up = FollowUp {
        id: 0, // an identity: the database numbers it
        tenant_id: tenant.id().into(),
        submission_id: first_id,
        note: Some("call back".into()),
    }
    .insert(tenant)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    println!(
        "{}: follow-up {} created (id from the database)",
        tenant.id(),
        follow_up.id
    );
    Ok(())
}

async fn fresh_database(url: &str, tenancy: &Tenancy) -> Result<PgPool, Box<dyn Error>> {
    drop_database(url).await?;
    let admin = PgConnectOptions::from_str(url)?;
    let mut conn = admin.connect().await.map_err(|e| {
        format!("PostgreSQL at {url} is not reachable ({e}); run `bash scripts/setup.sh` first")
    })?;
    let quoted = tenant_runtime::schema::quote_ident(&database());
    tenant_runtime::sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect_with(tenancy.connect_options(admin.database(&database())))
        .await?)
}

async fn drop_database(url: &str) -> Result<(), Box<dyn Error>> {
    let mut conn = PgConnectOptions::from_str(url)?
        .connect()
        .await
        .map_err(|e| {
            format!("PostgreSQL at {url} is not reachable ({e}); run `bash scripts/setup.sh` first")
        })?;
    let quoted = tenant_runtime::schema::quote_ident(&database());
    tenant_runtime::sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

fn short(e: &tenant_runtime::sqlx::Error) -> String {
    match e {
        tenant_runtime::sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}
