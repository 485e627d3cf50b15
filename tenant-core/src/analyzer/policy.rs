//! Policy: which functions, operators, relations and statements a tenant
//! query may use beyond its tables.
//!
//! - **Functions by allowlist** (rule `unsafe-function`). A function the
//!   analyzer cannot look into could run SQL, read a table named by a
//!   string, a file, WAL, a large object, a sequence's state or statistics
//!   about relations, none of which the tenant predicate restricts. So a
//!   call is accepted only when it is a built-in function known to compute
//!   on its arguments alone (the generated list in `catalog`, from
//!   `tenant-core/tools/catalog.sql`), or the application declares it safe
//!   in `tenancy.toml` (`safe_functions`). Functions that run SQL text or
//!   change the tenant setting can never be declared safe.
//! - **Citus's shard-level functions** (still rule `unsafe-function`, its
//!   Citus case): on a Citus cluster, `run_command_on_*` run SQL text on
//!   every node, and `citus_*`, `worker_*` and `master_*` functions read,
//!   copy, split or move whole shards, which hold many tenants' rows. No
//!   declaration allows them in a tenant query.
//! - **Operators** are functions too: a user-defined operator is refused;
//!   built-in operator symbols are accepted.
//! - **System relations** (rule `system-relation`) are global unless they
//!   hold data or statistics of user tables (`pg_stats`, `pg_class`'s
//!   `reltuples`, `pg_stat_user_tables`, `pg_largeobject`, ...); those are
//!   refused unless `global_tables` lists them.
//! - **Plain EXPLAIN** shows planner estimates computed over every tenant's
//!   rows: refused unless `allow_explain = true`.

use super::catalog::{self, SystemRelation};
use crate::config::{Config, TableKind};
use crate::report::Rule;

/// Why something is refused: the rule, the message and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub rule: Rule,
    pub message: String,
    pub fix: String,
}

/// Functions that run SQL given as a string or read tables named by a
/// string: what they touch is invisible to the analyzer whatever the
/// application declares, so `safe_functions` cannot allow them. The schema
/// does not matter: `public.crosstab` is tablefunc's too. (`set_config`,
/// which changes settings, cannot be declared safe either: see
/// [`SET_CONFIG`].)
const NEVER_SAFE: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "ts_stat",
    "ts_rewrite",
    // tablefunc: the pivot and tree queries run SQL text or read a table by name.
    "crosstab",
    "crosstab2",
    "crosstab3",
    "crosstab4",
    "connectby",
    // xml2: reads a table named by a string.
    "xpath_table",
    // pg_cron, pg_background, Citus: run SQL text, now or later.
    "schedule",
    "schedule_in_database",
    "pg_background_launch",
];

/// The function that changes a setting of the session or the transaction:
/// the tenant setting, or (rule `search-path-or-role`, decided before this
/// policy) `search_path` and the role. Refused in every schema, and
/// `safe_functions` cannot allow it.
const SET_CONFIG: &str = "set_config";

/// Citus's functions that run SQL text on the cluster's nodes or work on
/// shards and placements (which hold the rows of many tenants) rather than
/// rows: whatever the application declares, a tenant query may not call
/// them. Matched by name in any schema, like [`NEVER_SAFE`].
const CITUS_SHARD_LEVEL_PREFIXES: &[&str] = &["run_command_on_", "citus_", "worker_", "master_"];

/// Citus's functions outside those families that distribute, split or
/// rebalance tables.
const CITUS_SHARD_LEVEL: &[&str] = &[
    "isolate_tenant_to_new_shard",
    "create_distributed_table",
    "create_distributed_table_concurrently",
    "create_reference_table",
    "undistribute_table",
    "alter_distributed_table",
    "rebalance_table_shards",
    "get_rebalance_table_shards_plan",
    "replicate_table_shards",
    "truncate_local_data_after_distributing_table",
];

