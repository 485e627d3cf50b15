//! Whose partition a table is, from the catalog: every step that attaches,
//! detaches, drops or changes a tenant's partition checks it first, because
//! a name proves nothing (two registries of one database, or a table made by
//! hand, can hold a name the registry expected for another tenant).
//!
//! An attached partition belongs to the tenant its bound names
//! (`FOR VALUES IN ('alice')`, as PostgreSQL deparses it). A detached one
//! (offboarding resumed after the detach, or a kept archive) belongs to the
//! tenant its comment names: onboarding and offboarding set it.

use sqlx::{PgConnection, Row};
use tenant_core::schema::quote_literal;

use crate::error::Error;

/// The comment of a tenant's partition while it is attached or detaching.
pub(super) fn partition_comment(id: &str) -> String {
    format!("tenancy partition of tenant {id}")
}

/// The comment of a kept archive.
pub(super) fn archive_comment(id: &str) -> String {
    format!("tenancy archive of tenant {id}")
}

/// `COMMENT ON TABLE` that marks `partition` as `id`'s.
pub(super) fn mark_ddl(partition: &str, id: &str) -> String {
    format!(
        "COMMENT ON TABLE {partition} IS {}",
        quote_literal(&partition_comment(id))
    )
}

/// The bound PostgreSQL deparses for a list partition of the one value
/// `id` (standard-conforming quoting, as with `standard_conforming_strings`
/// on, the default the runtime relies on). The id is the canonical text of
/// the tenant column's type (onboarding checks it), so this is its bound in
/// any type.
fn expected_bound(id: &str) -> String {
    format!("FOR VALUES IN ('{}')", id.replace('\'', "''"))
}

/// Checks that the table `partition` (quoted, qualified), if it exists, is
/// tenant `id`'s: attached to `parent` with the bound of `id`, or detached
/// with a comment naming `id`. A missing table is fine (nothing to act on).
pub(super) async fn verify(
    connection: &mut PgConnection,
    parent: &str,
    partition: &str,
    id: &str,
) -> Result<(), Error> {
    let row = sqlx::query(
        "SELECT c.oid IS NOT NULL AS exists, \
                i.inhparent = to_regclass($2) AS attached_here, \
                i.inhparent IS NOT NULL AS attached, \
                pg_get_expr(r.relpartbound, r.oid) AS bound, \
                obj_description(c.oid, 'pg_class') AS comment \
           FROM (SELECT to_regclass($1) AS oid) c \
           LEFT JOIN pg_class r ON r.oid = c.oid \
           LEFT JOIN pg_inherits i ON i.inhrelid = c.oid",
    )
    .bind(partition)
    .bind(parent)
    .fetch_one(&mut *connection)
    .await?;
    if !row.try_get::<bool, _>("exists")? {
        return Ok(());
    }
    let attached: bool = row.try_get("attached")?;
    let attached_here: Option<bool> = row.try_get("attached_here")?;
    let bound: Option<String> = row.try_get("bound")?;
    let comment: Option<String> = row.try_get("comment")?;
    let owner = if attached {
        match (attached_here, bound) {
            (Some(true), Some(bound)) if bound == expected_bound(id) => return Ok(()),
            (Some(true), Some(bound)) => format!("the partition {bound}"),
            _ => format!("a partition of another table than {parent}"),
        }
    } else {
        match comment {
            Some(comment) if comment == partition_comment(id) || comment == archive_comment(id) => {
                return Ok(())
            }
            Some(comment) => format!("a table with the comment {comment:?}"),
            None => "a table the runtime did not make for this tenant".to_string(),
        }
    };
    Err(Error::PartitionOwnedByAnother {
        tenant: id.to_string(),
        table: partition.to_string(),
        owner,
    })
}

/// The registry's trigger function that refuses changes to an archive.
pub(super) fn archive_guard_function(registry_schema: &str) -> String {
    tenant_core::schema::qualified_name(Some(registry_schema), "refuse_archive_change")
}

/// DDL of [`archive_guard_function`] (part of the registry).
pub(super) fn archive_guard_ddl(registry_schema: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n\
         BEGIN\n\
         RAISE EXCEPTION 'tenancy: %.% is the read-only archive of an offboarded tenant', \
         TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '55000';\n\
         END\n$fn$",
        archive_guard_function(registry_schema)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_comments_name_the_tenant() {
        assert_eq!(expected_bound("alice"), "FOR VALUES IN ('alice')");
        assert_eq!(
            expected_bound("o'neil \\ x"),
            "FOR VALUES IN ('o''neil \\ x')"
        );
        assert_eq!(
            mark_ddl("public.forms_t1_abcdef", "it's"),
            "COMMENT ON TABLE public.forms_t1_abcdef IS 'tenancy partition of tenant it''s'"
        );
        assert_ne!(partition_comment("a"), archive_comment("a"));
    }
}
