//! The cross-tenant macros: `cross_tenant_query!`, `cross_tenant_query_as!`
//! and `cross_tenant_query_scalar!`. The SQL reads every tenant's rows on
//! purpose; it is parsed at compile time and refused unless it only reads or
//! maintains (`tenant_core::analyze_cross_tenant`), or the call writes
//! `allow_writes`. The handle must be a `&CrossTenant`, which only a
//! `Tenancy` hands out, and each query is logged with its fingerprint when
//! built.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Token, Type};
use tenant_core::{analyze_cross_tenant, CrossTenantAccess, CrossTenantAnalysis};

use crate::config::LoadedConfig;
use crate::diag;
use crate::query::{
    argument_count, one_statement, parse_args, parse_row_type, string_literal, Flavor,
};

/// The keyword that lets a call write across tenants.
const ALLOW_WRITES: &str = "allow_writes";

fn macro_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Query => "cross_tenant_query!",
        Flavor::QueryAs => "cross_tenant_query_as!",
        Flavor::Scalar => "cross_tenant_query_scalar!",
    }
}

fn usage(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Query => "cross_tenant_query!(cross_tenant, [allow_writes,] \"SQL\", args...)",
        Flavor::QueryAs => {
            "cross_tenant_query_as!(RowType, cross_tenant, [allow_writes,] \"SQL\", args...)"
        }
        Flavor::Scalar => {
            "cross_tenant_query_scalar!(cross_tenant, [allow_writes,] \"SQL\", args...)"
        }
    }
}

/// The parsed input of one call.
pub struct CrossTenantInput {
    row_type: Option<Type>,
    handle: Expr,
    access: CrossTenantAccess,
    sql: LitStr,
    args: Vec<Expr>,
}

impl CrossTenantInput {
    fn parse(flavor: Flavor, input: ParseStream) -> syn::Result<Self> {
        let usage_error = |span: Span, what: &str| {
            syn::Error::new(span, format!("{what}; usage: {}", usage(flavor)))
        };
        if input.is_empty() {
            return Err(usage_error(Span::call_site(), "missing arguments"));
        }
        let row_type = parse_row_type(flavor, input)?;
        if input.peek(LitStr) {
            return Err(usage_error(
                input.span(),
                "the first argument must be the cross-tenant handle (`&CrossTenant`, from `Tenancy::cross_tenant`), before the SQL",
            ));
        }
        let handle: Expr = input.parse()?;
        if input.is_empty() {
            return Err(usage_error(
                handle.span(),
                "missing the SQL string literal after the handle",
            ));
        }
        input.parse::<Token![,]>()?;
        let mut access = CrossTenantAccess::ReadOnly;
        if input.peek(syn::Ident) && input.peek2(Token![,]) {
            let word: syn::Ident = input.parse()?;
            if word != ALLOW_WRITES {
                return Err(usage_error(
                    word.span(),
                    &format!("unknown option `{word}` (the only option is `{ALLOW_WRITES}`)"),
                ));
            }
            input.parse::<Token![,]>()?;
            access = CrossTenantAccess::AllowWrites;
        }
        let expr = input.parse::<Expr>()?;
        let sql = match string_literal(&expr) {
            Some(lit) => lit,
            None => {
                let other = &expr;
                return Err(syn::Error::new(
                    other.span(),
                    format!(
                    "{}: the SQL must be a string literal, so it can be checked at compile time",
                    macro_name(flavor)
                ),
                ));
            }
        };
        let args = parse_args(input)?;
        Ok(CrossTenantInput {
            row_type,
            handle,
            access,
            sql,
            args,
        })
    }
}

