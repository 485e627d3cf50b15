//! `check_types = true` in `tenancy.toml`: besides the tenancy check, each
//! query is type-checked by sqlx's own macros, online against
//! `DATABASE_URL` or offline from the `.sqlx` data `cargo sqlx prepare`
//! writes, over the SQL as sent to PostgreSQL (`$tenant` rewritten to its
//! `$n`) and the call's own arguments. sqlx reports a column the row type
//! lacks or mistypes, a nullable column read into a non-`Option` field, a
//! misspelled column and a mistyped argument, at the call, and records the
//! query for offline builds.
//!
//! - `tenant_query!` and `tenant_query_scalar!` run sqlx's code: the call
//!   is `sqlx::query!` (rows are its anonymous records) or
//!   `sqlx::query_scalar!` (the value has the type sqlx infers), handed to
//!   `__private::checked`, which sends the tenant's routed SQL in place of
//!   the literal.
//! - `tenant_query_as!` keeps its `FromRow` decoding and adds a
//!   `sqlx::query_as!` call in code that never runs.
//!
//! The tenant's parameter is checked too: the runtime binds the id as
//! `text`, so where the SQL leaves the parameter's type to its context
//! (`tenant_id = $tenant`) that type must accept a `&str`; where the SQL
//! casts it (`$tenant::uuid`) PostgreSQL converts the text and sqlx is told
//! not to compare.
//!
//! sqlx's macros name `::sqlx`, so the crate needs `sqlx` with its `macros`
//! feature as a dependency of its own.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::LitStr;
use tenant_core::Analysis;

use crate::query::{Flavor, QueryInput};

/// Whether the call runs sqlx's code (rather than only being checked by it).
pub fn runs_sqlx_code(flavor: Flavor, input: &QueryInput) -> bool {
    !matches!((flavor, &input.row_type), (Flavor::QueryAs, Some(_)))
}

/// The `sqlx::query!`-family call over the call's SQL, with `tenant` as the
/// value of the tenant's parameter.
fn sqlx_call(
    flavor: Flavor,
    input: &QueryInput,
    analysis: &Analysis,
    tenant: TokenStream,
) -> TokenStream {
    let rewritten = tenant_core::placeholder::rewrite(&input.sql.value()).sql;
    let sql = LitStr::new(&rewritten, input.sql.span());
    let args = input
        .args
        .iter()
        .map(|arg| quote_spanned! {arg.span()=> #arg });
    let tenant_span = input.tenant.span();
    let tenant = analysis.tenant_param.map(|_| {
        if analysis.tenant_param_cast {
            quote_spanned! {tenant_span=> #tenant as _ }
        } else {
            quote_spanned! {tenant_span=> #tenant }
        }
    });
    let args = args.chain(tenant);
    match (flavor, &input.row_type) {
        (Flavor::QueryAs, Some(row)) => quote! { ::sqlx::query_as!(#row, #sql, #(#args),*) },
        (Flavor::Scalar, _) => quote! { ::sqlx::query_scalar!(#sql, #(#args),*) },
        _ => quote! { ::sqlx::query!(#sql, #(#args),*) },
    }
}

/// For `tenant_query_as!`: the dead-code sqlx call that type-checks it.
pub fn dead_code_check(flavor: Flavor, input: &QueryInput, analysis: &Analysis) -> TokenStream {
    // A `&str` like the id the runtime binds.
    let call = sqlx_call(flavor, input, analysis, quote! { "" });
    quote! {
        #[allow(unreachable_code, unused_variables, clippy::all)]
        if false {
            let _ = #call;
        }
    }
}

/// For `tenant_query!` and `tenant_query_scalar!`: sqlx's query for the
/// call, run on the tenant `__tenant` names with the routed SQL of the
/// `static` `query`.
pub fn checked_query(
    flavor: Flavor,
    input: &QueryInput,
    analysis: &Analysis,
    query: &Ident,
) -> TokenStream {
    let tenant_span = input.tenant.span();
    let tenant_id = quote_spanned! {tenant_span=>
        ::tenant_runtime::__private::tenant_id(__tenant)
    };
    let call = sqlx_call(flavor, input, analysis, tenant_id);
    quote_spanned! {tenant_span=>
        ::tenant_runtime::__private::checked(__tenant, &#query, #call)
    }
}
