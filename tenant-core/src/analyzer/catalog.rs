//! What PostgreSQL itself provides: its built-in functions, the relations of
//! `pg_catalog` and `information_schema`, and its operators, each either
//! accepted by the analyzer or refused with a reason.
//!
//! The data is generated from a server's catalog into
//! [`catalog_list`](super::catalog_list) by `bash tenant-core/tools/gen_catalog.sh`
//! (the classification, with a reason for every refused family, is in
//! `tenant-core/tools/catalog.sql`); this module only looks it up. The policy
//! is an allowlist: a built-in function is accepted only when it is known not
//! to run SQL, read a relation's rows, the server's files, the WAL, a large
//! object, a sequence's state, statistics or other sessions' activity, and to
//! have no effect other tenants can see. Functions that are not built in
//! (extensions', users') are not here at all: the configuration decides them.
//!
//! Names are compared exactly, as the parser gives them: unquoted identifiers
//! arrive lower-cased, and a quoted `"Lower"` is not `lower`.

use super::catalog_list::{
    BUILTIN_FUNCTIONS, BUILTIN_OPERATORS, EXCLUDED_FUNCTIONS, EXCLUDED_OPERATORS, SYSTEM_RELATIONS,
};

/// The schema of PostgreSQL's own catalog, searched before any other.
const PG_CATALOG: &str = "pg_catalog";
/// The SQL-standard views of the catalog, found only when named.
const INFORMATION_SCHEMA: &str = "information_schema";

/// How the analyzer treats a relation of `pg_catalog` or `information_schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemRelation {
    /// Schema metadata, the same for every tenant: read without a tenant binding.
    Global,
    /// Holds data or statistics of user tables, other sessions' activity, the
    /// server's files or credentials: refused unless the configuration lists
    /// it among its global tables. The reason is for the error message.
    Refused(&'static str),
}

/// Whether `name` is a built-in function (of `pg_catalog`) the analyzer
/// accepts. False for a refused built-in (see [`excluded_builtin`]) and for
/// any name PostgreSQL does not provide, such as an extension's `dblink` or
/// `cron.schedule`'s `schedule`.
pub(crate) fn builtin_function(name: &str) -> bool {
    BUILTIN_FUNCTIONS.binary_search(&name).is_ok()
}

/// Why the built-in function `name` is refused; `None` when `name` is
/// accepted or is not a built-in function at all.
pub(crate) fn excluded_builtin(name: &str) -> Option<&'static str> {
    EXCLUDED_FUNCTIONS
        .binary_search_by(|&(candidate, _)| candidate.cmp(name))
        .ok()
        .map(|i| EXCLUDED_FUNCTIONS[i].1)
}

/// The relation `schema.name` of PostgreSQL's catalog, if it is one.
///
/// An unqualified name (`schema` is `None`) resolves as PostgreSQL resolves
/// it with the default search path: `pg_catalog` is searched first, so
/// `pg_class` is `pg_catalog.pg_class`, and `columns` is not
/// `information_schema.columns` (that schema is never searched implicitly).
/// `None` for a name in any other schema, or one the catalog does not have.
pub(crate) fn system_relation(schema: Option<&str>, name: &str) -> Option<SystemRelation> {
    let schema = match schema {
        None => PG_CATALOG,
        Some(s) if s == PG_CATALOG || s == INFORMATION_SCHEMA => s,
        Some(_) => return None,
    };
    SYSTEM_RELATIONS
        .binary_search_by(|&(s, n, _)| (s, n).cmp(&(schema, name)))
        .ok()
        .map(|i| match SYSTEM_RELATIONS[i].2 {
            None => SystemRelation::Global,
            Some(reason) => SystemRelation::Refused(reason),
        })
}

/// Whether the operator `symbol` (such as `||` or `@>`) is built in and every
/// operator PostgreSQL has under that symbol is implemented by an accepted
/// built-in function.
pub(crate) fn builtin_operator(symbol: &str) -> bool {
    BUILTIN_OPERATORS.binary_search(&symbol).is_ok()
}

