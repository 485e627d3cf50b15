//! `tenant_query!`, `tenant_query_as!` and `tenant_query_scalar!`: parse the
//! macro input, analyse the SQL, and emit a sqlx query with the tenant bound
//! last (the analyzer rewrote `$tenant` to the parameter after the highest
//! `$n`).

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Token, Type};
use tenant_core::{Analysis, Analyzer};

use crate::config::LoadedConfig;
use crate::diag;

/// Which of the three query macros is expanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `tenant_query!`: rows as `PgRow`.
    Query,
    /// `tenant_query_as!`: rows as a `FromRow` type.
    QueryAs,
    /// `tenant_query_scalar!`: the first column of each row.
    Scalar,
}

impl Flavor {
    /// The macro's name as the user wrote it, for messages.
    pub fn macro_name(self) -> &'static str {
        match self {
            Flavor::Query => "tenant_query!",
            Flavor::QueryAs => "tenant_query_as!",
            Flavor::Scalar => "tenant_query_scalar!",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Flavor::Query => "tenant_query!(tenant, \"SQL with $tenant\", args...)",
            Flavor::QueryAs => "tenant_query_as!(RowType, tenant, \"SQL with $tenant\", args...)",
            Flavor::Scalar => "tenant_query_scalar!(tenant, \"SQL with $tenant\", args...)",
        }
    }
}

/// The parsed input of one query macro call.
pub struct QueryInput {
    /// The row type (`tenant_query_as!` only).
    pub row_type: Option<Type>,
    /// The expression that must be a `&Tenant`.
    pub tenant: Expr,
    /// The SQL literal.
    pub sql: LitStr,
    /// The values for `$1`, `$2`, ...
    pub args: Vec<Expr>,
}

impl QueryInput {
    fn parse(flavor: Flavor, input: ParseStream) -> syn::Result<Self> {
        let usage_error = |span: Span, what: &str| {
            syn::Error::new(span, format!("{what}; usage: {}", flavor.usage()))
        };
        if input.is_empty() {
            return Err(usage_error(Span::call_site(), "missing arguments"));
        }
        let row_type = if flavor == Flavor::QueryAs {
            let ty: Type = input.parse()?;
            input.parse::<Token![,]>()?;
            Some(ty)
        } else {
            None
        };
        if input.peek(LitStr) {
            return Err(usage_error(
                input.span(),
                "the first argument must be the tenant (a `&Tenant`), before the SQL",
            ));
        }
        let tenant: Expr = input.parse()?;
        if input.is_empty() {
            return Err(usage_error(
                tenant.span(),
                "missing the SQL string literal after the tenant",
            ));
        }
        input.parse::<Token![,]>()?;
        let sql = match input.parse::<Expr>()? {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => lit,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    format!(
                    "{}: the SQL must be a string literal, so it can be checked at compile time",
                    flavor.macro_name()
                ),
                ))
            }
        };
        let mut args = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            args.push(input.parse()?);
        }
        Ok(QueryInput {
            row_type,
            tenant,
            sql,
            args,
        })
    }
}

