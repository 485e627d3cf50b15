//! `Tenancy::verify`: the models against the live schema, every difference
//! at once, each naming its table and column.

use tenant_runtime::admin::SchemaDifference;
use tenant_runtime::{Config, Error, Tenancy, TenantTable};

use crate::support::TestDb;

#[derive(Debug, Clone, TenantTable)]
#[tenant(table = "tickets")]
#[allow(dead_code)] // the model is what is checked
struct Ticket {
    #[tenant(primary_key, identity)]
    id: i64,
    tenant_id: String,
    #[tenant(index)]
    title: String,
    #[tenant(sql_type = "varchar(40)", unique)]
    code: String,
    #[tenant(default = "'open'", skip_insert)]
    status: String,
    note: Option<String>,
    /// Only the model is checked here, so a `String` stands in for a decimal.
    #[tenant(sql_type = "numeric(10, 2)")]
    price: String,
}

fn problems(differences: &[SchemaDifference]) -> Vec<String> {
    differences.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_schema_changed_by_hand_is_reported_difference_by_difference() {
    let db = TestDb::new(2).await;
    let tenancy = Tenancy::builder(Config::default())
        .table::<Ticket>()
        .build()
        .unwrap();
    // Before install: the table is missing.
    let missing = tenancy.schema_differences(&db.pool).await.unwrap();
    assert_eq!(
        problems(&missing),
        ["public.tickets: the table does not exist in this database (install creates it)"]
    );

    tenancy.install(&db.pool).await.unwrap();
    tenancy.onboard(&db.pool, "alpha").await.unwrap();
    tenancy.verify(&db.pool).await.unwrap();

    // A migration that runs ahead of the code is not drift.
    db.exec(
        "ALTER TABLE tickets ADD COLUMN assignee text, ADD COLUMN priority int NOT NULL DEFAULT 3",
    )
    .await;
    tenancy.verify(&db.pool).await.unwrap();

    db.exec(
        "ALTER TABLE tickets ALTER COLUMN title TYPE varchar(20); \
         ALTER TABLE tickets ALTER COLUMN code TYPE varchar(80); \
         ALTER TABLE tickets ALTER COLUMN price TYPE numeric(12, 2); \
         ALTER TABLE tickets ALTER COLUMN note SET NOT NULL; \
         ALTER TABLE tickets ALTER COLUMN status DROP DEFAULT; \
         ALTER TABLE tickets RENAME COLUMN code TO ticket_code; \
         ALTER TABLE tickets ADD COLUMN owner text NOT NULL; \
         ALTER TABLE tickets ALTER COLUMN title DROP NOT NULL; \
         DROP INDEX tickets_title_idx;",
    )
    .await;
    let error = tenancy.verify(&db.pool).await.unwrap_err();
    let Error::SchemaDrift { differences } = &error else {
        panic!("{error}");
    };
    let found = problems(differences);
    let expected = [
        "public.tickets.title: type `character varying(20)` in the database, `text` in the model",
        "public.tickets.title: NULL-able in the database, NOT NULL in the model (a NULL fails to decode into a non-Option field)",
        "public.tickets.code: the column does not exist in the database",
        "public.tickets.status: the model gives it a default the database lacks (no default, identity or generation expression there)",
        "public.tickets.note: NOT NULL in the database, an Option in the model (writing None fails)",
        "public.tickets.price: type `numeric(12,2)` in the database, `numeric(10, 2)` in the model",
        "public.tickets.ticket_code: NOT NULL without a default in the database and not in the model (every insert from the model fails)",
        "public.tickets.owner: NOT NULL without a default in the database and not in the model (every insert from the model fails)",
        "public.tickets: the unique constraint on (code) is missing in the database",
        "public.tickets: the index on (title) is missing in the database",
    ];
    assert_eq!(found, expected, "{error}");
    let message = error.to_string();
    assert!(message.starts_with("the database's schema differs from the models in 10 places: public.tickets.title: type"), "{message}");
}

#[tokio::test]
async fn spellings_of_the_same_type_agree_and_a_table_not_partitioned_is_named() {
    let db = TestDb::new(2).await;
    // The model written with PostgreSQL's aliases; the table made by hand.
    db.exec(
        "CREATE TABLE events (tenant_id text NOT NULL, id int8 NOT NULL, at timestamptz NOT NULL, \
           label varchar(12) NOT NULL, PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id); \
         CREATE TABLE plain (tenant_id text NOT NULL, id bigint NOT NULL)",
    )
    .await;
    let discovered = Tenancy::discover(&db.pool, Config::default())
        .await
        .unwrap();
    discovered.verify(&db.pool).await.unwrap();

    let column = |name: &str, sql_type: &str| tenant_runtime::schema::ColumnDef {
        name: name.into(),
        sql_type: sql_type.into(),
        nullable: false,
        default: None,
        generated: None,
    };
    let events = tenant_runtime::schema::TableSchema {
        schema: None,
        name: "events".into(),
        tenant_column: "tenant_id".into(),
        columns: vec![
            column("tenant_id", "text"),
            column("id", "bigint"),
            column("at", "timestamp with time zone"),
            column("label", "VARCHAR(12)"),
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        row_level_security: false,
    };
    let mut plain = events.clone();
    plain.name = "plain".into();
    plain.columns.truncate(2);
    plain.primary_key.clear();
    let tenancy = Tenancy::builder(Config::default())
        .schemas([events, plain])
        .build()
        .unwrap();
    assert_eq!(
        problems(&tenancy.schema_differences(&db.pool).await.unwrap()),
        ["public.plain: the table is not LIST-partitioned by its tenant column `tenant_id` (the model's tenant tables are)"]
    );

    // The discovered tenancy, after a change by hand.
    db.exec("ALTER TABLE events ALTER COLUMN label TYPE text")
        .await;
    assert_eq!(
        problems(&discovered.schema_differences(&db.pool).await.unwrap()),
        ["public.events.label: type `text` in the database, `character varying(12)` in the model"]
    );
}
