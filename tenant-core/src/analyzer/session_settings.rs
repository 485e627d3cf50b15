//! Rule `search-path-or-role`: statements that change `search_path`, `role`
//! or `session_authorization`.
//!
//! In the schema layout a tenant's transaction runs as the tenant's role
//! with a transaction-local `search_path` (the tenant's schema, then
//! `public`): that is the wall around the tenant's schema. A tenant query
//! that moves it (another path, another role, back to the session's
//! defaults) reaches whatever the new path or role reaches. Refused, with
//! this rule rather than the general one:
//!
//! - `SET`, `SET LOCAL`, `SET SESSION`, `RESET` and `SET .. FROM CURRENT`
//!   of those settings, in every spelling (`SET ROLE`, `SET SESSION
//!   AUTHORIZATION`, `SET SCHEMA 'x'`, which is `search_path`, quoted or in
//!   any case: PostgreSQL compares setting names case-insensitively), and
//!   `RESET ALL`, which resets `search_path`. Other `SET`s stay
//!   `unsupported-statement`.
//! - `set_config(name, ..)` and `pg_catalog.set_config(name, ..)` whose
//!   name is a constant naming one of them, or is not a constant at all (the
//!   analyzer cannot tell which setting it changes). `set_config` of another
//!   constant setting stays `unsafe-function` (it changes a setting all the
//!   same, and cannot be declared safe).
//! - Writing `pg_settings` (an `UPDATE` of it calls `set_config` for every
//!   row, for whatever setting the row names).

use pg_query::protobuf::{self, node::Node as NodeEnum, VariableSetKind};

use super::binding::string_value;
use super::policy::Refusal;
use crate::report::Rule;

/// The settings that make the wall, as PostgreSQL names them (lower case).
const WALL_SETTINGS: &[&str] = &["search_path", "role", "session_authorization"];

/// The fix every refusal of this rule gives.
const FIX: &str = "leave `search_path` and the role to the runtime (`Tenant::begin` sets them for the tenant's transaction): qualify a shared name instead (`public.plans`), and run work that needs another role or path from an admin connection";

/// What a setting does, for the message.
fn what_it_guards(setting: &str) -> &'static str {
    if setting == "search_path" {
        "the schemas unqualified names resolve to, which in a schema tenant's transaction is the tenant's own schema"
    } else {
        "the role the statement runs as, which in a schema tenant's transaction is the tenant's role, the only one allowed into its schema"
    }
}

/// The wall setting `name` is, when it is one (setting names are
/// case-insensitive).
fn wall_setting(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    WALL_SETTINGS.iter().copied().find(|s| *s == lower)
}

/// The verdict on a `SET`/`RESET` statement: `Some` when it changes a wall
/// setting (or resets every setting).
pub(crate) fn set_statement(set: &protobuf::VariableSetStmt) -> Option<Refusal> {
    let kind = VariableSetKind::try_from(set.kind).unwrap_or(VariableSetKind::Undefined);
    if kind == VariableSetKind::VarResetAll {
        return Some(Refusal {
            rule: Rule::SearchPathOrRole,
            message: format!(
                "`RESET ALL` resets `search_path` to the session's default, and `search_path` is {} (rule search-path-or-role)",
                what_it_guards("search_path")
            ),
            fix: FIX.into(),
        });
    }
    if kind == VariableSetKind::VarSetMulti {
        return None;
    }
    let setting = wall_setting(&set.name)?;
    let verb = match kind {
        VariableSetKind::VarReset => "RESET",
        _ if set.is_local => "SET LOCAL",
        _ => "SET",
    };
    Some(Refusal {
        rule: Rule::SearchPathOrRole,
        message: format!(
            "`{verb} {setting}` changes `{setting}`, {} (rule search-path-or-role)",
            what_it_guards(setting)
        ),
        fix: FIX.into(),
    })
}

/// The verdict on a function call: `Some` when it is PostgreSQL's
/// `set_config` and its first argument names a wall setting or is not a
/// constant.
pub(crate) fn set_config_call(call: &protobuf::FuncCall) -> Option<Refusal> {
    let parts: Vec<&str> = call.funcname.iter().filter_map(string_value).collect();
    if !matches!(
        parts.as_slice(),
        ["set_config"] | ["pg_catalog", "set_config"] | [_, "pg_catalog", "set_config"]
    ) {
        return None;
    }
    let written = parts.join(".");
    let message = match call.args.first().and_then(constant) {
        Some(Constant::Text(name)) => {
            let setting = wall_setting(name)?;
            format!(
                "`{written}('{name}', ..)` changes `{setting}`, {} (rule search-path-or-role)",
                what_it_guards(setting)
            )
        }
        Some(Constant::Other) => return None,
        None => format!(
            "`{written}` is called with a setting name that is not a constant, so it could change `search_path` or `role`, which keep a schema tenant's transaction inside the tenant's schema (rule search-path-or-role)"
        ),
    };
    Some(Refusal {
        rule: Rule::SearchPathOrRole,
        message,
        fix: FIX.into(),
    })
}

/// The verdict on a write to the relation `schema.name` (the target of an
/// INSERT, UPDATE, DELETE or MERGE): `Some` for `pg_settings`.
pub(crate) fn settings_write(schema: Option<&str>, name: &str) -> Option<Refusal> {
    if name != "pg_settings" || !matches!(schema, None | Some("pg_catalog")) {
        return None;
    }
    Some(Refusal {
        rule: Rule::SearchPathOrRole,
        message: "writing `pg_settings` changes settings (an UPDATE calls `set_config` for each row, whichever setting it names), so it could change `search_path` or `role`, which keep a schema tenant's transaction inside the tenant's schema (rule search-path-or-role)".into(),
        fix: FIX.into(),
    })
}