/// Why the built-in operator `symbol` is refused (the refused functions that
/// implement it); `None` when it is accepted or not built in. No operator of
/// PostgreSQL 15 is refused.
pub(crate) fn excluded_operator(symbol: &str) -> Option<&'static str> {
    EXCLUDED_OPERATORS
        .binary_search_by(|&(candidate, _)| candidate.cmp(symbol))
        .ok()
        .map(|i| EXCLUDED_OPERATORS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_sorted_for_binary_search() {
        fn strictly_sorted<T: Ord>(items: impl Iterator<Item = T>) -> bool {
            let items: Vec<T> = items.collect();
            items.windows(2).all(|w| w[0] < w[1])
        }
        assert!(strictly_sorted(BUILTIN_FUNCTIONS.iter()));
        assert!(strictly_sorted(EXCLUDED_FUNCTIONS.iter().map(|e| e.0)));
        assert!(strictly_sorted(SYSTEM_RELATIONS.iter().map(|r| (r.0, r.1))));
        assert!(strictly_sorted(BUILTIN_OPERATORS.iter()));
        assert!(strictly_sorted(EXCLUDED_OPERATORS.iter().map(|e| e.0)));
    }

    #[test]
    fn a_function_is_either_accepted_or_excluded() {
        for name in BUILTIN_FUNCTIONS {
            assert_eq!(excluded_builtin(name), None, "{name}");
        }
        for (name, _) in EXCLUDED_FUNCTIONS {
            assert!(!builtin_function(name), "{name}");
        }
    }

    #[test]
    fn pure_built_in_functions_are_accepted() {
        for name in [
            "lower",
            "count",
            "jsonb_build_object",
            "now",
            "pg_advisory_xact_lock",
            "random",
            "gen_random_uuid",
            "current_setting",
            "pg_sleep",
            "format_type",
            "pg_get_viewdef",
            "has_table_privilege",
            "pg_table_is_visible",
            "obj_description",
            "to_tsvector",
            "generate_series",
            "unnest",
        ] {
            assert!(builtin_function(name), "{name}");
            assert_eq!(excluded_builtin(name), None, "{name}");
        }
    }

    #[test]
    fn built_in_functions_that_reach_beyond_the_statement_are_refused() {
        for name in [
            "setval",
            "nextval",
            "lo_get",
            "pg_stat_get_live_tuples",
            "pg_stat_get_activity",
            "pg_read_file",
            "query_to_xml",
            "pg_relation_size",
            "set_config",
            "pg_notify",
            "pg_terminate_backend",
            "txid_current",
            "pg_ls_dir",
            "pg_current_wal_lsn",
            "ts_stat",
            "brin_summarize_range",
        ] {
            assert!(!builtin_function(name), "{name}");
            assert!(excluded_builtin(name).is_some(), "{name}");
        }
        assert!(excluded_builtin("setval").unwrap().contains("sequence"));
        assert!(excluded_builtin("pg_read_file").unwrap().contains("files"));
        // Planner support: a selectivity estimator reads statistics.
        assert!(excluded_builtin("eqsel")
            .unwrap()
            .starts_with("not callable"));
    }

    #[test]
    fn functions_postgresql_does_not_provide_are_neither() {
        for name in [
            "dblink",
            "schedule",
            "cron.schedule",
            "pg_background_launch",
            "run_command_on_shards",
            "pg_get_wal_block_info",
            "LOWER",
            "",
        ] {
            assert!(!builtin_function(name), "{name}");
            assert_eq!(excluded_builtin(name), None, "{name}");
        }
    }

    #[test]
    fn catalog_relations_with_tenant_data_or_statistics_are_refused() {
        for name in [
            "pg_stats",
            "pg_statistic",
            "pg_class",
            "pg_stat_user_tables",
            "pg_stat_activity",
            "pg_statio_user_tables",
            "pg_largeobject",
            "pg_locks",
            "pg_sequences",
            "pg_hba_file_rules",
            "pg_file_settings",
        ] {
            assert!(
                matches!(
                    system_relation(None, name),
                    Some(SystemRelation::Refused(_))
                ),
                "{name}"
            );
            assert_eq!(
                system_relation(Some("pg_catalog"), name),
                system_relation(None, name)
            );
        }
        assert!(matches!(
            system_relation(Some("information_schema"), "user_mapping_options"),
            Some(SystemRelation::Refused(_))
        ));
    }

    #[test]
    fn catalog_metadata_is_global() {
        for name in [
            "pg_namespace",
            "pg_type",
            "pg_attribute",
            "pg_tables",
            "pg_statistic_ext",
        ] {
            assert_eq!(
                system_relation(None, name),
                Some(SystemRelation::Global),
                "{name}"
            );
        }
        for name in ["columns", "tables", "schemata"] {
            assert_eq!(
                system_relation(Some("information_schema"), name),
                Some(SystemRelation::Global),
                "{name}"
            );
        }
    }

    #[test]
    fn only_pg_catalog_is_searched_implicitly() {
        assert_eq!(system_relation(None, "columns"), None);
        assert_eq!(system_relation(Some("pg_catalog"), "columns"), None);
        assert_eq!(system_relation(Some("public"), "pg_class"), None);
        assert_eq!(
            system_relation(Some("information_schema"), "pg_class"),
            None
        );
        assert_eq!(system_relation(None, "orders"), None);
    }

    #[test]
    fn operators() {
        for symbol in ["=", "<>", "+", "||", "@>", "->>", "~~", "&&"] {
            assert!(builtin_operator(symbol), "{symbol}");
            assert_eq!(excluded_operator(symbol), None, "{symbol}");
        }
        for symbol in ["===", "", "=>"] {
            assert!(!builtin_operator(symbol), "{symbol}");
        }
    }
}
