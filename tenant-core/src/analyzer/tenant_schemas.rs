//! Rule `tenant-schema-reference`: a name qualified by a tenant's schema.
//!
//! In the schema layout every tenant has a schema of its own,
//! `tenant_t<N>_<tag>` (and `tenant_t<N>_<tag>_archive` once it is
//! offboarded and kept). A tenant query never needs to name one: the runtime
//! renders checked queries on the requesting tenant's schema, and the
//! tenant transaction's `search_path` resolves dynamic SQL there. A
//! qualified name in such a schema is therefore some tenant's private data
//! (or an archive), its own or another's, and is refused wherever the
//! statement names it: tables, views and sequences (`FROM`, DML targets,
//! `schema.table.column`), functions, operators (`OPERATOR(schema.op)`),
//! types and collations, a TABLESAMPLE method, and names written in a
//! string that PostgreSQL resolves (`'schema.seq'::regclass`,
//! `nextval('schema.seq')`, `to_regclass(..)`, `has_table_privilege(..)`).
//!
//! The scan visits every node of the statement with the exhaustive walker
//! (`crate::walk`), iteratively, so nothing nested escapes it and no depth
//! overflows the stack. The tables it reports are treated as global by the
//! rest of the analysis (`policy::relation`), so one reference gives one
//! violation.

use pg_query::protobuf::{self, node::Node as NodeEnum};
use pg_query::NodeRef;

use super::binding::string_value;
pub(crate) use crate::layout::is_tenant_schema_name;
use crate::layout::ARCHIVE_TAIL;
use crate::walk::for_each_child;

/// One qualified name in a tenant schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// What is named: `table`, `function`, `type`, ...
    pub what: &'static str,
    /// The name as the parser gives it, parts joined with `.`.
    pub written: String,
    /// The tenant schema in it.
    pub schema: String,
    /// The node's location in the (rewritten) SQL, `-1` when unknown.
    pub location: i32,
}

impl Reference {
    /// The message of the violation.
    pub fn message(&self) -> String {
        let archive = if self.schema.ends_with(ARCHIVE_TAIL) {
            "an offboarded tenant's kept (archived) schema"
        } else {
            "a tenant's private schema"
        };
        format!(
            "{} `{}` is in schema `{}`, {archive}: a tenant query may not name a tenant schema, not even its own tenant's",
            self.what, self.written, self.schema
        )
    }

    /// The fix of the violation.
    pub fn fix(&self) -> String {
        "write the name without the schema: the runtime puts a checked query on the requesting tenant's schema, and a schema tenant's transaction resolves unqualified names there (its `search_path`); reach other tenants' schemas only from an admin connection".to_string()
    }
}

/// The reg* types whose input is an object's name, and what they name.
const NAME_TYPES: &[(&str, &str)] = &[
    ("regclass", "relation"),
    ("regcollation", "collation"),
    ("regconfig", "text search configuration"),
    ("regdictionary", "text search dictionary"),
    ("regnamespace", "schema"),
    ("regoper", "operator"),
    ("regoperator", "operator"),
    ("regproc", "function"),
    ("regprocedure", "function"),
    ("regtype", "type"),
];

/// Built-in functions that take an object's name as text (or as a reg*
/// value, which a string constant is converted to): what the name in
/// their string arguments is.
const NAME_TAKING_FUNCTIONS: &[(&str, &str)] = &[
    ("currval", "sequence"),
    ("has_any_column_privilege", "relation"),
    ("has_column_privilege", "relation"),
    ("has_foreign_data_wrapper_privilege", "object"),
    ("has_function_privilege", "function"),
    ("has_schema_privilege", "schema"),
    ("has_sequence_privilege", "sequence"),
    ("has_server_privilege", "object"),
    ("has_table_privilege", "relation"),
    ("has_type_privilege", "type"),
    ("nextval", "sequence"),
    ("pg_get_serial_sequence", "relation"),
    ("setval", "sequence"),
    ("to_regclass", "relation"),
    ("to_regcollation", "collation"),
    ("to_regnamespace", "schema"),
    ("to_regoper", "operator"),
    ("to_regoperator", "operator"),
    ("to_regproc", "function"),
    ("to_regprocedure", "function"),
    ("to_regtype", "type"),
    ("to_regtypemod", "type"),
];

/// Every name in a tenant schema that `root` (a statement) holds, in the
/// walker's order.
pub(crate) fn references(root: NodeRef<'_>) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(n) = pending.pop() {
        inspect(n, &mut found);
        let mut children = Vec::new();
        for_each_child(n, &mut |child| children.push(child));
        // Reversed, so the stack pops them in field order.
        pending.extend(children.into_iter().rev());
    }
    found
}

