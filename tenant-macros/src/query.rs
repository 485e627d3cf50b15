//! The query macros: `tenant_query!`, `tenant_query_as!`,
//! `tenant_query_scalar!` and their `_file` forms, which read the SQL from a
//! file. Parse the macro input, analyse the SQL, and emit a sqlx query with
//! the tenant bound last (the analyzer rewrote `$tenant` to the parameter
//! after the highest `$n`).

use std::path::{Path, PathBuf};

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Token, Type};
use tenant_core::{Analysis, Analyzer};

use crate::config::LoadedConfig;
use crate::diag;
use crate::type_check;

/// What the query yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `tenant_query!`: rows as `PgRow`.
    Query,
    /// `tenant_query_as!`: rows as a `FromRow` type.
    QueryAs,
    /// `tenant_query_scalar!`: the first column of each row.
    Scalar,
}

/// Where the SQL of a call is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// In the call, as a string literal: `tenant_query!(tenant, "SELECT ..")`.
    Inline,
    /// In a file named by a path literal relative to the crate's manifest
    /// directory: `tenant_query_file!(tenant, "queries/report.sql")`.
    File,
}

/// One of the six query macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// What the query yields.
    pub flavor: Flavor,
    /// Where its SQL is written.
    pub source: Source,
}

impl Call {
    /// A call with SQL written inline.
    pub const fn inline(flavor: Flavor) -> Self {
        Call {
            flavor,
            source: Source::Inline,
        }
    }

    /// A call that reads its SQL from a file.
    pub const fn file(flavor: Flavor) -> Self {
        Call {
            flavor,
            source: Source::File,
        }
    }

    /// The macro's name as the user wrote it, for messages.
    pub fn macro_name(self) -> &'static str {
        match (self.flavor, self.source) {
            (Flavor::Query, Source::Inline) => "tenant_query!",
            (Flavor::QueryAs, Source::Inline) => "tenant_query_as!",
            (Flavor::Scalar, Source::Inline) => "tenant_query_scalar!",
            (Flavor::Query, Source::File) => "tenant_query_file!",
            (Flavor::QueryAs, Source::File) => "tenant_query_file_as!",
            (Flavor::Scalar, Source::File) => "tenant_query_file_scalar!",
        }
    }

    fn usage(self) -> &'static str {
        match (self.flavor, self.source) {
            (Flavor::Query, Source::Inline) => {
                "tenant_query!(tenant, \"SQL with $tenant\", args...)"
            }
            (Flavor::QueryAs, Source::Inline) => {
                "tenant_query_as!(RowType, tenant, \"SQL with $tenant\", args...)"
            }
            (Flavor::Scalar, Source::Inline) => {
                "tenant_query_scalar!(tenant, \"SQL with $tenant\", args...)"
            }
            (Flavor::Query, Source::File) => {
                "tenant_query_file!(tenant, \"path/to/query.sql\", args...)"
            }
            (Flavor::QueryAs, Source::File) => {
                "tenant_query_file_as!(RowType, tenant, \"path/to/query.sql\", args...)"
            }
            (Flavor::Scalar, Source::File) => {
                "tenant_query_file_scalar!(tenant, \"path/to/query.sql\", args...)"
            }
        }
    }

    /// What the literal after the tenant is, for messages.
    fn literal_name(self) -> &'static str {
        match self.source {
            Source::Inline => "the SQL string literal",
            Source::File => "the path of the SQL file (a string literal)",
        }
    }
}

/// The file a `_file` macro read its SQL from.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// The path as the call wrote it: what messages show.
    pub written: String,
    /// Where it was read: the path resolved against the manifest directory.
    pub resolved: PathBuf,
}

