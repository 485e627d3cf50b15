//! The models against the live schema: every difference between the tables
//! the tenancy was built with and what the catalog holds, so drift after a
//! hand-written migration is caught at start-up, not at the first query.
//!
//! What counts is what breaks the generated code or the guarantees: a
//! missing table or column, a type or type modifier that differs, a column
//! NULL-able in the database but not in the model (or the reverse), a
//! column the model leaves to the database that the database does not fill
//! (no identity, no default), a column the database requires that the model
//! never writes, a primary key, unique constraint or index the model
//! declares and the database lacks, a parent not LIST-partitioned by its
//! tenant column. A column the database adds with a default or as NULL-able
//! is not a difference: that is how a migration runs ahead of the code.

use sqlx::{PgPool, Row};
use tenant_core::schema::{ColumnDef, Generated, TableSchema};

use super::catalog::read_table;
use super::Tenancy;
use crate::error::{Error, SchemaDifference};

impl Tenancy {
    /// Checks every table of the tenancy against the database's catalog:
    /// `Ok` when they agree, [`Error::SchemaDrift`] listing every difference
    /// otherwise (see the [module](self) for what counts).
    pub async fn verify(&self, pool: &PgPool) -> Result<(), Error> {
        let differences = self.schema_differences(pool).await?;
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Error::SchemaDrift { differences })
        }
    }

    /// Every difference [`verify`](Self::verify) reports, as a list.
    pub async fn schema_differences(&self, pool: &PgPool) -> Result<Vec<SchemaDifference>, Error> {
        let mut out = Vec::new();
        for model in self.tables() {
            compare_table(pool, model, &mut out).await?;
        }
        Ok(out)
    }
}

async fn compare_table(
    pool: &PgPool,
    model: &TableSchema,
    out: &mut Vec<SchemaDifference>,
) -> Result<(), Error> {
    let table = model.qualified_name();
    let table_problem = |problem: String| SchemaDifference {
        table: table.clone(),
        column: None,
        problem,
    };
    let found = sqlx::query(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, p.partstrat::text AS strategy, \
                (SELECT a.attname::text FROM pg_attribute a \
                  WHERE a.attrelid = c.oid AND a.attnum = p.partattrs[0]) AS key, \
                p.partnatts::int4 AS key_count \
           FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_partitioned_table p ON p.partrelid = c.oid \
          WHERE c.oid = to_regclass($1)",
    )
    .bind(&table)
    .fetch_optional(pool)
    .await?;
    let Some(found) = found else {
        out.push(table_problem(
            "the table does not exist in this database (install creates it)".into(),
        ));
        return Ok(());
    };
    let oid: i64 = found.try_get("oid")?;
    let schema: String = found.try_get("schema")?;
    let strategy: Option<String> = found.try_get("strategy")?;
    let key: Option<String> = found.try_get("key")?;
    let key_count: Option<i32> = found.try_get("key_count")?;
    if strategy.as_deref() != Some("l")
        || key_count != Some(1)
        || key.as_deref() != Some(model.tenant_column.as_str())
    {
        out.push(table_problem(format!(
            "the table is not LIST-partitioned by its tenant column `{}` (the model's tenant tables are)",
            model.tenant_column
        )));
        return Ok(());
    }
    let live = read_table(
        pool,
        oid,
        schema,
        model.name.clone(),
        model.tenant_column.clone(),
    )
    .await?;

    let bases = resolve_base_types(pool, model, &live).await?;
    for column in &model.columns {
        let problem = |problem: String| SchemaDifference {
            table: table.clone(),
            column: Some(column.name.clone()),
            problem,
        };
        let Some(in_database) = live.columns.iter().find(|c| c.name == column.name) else {
            out.push(problem("the column does not exist in the database".into()));
            continue;
        };
        let (model_base, database_base) = bases
            .iter()
            .find(|(name, ..)| *name == column.name)
            .map(|(_, m, d)| (m.clone(), d.clone()))
            .unwrap_or_default();
        if let Some(type_problem) = compare_types(column, in_database, model_base, database_base) {
            out.push(problem(type_problem));
        }
        match (column.nullable, in_database.nullable) {
            (false, true) => out.push(problem(
                "NULL-able in the database, NOT NULL in the model (a NULL fails to decode into a non-Option field)".into(),
            )),
            (true, false) if column.name != model.tenant_column => out.push(problem(
                "NOT NULL in the database, an Option in the model (writing None fails)".into(),
            )),
            _ => {}
        }
        let filled_in_database = in_database.default.is_some() || in_database.generated.is_some();
        if (column.is_filled_by_database() || column.default.is_some()) && !filled_in_database {
            {
                out.push(problem(format!(
                    "the model gives it a {} the database lacks (no default, identity or generation expression there)",
                    describe_filled(column)
                )));
            }
        }
        if matches!(column.generated, Some(Generated::Stored(_)))
            != matches!(in_database.generated, Some(Generated::Stored(_)))
        {
            out.push(problem(format!(
                "generated in the {} only (insert and update write a generated column differently)",
                if column.generated.is_some() {
                    "model"
                } else {
                    "database"
                }
            )));
        }
    }
    for extra in &live.columns {
        let required = !extra.nullable && extra.default.is_none() && extra.generated.is_none();
        if required && !model.columns.iter().any(|c| c.name == extra.name) {
            out.push(SchemaDifference {
                table: table.clone(),
                column: Some(extra.name.clone()),
                problem: "NOT NULL without a default in the database and not in the model (every insert from the model fails)".into(),
            });
        }
    }

    if model.primary_key != live.primary_key {
        out.push(table_problem(format!(
            "primary key ({}) in the model, ({}) in the database (both after the tenant column)",
            model.primary_key.join(", "),
            live.primary_key.join(", ")
        )));
    }
    let same_columns = |a: &[String], b: &[String]| {
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort();
        b.sort();
        a == b
    };
    for unique in &model.unique {
        if !live.unique.iter().any(|u| same_columns(u, unique)) {
            out.push(table_problem(format!(
                "the unique constraint on ({}) is missing in the database",
                unique.join(", ")
            )));
        }
    }
    for index in &model.indexes {
        let indexed = live.indexes.iter().chain(&live.unique).any(|i| i == index);
        if !indexed {
            out.push(table_problem(format!(
                "the index on ({}) is missing in the database",
                index.join(", ")
            )));
        }
    }
    Ok(())
}

