//! TEMPORARY stub of the generated catalog lists (replaced by the generated
//! module from tenant-core/tools/gen_catalog.sh).

/// What the analyzer makes of a system relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemRelation {
    /// Shared by every tenant: no restriction needed.
    Global,
    /// Holds other tenants' data or statistics: refused, for this reason.
    Refused(&'static str),
}

const FUNCTIONS: &[&str] = &[
    "abs",
    "array_agg",
    "bernoulli",
    "btrim",
    "coalesce",
    "count",
    "current_setting",
    "extract",
    "format",
    "gen_random_uuid",
    "generate_series",
    "jsonb_array_elements",
    "jsonb_build_object",
    "jsonb_to_record",
    "length",
    "lower",
    "max",
    "min",
    "now",
    "random",
    "row_number",
    "string_agg",
    "sum",
    "system",
    "unnest",
    "upper",
];

pub(crate) fn builtin_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

pub(crate) fn excluded_builtin(name: &str) -> Option<&'static str> {
    match name {
        "setval" | "nextval" => Some("reads or changes a sequence's state"),
        "lo_get" => Some("reads a large object"),
        _ if name.starts_with("pg_stat_") => Some("reads statistics about relations"),
        _ => None,
    }
}

pub(crate) fn system_relation(schema: Option<&str>, name: &str) -> Option<SystemRelation> {
    match (schema, name) {
        (None | Some("pg_catalog"), "pg_stats" | "pg_class") => Some(SystemRelation::Refused(
            "holds statistics of every tenant's rows",
        )),
        (None | Some("pg_catalog"), "pg_namespace" | "pg_type") => Some(SystemRelation::Global),
        _ => None,
    }
}

pub(crate) fn builtin_operator(symbol: &str) -> bool {
    [
        "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "||", "~~", "!~~", "~~*", "!~~*",
        "~", "!~", "@>", "<@", "->", "->>", "#>", "#>>", "?", "&&",
    ]
    .contains(&symbol)
}