/// Expands one query macro call; errors become `compile_error!`.
pub fn expand(flavor: Flavor, input: TokenStream, loaded: &LoadedConfig) -> TokenStream {
    let parsed = match syn::parse::Parser::parse2(
        |stream: ParseStream| QueryInput::parse(flavor, stream),
        input,
    ) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    match check(flavor, &parsed, loaded) {
        Ok(analysis) => generate(flavor, &parsed, &analysis, loaded),
        Err(error) => {
            // Still type-check the tenant and the arguments so their own
            // mistakes show up in the same build, and evaluate to a query of
            // the right type so the caller's code does not cascade.
            let fallback = generate_fallback(flavor, &parsed);
            let error = error.to_compile_error();
            let tracking = loaded.tracking_items();
            quote! {{ #tracking #error #fallback }}
        }
    }
}

/// Analyses the SQL of one call; the error is spanned on the SQL literal.
pub fn check(flavor: Flavor, input: &QueryInput, loaded: &LoadedConfig) -> syn::Result<Analysis> {
    let name = flavor.macro_name();
    let sql = input.sql.value();
    let span = input.sql.span();
    let analyzer = Analyzer::new(loaded.config.clone());
    let analysis = analyzer
        .analyze(&sql)
        .map_err(|error| syn::Error::new(span, diag::parse_error(name, &sql, &error)))?;
    match analysis.statements.len() {
        0 => {
            return Err(syn::Error::new(
                span,
                format!("{name}: the SQL is empty; write one statement"),
            ))
        }
        1 => {}
        n => {
            return Err(syn::Error::new(
                span,
                format!(
                    "{name}: the SQL holds {n} statements; a prepared query runs exactly one, so make one call per statement"
                ),
            ))
        }
    }
    let violations: Vec<_> = analysis.violations().collect();
    if !violations.is_empty() {
        let mut message = diag::violations(name, &sql, &violations);
        if let Some(path) = &loaded.path {
            message.push_str(&format!("\n\n(configuration: {})", path.display()));
        }
        return Err(syn::Error::new(span, message));
    }
    let expected = user_param_count(&analysis);
    if input.args.len() != expected as usize {
        let got = input.args.len();
        let wanted = match expected {
            0 => "no arguments (the SQL uses no `$n` parameter)".to_string(),
            1 => "1 argument (for `$1`)".to_string(),
            n => format!("{n} arguments (for `$1` to `${n}`)"),
        };
        let message = format!(
            "{name}: the SQL needs {wanted} after the SQL string, but {got} {} given; `$tenant` is bound by the macro",
            if got == 1 { "was" } else { "were" }
        );
        // Too many: point at the first surplus argument; too few: at the SQL.
        let at = input
            .args
            .get(expected as usize)
            .map_or(span, Spanned::span);
        return Err(syn::Error::new(at, message));
    }
    Ok(analysis)
}

/// The highest `$n` the user wrote: every parameter but the tenant's.
pub fn user_param_count(analysis: &Analysis) -> u32 {
    match analysis.tenant_param {
        Some(tenant) => tenant.saturating_sub(1),
        None => analysis.param_count,
    }
}

fn constructor(flavor: Flavor, input: &QueryInput, sql: &LitStr) -> TokenStream {
    match (flavor, &input.row_type) {
        (Flavor::QueryAs, Some(ty)) => quote_spanned! {ty.span()=>
            ::tenant_runtime::__private::query_as::<#ty>(#sql)
        },
        (Flavor::Scalar, _) => quote! { ::tenant_runtime::__private::query_scalar(#sql) },
        _ => quote! { ::tenant_runtime::__private::query(#sql) },
    }
}

fn binds(input: &QueryInput) -> TokenStream {
    input
        .args
        .iter()
        .map(|arg| quote_spanned! {arg.span()=> .bind(#arg) })
        .collect()
}

fn routed_constructor(flavor: Flavor, input: &QueryInput, query: &Ident) -> TokenStream {
    let tenant_span = input.tenant.span();
    match (flavor, &input.row_type) {
        (Flavor::QueryAs, Some(ty)) => quote_spanned! {ty.span()=>
            ::tenant_runtime::__private::routed_query_as::<#ty>(__tenant, &#query)
        },
        (Flavor::Scalar, _) => quote_spanned! {tenant_span=>
            ::tenant_runtime::__private::routed_query_scalar(__tenant, &#query)
        },
        _ => quote_spanned! {tenant_span=>
            ::tenant_runtime::__private::routed_query(__tenant, &#query)
        },
    }
}

/// The query: a `static` with the SQL and its routing template, then the
/// tenant handle (evaluated once) picks the SQL to run.
fn generate(
    flavor: Flavor,
    input: &QueryInput,
    analysis: &Analysis,
    loaded: &LoadedConfig,
) -> TokenStream {
    let tracking = loaded.tracking_items();
    let query = Ident::new("__TENANT_QUERY", Span::mixed_site());
    let routed_static = crate::route::routed_static(&query, analysis);
    let start = routed_constructor(flavor, input, &query);
    let binds = binds(input);
    let tenant = &input.tenant;
    let tenant_span = tenant.span();
    let tail = if analysis.tenant_param.is_some() {
        quote_spanned! {tenant_span=> .bind(::tenant_runtime::__private::tenant_id(__tenant)) }
    } else {
        // Only global tables: nothing to bind.
        TokenStream::new()
    };
    // `match` evaluates the tenant expression once and keeps its temporaries
    // alive for the enclosing statement, as a plain expression would.
    let tenant_ref =
        quote_spanned! {tenant_span=> ::tenant_runtime::__private::tenant_ref(#tenant) };
    quote! {{
        #tracking
        #routed_static
        match #tenant_ref {
            __tenant => #start #binds #tail,
        }
    }}
}

/// What an erroneous call expands to besides its `compile_error!`.
fn generate_fallback(flavor: Flavor, input: &QueryInput) -> TokenStream {
    let sql = &input.sql;
    let start = constructor(flavor, input, sql);
    let binds = binds(input);
    let tenant = &input.tenant;
    let tail =
        quote_spanned! {tenant.span()=> .bind(::tenant_runtime::__private::tenant_id(#tenant)) };
    quote! { #start #binds #tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(flavor: Flavor, input: &str) -> String {
        expand(flavor, input.parse().unwrap(), &LoadedConfig::defaults()).to_string()
    }

    fn parse(flavor: Flavor, input: &str) -> syn::Result<QueryInput> {
        syn::parse::Parser::parse2(
            |stream: ParseStream| QueryInput::parse(flavor, stream),
            input.parse().unwrap(),
        )
    }

    #[test]
    fn parses_all_three_forms() {
        let q = parse(Flavor::Query, "&t, \"SELECT 1\", a, b + 1,").unwrap();
        assert_eq!(q.args.len(), 2);
        assert!(q.row_type.is_none());
        let q = parse(Flavor::QueryAs, "Form, tenant, \"SELECT 1\"").unwrap();
        assert!(q.row_type.is_some());
        assert!(q.args.is_empty());
        let q = parse(Flavor::Scalar, "t, r\"SELECT 1\", x").unwrap();
        assert_eq!(q.sql.value(), "SELECT 1");
    }

    #[test]
    fn rejects_sql_that_is_not_a_literal() {
        let err = parse(Flavor::Query, "t, sql_text, a").err().unwrap();
        assert!(
            err.to_string().contains("must be a string literal"),
            "{err}"
        );
    }

    #[test]
    fn rejects_sql_first() {
        let err = parse(Flavor::Query, "\"SELECT 1\", t").err().unwrap();
        assert!(
            err.to_string()
                .contains("first argument must be the tenant"),
            "{err}"
        );
        let err = parse(Flavor::Query, "").err().unwrap();
        assert!(err.to_string().contains("usage: tenant_query!"), "{err}");
    }

    #[test]
    fn binds_user_arguments_then_the_tenant() {
        let out = expand_str(
            Flavor::Query,
            "&tenant, \"SELECT id FROM forms WHERE tenant_id = $tenant AND id = $1 AND title = $2\", id, title",
        );
        assert!(
            out.contains(
                "parent_sql : \"SELECT id FROM forms WHERE tenant_id = $3 AND id = $1 AND title = $2\""
            ),
            "{out}"
        );
        // The routing template: the text around the one tenant table.
        assert!(out.contains("Borrowed (\"SELECT id FROM \")"), "{out}");
        assert!(out.contains("alias : :: core :: option :: Option :: Some (:: tenant_runtime :: __private :: Cow :: Borrowed (\" AS forms\"))"), "{out}");
        // The tenant expression is evaluated once, then bound last.
        assert_eq!(out.matches("& tenant").count(), 1, "{out}");
        let id = out.find(". bind (id)").expect(&out);
        let title = out.find(". bind (title)").expect(&out);
        let tenant = out.find("tenant_id (__tenant)").expect(&out);
        assert!(id < title && title < tenant, "{out}");
        assert!(
            out.contains(
                ":: tenant_runtime :: __private :: routed_query (__tenant , & __TENANT_QUERY)"
            ),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn query_as_and_scalar_use_their_constructors() {
        let out = expand_str(
            Flavor::QueryAs,
            "Form, t, \"SELECT id FROM forms WHERE tenant_id = $tenant\"",
        );
        assert!(
            out.contains("__private :: routed_query_as :: < Form >"),
            "{out}"
        );
        let out = expand_str(
            Flavor::Scalar,
            "t, \"SELECT count(*) FROM forms WHERE tenant_id = $tenant\"",
        );
        assert!(out.contains("__private :: routed_query_scalar ("), "{out}");
    }

    #[test]
    fn leak_is_one_compile_error_with_every_violation() {
        let out = expand_str(
            Flavor::Query,
            "t, \"SELECT 1 FROM forms f, submissions s WHERE f.id = s.form_id\"",
        );
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains(" problems)"), "{out}");
        assert_eq!(out.matches("error[unbound-table]").count(), 2, "{out}");
        assert!(out.contains("unbound-table"), "{out}");
    }

    #[test]
    fn argument_count_must_match() {
        let out = expand_str(
            Flavor::Query,
            "t, \"SELECT 1 FROM forms WHERE tenant_id = $tenant AND id = $1\"",
        );
        assert!(out.contains("needs 1 argument (for `$1`)"), "{out}");
        let out = expand_str(
            Flavor::Query,
            "t, \"SELECT 1 FROM forms WHERE tenant_id = $tenant\", a",
        );
        assert!(out.contains("needs no arguments"), "{out}");
    }

    #[test]
    fn parse_errors_carry_postgres_message() {
        let out = expand_str(Flavor::Query, "t, \"SELECT id\nFORM forms\"");
        assert!(out.contains("PostgreSQL cannot parse this SQL"), "{out}");
        assert!(out.contains("syntax error"), "{out}");
    }

    #[test]
    fn several_statements_are_refused() {
        let out = expand_str(
            Flavor::Query,
            "t, \"SELECT 1 FROM forms WHERE tenant_id = $tenant; SELECT 2 FROM forms WHERE tenant_id = $tenant\"",
        );
        assert!(out.contains("holds 2 statements"), "{out}");
    }

    #[test]
    fn global_only_query_binds_no_tenant_but_checks_it() {
        let loaded = LoadedConfig::from_toml("global_tables = [\"plans\"]");
        let out = expand(
            Flavor::Query,
            "t, \"SELECT id FROM plans WHERE id = $1\", id"
                .parse()
                .unwrap(),
            &loaded,
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("tenant_ref (t)"), "{out}");
        assert!(
            out.contains("slots : :: tenant_runtime :: __private :: Cow :: Borrowed (& [])"),
            "{out}"
        );
        assert_eq!(out.matches(". bind").count(), 1, "{out}");
    }
}