/// `true` for a Citus function a tenant query may never call (see
/// [`CITUS_SHARD_LEVEL_PREFIXES`]).
fn is_citus_shard_level(name: &str) -> bool {
    CITUS_SHARD_LEVEL.contains(&name)
        || CITUS_SHARD_LEVEL_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// Name prefixes of function families that run SQL text or read a table
/// named by a string: dblink's `dblink('..', 'SELECT ..')`, pgRouting's
/// `pgr_dijkstra('SELECT id, source, target, cost FROM edges', ..)`.
const NEVER_SAFE_PREFIXES: &[&str] = &["dblink", "pgr_"];

/// The verdict on a call of the function named by `parts` (`[name]`,
/// `[schema, name]` or `[catalog, schema, name]`).
pub(crate) fn function(config: &Config, parts: &[&str]) -> Result<(), Refusal> {
    let (schema, name) = match parts {
        [name] => (None, *name),
        [schema, name] | [_, schema, name] => (Some(*schema), *name),
        _ => {
            return Err(Refusal {
                rule: Rule::UnsafeFunction,
                message: format!(
                    "function `{}` has a name the analyzer cannot resolve",
                    parts.join(".")
                ),
                fix: "call the function by its name or `schema.name`".into(),
            })
        }
    };
    let written = parts.join(".");
    if is_citus_shard_level(name) {
        return Err(Refusal {
            rule: Rule::UnsafeFunction,
            message: format!(
                "`{written}` is a Citus shard-level function: it runs SQL text on the cluster's nodes or reads, copies or moves whole shards, which hold many tenants' rows (rule unsafe-function, Citus)"
            ),
            fix: "run Citus's administration through the runtime (Tenancy::isolate, Tenancy::move_tenant) or an admin connection, not a tenant query; this function cannot be declared safe".into(),
        });
    }
    if name == SET_CONFIG {
        return Err(Refusal {
            rule: Rule::UnsafeFunction,
            message: format!(
                "`{written}` changes a setting of the session or the transaction (the tenant setting, `search_path`, the role, ...), which a tenant query may not do"
            ),
            fix: "leave settings to the runtime (`Tenant::begin` sets the tenant's) and read them with `current_setting`; this function cannot be declared safe".into(),
        });
    }
    if NEVER_SAFE.contains(&name) || NEVER_SAFE_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(Refusal {
            rule: Rule::UnsafeFunction,
            message: format!(
                "`{written}` runs SQL or reads tables named by a string, which the analyzer cannot check"
            ),
            fix: "query the tables directly so the analyzer can see them; this function cannot be declared safe".into(),
        });
    }
    if config.declares_safe_function(schema, name) {
        return Ok(());
    }
    let builtin_schema = matches!(schema, None | Some("pg_catalog"));
    if builtin_schema && catalog::builtin_function(name) {
        return Ok(());
    }
    let declare = format!("safe_functions = [\"{written}\"]");
    if builtin_schema {
        if let Some(reason) = catalog::excluded_builtin(name) {
            return Err(Refusal {
                rule: Rule::UnsafeFunction,
                message: format!(
                    "function `{written}` {reason}, across every tenant: the tenant predicate does not restrict it"
                ),
                fix: format!(
                    "leave it out of tenant queries (run it through an admin path); if you are sure it reveals nothing of other tenants, declare it in tenancy.toml: `{declare}`"
                ),
            });
        }
    }
    Err(Refusal {
        rule: Rule::UnsafeFunction,
        message: format!(
            "function `{written}` is not known to be safe: it is not a built-in function that only computes on its arguments, and the analyzer cannot see what it reads"
        ),
        fix: format!(
            "if it reads no table, file, sequence or statistics (it only computes on its arguments), declare it in tenancy.toml: `{declare}`"
        ),
    })
}

/// The verdict on an operator named by `parts` (`[symbol]` or
/// `[schema, symbol]` from `OPERATOR(schema.symbol)`).
pub(crate) fn operator(parts: &[&str]) -> Result<(), Refusal> {
    let (schema, symbol) = match parts {
        [symbol] => (None, *symbol),
        [schema, symbol] => (Some(*schema), *symbol),
        _ => (None, ""),
    };
    let builtin_schema = matches!(schema, None | Some("pg_catalog"));
    if builtin_schema && !symbol.is_empty() && catalog::builtin_operator(symbol) {
        return Ok(());
    }
    if let Some(reason) = builtin_schema
        .then(|| catalog::excluded_operator(symbol))
        .flatten()
    {
        return Err(Refusal {
            rule: Rule::UnsafeFunction,
            message: format!("operator `{}` {reason}", parts.join(".")),
            fix: "leave it out of tenant queries".into(),
        });
    }
    Err(Refusal {
        rule: Rule::UnsafeFunction,
        message: format!(
            "operator `{}` is not a built-in operator: the function behind it is not known to be safe",
            parts.join(".")
        ),
        fix: "call the function behind the operator by name, and declare it in `safe_functions` if it only computes on its arguments".into(),
    })
}

