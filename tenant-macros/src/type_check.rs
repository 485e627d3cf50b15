//! `check_types = true` in `tenancy.toml`: besides the tenancy check, each
//! query is type-checked by sqlx's own macros, online against
//! `DATABASE_URL` or offline from the `.sqlx` data `cargo sqlx prepare`
//! writes. The check is a call of `sqlx::query!` (or `query_as!`,
//! `query_scalar!`) in code that never runs, over the SQL as sent to
//! PostgreSQL (`$tenant` rewritten to its `$n`) and the call's own
//! arguments: sqlx reports a column the row type lacks or mistypes, a
//! nullable column read into a non-`Option` field, a misspelled column and
//! a mistyped argument, at the call, and records the query for offline
//! builds. The query that runs is still the routed one.
//!
//! sqlx's macros name `::sqlx`, so the crate needs `sqlx` with its `macros`
//! feature as a dependency of its own.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::LitStr;
use tenant_core::Analysis;

use crate::query::{Flavor, QueryInput};

/// The dead-code sqlx call that type-checks one query.
pub fn sqlx_check(flavor: Flavor, input: &QueryInput, analysis: &Analysis) -> TokenStream {
    let rewritten = tenant_core::placeholder::rewrite(&input.sql.value()).sql;
    let sql = LitStr::new(&rewritten, input.sql.span());
    let args = input
        .args
        .iter()
        .map(|arg| quote_spanned! {arg.span()=> #arg });
    // The tenant's parameter: its id is text whatever the SQL casts it to
    // (`$tenant::uuid`), so sqlx is told not to check its type.
    let tenant = analysis.tenant_param.map(|_| quote! { "" as _ });
    let args = args.chain(tenant);
    let call = match (flavor, &input.row_type) {
        (Flavor::QueryAs, Some(row)) => quote! { ::sqlx::query_as!(#row, #sql, #(#args),*) },
        (Flavor::Scalar, _) => quote! { ::sqlx::query_scalar!(#sql, #(#args),*) },
        _ => quote! { ::sqlx::query!(#sql, #(#args),*) },
    };
    quote! {
        #[allow(unreachable_code, unused_variables, clippy::all)]
        if false {
            let _ = #call;
        }
    }
}