/// The names one node holds itself (not its children's).
fn inspect(n: NodeRef<'_>, found: &mut Vec<Reference>) {
    match n {
        NodeRef::RangeVar(rv) if is_tenant_schema_name(&rv.schemaname) => {
            let mut parts = vec![rv.schemaname.as_str(), rv.relname.as_str()];
            if !rv.catalogname.is_empty() {
                parts.insert(0, &rv.catalogname);
            }
            found.push(reference("table", &parts, &rv.schemaname, rv.location));
        }
        NodeRef::FuncCall(call) => {
            qualified(found, "function", &call.funcname, call.location);
            string_names(found, call);
        }
        NodeRef::TypeName(t) => qualified(found, "type", &t.names, t.location),
        NodeRef::AExpr(e) => qualified(found, "operator", &e.name, e.location),
        NodeRef::SubLink(s) => qualified(found, "operator", &s.oper_name, s.location),
        NodeRef::SortBy(s) => qualified(found, "operator", &s.use_op, s.location),
        NodeRef::CollateClause(c) => qualified(found, "collation", &c.collname, c.location),
        NodeRef::RangeTableSample(s) => {
            qualified(found, "tablesample method", &s.method, s.location)
        }
        NodeRef::ColumnRef(c) => {
            // `schema.table.column` (or `db.schema.table.column`, `schema.table.*`).
            let parts: Vec<&str> = c.fields.iter().filter_map(string_value).collect();
            let schema = match parts.len() {
                0..=2 => None,
                3 => Some(parts[0]),
                _ => Some(parts[1]),
            };
            if let Some(schema) = schema.filter(|s| is_tenant_schema_name(s)) {
                let mut written = parts.clone();
                if matches!(
                    c.fields.last().and_then(|f| f.node.as_ref()),
                    Some(NodeEnum::AStar(_))
                ) {
                    written.push("*");
                }
                found.push(reference("column", &written, schema, c.location));
            }
        }
        NodeRef::TypeCast(cast) => {
            let target = cast
                .type_name
                .as_ref()
                .and_then(|t| t.names.last())
                .and_then(string_value);
            let what = NAME_TYPES
                .iter()
                .find(|(name, _)| Some(*name) == target)
                .map(|(_, what)| *what);
            if let (Some(what), Some(text)) = (what, cast.arg.as_deref().and_then(string_constant))
            {
                named_in_string(found, what, text, cast.location);
            }
        }
        _ => {}
    }
}

/// A qualified name list (`[schema, name]` or `[catalog, schema, name]`)
/// whose schema is a tenant's.
fn qualified(
    found: &mut Vec<Reference>,
    what: &'static str,
    names: &[protobuf::Node],
    location: i32,
) {
    let parts: Vec<&str> = names.iter().filter_map(string_value).collect();
    if parts.len() < 2 {
        return;
    }
    let schema = parts[parts.len() - 2];
    if is_tenant_schema_name(schema) {
        found.push(reference(what, &parts, schema, location));
    }
}

/// The string constants among the arguments of a built-in function that
/// takes an object's name as text.
fn string_names(found: &mut Vec<Reference>, call: &protobuf::FuncCall) {
    let parts: Vec<&str> = call.funcname.iter().filter_map(string_value).collect();
    let name = match parts.as_slice() {
        [name] | ["pg_catalog", name] => *name,
        _ => return,
    };
    let Some((_, what)) = NAME_TAKING_FUNCTIONS.iter().find(|(f, _)| *f == name) else {
        return;
    };
    for arg in &call.args {
        if let Some(text) = string_constant(arg) {
            named_in_string(found, what, text, call.location);
        }
    }
}

/// A string constant, possibly under casts (`'x'::text`).
fn string_constant(n: &protobuf::Node) -> Option<&str> {
    match n.node.as_ref()? {
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            protobuf::a_const::Val::Sval(s) => Some(&s.sval),
            _ => None,
        },
        NodeEnum::TypeCast(cast) => cast.arg.as_deref().and_then(string_constant),
        _ => None,
    }
}

/// A name written in a string (`'tenant_t7_k3x9q2.forms'`): refused when
/// any of its parts is a tenant schema (a string may also name the schema
/// alone, as `regnamespace` and `has_schema_privilege` take it).
fn named_in_string(found: &mut Vec<Reference>, what: &'static str, text: &str, location: i32) {
    let parts = name_parts(text);
    if let Some(schema) = parts.iter().find(|p| is_tenant_schema_name(p)) {
        found.push(Reference {
            what,
            written: format!("'{text}'"),
            schema: schema.clone(),
            location,
        });
    }
}

