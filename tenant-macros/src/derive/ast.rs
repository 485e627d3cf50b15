//! The derive input as a struct with parsed `#[tenant(...)]` attributes.

use syn::{Data, DeriveInput, Fields, Ident, Type};

use super::attr;
use super::ctxt::Ctxt;

/// The struct deriving `TenantTable`.
pub struct Container<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its generics (rejected, but kept so the fallback impl is well-formed).
    pub generics: &'a syn::Generics,
    /// Struct-level attributes.
    pub attrs: attr::Container,
    /// Named fields in declaration order.
    pub fields: Vec<Field<'a>>,
    /// `#[derive(FromRow)]` seen on the struct (only visible when written in
    /// its own `#[derive]` after `#[derive(TenantTable)]`).
    pub derives_from_row: bool,
}

/// One named field.
pub struct Field<'a> {
    /// The field's identifier.
    pub ident: &'a Ident,
    /// Its column name: the identifier without `r#`.
    pub name: String,
    /// Its type.
    pub ty: &'a Type,
    /// Its attributes.
    pub attrs: attr::Field,
}

impl<'a> Container<'a> {
    /// Reads the derive input; `None` when it is not a struct with named
    /// fields (the error is recorded).
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(_) | Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "TenantTable needs a struct with named fields: each field is a column",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "TenantTable can only be derived for a struct with named fields, not an enum",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "TenantTable can only be derived for a struct with named fields, not a union",
                );
                return None;
            }
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "TenantTable cannot be derived for a generic struct: a table has one fixed row type",
            );
            return None;
        }
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
                Some(Field {
                    ident,
                    name,
                    ty: &field.ty,
                    attrs: attr::Field::from_ast(cx, &field.attrs),
                })
            })
            .collect();
        Some(Container {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            fields,
            derives_from_row: derives_from_row(&input.attrs),
        })
    }
}

/// True when a `#[derive(...)]` among `attrs` lists `FromRow` (any path
/// ending in `FromRow`).
fn derives_from_row(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            let mut found = false;
            let _ = a.parse_nested_meta(|meta| {
                if meta
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "FromRow")
                {
                    found = true;
                }
                Ok(())
            });
            found
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn reads_named_fields_and_raw_identifiers() {
        let input: DeriveInput = parse_quote! {
            #[derive(sqlx::FromRow)]
            struct Form { id: i64, r#type: String }
        };
        let cx = Ctxt::new();
        let c = Container::from_ast(&cx, &input).unwrap();
        cx.check().unwrap();
        assert_eq!(c.fields[1].name, "type");
        assert!(c.derives_from_row);
    }

    #[test]
    fn rejects_enums_tuples_and_generics() {
        for input in [
            parse_quote!(
                enum E {
                    A,
                }
            ),
            parse_quote!(
                struct T(i64);
            ),
            parse_quote!(
                struct U;
            ),
        ] {
            let cx = Ctxt::new();
            assert!(Container::from_ast(&cx, &input).is_none());
            assert!(cx.check().is_err());
        }
        let input: DeriveInput = parse_quote!(
            struct G<T> {
                x: T,
            }
        );
        let cx = Ctxt::new();
        assert!(Container::from_ast(&cx, &input).is_none());
        let err = cx.check().unwrap_err();
        assert!(err.to_string().contains("generic struct"), "{err}");
    }
}