/// The parsed input of one query macro call.
pub struct QueryInput {
    /// The row type (`tenant_query_as!` only).
    pub row_type: Option<Type>,
    /// The expression that must be a `&Tenant`.
    pub tenant: Expr,
    /// The SQL: the literal itself, or the file's text spanned on the path
    /// literal.
    pub sql: LitStr,
    /// The file the SQL came from (`_file` macros only).
    pub file: Option<SqlFile>,
    /// The values for `$1`, `$2`, ...
    pub args: Vec<Expr>,
}

impl QueryInput {
    fn parse(call: Call, input: ParseStream) -> syn::Result<Self> {
        let flavor = call.flavor;
        let usage_error = |span: Span, what: &str| {
            syn::Error::new(span, format!("{what}; usage: {}", call.usage()))
        };
        if input.is_empty() {
            return Err(usage_error(Span::call_site(), "missing arguments"));
        }
        let row_type = parse_row_type(flavor, input)?;
        if input.peek(LitStr) {
            return Err(usage_error(
                input.span(),
                match call.source {
                    Source::Inline => {
                        "the first argument must be the tenant (a `&Tenant`), before the SQL"
                    }
                    Source::File => {
                        "the first argument must be the tenant (a `&Tenant`), before the path"
                    }
                },
            ));
        }
        let tenant: Expr = input.parse()?;
        if input.is_empty() {
            return Err(usage_error(
                tenant.span(),
                &format!("missing {} after the tenant", call.literal_name()),
            ));
        }
        input.parse::<Token![,]>()?;
        let expr = input.parse::<Expr>()?;
        let literal = match string_literal(&expr) {
            Some(lit) => lit,
            None => {
                let other = &expr;
                let what = match call.source {
                    Source::Inline => "the SQL must be a string literal",
                    Source::File => "the path of the SQL file must be a string literal",
                };
                return Err(syn::Error::new(
                    other.span(),
                    format!(
                        "{}: {what}, so it can be checked at compile time",
                        call.macro_name()
                    ),
                ));
            }
        };
        let (sql, file) = match call.source {
            Source::Inline => (literal, None),
            Source::File => {
                let (text, file) = read_sql_file(call, &literal, &crate::config::manifest_dir)?;
                (text, Some(file))
            }
        };
        let args = parse_args(input)?;
        Ok(QueryInput {
            row_type,
            tenant,
            sql,
            file,
            args,
        })
    }

    /// Where messages say the SQL is: the file as written, or the literal.
    fn origin(&self) -> &str {
        self.file
            .as_ref()
            .map_or(diag::INLINE, |file| file.written.as_str())
    }

    /// Items that make cargo rebuild the crate when the SQL file changes.
    fn file_tracking(&self) -> TokenStream {
        match self.file.as_ref().and_then(|file| file.resolved.to_str()) {
            Some(path) => quote! { const _: &[u8] = ::core::include_bytes!(#path); },
            None => TokenStream::new(),
        }
    }
}

/// `Type,` first for the `_as` flavor, nothing for the others.
pub(crate) fn parse_row_type(flavor: Flavor, input: ParseStream) -> syn::Result<Option<Type>> {
    if flavor != Flavor::QueryAs {
        return Ok(None);
    }
    let ty: Type = input.parse()?;
    input.parse::<Token![,]>()?;
    Ok(Some(ty))
}

/// The expression's string literal, if it is one.
pub(crate) fn string_literal(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Some(lit.clone()),
        _ => None,
    }
}

/// `, arg, arg, ..` up to the end (a trailing comma allowed).
pub(crate) fn parse_args(input: ParseStream) -> syn::Result<Vec<Expr>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        args.push(input.parse()?);
    }
    Ok(args)
}

