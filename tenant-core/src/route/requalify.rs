//! Column references qualified with a schema (`public.forms.id`), moved to
//! another schema: a statement rendered in place on a schema tenant's
//! tables (`tenant_t7_k3x9q2.forms`) names the table's columns that way
//! only once their qualifier names the tenant's schema too. PostgreSQL
//! refuses `public.forms.id` when the `FROM` item is another schema's
//! `forms` ("invalid reference to FROM-clause entry").

use pg_query::protobuf::{self, node::Node};
use pg_query::NodeRef;

use super::visit;
use crate::schema::quote_ident;

/// `sql` with the schema of every column reference written
/// `schema.table.column` (or `schema.table.*`) replaced by
/// `schema_of(schema, table)` where that gives one. Names are compared as
/// PostgreSQL folds them; the new schema is quoted as needed. `None` when
/// `sql` does not parse or a reference's schema cannot be found in the
/// text.
pub fn requalify_columns(
    sql: &str,
    mut schema_of: impl FnMut(&str, &str) -> Option<String>,
) -> Option<String> {
    let parsed = pg_query::parse(sql, 0).ok()?;
    let mut edits: Vec<(usize, String)> = Vec::new();
    for stmt in &parsed.protobuf.stmts {
        if let Some(node) = stmt.stmt.as_ref().and_then(|n| n.node.as_ref()) {
            visit(node.to_ref(), &mut |n| {
                if let NodeRef::ColumnRef(column) = n {
                    if let Some(edit) = edit_of(column, &mut schema_of) {
                        edits.push(edit);
                    }
                }
            });
        }
    }
    if edits.is_empty() {
        return Some(sql.to_string());
    }
    let tokens = pg_query::scan_tokens(sql).ok()?;
    edits.sort_by_key(|(at, _)| *at);
    edits.dedup_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(sql.len() + 32 * edits.len());
    let mut copied = 0;
    for (at, schema) in edits {
        // The reference starts with its schema's token, followed by a dot.
        let index = tokens.iter().position(|t| t.start as usize == at)?;
        let dot = tokens.get(index + 1)?;
        if sql.get(dot.start as usize..dot.end as usize)? != "." {
            return None;
        }
        out.push_str(sql.get(copied..at)?);
        out.push_str(&quote_ident(&schema));
        copied = tokens[index].end as usize;
    }
    out.push_str(sql.get(copied..)?);
    Some(out)
}

/// Where `column`'s schema starts and the schema it should name.
fn edit_of(
    column: &protobuf::ColumnRef,
    schema_of: &mut impl FnMut(&str, &str) -> Option<String>,
) -> Option<(usize, String)> {
    // `schema.table.column` and `schema.table.*`; `db.schema.table.column`
    // names a database, which PostgreSQL refuses unless it is the current
    // one: left alone.
    if column.fields.len() != 3 {
        return None;
    }
    let name = |index: usize| match column.fields[index].node.as_ref() {
        Some(Node::String(s)) => Some(s.sval.as_str()),
        _ => None,
    };
    let schema = schema_of(name(0)?, name(1)?)?;
    Some((usize::try_from(column.location).ok()?, schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `public.forms` and `public."Forms"` go to the tenant schema.
    fn to_tenant(schema: &str, table: &str) -> Option<String> {
        (schema == "public" && (table == "forms" || table == "Forms"))
            .then(|| "tenant_t7_k3x9q2".to_string())
    }

    #[test]
    fn a_schema_qualified_column_names_the_tenant_schema() {
        let sql = "SELECT public.forms.name FROM tenant_t7_k3x9q2.forms \
                   WHERE public.forms.tenant_id = $1 AND PUBLIC . forms.id = 1";
        assert_eq!(
            requalify_columns(sql, to_tenant).unwrap(),
            "SELECT tenant_t7_k3x9q2.forms.name FROM tenant_t7_k3x9q2.forms \
             WHERE tenant_t7_k3x9q2.forms.tenant_id = $1 AND tenant_t7_k3x9q2 . forms.id = 1"
        );
    }

    #[test]
    fn quoted_names_stars_and_other_tables() {
        let sql =
            r#"SELECT "public"."Forms".*, public.plans.name, forms.id, 'public.forms.id' FROM x"#;
        assert_eq!(
            requalify_columns(sql, to_tenant).unwrap(),
            r#"SELECT tenant_t7_k3x9q2."Forms".*, public.plans.name, forms.id, 'public.forms.id' FROM x"#
        );
    }

    #[test]
    fn nothing_to_do_and_bad_sql() {
        let sql = "SELECT f.id FROM forms f";
        assert_eq!(requalify_columns(sql, to_tenant).unwrap(), sql);
        assert_eq!(requalify_columns("SELEC 1", to_tenant), None);
    }
}