/// The verdict on a TABLESAMPLE method: the built-in `system` and
/// `bernoulli` sample the rows they are given; another method is an
/// extension's function, decided like any function.
pub(crate) fn tablesample_method(config: &Config, parts: &[&str]) -> Result<(), Refusal> {
    match parts {
        ["system" | "bernoulli"] | ["pg_catalog", "system" | "bernoulli"] => Ok(()),
        _ => function(config, parts),
    }
}

/// What a relation named in FROM or as a DML target is: what the
/// configuration says about it, else what the catalog policy says about a
/// system relation, else a tenant table (fail closed).
pub(crate) fn relation(
    config: &Config,
    schema: Option<&str>,
    name: &str,
) -> Result<TableKind, Refusal> {
    if let Some(kind) = config.configured_kind(schema, name) {
        return Ok(kind);
    }
    let system = catalog::system_relation(schema, name);
    if schema.is_none() && system.is_some() {
        // An unqualified system relation is pg_catalog's (searched first).
        if let Some(kind) = config.configured_kind(Some("pg_catalog"), name) {
            return Ok(kind);
        }
    }
    match system {
        Some(SystemRelation::Global) => Ok(TableKind::Global),
        Some(SystemRelation::Refused(reason)) => {
            let written = schema.map_or_else(|| name.to_string(), |s| format!("{s}.{name}"));
            let qualified = format!("{}.{name}", schema.unwrap_or("pg_catalog"));
            Err(Refusal {
                rule: Rule::SystemRelation,
                message: format!(
                    "system relation `{written}` {reason}: the tenant predicate cannot restrict it"
                ),
                fix: format!(
                    "leave it out of tenant queries; if it is safe for your application, list it in tenancy.toml: `global_tables = [\"{qualified}\"]`"
                ),
            })
        }
        None => Ok(config.table_kind(schema, name)),
    }
}

