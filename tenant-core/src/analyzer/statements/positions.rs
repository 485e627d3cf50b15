//! Positions and names in the parse tree and the SQL text: where a node
//! starts, where a relation name ends, names in name lists, and what to call
//! a statement kind in a message. Imports nothing of the statements above it.

use pg_query::protobuf::{self, node::Node as NodeEnum};

use crate::analyzer::binding::string_value;

/// A parse-tree location as a byte offset (`-1`, unknown, gives `fallback`).
pub(super) fn loc(location: i32, fallback: usize) -> usize {
    usize::try_from(location).unwrap_or(fallback)
}

/// The node a `Node` wrapper holds.
pub(super) fn node(n: &protobuf::Node) -> Option<&NodeEnum> {
    n.node.as_ref()
}

/// The strings of a name list (`String` nodes), in order.
pub(super) fn names(nodes: &[protobuf::Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(string_value)
        .map(str::to_string)
        .collect()
}

/// The location of an expression node, when it has one.
pub(super) fn node_location(n: &NodeEnum, fallback: usize) -> usize {
    let raw = match n {
        NodeEnum::ColumnRef(c) => c.location,
        NodeEnum::ParamRef(p) => p.location,
        NodeEnum::AConst(c) => c.location,
        NodeEnum::TypeCast(t) => t.location,
        NodeEnum::FuncCall(f) => f.location,
        NodeEnum::AExpr(a) => a.location,
        NodeEnum::SubLink(s) => s.location,
        NodeEnum::SetToDefault(d) => d.location,
        NodeEnum::SelectStmt(s) => {
            return s
                .target_list
                .first()
                .and_then(node)
                .map_or(fallback, |t| match t {
                    NodeEnum::ResTarget(r) => loc(r.location, fallback),
                    _ => fallback,
                })
        }
        _ => -1,
    };
    loc(raw, fallback)
}

/// The end of a (possibly qualified, possibly quoted) relation name that
/// starts at `start` in `sql`.
pub(crate) fn name_end(sql: &str, start: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut i = start.min(bytes.len());
    loop {
        if bytes.get(i) == Some(&b'"') {
            i += 1;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
        } else {
            break;
        }
    }
    while !sql.is_char_boundary(i) {
        i -= 1;
    }
    i.max(start.min(sql.len()))
}

/// A readable kind for a statement the analyzer refuses.
pub(crate) fn statement_kind(stmt: &NodeEnum) -> String {
    let known = match stmt {
        NodeEnum::CreateStmt(_) => "CREATE TABLE",
        NodeEnum::CreateTableAsStmt(_) => "CREATE TABLE AS",
        NodeEnum::DropStmt(_) => "DROP",
        NodeEnum::AlterTableStmt(_) => "ALTER TABLE",
        NodeEnum::TruncateStmt(_) => "TRUNCATE",
        NodeEnum::CopyStmt(_) => "COPY",
        NodeEnum::VariableSetStmt(_) => "SET",
        NodeEnum::VariableShowStmt(_) => "SHOW",
        NodeEnum::DoStmt(_) => "DO",
        NodeEnum::CallStmt(_) => "CALL",
        NodeEnum::PrepareStmt(_) => "PREPARE",
        NodeEnum::ExecuteStmt(_) => "EXECUTE",
        NodeEnum::DeallocateStmt(_) => "DEALLOCATE",
        NodeEnum::DeclareCursorStmt(_) => "DECLARE CURSOR",
        NodeEnum::LockStmt(_) => "LOCK",
        NodeEnum::GrantStmt(_) => "GRANT",
        NodeEnum::VacuumStmt(_) => "VACUUM",
        NodeEnum::TransactionStmt(_) => "transaction control",
        NodeEnum::IndexStmt(_) => "CREATE INDEX",
        NodeEnum::ViewStmt(_) => "CREATE VIEW",
        NodeEnum::CreateFunctionStmt(_) => "CREATE FUNCTION",
        NodeEnum::RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        NodeEnum::ListenStmt(_) => "LISTEN",
        NodeEnum::NotifyStmt(_) => "NOTIFY",
        NodeEnum::ExplainStmt(_) => "EXPLAIN",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    // The variant name, e.g. `AlterRoleStmt` -> `AlterRole`.
    let debug = format!("{stmt:?}");
    let name = debug.split('(').next().unwrap_or("statement");
    name.trim_end_matches("Stmt").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_end_covers_qualified_and_quoted_names() {
        let sql = r#"SELECT 1 FROM public."My ""T""".x AS y"#;
        let start = sql.find("public").unwrap();
        assert_eq!(&sql[start..name_end(sql, start)], r#"public."My ""T""".x"#);
        assert_eq!(name_end("ab", 5), 2);
        assert_eq!(&"FROM forms f"[5..name_end("FROM forms f", 5)], "forms");
    }
}
