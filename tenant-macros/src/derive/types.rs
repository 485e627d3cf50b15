//! Rust field types to PostgreSQL column types.

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// A column type derived from a field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The PostgreSQL type.
    pub sql_type: String,
    /// `Option<T>`: the column may be NULL.
    pub nullable: bool,
}

/// Why a type has no mapping; spanned on the type by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The message.
    pub message: String,
}

const SUPPORTED: &str = "supported: i16, i32, i64, f32, f64, bool, String, &str, Vec<u8>, Vec<T>, uuid::Uuid, chrono and time types, serde_json::Value, Json<T>, Decimal, and Option of these";

/// Maps a field type. `Option<T>` is nullable; everything else NOT NULL.
pub fn map(ty: &Type) -> Result<Mapped, Unsupported> {
    let ty = peel(ty);
    if let Some(inner) = generic_arg(ty, "Option") {
        if generic_arg(peel(inner), "Option").is_some() {
            return Err(unsupported(
                ty,
                "`Option<Option<T>>` cannot be told apart from `Option<T>` in a column",
            ));
        }
        return Ok(Mapped {
            sql_type: scalar(inner)?,
            nullable: true,
        });
    }
    Ok(Mapped {
        sql_type: scalar(ty)?,
        nullable: false,
    })
}

/// True when `ty` is `Option<...>`.
pub fn is_option(ty: &Type) -> bool {
    generic_arg(peel(ty), "Option").is_some()
}

/// True when `ty` is `String` or `&str` (what a tenant id is).
pub fn is_string(ty: &Type) -> bool {
    match peel(ty) {
        Type::Reference(r) => last_ident(peel(&r.elem)).as_deref() == Some("str"),
        other => matches!(last_ident(other).as_deref(), Some("String")) && !has_args(other),
    }
}

fn scalar(ty: &Type) -> Result<String, Unsupported> {
    let ty = peel(ty);
    if let Type::Reference(reference) = ty {
        let elem = peel(&reference.elem);
        if last_ident(elem).as_deref() == Some("str") {
            return Ok("text".into());
        }
        if let Type::Slice(slice) = elem {
            if last_ident(peel(&slice.elem)).as_deref() == Some("u8") {
                return Ok("bytea".into());
            }
        }
        return Err(unsupported(
            ty,
            "references other than `&str` and `&[u8]` have no column type",
        ));
    }
    if let Some(inner) = generic_arg(ty, "Vec") {
        let inner = peel(inner);
        if last_ident(inner).as_deref() == Some("u8") {
            return Ok("bytea".into());
        }
        if generic_arg(inner, "Vec").is_some() || generic_arg(inner, "Option").is_some() {
            return Err(unsupported(
                ty,
                "nested arrays and arrays of `Option` are not supported",
            ));
        }
        return Ok(format!("{}[]", scalar(inner)?));
    }
    if generic_arg(ty, "Option").is_some() {
        return Err(unsupported(
            ty,
            "`Option` is only supported as the outermost type",
        ));
    }
    if generic_arg(ty, "Json").is_some() {
        return Ok("jsonb".into());
    }
    if let Some(zone) = generic_arg(ty, "DateTime") {
        return match last_ident(peel(zone)).as_deref() {
            Some("Utc" | "Local" | "FixedOffset") => Ok("timestamptz".into()),
            _ => Err(unsupported(
                ty,
                "use `DateTime<Utc>` (or `Local`, `FixedOffset`)",
            )),
        };
    }
    let Some(name) = last_ident(ty) else {
        return Err(unsupported(ty, "no column type for this kind of type"));
    };
    if has_args(ty) {
        return Err(unsupported(ty, "generic types have no column type"));
    }
    let mapped = match name.as_str() {
        "i16" => "smallint",
        "i32" => "integer",
        "i64" => "bigint",
        "f32" => "real",
        "f64" => "double precision",
        "bool" => "boolean",
        "String" => "text",
        "Uuid" => "uuid",
        "NaiveDateTime" | "PrimitiveDateTime" => "timestamp",
        "OffsetDateTime" => "timestamptz",
        "NaiveDate" | "Date" => "date",
        "NaiveTime" | "Time" => "time",
        "Value" | "JsonValue" => "jsonb",
        "Decimal" | "BigDecimal" => "numeric",
        "IpNetwork" | "IpAddr" => "inet",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            return Err(unsupported(
                ty,
                "PostgreSQL has no unsigned integers; use i16, i32 or i64",
            ))
        }
        "i8" | "i128" | "isize" => {
            return Err(unsupported(ty, "PostgreSQL integers are i16, i32 and i64"))
        }
        _ => return Err(unsupported(ty, "no column type is known for it")),
    };
    Ok(mapped.into())
}

