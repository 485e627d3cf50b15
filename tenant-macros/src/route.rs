//! The `static` a checked query routes from: its SQL on the parents and the
//! template that names the requesting tenant's partitions instead (see
//! `tenant_core::route`).

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use tenant_core::route::{RouteTemplate, Text, Unroutable};
use tenant_core::Analysis;

/// `static #name: RoutedQuery = ..;` for an accepted analysis.
pub fn routed_static(name: &Ident, analysis: &Analysis) -> TokenStream {
    let p = quote! { ::tenant_runtime::__private };
    let template = RouteTemplate::from_analysis(analysis);
    let parent_sql = &analysis.sql;
    let text = |t: &Text| -> TokenStream {
        let s: &str = t;
        quote! { #p::Cow::Borrowed(#s) }
    };
    let option = |t: &Option<Text>| -> TokenStream {
        match t {
            Some(t) => {
                let t = text(t);
                quote! { ::core::option::Option::Some(#t) }
            }
            None => quote! { ::core::option::Option::None },
        }
    };
    let pieces = template.pieces.iter().map(text);
    let slots = template.slots.iter().map(|slot| {
        let schema = option(&slot.schema);
        let table = text(&slot.table);
        let written = text(&slot.written);
        let alias = option(&slot.alias);
        quote! {
            #p::RouteSlot { schema: #schema, table: #table, written: #written, alias: #alias }
        }
    });
    let unroutable = match template.unroutable {
        None => quote! { ::core::option::Option::None },
        Some(reason) => {
            let variant = Ident::new(
                match reason {
                    Unroutable::ConflictOnConstraint => "ConflictOnConstraint",
                    Unroutable::SchemaQualifiedColumn => "SchemaQualifiedColumn",
                    Unroutable::RenderDoesNotParse => "RenderDoesNotParse",
                    Unroutable::SeveralStatements => "SeveralStatements",
                    Unroutable::OnlyParent => "OnlyParent",
                },
                Span::call_site(),
            );
            quote! { ::core::option::Option::Some(#p::Unroutable::#variant) }
        }
    };
    quote! {
        static #name: #p::RoutedQuery = #p::RoutedQuery {
            parent_sql: #parent_sql,
            template: #p::RouteTemplate {
                pieces: #p::Cow::Borrowed(&[#(#pieces),*]),
                slots: #p::Cow::Borrowed(&[#(#slots),*]),
                unroutable: #unroutable,
            },
            index: #p::QueryIndex::new(),
        };
    }
}
