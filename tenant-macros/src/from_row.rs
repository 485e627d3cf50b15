//! `#[derive(FromRow)]`: a row type for `tenant_query_as!` that needs no
//! direct sqlx dependency (sqlx's own derive names `::sqlx`, which only
//! resolves when the application depends on sqlx itself).
//!
//! Named fields only, each read by its name (or `#[row(rename = "..")]`)
//! with `sqlx::Row::try_get`, as sqlx's derive does by default.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

/// The impl, or every mistake as a compile error (with a fallback impl, so
/// the struct's uses do not fail again for want of it).
pub fn expand(input: DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let mut errors: Vec<syn::Error> = Vec::new();
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new(
            input.generics.span(),
            "#[derive(FromRow)] does not support generic structs; implement sqlx::FromRow by hand",
        ));
    }
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
            _ => {
                errors.push(syn::Error::new(
                    input.ident.span(),
                    "#[derive(FromRow)] needs a struct with named fields (each read by its name)",
                ));
                Vec::new()
            }
        },
        _ => {
            errors.push(syn::Error::new(
                input.ident.span(),
                "#[derive(FromRow)] needs a struct with named fields (each read by its name)",
            ));
            Vec::new()
        }
    };
    let mut reads = Vec::new();
    for field in fields {
        let Some(name) = &field.ident else { continue };
        let mut column = name.to_string().trim_start_matches("r#").to_string();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("row")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    column = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("unknown row attribute; the one known is `rename = \"column\"`"))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        }
        reads.push(quote_spanned! {field.ty.span()=>
            #name: ::tenant_runtime::__private::sqlx::Row::try_get(row, #column)?
        });
    }
    let body = if errors.is_empty() {
        quote! { ::core::result::Result::Ok(Self { #(#reads,)* }) }
    } else {
        quote! { let _ = row; ::core::unreachable!() }
    };
    let generic = !input.generics.params.is_empty();
    let errors = errors.iter().map(syn::Error::to_compile_error);
    if generic {
        // A fallback impl would need the generics' bounds: the error alone.
        return quote! { #(#errors)* };
    }
    quote! {
        #(#errors)*
        #[automatically_derived]
        impl<'r> ::tenant_runtime::__private::sqlx::FromRow<'r, ::tenant_runtime::__private::sqlx::postgres::PgRow> for #ident {
            fn from_row(row: &'r ::tenant_runtime::__private::sqlx::postgres::PgRow)
                -> ::core::result::Result<Self, ::tenant_runtime::__private::sqlx::Error> {
                #body
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(src: &str) -> String {
        expand(syn::parse_str(src).expect("test input")).to_string()
    }

    #[test]
    fn each_field_is_read_by_its_name_or_its_rename() {
        let out = expand_str(
            "struct Row { id: i64, #[row(rename = \"type\")] kind: String, r#match: bool }",
        );
        assert!(out.contains("try_get (row , \"id\")"), "{out}");
        assert!(
            out.contains(
                "kind : :: tenant_runtime :: __private :: sqlx :: Row :: try_get (row , \"type\")"
            ),
            "{out}"
        );
        assert!(out.contains("\"match\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn what_it_cannot_read_is_an_error_with_a_fallback_impl() {
        let out = expand_str("struct Row(i64);");
        assert!(
            out.contains("compile_error") && out.contains("FromRow < 'r"),
            "{out}"
        );
        let out = expand_str("struct Row { #[row(name = \"x\")] id: i64 }");
        assert!(out.contains("unknown row attribute"), "{out}");
        let out = expand_str("struct Row<T> { id: T }");
        assert!(
            out.contains("generic") && !out.contains("automatically_derived"),
            "{out}"
        );
    }
}