/// Expands one call.
pub fn expand(flavor: Flavor, input: TokenStream, loaded: &LoadedConfig) -> TokenStream {
    let parsed = match syn::parse::Parser::parse2(
        |stream: ParseStream| CrossTenantInput::parse(flavor, stream),
        input,
    ) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    let tracking = loaded.tracking_items();
    match check(flavor, &parsed, loaded) {
        Ok(analysis) => {
            let query = generate(flavor, &parsed, &analysis);
            quote! {{ #tracking #query }}
        }
        Err(error) => {
            let error = error.to_compile_error();
            let fallback = generate_fallback(flavor, &parsed);
            quote! {{ #tracking #error #fallback }}
        }
    }
}

/// The call with its SQL unchecked, for when the configuration cannot load.
pub fn fallback(flavor: Flavor, input: TokenStream) -> TokenStream {
    match syn::parse::Parser::parse2(
        |stream: ParseStream| CrossTenantInput::parse(flavor, stream),
        input,
    ) {
        Ok(parsed) => generate_fallback(flavor, &parsed),
        Err(error) => error.to_compile_error(),
    }
}

fn check(
    flavor: Flavor,
    input: &CrossTenantInput,
    loaded: &LoadedConfig,
) -> syn::Result<CrossTenantAnalysis> {
    let name = macro_name(flavor);
    let sql = input.sql.value();
    let span = input.sql.span();
    let analysis = analyze_cross_tenant(&sql, &loaded.config, input.access).map_err(|error| {
        syn::Error::new(span, diag::parse_error(name, diag::INLINE, &sql, &error))
    })?;
    one_statement(name, "the SQL", analysis.statements, span)?;
    if !analysis.is_ok() {
        let violations: Vec<_> = analysis.violations.iter().collect();
        let message = diag::violations(name, diag::INLINE, &sql, &violations).replacen(
            "the tenancy check refused this SQL",
            "the cross-tenant check refused this SQL",
            1,
        );
        return Err(syn::Error::new(span, message));
    }
    argument_count(
        name,
        "the SQL",
        "SQL string",
        analysis.param_count as usize,
        &input.args,
        span,
        "",
    )?;
    Ok(analysis)
}

fn binds(input: &CrossTenantInput) -> TokenStream {
    input
        .args
        .iter()
        .map(|arg| quote_spanned! {arg.span()=> .bind(#arg) })
        .collect()
}

fn constructor(flavor: Flavor, input: &CrossTenantInput, statement: TokenStream) -> TokenStream {
    let p = quote! { ::tenant_runtime::__private };
    let handle_span = input.handle.span();
    match (flavor, &input.row_type) {
        (Flavor::QueryAs, Some(ty)) => quote_spanned! {ty.span()=>
            #p::cross_tenant_query_as::<#ty>(__cross_tenant, #statement)
        },
        (Flavor::Scalar, _) => quote_spanned! {handle_span=>
            #p::cross_tenant_query_scalar(__cross_tenant, #statement)
        },
        _ => quote_spanned! {handle_span=>
            #p::cross_tenant_query(__cross_tenant, #statement)
        },
    }
}

fn generate(
    flavor: Flavor,
    input: &CrossTenantInput,
    analysis: &CrossTenantAnalysis,
) -> TokenStream {
    let p = quote! { ::tenant_runtime::__private };
    let sql = &input.sql;
    let fingerprint = &analysis.fingerprint;
    let kind = analysis.kind;
    let writes = analysis.writes;
    let statement = quote! { &__CROSS_TENANT_STATEMENT };
    let start = constructor(flavor, input, statement);
    let binds = binds(input);
    let handle = &input.handle;
    let handle_ref = quote_spanned! {handle.span()=> #p::cross_tenant_ref(#handle) };
    quote! {
        static __CROSS_TENANT_STATEMENT: #p::CrossTenantStatement = #p::CrossTenantStatement {
            sql: #sql,
            fingerprint: #fingerprint,
            kind: #kind,
            writes: #writes,
            location: ::core::concat!(::core::file!(), ":", ::core::line!()),
        };
        match #handle_ref {
            __cross_tenant => #start #binds,
        }
    }
}

fn generate_fallback(flavor: Flavor, input: &CrossTenantInput) -> TokenStream {
    let p = quote! { ::tenant_runtime::__private };
    let sql = &input.sql;
    let statement = quote! {
        &#p::CrossTenantStatement {
            sql: #sql,
            fingerprint: "",
            kind: "",
            writes: true,
            location: "",
        }
    };
    let start = constructor(flavor, input, statement);
    let binds = binds(input);
    let handle = &input.handle;
    let handle_ref = quote_spanned! {handle.span()=> #p::cross_tenant_ref(#handle) };
    quote! {
        match #handle_ref {
            __cross_tenant => #start #binds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(flavor: Flavor, input: &str) -> String {
        expand(flavor, input.parse().unwrap(), &LoadedConfig::defaults()).to_string()
    }

    #[test]
    fn a_read_expands_to_a_logged_query_with_its_fingerprint() {
        let out = expand_str(
            Flavor::Query,
            r#"&admin, "SELECT tenant_id, count(*) FROM forms WHERE id > $1 GROUP BY 1", 10_i64"#,
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("cross_tenant_query (__cross_tenant"), "{out}");
        assert!(out.contains("kind : \"SELECT\""), "{out}");
        assert!(out.contains("writes : false"), "{out}");
        assert!(out.contains(". bind (10_i64)"), "{out}");
        let fingerprint = tenant_core::fingerprint(
            "SELECT tenant_id, count(*) FROM forms WHERE id > $1 GROUP BY 1",
        )
        .unwrap();
        assert!(out.contains(&fingerprint), "{out}");
    }

    #[test]
    fn a_write_needs_allow_writes() {
        let refused = expand_str(
            Flavor::Query,
            r#"&admin, "DELETE FROM forms WHERE id < $1", 5"#,
        );
        assert!(refused.contains("compile_error"), "{refused}");
        assert!(refused.contains("cross-tenant-write"), "{refused}");
        assert!(refused.contains("allow_writes"), "{refused}");
        let allowed = expand_str(
            Flavor::Query,
            r#"&admin, allow_writes, "DELETE FROM forms WHERE id < $1", 5"#,
        );
        assert!(!allowed.contains("compile_error"), "{allowed}");
        assert!(allowed.contains("writes : true"), "{allowed}");
    }

    #[test]
    fn mistakes_in_the_call_are_named() {
        let out = expand_str(Flavor::Query, r#"&admin, allow_everything, "SELECT 1""#);
        assert!(out.contains("unknown option `allow_everything`"), "{out}");
        let out = expand_str(Flavor::Query, r#""SELECT 1""#);
        assert!(
            out.contains("the first argument must be the cross-tenant handle"),
            "{out}"
        );
        let out = expand_str(Flavor::Query, r#"&admin, "SELECT $1, $2", 1"#);
        assert!(out.contains("needs 2 arguments"), "{out}");
        let out = expand_str(Flavor::QueryAs, r#"Row, &admin, "SELECT 1; SELECT 2""#);
        assert!(out.contains("holds 2 statements"), "{out}");
    }
}
