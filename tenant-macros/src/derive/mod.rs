//! `#[derive(TenantTable)]`: a struct becomes a LIST-partitioned tenant
//! table with typed CRUD whose SQL is checked by the analyzer at compile time.
//!
//! Structure after serde_derive: [`ast`] reads the input, [`attr`] the
//! `#[tenant(...)]` attributes, [`check`] validates against `tenancy.toml`,
//! and every error goes to one [`ctxt::Ctxt`]. On error the derive still emits
//! the trait impl and method stubs with `unreachable!()` bodies (thiserror's
//! fallback), so one mistake yields one error, not one per use of the type.

pub mod ast;
pub mod attr;
pub mod check;
pub mod ctxt;
pub mod types;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;
use tenant_core::schema::Generated;
use tenant_core::{Analysis, Analyzer};

use crate::config::LoadedConfig;
use ast::Container;
use check::Model;
use ctxt::Ctxt;

/// Expands `#[derive(TenantTable)]`.
pub fn expand(input: TokenStream, loaded: &LoadedConfig) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let Some(container) = Container::from_ast(&cx, &input) else {
        return match cx.check() {
            Ok(()) => TokenStream::new(),
            Err(error) => error.to_compile_error(),
        };
    };
    let model = check::check(&cx, &container, loaded);
    let statements = if cx.has_errors() {
        None
    } else {
        Some(Statements::build(&cx, &model, loaded))
    };
    match cx.check() {
        Ok(()) => generate(&model, statements.as_ref(), loaded),
        Err(error) => {
            let errors = error.to_compile_error();
            let fallback = generate(&model, None, loaded);
            quote! { #errors #fallback }
        }
    }
}

/// The derive's items with no SQL checked (methods whose bodies are
/// unreachable), for when the configuration cannot be loaded: the build
/// fails on that error, and `insert`, `list`, ... still exist for the code
/// that calls them. Mistakes in the attributes stay silent here; they show
/// once the configuration loads.
pub fn fallback(input: TokenStream) -> TokenStream {
    let Ok(input) = syn::parse2::<DeriveInput>(input) else {
        return TokenStream::new();
    };
    let cx = Ctxt::new();
    let defaults = LoadedConfig::fallback();
    let out = Container::from_ast(&cx, &input).map(|container| {
        let model = check::check(&cx, &container, &defaults);
        generate(&model, None, &defaults)
    });
    let _ = cx.check();
    out.unwrap_or_default()
}

/// Quotes an identifier for PostgreSQL (always: field names such as `order`
/// or `userId` would otherwise be keywords or folded to lower case).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The CRUD statements, as sent to PostgreSQL (`$tenant` already rewritten
/// to the last parameter), each accepted by the analyzer.
#[derive(Debug, Default)]
pub struct Statements {
    /// `INSERT` of the columns the application writes, `RETURNING` the row.
    pub insert: Option<Analysis>,
    /// `INSERT .. SELECT .. FROM unnest(..)` of many rows, `RETURNING` them.
    pub insert_many: Option<Analysis>,
    /// `SELECT` by primary key.
    pub find: Option<Analysis>,
    /// `UPDATE` of every non-key column by primary key.
    pub update: Option<Analysis>,
    /// `DELETE` by primary key.
    pub delete: Option<Analysis>,
    /// `SELECT` of every row of the tenant.
    pub list: Option<Analysis>,
}