/// Reads the SQL file a `_file` macro names: a relative path is resolved
/// against the manifest directory, as `include_str!` cannot do from a macro
/// and as sqlx's `query_file!` does. The text comes back as a literal spanned
/// on the path, so every later error points at the path in the call.
fn read_sql_file(
    call: Call,
    path: &LitStr,
    manifest_dir: &dyn Fn() -> Result<PathBuf, String>,
) -> syn::Result<(LitStr, SqlFile)> {
    let name = call.macro_name();
    let span = path.span();
    let written = path.value();
    if written.trim().is_empty() {
        return Err(syn::Error::new(
            span,
            format!(
                "{name}: the path of the SQL file is empty; usage: {}",
                call.usage()
            ),
        ));
    }
    let resolved = if Path::new(&written).is_absolute() {
        PathBuf::from(&written)
    } else {
        manifest_dir()
            .map_err(|message| syn::Error::new(span, format!("{name}: {message}")))?
            .join(&written)
    };
    let bytes = std::fs::read(&resolved).map_err(|error| {
        syn::Error::new(
            span,
            format!(
                "{name}: cannot read the SQL file `{written}` ({}): {error}; a relative path starts at the crate's directory (the one with its Cargo.toml)",
                resolved.display()
            ),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|error| {
        syn::Error::new(
            span,
            format!(
                "{name}: the SQL file `{written}` is not UTF-8 (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok((LitStr::new(&text, span), SqlFile { written, resolved }))
}

/// Expands one query macro call; errors become `compile_error!`.
pub fn expand(call: Call, input: TokenStream, loaded: &LoadedConfig) -> TokenStream {
    let parsed = match syn::parse::Parser::parse2(
        |stream: ParseStream| QueryInput::parse(call, stream),
        input,
    ) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    let flavor = call.flavor;
    match check(call, &parsed, loaded) {
        Ok(analysis) => generate(flavor, &parsed, &analysis, loaded),
        Err(error) => {
            // Still type-check the tenant and the arguments so their own
            // mistakes show up in the same build, and evaluate to a query of
            // the right type so the caller's code does not cascade.
            let fallback = generate_fallback(flavor, &parsed);
            let error = error.to_compile_error();
            let tracking = loaded.tracking_items();
            let file_tracking = parsed.file_tracking();
            quote! {{ #tracking #file_tracking #error #fallback }}
        }
    }
}

/// The call's code with its SQL unchecked (a query of the right type, the
/// arguments type-checked), for when the configuration cannot be loaded:
/// the build fails on that error, and this keeps the caller's code from
/// failing again around the call.
pub fn fallback(call: Call, input: TokenStream) -> TokenStream {
    match syn::parse::Parser::parse2(|stream: ParseStream| QueryInput::parse(call, stream), input) {
        Ok(parsed) => generate_fallback(call.flavor, &parsed),
        Err(error) => error.to_compile_error(),
    }
}

/// Analyses the SQL of one call; the error is spanned on the SQL literal.
pub fn check(call: Call, input: &QueryInput, loaded: &LoadedConfig) -> syn::Result<Analysis> {
    let name = call.macro_name();
    let origin = input.origin();
    let sql = input.sql.value();
    let span = input.sql.span();
    let the_sql = match &input.file {
        Some(file) => format!("the SQL file `{}`", file.written),
        None => "the SQL".to_string(),
    };
    let analyzer = Analyzer::new(loaded.config.clone());
    let analysis = analyzer
        .analyze(&sql)
        .map_err(|error| syn::Error::new(span, diag::parse_error(name, origin, &sql, &error)))?;
    one_statement(name, &the_sql, analysis.statements.len(), span)?;
    let violations: Vec<_> = analysis.violations().collect();
    if !violations.is_empty() {
        let mut message = diag::violations(name, origin, &sql, &violations);
        if let Some(path) = &loaded.path {
            message.push_str(&format!("\n\n(configuration: {})", path.display()));
        }
        return Err(syn::Error::new(span, message));
    }
    let after = match input.file {
        Some(_) => "path",
        None => "SQL string",
    };
    argument_count(
        name,
        &the_sql,
        after,
        user_param_count(&analysis) as usize,
        &input.args,
        span,
        "; `$tenant` is bound by the macro",
    )?;
    Ok(analysis)
}

/// Refuses a call whose arguments do not match the `$n` its SQL uses: too
/// many is an error on the first surplus argument, too few on the SQL.
pub(crate) fn argument_count(
    name: &str,
    the_sql: &str,
    after: &str,
    expected: usize,
    args: &[Expr],
    span: Span,
    note: &str,
) -> syn::Result<()> {
    let got = args.len();
    if got == expected {
        return Ok(());
    }
    let wanted = match expected {
        0 => "no arguments (the SQL uses no `$n` parameter)".to_string(),
        1 => "1 argument (for `$1`)".to_string(),
        n => format!("{n} arguments (for `$1` to `${n}`)"),
    };
    let message = format!(
        "{name}: {the_sql} needs {wanted} after the {after}, but {got} {} given{note}",
        if got == 1 { "was" } else { "were" }
    );
    let at = args.get(expected).map_or(span, Spanned::span);
    Err(syn::Error::new(at, message))
}

/// Refuses SQL with no statement or several: a prepared query runs one.
pub(crate) fn one_statement(
    name: &str,
    the_sql: &str,
    statements: usize,
    span: Span,
) -> syn::Result<()> {
    match statements {
        0 => Err(syn::Error::new(
            span,
            format!("{name}: {the_sql} is empty; write one statement"),
        )),
        1 => Ok(()),
        n => Err(syn::Error::new(
            span,
            format!(
                "{name}: {the_sql} holds {n} statements; a prepared query runs exactly one, so make one call per statement"
            ),
        )),
    }
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
    let file_tracking = input.file_tracking();
    let query = Ident::new("__TENANT_QUERY", Span::mixed_site());
    let routed_static = crate::route::routed_static(&query, analysis);
    let tenant = &input.tenant;
    let tenant_span = tenant.span();
    // `match` evaluates the tenant expression once and keeps its temporaries
    // alive for the enclosing statement, as a plain expression would.
    let tenant_ref =
        quote_spanned! {tenant_span=> ::tenant_runtime::__private::tenant_ref(#tenant) };
    let check_types = loaded.config.check_types;
    if check_types && type_check::runs_sqlx_code(flavor, input) {
        let run = type_check::checked_query(flavor, input, analysis, &query);
        return quote! {{
            #tracking
            #file_tracking
            #routed_static
            match #tenant_ref {
                __tenant => #run,
            }
        }};
    }
    let start = routed_constructor(flavor, input, &query);
    let binds = binds(input);
    let tail = if analysis.tenant_param.is_some() {
        quote_spanned! {tenant_span=> .bind(::tenant_runtime::__private::tenant_id(__tenant)) }
    } else {
        // Only global tables: nothing to bind.
        TokenStream::new()
    };
    let type_check = check_types.then(|| type_check::dead_code_check(flavor, input, analysis));
    quote! {{
        #tracking
        #file_tracking
        #type_check
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
        expand(
            Call::inline(flavor),
            input.parse().unwrap(),
            &LoadedConfig::defaults(),
        )
        .to_string()
    }

    fn parse(flavor: Flavor, input: &str) -> syn::Result<QueryInput> {
        syn::parse::Parser::parse2(
            |stream: ParseStream| QueryInput::parse(Call::inline(flavor), stream),
            input.parse().unwrap(),
        )
    }

    /// A directory of SQL files for one test, removed when dropped.
    struct SqlDir(PathBuf);

    impl SqlDir {
        fn new(test: &str, files: &[(&str, &[u8])]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("tenant-macros-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, contents) in files {
                std::fs::write(dir.join(name), contents).unwrap();
            }
            SqlDir(dir)
        }

        /// Expands a `_file` call whose paths are relative to this directory,
        /// as they would be to the manifest directory.
        fn expand(&self, flavor: Flavor, input: &str) -> String {
            // The path literal is read relative to CARGO_MANIFEST_DIR; the
            // tests name absolute paths instead, so they need no env var.
            let input = input.replace("DIR/", &format!("{}/", self.0.display()));
            expand(
                Call::file(flavor),
                input.parse().unwrap(),
                &LoadedConfig::defaults(),
            )
            .to_string()
        }
    }

    impl Drop for SqlDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_sql_is_checked_routed_and_tracked_like_inline_sql() {
        let dir = SqlDir::new(
            "file-ok",
            &[(
                "by_id.sql",
                b"-- one form\nSELECT id, title\nFROM forms\nWHERE tenant_id = $tenant AND id = $1;\n",
            )],
        );
        let out = dir.expand(Flavor::QueryAs, "Form, &tenant, \"DIR/by_id.sql\", id");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("__private :: routed_query_as :: < Form >"),
            "{out}"
        );
        assert!(out.contains("WHERE tenant_id = $2 AND id = $1"), "{out}");
        let tracked = format!(
            "include_bytes ! (\"{}\")",
            dir.0.join("by_id.sql").display()
        );
        assert!(out.contains(&tracked), "{out}");
    }

    #[test]
    fn file_violations_give_positions_inside_the_file_as_written() {
        let dir = SqlDir::new(
            "file-leak",
            &[(
                "report.sql",
                b"SELECT f.id, s.payload\nFROM forms f\nJOIN form_submissions s ON s.form_id = f.id\nWHERE f.tenant_id = $tenant\n",
            )],
        );
        let out = dir.expand(Flavor::Query, "&tenant, \"DIR/report.sql\"");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(
            out.contains("tenant_query_file!: the tenancy check refused this SQL (1 problem)"),
            "{out}"
        );
        let at = format!("--> {}:3:6", dir.0.join("report.sql").display());
        assert!(out.contains(&at), "{out}");
        // Fixing the file must rebuild the call even though it failed.
        assert!(out.contains("include_bytes"), "{out}");
        let out = dir.expand(Flavor::Scalar, "&tenant, \"DIR/report.sql\", 7");
        assert!(
            out.contains("tenant_query_file_scalar!: the tenancy check refused"),
            "{out}"
        );
    }

    #[test]
    fn file_argument_counts_parse_errors_and_statement_counts_name_the_file() {
        let dir = SqlDir::new(
            "file-counts",
            &[
                (
                    "one_param.sql",
                    b"SELECT 1 FROM forms WHERE tenant_id = $tenant AND id = $1",
                ),
                ("bad.sql", b"SELECT id\nFORM forms"),
                (
                    "two.sql",
                    b"SELECT 1 FROM forms WHERE tenant_id = $tenant; SELECT 2;",
                ),
                ("comments.sql", b"-- nothing here yet\n"),
            ],
        );
        let out = dir.expand(Flavor::Query, "t, \"DIR/one_param.sql\"");
        assert!(
            out.contains(
                "one_param.sql` needs 1 argument (for `$1`) after the path, but 0 were given"
            ),
            "{out}"
        );
        let out = dir.expand(Flavor::Query, "t, \"DIR/bad.sql\"");
        assert!(out.contains("PostgreSQL cannot parse this SQL"), "{out}");
        assert!(out.contains("bad.sql:2:6"), "{out}");
        let out = dir.expand(Flavor::Query, "t, \"DIR/two.sql\"");
        assert!(out.contains("two.sql` holds 2 statements"), "{out}");
        let out = dir.expand(Flavor::Query, "t, \"DIR/comments.sql\"");
        assert!(out.contains("comments.sql` is empty"), "{out}");
    }

    #[test]
    fn unreadable_sql_files_are_one_clear_error() {
        let dir = SqlDir::new("file-unreadable", &[("latin1.sql", b"SELECT '\xe9t\xe9'")]);
        let out = dir.expand(Flavor::Query, "t, \"DIR/missing.sql\"");
        assert!(
            out.contains("tenant_query_file!: cannot read the SQL file"),
            "{out}"
        );
        assert!(out.contains("missing.sql"), "{out}");
        assert!(
            out.contains("a relative path starts at the crate's directory"),
            "{out}"
        );
        let out = dir.expand(Flavor::Query, "t, \"DIR/\"");
        assert!(out.contains("cannot read the SQL file"), "{out}");
        let out = dir.expand(Flavor::Query, "t, \"DIR/latin1.sql\"");
        assert!(
            out.contains("is not UTF-8 (invalid byte at offset 8)"),
            "{out}"
        );
        let out = dir.expand(Flavor::Query, "t, \"  \"");
        assert!(out.contains("the path of the SQL file is empty"), "{out}");
        let out = dir.expand(Flavor::Query, "t, path");
        assert!(
            out.contains("the path of the SQL file must be a string literal"),
            "{out}"
        );
        let out = dir.expand(Flavor::QueryAs, "Row, t");
        assert!(out.contains("missing the path of the SQL file (a string literal) after the tenant; usage: tenant_query_file_as!(RowType, tenant, \\\"path/to/query.sql\\\", args...)"), "{out}");
    }

    #[test]
    fn a_relative_path_starts_at_the_manifest_directory() {
        let dir = SqlDir::new("file-relative", &[("q.sql", b"SELECT 1")]);
        let root = dir.0.clone();
        let literal = LitStr::new("q.sql", Span::call_site());
        let (sql, file) =
            read_sql_file(Call::file(Flavor::Query), &literal, &|| Ok(root.clone())).unwrap();
        assert_eq!(sql.value(), "SELECT 1");
        assert_eq!(file.written, "q.sql");
        assert_eq!(file.resolved, dir.0.join("q.sql"));
        let error = read_sql_file(Call::file(Flavor::Query), &literal, &|| {
            Err("CARGO_MANIFEST_DIR is not set: build with cargo".into())
        })
        .err()
        .unwrap();
        assert!(
            error
                .to_string()
                .contains("tenant_query_file!: CARGO_MANIFEST_DIR is not set"),
            "{error}"
        );
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
            Call::inline(Flavor::Query),
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

    /// With `check_types`, `tenant_query!` and `tenant_query_scalar!` run
    /// sqlx's macro (handed to `checked`, the tenant id as its last
    /// argument, typed unless the SQL casts it); `tenant_query_as!` keeps
    /// its own query and adds sqlx's in dead code.
    #[test]
    fn check_types_runs_sqlx_code_for_records_and_scalars() {
        let loaded = LoadedConfig::from_toml("check_types = true");
        let run = |flavor: Flavor, input: &str| {
            expand(Call::inline(flavor), input.parse().unwrap(), &loaded).to_string()
        };
        let out = run(
            Flavor::Query,
            "t, \"SELECT title FROM forms WHERE tenant_id = $tenant AND id = $1\", id",
        );
        assert!(
            out.contains(":: tenant_runtime :: __private :: checked (__tenant , & __TENANT_QUERY , :: sqlx :: query ! (\"SELECT title FROM forms WHERE tenant_id = $2 AND id = $1\" , id , :: tenant_runtime :: __private :: tenant_id (__tenant))"),
            "{out}"
        );
        assert!(!out.contains(". bind"), "{out}");
        let out = run(
            Flavor::Scalar,
            "t, \"SELECT count(*) FROM forms WHERE tenant_id = $tenant::uuid\"",
        );
        assert!(
            out.contains(":: sqlx :: query_scalar ! (\"SELECT count(*) FROM forms WHERE tenant_id = $1::uuid\" , :: tenant_runtime :: __private :: tenant_id (__tenant) as _)"),
            "{out}"
        );
        let out = run(
            Flavor::QueryAs,
            "Form, t, \"SELECT id FROM forms WHERE tenant_id = $tenant\"",
        );
        assert!(out.contains("if false"), "{out}");
        assert!(out.contains(":: sqlx :: query_as ! (Form"), "{out}");
        assert!(out.contains("routed_query_as :: < Form >"), "{out}");
    }
}