/// The verdict on a plain EXPLAIN.
pub(crate) fn explain(config: &Config) -> Result<(), Refusal> {
    if config.allow_explain {
        return Ok(());
    }
    Err(Refusal {
        rule: Rule::UnsupportedStatement,
        message: "plain `EXPLAIN` shows the planner's row estimates, computed from statistics over every tenant's rows".into(),
        fix: "run EXPLAIN outside tenant queries, or set `allow_explain = true` in tenancy.toml if estimates may show".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml_str(toml).unwrap()
    }

    #[test]
    fn builtin_pure_functions_pass_and_others_need_a_declaration() {
        let c = Config::default();
        assert!(function(&c, &["lower"]).is_ok());
        assert!(function(&c, &["pg_catalog", "count"]).is_ok());
        // A built-in name in another schema is another function.
        assert!(function(&c, &["public", "lower"]).is_err());
        let refused = function(&c, &["app", "slugify"]).unwrap_err();
        assert_eq!(refused.rule, Rule::UnsafeFunction);
        assert!(
            refused.fix.contains("safe_functions = [\"app.slugify\"]"),
            "{refused:?}"
        );
        let declared = config("safe_functions = [\"app.slugify\", \"Helper\"]");
        assert!(function(&declared, &["app", "slugify"]).is_ok());
        assert!(function(&declared, &["slugify"]).is_err());
        assert!(function(&declared, &["helper"]).is_ok());
        assert!(function(&declared, &["public", "helper"]).is_ok());
        assert!(function(&declared, &["other", "helper"]).is_err());
    }

    #[test]
    fn excluded_builtins_say_why_and_can_be_declared() {
        let c = Config::default();
        let refused = function(&c, &["setval"]).unwrap_err();
        assert!(refused.message.contains("sequence"), "{refused:?}");
        assert!(function(&config("safe_functions = [\"nextval\"]"), &["nextval"]).is_ok());
    }

    #[test]
    fn sql_runners_can_never_be_declared_safe() {
        let declared = config(
            "safe_functions = [\"dblink\", \"cron.schedule\", \"set_config\", \"crosstab\"]",
        );
        for parts in [
            &["dblink"][..],
            &["cron", "schedule"],
            &["set_config"],
            &["public", "crosstab"],
            &["pg_background_launch"],
            &["run_command_on_shards"],
        ] {
            let refused = function(&declared, parts).unwrap_err();
            assert!(refused.fix.contains("cannot be declared safe"), "{parts:?}");
        }
    }

    #[test]
    fn citus_shard_level_functions_are_refused_even_when_declared() {
        let declared = config(
            "safe_functions = [\"run_command_on_workers\", \"citus_move_shard_placement\", \"worker_split_copy\", \"master_get_table_ddl_events\", \"isolate_tenant_to_new_shard\"]",
        );
        for parts in [
            &["run_command_on_shards"][..],
            &["run_command_on_workers"],
            &["pg_catalog", "run_command_on_placements"],
            &["run_command_on_colocated_placements"],
            &["run_command_on_all_nodes"],
            &["run_command_on_coordinator"],
            &["citus_move_shard_placement"],
            &["pg_catalog", "citus_copy_shard_placement"],
            &["citus_split_shard_by_split_points"],
            &["citus_shard_sizes"],
            &["worker_split_copy"],
            &["master_get_table_ddl_events"],
            &["isolate_tenant_to_new_shard"],
            &["create_distributed_table"],
            &["public", "rebalance_table_shards"],
        ] {
            let refused = function(&declared, parts).unwrap_err();
            assert_eq!(refused.rule, Rule::UnsafeFunction, "{parts:?}");
            assert!(refused.message.contains("Citus"), "{parts:?}: {refused:?}");
            assert!(refused.fix.contains("cannot be declared safe"), "{parts:?}");
        }
        // A name that merely contains the family's word is another function.
        assert!(function(
            &config("safe_functions = [\"app.my_citus_helper\"]"),
            &["app", "my_citus_helper"]
        )
        .is_ok());
    }

    #[test]
    fn builtin_tablesample_methods_pass() {
        let c = Config::default();
        assert!(tablesample_method(&c, &["system"]).is_ok());
        assert!(tablesample_method(&c, &["bernoulli"]).is_ok());
        assert!(tablesample_method(&c, &["system_rows"]).is_err());
        // Called as functions, the handlers are refused.
        assert!(function(&c, &["system"]).is_err());
    }

    #[test]
    fn user_operators_are_refused() {
        assert!(operator(&["="]).is_ok());
        assert!(operator(&["pg_catalog", "="]).is_ok());
        assert!(operator(&["public", "="]).is_err());
        assert!(operator(&["=~="]).is_err());
    }

    #[test]
    fn system_relations_are_global_unless_they_hold_statistics() {
        let c = Config::default();
        assert_eq!(relation(&c, None, "pg_namespace"), Ok(TableKind::Global));
        let refused = relation(&c, Some("pg_catalog"), "pg_stats").unwrap_err();
        assert_eq!(refused.rule, Rule::SystemRelation);
        assert!(refused.fix.contains("pg_catalog.pg_stats"), "{refused:?}");
        let allowed = config("global_tables = [\"pg_catalog.pg_class\"]");
        assert_eq!(
            relation(&allowed, Some("pg_catalog"), "pg_class"),
            Ok(TableKind::Global)
        );
        assert_eq!(relation(&allowed, None, "pg_class"), Ok(TableKind::Global));
        assert!(matches!(
            relation(&c, None, "forms"),
            Ok(TableKind::Tenant { .. })
        ));
    }

    #[test]
    fn explain_is_refused_unless_allowed() {
        assert!(explain(&Config::default()).is_err());
        assert!(explain(&config("allow_explain = true")).is_ok());
    }
}
