//! Proc-macros of the tenant family: `tenant_query!`, `tenant_query_as!`,
//! `tenant_query_scalar!`, their `_file` forms (`tenant_query_file!`, ...)
//! and `#[derive(TenantTable)]`.
//!
//! Use them through `tenant_runtime`, which re-exports them; the generated
//! code names only `::tenant_runtime::...` paths. This crate is a thin shell:
//! the rules live in `tenant_core`, parsing and code generation in the
//! modules below, and the entry points here only load `tenancy.toml` and
//! convert token streams.
//!
//! ## Where `tenancy.toml` comes from
//! `$TENANCY_CONFIG` when set (a path, relative to the crate's manifest
//! directory), else the first `tenancy.toml` found from `CARGO_MANIFEST_DIR`
//! up to the workspace root, else the defaults. Generated code includes the
//! file with `include_bytes!`, so editing it recompiles the queries.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod config;
mod cross_tenant;
mod derive;
mod diag;
mod from_row;
mod query;
mod route;
mod type_check;

use query::{Call, Flavor};

/// Where a macro's output goes: an expression is wrapped in a block, items
/// are not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Expression,
    Items,
}

/// Runs `expand` with the crate's configuration. When the configuration
/// cannot be loaded, the first macro of the crate reports it (one error,
/// naming the file, line and column) and every macro, that one included,
/// expands to `fallback`: code of the right type with nothing checked, so
/// the crate shows no cascade of missing methods or mistyped expressions.
/// The build fails on the one error, so the unchecked code never runs.
fn with_config(
    position: Position,
    expand: impl FnOnce(&config::LoadedConfig) -> proc_macro2::TokenStream,
    fallback: impl FnOnce() -> proc_macro2::TokenStream,
) -> TokenStream {
    match config::load() {
        Ok(loaded) => expand(&loaded).into(),
        Err(message) => {
            let error = config::report_once(&format!("tenancy configuration: {message}"));
            let fallback = fallback();
            match position {
                Position::Expression => quote::quote!({ #error #fallback }).into(),
                Position::Items => quote::quote!(#error #fallback).into(),
            }
        }
    }
}

/// A query checked at compile time against the tenancy rules.
///
/// `tenant_query!(tenant, "SQL", args...)`: `tenant` is a `&Tenant`, the SQL
/// a string literal in which `$tenant` stands for the requesting tenant, and
/// `args` bind `$1`, `$2`, ... in order. Expands to a sqlx `Query` that runs
/// on a pool, connection or transaction. SQL that could touch another
/// tenant's rows is a compile error.
#[proc_macro]
pub fn tenant_query(input: TokenStream) -> TokenStream {
    let call = Call::inline(Flavor::Query);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// Like [`tenant_query!`], with rows decoded as a `sqlx::FromRow` type:
/// `tenant_query_as!(Form, tenant, "SQL", args...)`.
#[proc_macro]
pub fn tenant_query_as(input: TokenStream) -> TokenStream {
    let call = Call::inline(Flavor::QueryAs);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// Like [`tenant_query!`], yielding the first column of each row:
/// `tenant_query_scalar!(tenant, "SQL", args...)`.
#[proc_macro]
pub fn tenant_query_scalar(input: TokenStream) -> TokenStream {
    let call = Call::inline(Flavor::Scalar);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// A query across every tenant, on purpose: reports, support tooling,
/// maintenance. `cross_tenant_query!(cross_tenant, "SQL", args...)`, where
/// `cross_tenant` is a `&CrossTenant` from `Tenancy::cross_tenant`.
///
/// The SQL is parsed at compile time and refused unless it only reads
/// (`SELECT`, `VALUES`, `SHOW`, `EXPLAIN` of a read) or maintains (`VACUUM`,
/// `ANALYZE`, `REINDEX`, `REFRESH MATERIALIZED VIEW`), calling only
/// functions known to read; `cross_tenant_query!(cross_tenant, allow_writes,
/// "UPDATE ..", args...)` lifts that for a write made on purpose. Each
/// query is logged through `tracing` (target `tenant_runtime::cross_tenant`)
/// with its fingerprint, its purpose and its place in the source, and runs
/// as an unnamed statement, planned for its own arguments every time.
#[proc_macro]
pub fn cross_tenant_query(input: TokenStream) -> TokenStream {
    cross_tenant_entry(Flavor::Query, input)
}

/// Like [`cross_tenant_query!`], with rows decoded as a `FromRow` type:
/// `cross_tenant_query_as!(Row, cross_tenant, "SQL", args...)`.
#[proc_macro]
pub fn cross_tenant_query_as(input: TokenStream) -> TokenStream {
    cross_tenant_entry(Flavor::QueryAs, input)
}

/// Like [`cross_tenant_query!`], yielding the first column of each row.
#[proc_macro]
pub fn cross_tenant_query_scalar(input: TokenStream) -> TokenStream {
    cross_tenant_entry(Flavor::Scalar, input)
}

fn cross_tenant_entry(flavor: Flavor, input: TokenStream) -> TokenStream {
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| cross_tenant::expand(flavor, input.into(), loaded),
        || cross_tenant::fallback(flavor, fallback_input.into()),
    )
}

/// Like [`tenant_query!`], with the SQL read from a file at compile time:
/// `tenant_query_file!(tenant, "queries/report.sql", args...)`.
///
/// A relative path starts at the directory of the crate's `Cargo.toml` (as
/// in sqlx's `query_file!`). The file holds one statement, checked like an
/// inline one; errors give positions inside the file
/// (`queries/report.sql:3:6`), and editing the file recompiles the call.
#[proc_macro]
pub fn tenant_query_file(input: TokenStream) -> TokenStream {
    let call = Call::file(Flavor::Query);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// Like [`tenant_query_as!`], with the SQL read from a file:
/// `tenant_query_file_as!(Form, tenant, "queries/forms.sql", args...)`.
/// The path is resolved as in [`tenant_query_file!`].
#[proc_macro]
pub fn tenant_query_file_as(input: TokenStream) -> TokenStream {
    let call = Call::file(Flavor::QueryAs);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// Like [`tenant_query_scalar!`], with the SQL read from a file:
/// `tenant_query_file_scalar!(tenant, "queries/count.sql", args...)`.
/// The path is resolved as in [`tenant_query_file!`].
#[proc_macro]
pub fn tenant_query_file_scalar(input: TokenStream) -> TokenStream {
    let call = Call::file(Flavor::Scalar);
    let fallback_input = input.clone();
    with_config(
        Position::Expression,
        |loaded| query::expand(call, input.into(), loaded),
        || query::fallback(call, fallback_input.into()),
    )
}

/// Makes a struct a tenant table: LIST-partitioned on its tenant key, with
/// typed CRUD checked at compile time.
///
/// Struct attribute: `#[tenant(table = "forms")]` (default: the snake_case
/// name plus `s`), `#[tenant(from_row = false)]` when you implement
/// `sqlx::FromRow` yourself (a `#[derive(FromRow)]` written in its own
/// attribute after `#[derive(TenantTable)]` is detected automatically).
///
/// Field attributes: `key` (the tenant key; default: the field named like
/// the configured tenant column), `primary_key`, `unique`, `index`,
/// `default = "now()"`, `references = "forms(id)"`, `sql_type = "citext"`.
///
/// Generates `impl TenantTable` (table name and schema), `COLUMNS`, a
/// `sqlx::FromRow` impl, and `insert`, `list`, and with a primary key `find`,
/// `update` and `delete` (not with `forbid_delete = true`).
#[proc_macro_derive(TenantTable, attributes(tenant))]
pub fn derive_tenant_table(input: TokenStream) -> TokenStream {
    let fallback_input = input.clone();
    with_config(
        Position::Items,
        |loaded| derive::expand(input.into(), loaded),
        || derive::fallback(fallback_input.into()),
    )
}

/// `#[derive(FromRow)]`: a row type for `tenant_query_as!` (and sqlx's
/// `query_as`) without a direct sqlx dependency. Each named field is read
/// from the column of its name, or of `#[row(rename = "column")]`, with
/// `sqlx::Row::try_get`: an `Option` field accepts NULL, any other field
/// fails the row on NULL. Tenant tables need it not: `#[derive(TenantTable)]`
/// implements `FromRow` already.
#[proc_macro_derive(FromRow, attributes(row))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => from_row::expand(input).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `tenancy_config!()`: the configuration these macros checked the crate's
/// queries against, embedded at build time, as a `tenant_runtime::Config`.
///
/// Use it to build the `Tenancy`: a deployed binary then runs with exactly
/// the `tenancy.toml` its queries were checked against, wherever it runs and
/// whatever files are beside it. Editing the file rebuilds the crate.
#[proc_macro]
pub fn tenancy_config(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        let message = "tenancy_config!() takes no arguments: it embeds the tenancy.toml the query macros use (set TENANCY_CONFIG to choose another file)";
        return quote::quote!(::core::compile_error!(#message)).into();
    }
    let defaults = || quote::quote!(::tenant_runtime::Config::default());
    with_config(
        Position::Expression,
        |loaded| {
            let json = loaded.config.to_embedded();
            let origin = loaded.origin();
            let tracking = loaded.tracking_items();
            quote::quote! {{
                #tracking
                ::tenant_runtime::__private::embedded_config(#json, #origin)
            }}
        },
        defaults,
    )
}