impl Statements {
    /// The statements with `$tenant`, before analysis.
    pub fn sources(model: &Model) -> Option<[(&'static str, Option<String>); 6]> {
        let key_index = model.key?;
        let key = quote_ident(&model.columns[key_index].name);
        let table = match &model.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&model.table)),
            None => quote_ident(&model.table),
        };
        let all: Vec<String> = model.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let select_list = all.join(", ");
        // The tenant key first, then the columns the application writes.
        let written = inserted_columns(model);
        let mut insert_columns = vec![key.clone()];
        insert_columns.extend(written.iter().map(|&i| quote_ident(&model.columns[i].name)));
        let mut values = vec!["$tenant".to_string()];
        values.extend((1..=written.len()).map(|n| format!("${n}")));
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING {select_list}",
            insert_columns.join(", "),
            values.join(", ")
        );
        // One array per written column, unnested in step; the ordinality
        // keeps the rows in the order given. With no column to write, a
        // series of the row count stands in.
        let row_number = quote_ident("tenancy row number");
        let (source, aliases): (String, Vec<String>) = if written.is_empty() {
            ("generate_series(1, $1::int8)".to_string(), Vec::new())
        } else {
            let arrays: Vec<String> = written
                .iter()
                .enumerate()
                .map(|(n, &i)| format!("${}::{}[]", n + 1, model.columns[i].sql_type))
                .collect();
            let aliases = written
                .iter()
                .map(|&i| quote_ident(&model.columns[i].name))
                .collect();
            (format!("unnest({})", arrays.join(", ")), aliases)
        };
        let mut selected = vec!["$tenant".to_string()];
        selected.extend(aliases.iter().map(|a| format!("batch.{a}")));
        let mut alias_list = if aliases.is_empty() {
            vec![quote_ident("tenancy series")]
        } else {
            aliases
        };
        alias_list.push(row_number.clone());
        let insert_many = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {source} WITH ORDINALITY AS batch ({}) ORDER BY batch.{row_number} RETURNING {select_list}",
            insert_columns.join(", "),
            selected.join(", "),
            alias_list.join(", ")
        );
        let pk_where = |first: usize| -> String {
            model
                .primary_key
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    format!(
                        " AND {} = ${}",
                        quote_ident(&model.columns[c].name),
                        first + i
                    )
                })
                .collect()
        };
        let has_pk = !model.primary_key.is_empty();
        let find = has_pk.then(|| {
            format!(
                "SELECT {select_list} FROM {table} WHERE {key} = $tenant{}",
                pk_where(1)
            )
        });
        let settable = settable_columns(model);
        let update = (has_pk && !settable.is_empty()).then(|| {
            let sets: Vec<String> = settable
                .iter()
                .enumerate()
                .map(|(i, &c)| format!("{} = ${}", quote_ident(&model.columns[c].name), i + 1))
                .collect();
            format!(
                "UPDATE {table} SET {} WHERE {key} = $tenant{}",
                sets.join(", "),
                pk_where(settable.len() + 1)
            )
        });
        let delete = (has_pk && !model.forbid_delete)
            .then(|| format!("DELETE FROM {table} WHERE {key} = $tenant{}", pk_where(1)));
        let order: Vec<String> = model
            .primary_key
            .iter()
            .map(|&c| quote_ident(&model.columns[c].name))
            .collect();
        let list = format!(
            "SELECT {select_list} FROM {table} WHERE {key} = $tenant{}",
            if order.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", order.join(", "))
            }
        );
        Some([
            ("insert", Some(insert)),
            ("insert_many", Some(insert_many)),
            ("find", find),
            ("update", update),
            ("delete", delete),
            ("list", Some(list)),
        ])
    }

    /// Builds the statements and runs each through the analyzer; a refusal
    /// is a bug in this crate and is reported as such.
    fn build(cx: &Ctxt, model: &Model, loaded: &LoadedConfig) -> Statements {
        let mut out = Statements::default();
        let Some(sources) = Statements::sources(model) else {
            return out;
        };
        let analyzer = Analyzer::new(loaded.config.clone());
        for (name, sql) in sources {
            let Some(sql) = sql else { continue };
            let checked = match analyzer.analyze(&sql) {
                Ok(analysis) if analysis.is_ok() => Some(analysis),
                Ok(analysis) => {
                    let violations: Vec<_> = analysis.violations().collect();
                    cx.error_spanned_by(
                        model.ident,
                        format!(
                            "internal error in tenant-macros (please report it): the generated `{name}` SQL was refused by the analyzer\n{}",
                            crate::diag::violations("TenantTable", crate::diag::INLINE, &sql, &violations)
                        ),
                    );
                    None
                }
                Err(error) => {
                    cx.error_spanned_by(
                        model.ident,
                        format!(
                            "internal error in tenant-macros (please report it): the generated `{name}` SQL does not parse\n{}",
                            crate::diag::parse_error("TenantTable", crate::diag::INLINE, &sql, &error)
                        ),
                    );
                    None
                }
            };
            match name {
                "insert" => out.insert = checked,
                "insert_many" => out.insert_many = checked,
                "find" => out.find = checked,
                "update" => out.update = checked,
                "delete" => out.delete = checked,
                _ => out.list = checked,
            }
        }
        out
    }
}