fn describe_filled(column: &ColumnDef) -> &'static str {
    match &column.generated {
        Some(Generated::Stored(_)) => "generated",
        Some(_) => "identity",
        None if column.is_filled_by_database() => "serial",
        None => "default",
    }
}

/// The type modifiers written in a type, e.g. `[10, 2]` for `numeric(10,2)`.
fn modifiers(sql_type: &str) -> Vec<String> {
    let Some(open) = sql_type.find('(') else {
        return Vec::new();
    };
    let close = sql_type[open..]
        .find(')')
        .map_or(sql_type.len(), |c| open + c);
    sql_type[open + 1..close]
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The model's spelling of a type as `to_regtype` reads it: the serial
/// pseudo-types are their integer types.
fn resolvable(written: &str) -> &str {
    match written.to_ascii_lowercase().as_str() {
        "smallserial" | "serial2" => "smallint",
        "serial" | "serial4" => "integer",
        "bigserial" | "serial8" => "bigint",
        _ => written,
    }
}

/// For each column the model and the database share: its name, and the
/// base type (without modifiers) of the model's spelling and of the
/// column's, as PostgreSQL names them; `None` for a type it does not know.
/// One query per table.
async fn resolve_base_types(
    pool: &PgPool,
    model: &TableSchema,
    live: &TableSchema,
) -> Result<Vec<(String, Option<String>, Option<String>)>, Error> {
    let mut names = Vec::new();
    let mut model_types = Vec::new();
    let mut database_types = Vec::new();
    for column in &model.columns {
        if let Some(in_database) = live.columns.iter().find(|c| c.name == column.name) {
            names.push(column.name.clone());
            model_types.push(resolvable(column.sql_type.trim()).to_string());
            database_types.push(in_database.sql_type.clone());
        }
    }
    let bases: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT format_type(to_regtype(m), NULL), format_type(to_regtype(d), NULL) \
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(m, d, n) ORDER BY n",
    )
    .bind(&model_types)
    .bind(&database_types)
    .fetch_all(pool)
    .await?;
    Ok(names
        .into_iter()
        .zip(bases)
        .map(|(name, (m, d))| (name, m, d))
        .collect())
}

/// Compares the model's type with the column's: the base types as
/// PostgreSQL resolves them (`int8`, `timestamptz`, `varchar(20)`) and the
/// modifiers as written.
fn compare_types(
    model: &ColumnDef,
    database: &ColumnDef,
    model_base: Option<String>,
    database_base: Option<String>,
) -> Option<String> {
    let written = model.sql_type.trim();
    let Some(model_base) = model_base else {
        return Some(format!(
            "the model's type `{written}` does not exist in this database (an extension not installed?); the column is `{}`",
            database.sql_type
        ));
    };
    let same_base = database_base.as_deref() == Some(model_base.as_str());
    let same_modifiers = modifiers(resolvable(written)) == modifiers(&database.sql_type);
    (!same_base || !same_modifiers).then(|| {
        format!(
            "type `{}` in the database, `{written}` in the model",
            database.sql_type
        )
    })
}

#[cfg(test)]
mod tests {
    use super::modifiers;

    #[test]
    fn modifiers_are_read_from_the_spelling() {
        assert_eq!(modifiers("numeric(10, 2)"), ["10", "2"]);
        assert_eq!(modifiers("character varying(20)"), ["20"]);
        assert_eq!(modifiers("timestamp(3) with time zone"), ["3"]);
        assert!(modifiers("text[]").is_empty());
    }
}
