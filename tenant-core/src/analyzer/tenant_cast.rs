//! Whether `$tenant` is typed by an explicit cast. The runtime binds the
//! tenant id as `text`; where the SQL casts it (`$tenant::uuid`,
//! `CAST($tenant AS uuid)`), PostgreSQL converts that text, and the type it
//! reports for the parameter is the cast's. Where it is not cast, the
//! parameter's type comes from its context (`tenant_id = $tenant` on a
//! `uuid` column makes it `uuid`) and a `text` value fails at run time. The
//! type-checked macros use this to check the tenant's parameter only where
//! the SQL leaves its type to the context.

use pg_query::protobuf::ParseResult;
use pg_query::NodeRef;

use crate::walk::for_each_child;

/// True when every reference to parameter `$number` in `parsed` is the
/// direct operand of a cast (and there is at least one).
pub(crate) fn always_cast(parsed: &ParseResult, number: i32) -> bool {
    let mut cast = 0usize;
    let mut uncast = 0usize;
    for stmt in parsed.stmts.iter().filter_map(|raw| raw.stmt.as_ref()) {
        if let Some(node) = stmt.node.as_ref() {
            visit(node.to_ref(), false, number, &mut cast, &mut uncast);
        }
    }
    cast > 0 && uncast == 0
}

fn visit(node: NodeRef<'_>, under_cast: bool, number: i32, cast: &mut usize, uncast: &mut usize) {
    match node {
        NodeRef::ParamRef(param) if param.number == number => {
            if under_cast {
                *cast += 1;
            } else {
                *uncast += 1;
            }
        }
        // Its children are the operand and the type name; only the operand
        // can be a parameter.
        NodeRef::TypeCast(_) => {
            for_each_child(node, &mut |child| visit(child, true, number, cast, uncast));
        }
        _ => for_each_child(node, &mut |child| visit(child, false, number, cast, uncast)),
    }
}

#[cfg(test)]
mod tests {
    use crate::analyzer::Analyzer;
    use crate::config::Config;

    fn cast(sql: &str) -> bool {
        Analyzer::new(Config::default())
            .analyze(sql)
            .unwrap()
            .tenant_param_cast
    }

    #[test]
    fn a_cast_types_the_tenant() {
        assert!(cast("SELECT id FROM forms WHERE tenant_id = $tenant::uuid"));
        assert!(cast(
            "SELECT id FROM forms WHERE tenant_id = CAST($tenant AS uuid)"
        ));
        assert!(cast(
            "SELECT id FROM forms WHERE tenant_id = $tenant::uuid AND owner = $tenant::text"
        ));
    }

    #[test]
    fn the_context_types_an_uncast_tenant() {
        assert!(!cast("SELECT id FROM forms WHERE tenant_id = $tenant"));
        // One uncast use is enough for the context to type it.
        assert!(!cast(
            "SELECT id FROM forms WHERE tenant_id = $tenant::uuid AND owner = $tenant"
        ));
        // A cast of an expression holding the parameter is not a cast of it.
        assert!(!cast(
            "SELECT id FROM forms WHERE tenant_id = ($tenant || '')::uuid"
        ));
        // Another parameter's cast says nothing about the tenant's.
        assert!(!cast(
            "SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1::int"
        ));
        assert!(!cast("SELECT 1"));
    }
}