/// Columns an UPDATE sets: all but the tenant key, the primary key and the
/// columns only the database writes (identities, generated columns).
fn settable_columns(model: &Model) -> Vec<usize> {
    (0..model.columns.len())
        .filter(|&i| {
            Some(i) != model.key
                && !model.primary_key.contains(&i)
                && !model.columns[i].never_updated()
        })
        .collect()
}

/// Columns an INSERT writes besides the tenant key: all but those left to
/// the database (identity, serial, generated, `skip_insert`).
fn inserted_columns(model: &Model) -> Vec<usize> {
    (0..model.columns.len())
        .filter(|&i| Some(i) != model.key && !model.columns[i].left_to_database_on_insert())
        .collect()
}

/// The generated items; `statements == None` is the fallback after errors:
/// same items, bodies `unreachable!()`.
fn generate(model: &Model, statements: Option<&Statements>, loaded: &LoadedConfig) -> TokenStream {
    let ident = model.ident;
    let (impl_generics, ty_generics, where_clause) = model.generics.split_for_impl();
    let table = &model.table;
    let tracking = loaded.tracking_items();
    let unreachable = quote! { ::core::unreachable!("#[derive(TenantTable)] failed to compile") };

    let schema_body = match statements {
        Some(_) => schema_spec(model),
        None => unreachable.clone(),
    };
    let from_row = model.emit_from_row.then(|| {
        let body = match statements {
            Some(_) => {
                let fields = model.columns.iter().map(|c| {
                    let field = c.ident;
                    let name = &c.name;
                    quote_spanned! {c.ty.span()=>
                        #field: ::tenant_runtime::__private::sqlx::Row::try_get(row, #name)?
                    }
                });
                quote! { ::core::result::Result::Ok(Self { #(#fields,)* }) }
            }
            None => quote! { let _ = row; #unreachable },
        };
        quote! {
            #[automatically_derived]
            impl<'r> ::tenant_runtime::__private::sqlx::FromRow<'r, ::tenant_runtime::__private::sqlx::postgres::PgRow> for #ident {
                fn from_row(row: &'r ::tenant_runtime::__private::sqlx::postgres::PgRow)
                    -> ::core::result::Result<Self, ::tenant_runtime::__private::sqlx::Error> {
                    #body
                }
            }
        }
    });

    let checked_config = loaded.config.to_embedded();
    let column_names = model.columns.iter().map(|c| &c.name);
    let methods = crud_methods(model, statements);
    quote! {
        #tracking

        #[automatically_derived]
        impl #impl_generics ::tenant_runtime::TenantTable for #ident #ty_generics #where_clause {
            const TABLE: &'static str = #table;
            const CHECKED_CONFIG: ::core::option::Option<&'static str> =
                ::core::option::Option::Some(#checked_config);
            fn schema() -> ::tenant_runtime::__private::TableSchema {
                #schema_body
            }
        }

        #from_row

        #[automatically_derived]
        impl #impl_generics #ident #ty_generics #where_clause {
            /// The table's columns in declaration order (including the tenant key).
            pub const COLUMNS: &'static [&'static str] = &[#(#column_names),*];
            #methods
        }
    }
}

/// `schema()`'s body: a static description turned into a `TableSchema` by
/// the runtime, so this code does not depend on that struct's exact fields.
fn schema_spec(model: &Model) -> TokenStream {
    let schema = match &model.schema {
        Some(s) => quote! { ::core::option::Option::Some(#s) },
        None => quote! { ::core::option::Option::None },
    };
    let name = &model.table;
    let tenant_column = &model.tenant_column;
    let columns = model.columns.iter().map(|c| {
        let name = &c.name;
        let sql_type = &c.sql_type;
        let nullable = c.nullable;
        let default = match &c.default {
            Some(d) => quote! { ::core::option::Option::Some(#d) },
            None => quote! { ::core::option::Option::None },
        };
        let identity = matches!(c.generated, Some(Generated::IdentityAlways));
        let stored = match &c.generated {
            Some(Generated::Stored(expression)) => {
                quote! { ::core::option::Option::Some(#expression) }
            }
            _ => quote! { ::core::option::Option::None },
        };
        quote! {
            ::tenant_runtime::__private::ColumnSpec {
                name: #name, sql_type: #sql_type, nullable: #nullable, default: #default,
                identity: #identity, stored: #stored,
            }
        }
    });
    let col = |i: &usize| model.columns[*i].name.clone();
    let primary_key = model.primary_key.iter().map(col);
    let unique = model.unique.iter().map(col);
    let indexes = model.indexes.iter().map(col);
    let row_level_security = model.row_level_security;
    let foreign_keys = model.foreign_keys.iter().map(|(i, r)| {
        let column = &model.columns[*i].name;
        let ref_table = &r.table;
        let ref_column = &r.column;
        quote! {
            ::tenant_runtime::__private::ForeignKeySpec {
                columns: &[#column], ref_table: #ref_table, ref_columns: &[#ref_column],
            }
        }
    });
    quote! {
        ::tenant_runtime::__private::TableSpec {
            schema: #schema,
            name: #name,
            tenant_column: #tenant_column,
            columns: &[#(#columns),*],
            primary_key: &[#(#primary_key),*],
            unique: &[#(&[#unique]),*],
            indexes: &[#(&[#indexes]),*],
            foreign_keys: &[#(#foreign_keys),*],
            row_level_security: #row_level_security,
        }
        .to_schema()
    }
}

fn crud_methods(model: &Model, statements: Option<&Statements>) -> TokenStream {
    if model.key.is_none() {
        return TokenStream::new();
    }
    let p = quote! { ::tenant_runtime::__private };
    let fallback = statements.is_none();
    let sources = Statements::sources(model).unwrap_or_default();
    let source = |name: &str| -> Option<String> {
        sources
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, sql)| sql.clone())
    };
    let body = |analysis: Option<&Analysis>,
                start: TokenStream,
                binds: TokenStream,
                tenant: &syn::Ident| match analysis {
        Some(analysis) if !fallback => {
            let query = format_ident!("__TENANT_QUERY");
            let routed_static = crate::route::routed_static(&query, analysis);
            quote! {
                #routed_static
                #start(#tenant, &#query) #binds .bind(#p::tenant_id(#tenant))
            }
        }
        _ => {
            quote! { let _ = #tenant; ::core::unreachable!("#[derive(TenantTable)] failed to compile") }
        }
    };
    let pk_fields: Vec<_> = model
        .primary_key
        .iter()
        .map(|&i| &model.columns[i])
        .collect();
    // The tenant parameter must not shadow a primary-key parameter.
    let tenant = if pk_fields.iter().any(|c| c.ident == "tenant") {
        format_ident!("tenant_handle")
    } else {
        format_ident!("tenant")
    };
    let self_binds = |columns: &[usize]| -> TokenStream {
        columns
            .iter()
            .map(|&i| {
                let field = model.columns[i].ident;
                quote_spanned! {model.columns[i].ty.span()=> .bind(&self.#field) }
            })
            .collect()
    };
    let doc = |what: &str, sql: Option<String>| -> String {
        match sql {
            Some(sql) => {
                format!("{what}\n\nSQL (`$tenant` is bound to the tenant):\n```sql\n{sql}\n```")
            }
            None => what.to_string(),
        }
    };
    let st = |f: fn(&Statements) -> &Option<Analysis>| statements.and_then(|s| f(s).as_ref());

    let mut out = TokenStream::new();

    let written = inserted_columns(model);
    let insert_doc = doc("Inserts this row for `tenant` and gives back the row as stored: the tenant key field is ignored (the row always belongs to `tenant`), and the columns the database fills (identity, serial, generated, `skip_insert`) come back with their values.", source("insert"));
    let insert_body = body(
        st(|s| &s.insert),
        quote!(#p::routed_query_as::<Self>),
        self_binds(&written),
        &tenant,
    );
    out.extend(quote! {
        #[doc = #insert_doc]
        pub fn insert<'q>(&'q self, #tenant: &'q ::tenant_runtime::Tenant) -> #p::QueryAs<'q, Self> {
            #insert_body
        }
    });

    let insert_many_doc = doc("Inserts `rows` for `tenant` in one statement and gives them back as stored, in the order given (the tenant key fields are ignored). Each written column is sent as one array, so its type needs an array type in PostgreSQL (`sqlx::postgres::PgHasArrayType`); a call on a row type that has none does not compile.", source("insert_many"));
    let (many_binds, many_bounds): (TokenStream, Vec<TokenStream>) = if written.is_empty() {
        (
            quote! { .bind(::core::primitive::i64::try_from(rows.len()).unwrap_or(::core::primitive::i64::MAX)) },
            Vec::new(),
        )
    } else {
        let binds = written
            .iter()
            .map(|&i| {
                let field = model.columns[i].ident;
                let ty = model.columns[i].ty;
                quote_spanned! {ty.span()=>
                    .bind(rows.iter().map(|row| &row.#field).collect::<::std::vec::Vec<&'q #ty>>())
                }
            })
            .collect();
        let bounds = written
            .iter()
            .map(|&i| {
                let ty = model.columns[i].ty;
                quote_spanned! {ty.span()=>
                    ::std::vec::Vec<&'q #ty>: #p::sqlx::Encode<'q, #p::sqlx::Postgres> + #p::sqlx::Type<#p::sqlx::Postgres>
                }
            })
            .collect();
        (binds, bounds)
    };
    let insert_many_body = body(
        st(|s| &s.insert_many),
        quote!(#p::routed_query_as::<Self>),
        many_binds,
        &tenant,
    );
    let insert_many_body = if fallback {
        quote! { let _ = rows; #insert_many_body }
    } else {
        insert_many_body
    };
    out.extend(quote! {
        #[doc = #insert_many_doc]
        pub fn insert_many<'q>(#tenant: &'q ::tenant_runtime::Tenant, rows: &'q [Self]) -> #p::QueryAs<'q, Self>
        where
            #(#many_bounds,)*
        {
            #insert_many_body
        }
    });

    let list_doc = doc("All rows of `tenant`.", source("list"));
    let list_body = body(
        st(|s| &s.list),
        quote!(#p::routed_query_as::<Self>),
        TokenStream::new(),
        &tenant,
    );
    out.extend(quote! {
        #[doc = #list_doc]
        pub fn list<'q>(#tenant: &'q ::tenant_runtime::Tenant) -> #p::QueryAs<'q, Self> {
            #list_body
        }
    });

    if pk_fields.is_empty() {
        return out;
    }
    let pk_params = pk_fields.iter().map(|c| {
        let ident = c.ident;
        let ty = c.ty;
        quote! { #ident: &'q #ty }
    });
    let pk_params = quote! { #(#pk_params),* };
    let pk_binds: TokenStream = pk_fields
        .iter()
        .map(|c| {
            let ident = c.ident;
            quote! { .bind(#ident) }
        })
        .collect();
    let pk_unused: TokenStream = pk_fields
        .iter()
        .map(|c| {
            let ident = c.ident;
            quote! { let _ = #ident; }
        })
        .collect();
    let with_unused = |tokens: TokenStream| {
        if fallback {
            quote! { #pk_unused #tokens }
        } else {
            tokens
        }
    };

    let find_doc = doc("The row of `tenant` with this primary key.", source("find"));
    let find_body = with_unused(body(
        st(|s| &s.find),
        quote!(#p::routed_query_as::<Self>),
        pk_binds.clone(),
        &tenant,
    ));
    out.extend(quote! {
        #[doc = #find_doc]
        pub fn find<'q>(#tenant: &'q ::tenant_runtime::Tenant, #pk_params) -> #p::QueryAs<'q, Self> {
            #find_body
        }
    });

    let settable = settable_columns(model);
    if !settable.is_empty() {
        let mut binds = self_binds(&settable);
        binds.extend(self_binds(&model.primary_key));
        let update_doc = doc(
            "Updates this row of `tenant` (found by primary key) to the field values.",
            source("update"),
        );
        let update_body = body(st(|s| &s.update), quote!(#p::routed_query), binds, &tenant);
        out.extend(quote! {
            #[doc = #update_doc]
            pub fn update<'q>(&'q self, #tenant: &'q ::tenant_runtime::Tenant) -> #p::Query<'q> {
                #update_body
            }
        });
    }

    if !model.forbid_delete {
        let delete_doc = doc(
            "Deletes the row of `tenant` with this primary key.",
            source("delete"),
        );
        let delete_body = with_unused(body(
            st(|s| &s.delete),
            quote!(#p::routed_query),
            pk_binds,
            &tenant,
        ));
        out.extend(quote! {
            #[doc = #delete_doc]
            pub fn delete<'q>(#tenant: &'q ::tenant_runtime::Tenant, #pk_params) -> #p::Query<'q> {
                #delete_body
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(input: &str, toml: &str) -> String {
        expand(input.parse().unwrap(), &LoadedConfig::from_toml(toml)).to_string()
    }

    const FORM: &str = r#"
        #[tenant(table = "forms")]
        struct Form {
            #[tenant(primary_key)] id: i64,
            tenant_id: String,
            title: String,
            #[tenant(default = "now()")] created: Option<String>,
        }
    "#;

    #[test]
    fn crud_sql_is_built_and_checked() {
        let out = expand_str(FORM, "");
        assert!(!out.contains("compile_error"), "{out}");
        for sql in [
            r#"INSERT INTO \"forms\" (\"tenant_id\", \"id\", \"title\", \"created\") VALUES ($4, $1, $2, $3) RETURNING \"id\", \"tenant_id\", \"title\", \"created\""#,
            r#"INSERT INTO \"forms\" (\"tenant_id\", \"id\", \"title\", \"created\") SELECT $4, batch.\"id\", batch.\"title\", batch.\"created\" FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS batch (\"id\", \"title\", \"created\", \"tenancy row number\") ORDER BY batch.\"tenancy row number\" RETURNING \"id\", \"tenant_id\", \"title\", \"created\""#,
            r#"SELECT \"id\", \"tenant_id\", \"title\", \"created\" FROM \"forms\" WHERE \"tenant_id\" = $2 AND \"id\" = $1"#,
            r#"UPDATE \"forms\" SET \"title\" = $1, \"created\" = $2 WHERE \"tenant_id\" = $4 AND \"id\" = $3"#,
            r#"DELETE FROM \"forms\" WHERE \"tenant_id\" = $2 AND \"id\" = $1"#,
            r#"SELECT \"id\", \"tenant_id\", \"title\", \"created\" FROM \"forms\" WHERE \"tenant_id\" = $1 ORDER BY \"id\""#,
        ] {
            assert!(out.contains(sql), "missing {sql} in {out}");
        }
        assert!(
            out.contains("impl :: tenant_runtime :: TenantTable for Form"),
            "{out}"
        );
        assert!(out.contains("FromRow"), "{out}");
        assert!(
            out.contains(
                "pub fn find < 'q > (tenant : & 'q :: tenant_runtime :: Tenant , id : & 'q i64)"
            ),
            "{out}"
        );
    }

    #[test]
    fn columns_the_database_fills_are_left_out_and_given_back() {
        let out = expand_str(
            r#"struct Ticket {
                #[tenant(primary_key, identity)] id: i64,
                tenant_id: String,
                #[tenant(sql_type = "serial")] number: i32,
                title: String,
                #[tenant(generated = "lower(title)")] key: String,
                #[tenant(default = "'open'", skip_insert)] status: String,
            }"#,
            "",
        );
        assert!(!out.contains("compile_error"), "{out}");
        for sql in [
            r#"INSERT INTO \"tickets\" (\"tenant_id\", \"title\") VALUES ($2, $1) RETURNING \"id\", \"tenant_id\", \"number\", \"title\", \"key\", \"status\""#,
            r#"UPDATE \"tickets\" SET \"number\" = $1, \"title\" = $2, \"status\" = $3 WHERE"#,
        ] {
            assert!(out.contains(sql), "missing {sql} in {out}");
        }
    }

    #[test]
    fn forbid_delete_removes_delete() {
        let out = expand_str(FORM, "forbid_delete = true");
        assert!(!out.contains("pub fn delete"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn no_primary_key_means_insert_and_list_only() {
        let out = expand_str("struct Event { tenant_id: String, body: String }", "");
        assert!(
            out.contains("pub fn insert") && out.contains("pub fn list"),
            "{out}"
        );
        assert!(
            !out.contains("pub fn find") && !out.contains("pub fn update"),
            "{out}"
        );
        assert!(
            out.contains("const TABLE : & 'static str = \"events\""),
            "{out}"
        );
    }

    #[test]
    fn errors_come_with_a_fallback() {
        let out = expand_str(
            "struct Form { #[tenant(primary_key)] id: u64, tenant_id: String, #[tenant(bogus)] x: i64 }",
            "",
        );
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(
            out.contains("impl :: tenant_runtime :: TenantTable for Form"),
            "{out}"
        );
        assert!(out.contains("unreachable"), "{out}");
        assert!(out.contains("pub fn find"), "{out}");
    }

    #[test]
    fn user_from_row_is_respected() {
        let out = expand_str(
            "#[derive(sqlx::FromRow)] struct Form { tenant_id: String }",
            "",
        );
        assert!(!out.contains("FromRow <"), "{out}");
    }

    #[test]
    fn quote_ident_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