/// The parts of a (possibly qualified, possibly quoted) name as PostgreSQL
/// reads it from a string: unquoted parts folded to lower case, quoted
/// ones as written (`""` is one `"`). Stops at `(`, where a function's or
/// operator's argument list starts. Lenient: it only has to find the
/// parts, not to validate the name.
fn name_parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(q) = chars.next() {
                    if q == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            current.push('"');
                        } else {
                            break;
                        }
                    } else {
                        current.push(q);
                    }
                }
            }
            '.' => parts.push(std::mem::take(&mut current)),
            '(' => break,
            c if c.is_whitespace() => {}
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(current);
    parts
}

fn reference(what: &'static str, parts: &[&str], schema: &str, location: i32) -> Reference {
    Reference {
        what,
        written: parts.join("."),
        schema: schema.to_string(),
        location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Analyzer, Binding, Config};

    #[test]
    fn tenant_schema_names_have_the_registry_shape() {
        for name in [
            "tenant_t7_k3x9q2",
            "tenant_t0_000000",
            "tenant_t123456789_abcdef",
            "tenant_t7_k3x9q2_archive",
            "tenant_t42_zzzzzz_archive",
        ] {
            assert!(is_tenant_schema_name(name), "{name}");
        }
        for name in [
            "",
            "tenant",
            "tenant_",
            "tenant_data",
            "tenants",
            "tenant_t7",
            "tenant_t7_",
            "tenant_t_k3x9q2",
            "tenant_tx_k3x9q2",
            "tenant_7_k3x9q2",
            "tenant_t7_k3x9q",
            "tenant_t7_k3x9q2x",
            "tenant_t7_K3X9Q2",
            "TENANT_T7_K3X9Q2",
            "tenant_t7_k3-9q2",
            "tenant_t7_k3x9q2_archived",
            "tenant_t7_k3x9q2_archive_archive",
            "tenant_t7_archive",
            "tenant_t7_k3x9q2_",
            "xtenant_t7_k3x9q2",
            "tenant_t7_k3x9q2 ",
            "tenant_t٧_k3x9q2",
            "public",
            "pg_catalog",
        ] {
            assert!(!is_tenant_schema_name(name), "{name}");
        }
    }

    fn rules_of(analyzer: &Analyzer, sql: &str) -> Vec<&'static str> {
        analyzer
            .analyze(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .violations()
            .map(|v| v.rule.name())
            .collect()
    }

    fn analyzers() -> [Analyzer; 2] {
        let config = Config::from_toml_str("global_tables = [\"plans\"]").unwrap();
        [
            Analyzer::new(config.clone()),
            Analyzer::new(config).with_binding(Binding::Lenient),
        ]
    }

    /// Refused, with this rule among the violations (in both modes).
    fn refused(sql: &str) {
        for analyzer in analyzers() {
            let rules = rules_of(&analyzer, sql);
            assert!(
                rules.contains(&"tenant-schema-reference"),
                "{sql} ({:?}): {rules:?}",
                analyzer.binding()
            );
        }
    }

    #[test]
    fn tables_in_a_tenant_schema_are_refused_once() {
        for sql in [
            "SELECT * FROM tenant_t7_k3x9q2.forms WHERE tenant_id = $tenant",
            "SELECT * FROM tenant_t7_k3x9q2.forms",
            "SELECT * FROM TENANT_T7_K3X9Q2.forms",
            "SELECT * FROM \"tenant_t7_k3x9q2\".\"forms\"",
            "SELECT * FROM app.tenant_t7_k3x9q2.forms",
            "SELECT * FROM tenant_t9_q8w7e6_archive.forms",
            "TABLE tenant_t7_k3x9q2.forms",
            "SELECT * FROM forms f JOIN tenant_t7_k3x9q2.users u ON u.id = f.owner_id WHERE f.tenant_id = $tenant",
            "SELECT * FROM forms WHERE tenant_id = $tenant AND id IN (SELECT id FROM tenant_t7_k3x9q2.forms)",
            "WITH x AS (SELECT * FROM tenant_t7_k3x9q2.forms) SELECT * FROM x",
            "INSERT INTO tenant_t7_k3x9q2.forms (tenant_id, id) VALUES ($tenant, $1)",
            "UPDATE tenant_t7_k3x9q2.forms SET name = $1 WHERE tenant_id = $tenant",
            "DELETE FROM tenant_t7_k3x9q2.forms WHERE tenant_id = $tenant",
            "MERGE INTO forms t USING tenant_t7_k3x9q2.forms s ON t.tenant_id = $tenant AND s.id = t.id WHEN MATCHED THEN DO NOTHING",
            "SELECT nextval FROM tenant_t7_k3x9q2.forms_id_seq",
        ] {
            for analyzer in analyzers() {
                assert_eq!(
                    rules_of(&analyzer, sql),
                    ["tenant-schema-reference"],
                    "{sql} ({:?})",
                    analyzer.binding()
                );
            }
        }
    }

    #[test]
    fn other_names_in_a_tenant_schema_are_refused() {
        for sql in [
            "SELECT tenant_t7_k3x9q2.score(id) FROM forms WHERE tenant_id = $tenant",
            "SELECT * FROM tenant_t7_k3x9q2.report() AS r",
            "SELECT $1::tenant_t7_k3x9q2.mood",
            "SELECT CAST($1 AS tenant_t7_k3x9q2.mood[])",
            "SELECT * FROM json_to_record($1) AS r(a tenant_t7_k3x9q2.mood)",
            "SELECT 1 OPERATOR(tenant_t7_k3x9q2.+) 2",
            "SELECT name FROM plans ORDER BY name USING OPERATOR(tenant_t7_k3x9q2.<)",
            "SELECT name COLLATE tenant_t7_k3x9q2.\"c\" FROM plans",
            "SELECT tenant_t7_k3x9q2.forms.name FROM forms WHERE tenant_id = $tenant",
            "SELECT 'tenant_t7_k3x9q2.forms'::regclass",
            "SELECT '\"tenant_t7_k3x9q2\".forms'::pg_catalog.regclass",
            "SELECT 'tenant_t7_k3x9q2'::regnamespace",
            "SELECT 'tenant_t7_k3x9q2.mood'::regtype",
            "SELECT nextval('tenant_t7_k3x9q2.forms_id_seq')",
            "SELECT to_regclass('TENANT_T7_K3X9Q2.forms')",
            "SELECT has_table_privilege('app', 'tenant_t7_k3x9q2.forms', 'SELECT')",
            "SELECT has_schema_privilege('tenant_t7_k3x9q2_archive', 'USAGE')",
            "SELECT * FROM plans WHERE EXISTS (SELECT 1 FROM tenant_t7_k3x9q2.forms)",
        ] {
            refused(sql);
        }
    }

    #[test]
    fn names_that_only_look_alike_are_accepted() {
        for analyzer in analyzers() {
            for sql in [
                "SELECT * FROM plans",
                "SELECT * FROM public.plans",
                "SELECT * FROM tenant_data.plans",
                "SELECT * FROM \"Tenant_T7_K3X9Q2\".plans",
                "SELECT 'tenant_t7_k3x9q2.forms' AS label FROM plans",
                "SELECT lower('tenant_t7_k3x9q2.forms')",
                "SELECT 'public.plans'::regclass",
                "SELECT $1::text",
                "SELECT p.name FROM plans p ORDER BY p.name",
            ] {
                let rules = rules_of(&analyzer, sql);
                // (Tables outside `public` are tenant tables: unbound here.)
                assert!(
                    !rules.contains(&"tenant-schema-reference"),
                    "{sql}: {rules:?}"
                );
            }
        }
    }

    #[test]
    fn the_violation_points_at_the_name() {
        let [strict, _] = analyzers();
        let sql = "SELECT id FROM forms f JOIN tenant_t7_k3x9q2.users u ON u.id = f.owner_id WHERE f.tenant_id = $tenant";
        let analysis = strict.analyze(sql).unwrap();
        let v = analysis.violations().next().unwrap();
        assert_eq!(v.position.offset, sql.find("tenant_t7").unwrap());
        assert!(
            v.message
                .starts_with("table `tenant_t7_k3x9q2.users` is in schema `tenant_t7_k3x9q2`"),
            "{v}"
        );
    }

    #[test]
    fn names_in_strings_are_split_as_postgresql_reads_them() {
        assert_eq!(name_parts("forms"), ["forms"]);
        assert_eq!(
            name_parts("Tenant_T7_K3X9Q2.Forms"),
            ["tenant_t7_k3x9q2", "forms"]
        );
        assert_eq!(
            name_parts(r#""tenant_t7_k3x9q2"."My ""T""""#),
            ["tenant_t7_k3x9q2", r#"My "T""#]
        );
        assert_eq!(name_parts(r#""A.b".c"#), ["A.b", "c"]);
        assert_eq!(name_parts("s.f(integer, text)"), ["s", "f"]);
        assert_eq!(name_parts(" s . t "), ["s", "t"]);
    }

    #[test]
    fn the_message_says_whose_schema_it_is() {
        let own = reference(
            "table",
            &["tenant_t7_k3x9q2", "forms"],
            "tenant_t7_k3x9q2",
            0,
        );
        assert!(
            own.message().contains("a tenant's private schema"),
            "{}",
            own.message()
        );
        let archive = reference(
            "table",
            &["tenant_t7_k3x9q2_archive", "forms"],
            "tenant_t7_k3x9q2_archive",
            0,
        );
        assert!(
            archive.message().contains("archived"),
            "{}",
            archive.message()
        );
        assert!(own.fix().contains("without the schema"));
    }
}
