//! `#[derive(TenantTable)]` with every attribute, its schema and typed CRUD.
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::{Tenant, TenantTable};

#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "form_submissions")]
struct Submission {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
    #[tenant(references = "forms(id)", index)]
    form_id: i64,
    #[tenant(unique)]
    token: String,
    #[tenant(sql_type = "jsonb", default = "'{}'::jsonb")]
    payload: String,
    score: Option<f64>,
    spam: bool,
    attachment: Option<Vec<u8>>,
    tags: Vec<String>,
    r#type: i16,
    version: i32,
}

/// Row-level security on this table (installed by `Tenancy::install`).
#[derive(Debug, TenantTable)]
#[tenant(table = "secrets", row_level_security = true)]
struct Secret {
    #[tenant(primary_key)]
    id: i64,
    tenant_id: String,
}

/// Columns the database fills: left out of `insert`, given back by it.
#[derive(Debug, TenantTable)]
struct Ticket {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    #[tenant(sql_type = "bigserial")]
    number: i64,
    title: String,
    #[tenant(generated = "lower(title)")]
    title_key: String,
    #[tenant(default = "'open'", skip_insert)]
    status: String,
}

/// Defaults: table `events`, no primary key (insert and list only).
#[derive(Debug, TenantTable)]
struct Event {
    tenant_id: String,
    body: String,
}

async fn crud(pool: &PgPool, tenant: &Tenant, row: Submission) -> Result<(), tenant_runtime::sqlx::Error> {
    row.insert(tenant).fetch_one(pool).await?;
    let found: Option<Submission> = Submission::find(tenant, &row.id).fetch_optional(pool).await?;
    let _all: Vec<Submission> = Submission::list(tenant).fetch_all(pool).await?;
    if let Some(found) = found {
        found.update(tenant).execute(pool).await?;
    }
    Submission::delete(tenant, &row.id).execute(pool).await?;
    Event { tenant_id: String::new(), body: "hi".into() }.insert(tenant).fetch_one(pool).await?;
    let _events: Vec<Event> = Event::list(tenant).fetch_all(pool).await?;
    let _batch: Vec<Event> = Event::insert_many(tenant, &[]).fetch_all(pool).await?;
    let _ticket: Ticket = Ticket { id: 0, tenant_id: String::new(), number: 0, title: "t".into(), title_key: String::new(), status: String::new() }
        .insert(tenant)
        .fetch_one(pool)
        .await?;
    Ok(())
}

fn main() {
    let _ = crud;
    assert_eq!(Submission::TABLE, "form_submissions");
    assert_eq!(Event::TABLE, "events");
    assert_eq!(Submission::COLUMNS[..3], ["id", "tenant_id", "form_id"]);
    let schema = Submission::schema();
    assert_eq!(schema.tenant_column, "tenant_id");
    assert_eq!(schema.primary_key, ["id"]);
    assert_eq!(schema.unique, [vec!["token".to_string()]]);
    assert_eq!(schema.indexes, [vec!["form_id".to_string()]]);
    assert_eq!(schema.foreign_keys[0].ref_table, "forms");
    let payload = schema.columns.iter().find(|c| c.name == "payload").unwrap();
    assert_eq!((payload.sql_type.as_str(), payload.default.as_deref()), ("jsonb", Some("'{}'::jsonb")));
    let score = schema.columns.iter().find(|c| c.name == "score").unwrap();
    assert!(score.nullable);
    assert!(!schema.row_level_security);
    assert!(Secret::schema().row_level_security);
    let _ = Secret::list;
    let tags = schema.columns.iter().find(|c| c.name == "tags").unwrap();
    assert_eq!(tags.sql_type, "text[]");
    assert!(schema.columns.iter().any(|c| c.name == "type" && c.sql_type == "smallint"));
}