/// What the first argument of a `set_config` call is.
enum Constant<'a> {
    /// A string constant (possibly under casts): the setting's name.
    Text(&'a str),
    /// Another constant (a number, NULL, ...): not a wall setting's name.
    Other,
}

fn constant(n: &protobuf::Node) -> Option<Constant<'_>> {
    match n.node.as_ref()? {
        NodeEnum::AConst(c) => match c.val.as_ref() {
            Some(protobuf::a_const::Val::Sval(s)) => Some(Constant::Text(&s.sval)),
            _ => Some(Constant::Other),
        },
        NodeEnum::TypeCast(cast) => cast.arg.as_deref().and_then(constant),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::{Analyzer, Binding, Config};

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

    /// Refused with this rule alone (in both binding modes).
    fn refused(sql: &str) {
        for analyzer in analyzers() {
            assert_eq!(
                rules_of(&analyzer, sql),
                ["search-path-or-role"],
                "{sql} ({:?})",
                analyzer.binding()
            );
        }
    }

    #[test]
    fn set_and_reset_of_the_path_and_the_role_are_refused() {
        for sql in [
            "SET search_path = tenant_t9_abcdef, public",
            "SET search_path TO DEFAULT",
            "SET LOCAL search_path TO 'tenant_t9_abcdef'",
            "SET SESSION search_path = public",
            "set Search_Path = public",
            "SET \"search_path\" = public",
            "SET \"SEARCH_PATH\" = public",
            "SET search_path FROM CURRENT",
            "RESET search_path",
            "SET SCHEMA 'tenant_t9_abcdef'",
            "SET role = postgres",
            "SET ROLE postgres",
            "SET ROLE NONE",
            "SET LOCAL ROLE tenant_t9_abcdef",
            "RESET ROLE",
            "RESET \"Role\"",
            "SET SESSION AUTHORIZATION postgres",
            "SET SESSION AUTHORIZATION DEFAULT",
            "RESET SESSION AUTHORIZATION",
            "SET session_authorization = 'postgres'",
            "RESET ALL",
        ] {
            refused(sql);
        }
    }

    #[test]
    fn the_message_names_the_setting() {
        let [strict, _] = analyzers();
        let analysis = strict.analyze("SET LOCAL ROLE postgres").unwrap();
        let v = analysis.violations().next().unwrap();
        assert!(
            v.message.starts_with("`SET LOCAL role` changes `role`"),
            "{v}"
        );
        assert!(v.fix.contains("Tenant::begin"), "{v}");
        let analysis = strict.analyze("RESET ALL").unwrap();
        let v = analysis.violations().next().unwrap();
        assert!(v.message.contains("`search_path`"), "{v}");
    }

    #[test]
    fn other_settings_stay_unsupported_statements() {
        for analyzer in analyzers() {
            for sql in [
                "SET statement_timeout = 0",
                "SET LOCAL app.tenant_id = 'acme'",
                "SET app.search_path = 'x'",
                "SET TIME ZONE 'UTC'",
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                "RESET statement_timeout",
                "SHOW search_path",
                "DISCARD ALL",
            ] {
                assert_eq!(rules_of(&analyzer, sql), ["unsupported-statement"], "{sql}");
            }
        }
    }

    #[test]
    fn set_config_of_the_path_or_the_role_is_refused() {
        for sql in [
            "SELECT set_config('search_path', 'tenant_t9_abcdef', true)",
            "SELECT pg_catalog.set_config('role', 'postgres', false)",
            "SELECT set_config('SEARCH_PATH', 'public', true)",
            "SELECT set_config('session_authorization', 'postgres', false)",
            "SELECT set_config('search_path'::text, 'public', true)",
            "SELECT * FROM set_config('role', 'postgres', true)",
            "SELECT 1 FROM plans WHERE set_config('role', 'postgres', true) IS NOT NULL",
            // Not a constant: which setting it changes cannot be told.
            "SELECT set_config($1, $2, true)",
            "SELECT set_config('search' || '_path', 'public', true)",
            "SELECT set_config(name, 'x', true) FROM plans",
            "SELECT set_config(lower('ROLE'), 'postgres', true)",
        ] {
            refused(sql);
        }
    }

    #[test]
    fn set_config_of_other_settings_stays_an_unsafe_function() {
        for analyzer in analyzers() {
            for sql in [
                "SELECT set_config('app.tenant_id', 'acme', true)",
                "SELECT set_config('statement_timeout', '0', false)",
                "SELECT public.set_config('search_path', 'x', true)",
            ] {
                assert_eq!(rules_of(&analyzer, sql), ["unsafe-function"], "{sql}");
            }
        }
    }

    #[test]
    fn writing_pg_settings_is_refused_and_reading_it_is_not() {
        refused("UPDATE pg_settings SET setting = 'tenant_t9_abcdef' WHERE name = 'search_path'");
        refused("UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'app.tenant_id'");
        for analyzer in analyzers() {
            assert_eq!(
                rules_of(
                    &analyzer,
                    "SELECT setting FROM pg_settings WHERE name = 'search_path'"
                ),
                Vec::<&str>::new()
            );
            assert_eq!(
                rules_of(
                    &analyzer,
                    "SELECT current_setting('search_path'), current_setting('role')"
                ),
                Vec::<&str>::new()
            );
        }
    }
}