fn unsupported(ty: &Type, why: &str) -> Unsupported {
    let shown = ty
        .to_token_stream()
        .to_string()
        .replace(" :: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
        .replace(" ,", ",");
    let message = if why.contains("integers") {
        // sqlx cannot encode these at all: `sql_type` would not help.
        format!("unsupported column type `{shown}`: {why}")
    } else {
        format!(
            "unsupported column type `{shown}`: {why} ({SUPPORTED}); name a column type with `#[tenant(sql_type = \"...\")]`"
        )
    };
    Unsupported { message }
}

/// Strips parentheses and invisible groups (from `macro_rules!`).
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => peel(&inner.elem),
        Type::Group(inner) => peel(&inner.elem),
        other => other,
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn last_ident(ty: &Type) -> Option<String> {
    last_segment(ty).map(|s| s.ident.to_string())
}

fn has_args(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| !matches!(s.arguments, PathArguments::None))
}

/// `Name<T>` -> `T`, for the first type argument.
fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let segment = last_segment(ty)?;
    if segment.ident != name {
        return None;
    }
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn sql(ty: Type) -> (String, bool) {
        let mapped = map(&ty).unwrap();
        (mapped.sql_type, mapped.nullable)
    }

    #[test]
    fn maps_the_documented_types() {
        assert_eq!(sql(parse_quote!(i16)), ("smallint".into(), false));
        assert_eq!(sql(parse_quote!(i32)).0, "integer");
        assert_eq!(sql(parse_quote!(i64)).0, "bigint");
        assert_eq!(sql(parse_quote!(f32)).0, "real");
        assert_eq!(sql(parse_quote!(f64)).0, "double precision");
        assert_eq!(sql(parse_quote!(bool)).0, "boolean");
        assert_eq!(sql(parse_quote!(String)).0, "text");
        assert_eq!(sql(parse_quote!(&'static str)).0, "text");
        assert_eq!(sql(parse_quote!(Vec<u8>)).0, "bytea");
        assert_eq!(sql(parse_quote!(Vec<i64>)).0, "bigint[]");
        assert_eq!(sql(parse_quote!(uuid::Uuid)).0, "uuid");
        assert_eq!(
            sql(parse_quote!(chrono::DateTime<chrono::Utc>)).0,
            "timestamptz"
        );
        assert_eq!(sql(parse_quote!(chrono::NaiveDate)).0, "date");
        assert_eq!(sql(parse_quote!(time::OffsetDateTime)).0, "timestamptz");
        assert_eq!(sql(parse_quote!(time::PrimitiveDateTime)).0, "timestamp");
        assert_eq!(sql(parse_quote!(serde_json::Value)).0, "jsonb");
        assert_eq!(sql(parse_quote!(sqlx::types::Json<Settings>)).0, "jsonb");
        assert_eq!(sql(parse_quote!(rust_decimal::Decimal)).0, "numeric");
    }

    #[test]
    fn option_is_nullable() {
        assert_eq!(sql(parse_quote!(Option<String>)), ("text".into(), true));
        assert_eq!(
            sql(parse_quote!(std::option::Option<Vec<u8>>)),
            ("bytea".into(), true)
        );
    }

    #[test]
    fn unsupported_types_say_why() {
        let err = map(&parse_quote!(u64)).unwrap_err();
        assert!(
            err.message.contains("unsupported column type `u64`"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("no unsigned integers"),
            "{}",
            err.message
        );
        let err = map(&parse_quote!(Option<Option<i32>>)).unwrap_err();
        assert!(
            err.message.contains("Option<Option<i32>>"),
            "{}",
            err.message
        );
        assert!(map(&parse_quote!(HashMap<String, i32>)).is_err());
        assert!(map(&parse_quote!(MyType)).is_err());
        assert!(map(&parse_quote!((i32, i32))).is_err());
        assert!(map(&parse_quote!(Vec<Option<i32>>)).is_err());
    }

    #[test]
    fn tenant_key_types() {
        assert!(is_string(&parse_quote!(String)));
        assert!(is_string(&parse_quote!(&'static str)));
        assert!(!is_string(&parse_quote!(Option<String>)));
        assert!(!is_string(&parse_quote!(i64)));
        assert!(is_option(&parse_quote!(Option<i64>)));
    }
}
