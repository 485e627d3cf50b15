//! `#[tenant(...)]` attributes on the struct and its fields.
//!
//! Parsing never stops at the first mistake: unknown keys, duplicates and
//! values of the wrong kind are recorded in the [`Ctxt`] and parsing goes on
//! with the next key.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Token};

use super::ctxt::Ctxt;

/// The attribute's name: `#[tenant(...)]`.
pub const TENANT: &str = "tenant";

const CONTAINER_KEYS: &str = "`table = \"...\"`, `from_row = false`, `row_level_security = true`";
const FIELD_KEYS: &str = "`key`, `primary_key`, `unique`, `index`, `default = \"...\"`, `skip_insert`, `identity`, `generated = \"...\"`, `references = \"table(column)\"`, `sql_type = \"...\"`";

/// A value given at most once, remembering where.
#[derive(Debug, Clone)]
pub struct Attr<T> {
    name: &'static str,
    value: Option<(Span, T)>,
}

impl<T> Attr<T> {
    fn none(name: &'static str) -> Self {
        Attr { name, value: None }
    }

    fn set(&mut self, cx: &Ctxt, span: Span, value: T) {
        if self.value.is_some() {
            cx.error_at(span, format!("duplicate tenant attribute `{}`", self.name));
        } else {
            self.value = Some((span, value));
        }
    }

    /// The value, if given.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    /// Where the attribute was written, if it was.
    pub fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(s, _)| *s)
    }
}

impl Attr<()> {
    /// True when the flag was given.
    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// Attributes of the struct.
#[derive(Debug)]
pub struct Container {
    /// `table = "forms"` (may be schema-qualified: `app.forms`).
    pub table: Attr<String>,
    /// `from_row = false`: the user implements `sqlx::FromRow` themself.
    pub from_row: Attr<bool>,
    /// `row_level_security = true`: install row-level security on the table.
    pub row_level_security: Attr<bool>,
}

/// Attributes of one field.
#[derive(Debug)]
pub struct Field {
    /// `key`: this field is the tenant key.
    pub key: Attr<()>,
    /// `primary_key` (several fields form a composite key, in order).
    pub primary_key: Attr<()>,
    /// `unique`.
    pub unique: Attr<()>,
    /// `index`.
    pub index: Attr<()>,
    /// `default = "now()"`.
    pub default: Attr<String>,
    /// `skip_insert`: `insert` leaves the column to its default.
    pub skip_insert: Attr<()>,
    /// `identity`: `GENERATED ALWAYS AS IDENTITY`.
    pub identity: Attr<()>,
    /// `generated = "lower(email)"`: `GENERATED ALWAYS AS (..) STORED`.
    pub generated: Attr<String>,
    /// `references = "forms(id)"`.
    pub references: Attr<Reference>,
    /// `sql_type = "citext"`.
    pub sql_type: Attr<String>,
}

/// A parsed `references = "table(column)"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referenced table, possibly `schema.table`.
    pub table: String,
    /// The referenced column.
    pub column: String,
}

impl Container {
    /// Reads every `#[tenant(...)]` of the struct.
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = Container {
            table: Attr::none("table"),
            from_row: Attr::none("from_row"),
            row_level_security: Attr::none("row_level_security"),
        };
        for_each_tenant_meta(cx, attrs, |meta| {
            let span = meta.path.span();
            if meta.path.is_ident("table") {
                if let Some((lit_span, table)) = string_value(cx, &meta, "table = \"forms\"")? {
                    if let Some(problem) = identifier_problem(&table, true) {
                        cx.error_at(lit_span, format!("invalid table name {table:?}: {problem}"));
                    } else {
                        out.table.set(cx, span, table);
                    }
                }
            } else if meta.path.is_ident("from_row") {
                if let Some(value) = bool_value(cx, &meta, "from_row = false")? {
                    out.from_row.set(cx, span, value);
                }
            } else if meta.path.is_ident("row_level_security") {
                if let Some(value) = bool_value(cx, &meta, "row_level_security = true")? {
                    out.row_level_security.set(cx, span, value);
                }
            } else {
                unknown(cx, &meta, "struct", CONTAINER_KEYS)?;
            }
            Ok(())
        });
        out
    }
}

impl Field {
    /// Reads every `#[tenant(...)]` of a field.
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = Field {
            key: Attr::none("key"),
            primary_key: Attr::none("primary_key"),
            unique: Attr::none("unique"),
            index: Attr::none("index"),
            default: Attr::none("default"),
            skip_insert: Attr::none("skip_insert"),
            identity: Attr::none("identity"),
            generated: Attr::none("generated"),
            references: Attr::none("references"),
            sql_type: Attr::none("sql_type"),
        };
        for_each_tenant_meta(cx, attrs, |meta| {
            let span = meta.path.span();
            let flags: [(&str, &mut Attr<()>); 6] = [
                ("key", &mut out.key),
                ("primary_key", &mut out.primary_key),
                ("unique", &mut out.unique),
                ("index", &mut out.index),
                ("skip_insert", &mut out.skip_insert),
                ("identity", &mut out.identity),
            ];
            for (name, attr) in flags {
                if meta.path.is_ident(name) {
                    if flag(cx, &meta, name)? {
                        attr.set(cx, span, ());
                    }
                    return Ok(());
                }
            }
            if meta.path.is_ident("default") {
                if let Some((_, value)) = string_value(cx, &meta, "default = \"now()\"")? {
                    out.default.set(cx, span, value);
                }
            } else if meta.path.is_ident("generated") {
                if let Some((_, value)) = string_value(cx, &meta, "generated = \"lower(email)\"")? {
                    out.generated.set(cx, span, value);
                }
            } else if meta.path.is_ident("sql_type") {
                if let Some((_, value)) = string_value(cx, &meta, "sql_type = \"citext\"")? {
                    out.sql_type.set(cx, span, value);
                }
            } else if meta.path.is_ident("references") {
                if let Some((lit_span, value)) =
                    string_value(cx, &meta, "references = \"forms(id)\"")?
                {
                    match parse_reference(&value) {
                        Ok(reference) => out.references.set(cx, span, reference),
                        Err(problem) => cx.error_at(
                            lit_span,
                            format!("invalid `references = {value:?}`: {problem}; write `references = \"table(column)\"`"),
                        ),
                    }
                }
            } else {
                unknown(cx, &meta, "field", FIELD_KEYS)?;
            }
            Ok(())
        });
        out
    }
}

/// Calls `f` for each key inside every `#[tenant(...)]` in `attrs`.
fn for_each_tenant_meta(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    mut f: impl FnMut(ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(TENANT)) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            cx.error_spanned_by(attr, "expected `#[tenant(...)]`");
            continue;
        }
        if let Err(error) = attr.parse_nested_meta(&mut f) {
            cx.syn_error(error);
        }
    }
}

/// `name = "..."`: the string and its span, or an error recorded.
fn string_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    example: &str,
) -> syn::Result<Option<(Span, String)>> {
    let name = path_name(meta);
    if !meta.input.peek(Token![=]) {
        cx.error_at(
            meta.path.span(),
            format!("`{name}` needs a value: `{example}`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let value = lit.value();
            if value.trim().is_empty() {
                cx.error_spanned_by(lit, format!("`{name}` must not be empty"));
                return Ok(None);
            }
            Ok(Some((lit.span(), value)))
        }
        other => {
            cx.error_spanned_by(
                other,
                format!("`{name}` takes a string literal: `{example}`"),
            );
            Ok(None)
        }
    }
}

/// `name = true|false`.
fn bool_value(cx: &Ctxt, meta: &ParseNestedMeta, example: &str) -> syn::Result<Option<bool>> {
    let name = path_name(meta);
    if !meta.input.peek(Token![=]) {
        cx.error_at(
            meta.path.span(),
            format!("`{name}` needs a value: `{example}`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(lit),
            ..
        }) => Ok(Some(lit.value)),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{name}` takes `true` or `false`: `{example}`"),
            );
            Ok(None)
        }
    }
}

/// A flag: valid only without a value.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta, name: &str) -> syn::Result<bool> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.error_at(
            meta.path.span(),
            format!("`{name}` takes no value: write `#[tenant({name})]`"),
        );
        skip_value(meta)?;
        return Ok(false);
    }
    Ok(true)
}

fn unknown(cx: &Ctxt, meta: &ParseNestedMeta, on: &str, expected: &str) -> syn::Result<()> {
    let name = path_name(meta);
    cx.error_at(
        meta.path.span(),
        format!("unknown tenant attribute `{name}` on a {on}; expected one of {expected}"),
    );
    skip_value(meta)
}

/// Consumes `= value` or `(...)` after a key we reject, so the next key parses.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
        let _: proc_macro2::TokenStream = _content.parse()?;
    }
    Ok(())
}

fn path_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Why `name` is not a usable (optionally schema-qualified) identifier.
fn identifier_problem(name: &str, allow_schema: bool) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || (!allow_schema && parts.len() > 1) {
        return Some("too many dots".into());
    }
    for part in parts {
        if part.is_empty() {
            return Some("empty name part".into());
        }
        if !part
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
            || part.starts_with(|c: char| c.is_ascii_digit() || c == '$')
        {
            return Some(format!(
                "`{part}` is not a plain identifier (letters, digits, `_`)"
            ));
        }
    }
    None
}

/// Parses `table(column)` / `schema.table(column)`.
pub fn parse_reference(text: &str) -> Result<Reference, String> {
    let text = text.trim();
    let open = text.find('(').ok_or("missing `(column)`")?;
    let close = text.rfind(')').ok_or("missing `)`")?;
    if close != text.len() - 1 || close < open {
        return Err("text after `)`".into());
    }
    let table = text[..open].trim();
    let column = text[open + 1..close].trim();
    if table.is_empty() {
        return Err("missing table name".into());
    }
    if column.is_empty() {
        return Err("missing column name".into());
    }
    if column.contains(',') {
        return Err("one column only (the tenant column is added automatically)".into());
    }
    if let Some(problem) = identifier_problem(table, true) {
        return Err(problem);
    }
    if let Some(problem) = identifier_problem(column, false) {
        return Err(problem);
    }
    Ok(Reference {
        table: table.to_string(),
        column: column.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn messages(cx: Ctxt) -> Vec<String> {
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn reads_container_attributes() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> =
            vec![parse_quote!(#[tenant(table = "app.forms", from_row = false)])];
        let c = Container::from_ast(&cx, &attrs);
        assert!(messages(cx).is_empty());
        assert_eq!(c.table.get().unwrap(), "app.forms");
        assert_eq!(c.from_row.get(), Some(&false));
    }

    #[test]
    fn accumulates_every_mistake() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> = vec![
            parse_quote!(#[tenant(tabel = "x", table = 5, from_row = "no")]),
            parse_quote!(#[tenant(table = "a", table = "b")]),
        ];
        let _ = Container::from_ast(&cx, &attrs);
        let errors = messages(cx);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("unknown tenant attribute `tabel`"));
        assert!(errors[1].contains("`table` takes a string literal"));
        assert!(errors[2].contains("`from_row` takes `true` or `false`"));
        assert!(errors[3].contains("duplicate tenant attribute `table`"));
    }

    #[test]
    fn reads_field_attributes() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> = vec![parse_quote!(
            #[tenant(primary_key, unique, index, default = "now()", references = "forms(id)", sql_type = "citext")]
        )];
        let f = Field::from_ast(&cx, &attrs);
        assert!(messages(cx).is_empty());
        assert!(f.primary_key.is_set() && f.unique.is_set() && f.index.is_set());
        assert!(!f.key.is_set());
        assert_eq!(f.default.get().unwrap(), "now()");
        assert_eq!(f.sql_type.get().unwrap(), "citext");
        assert_eq!(
            f.references.get().unwrap(),
            &Reference {
                table: "forms".into(),
                column: "id".into()
            }
        );
    }

    #[test]
    fn reads_what_the_database_fills() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> = vec![
            parse_quote!(#[tenant(identity)]),
            parse_quote!(#[tenant(generated = "lower(email)", default = "now()", skip_insert)]),
        ];
        let f = Field::from_ast(&cx, &attrs);
        assert!(messages(cx).is_empty());
        assert!(f.identity.is_set() && f.skip_insert.is_set());
        assert_eq!(f.generated.get().unwrap(), "lower(email)");
    }

    #[test]
    fn field_mistakes_are_named() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> = vec![parse_quote!(
            #[tenant(key = true, references = "forms", defualt = "1", sql_type, index(x))]
        )];
        let _ = Field::from_ast(&cx, &attrs);
        let errors = messages(cx);
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("`key` takes no value"));
        assert!(errors[1].contains("invalid `references = \"forms\"`"));
        assert!(errors[2].contains("unknown tenant attribute `defualt`"));
        assert!(errors[3].contains("`sql_type` needs a value"));
        assert!(errors[4].contains("`index` takes no value"));
    }

    #[test]
    fn bare_attribute_is_an_error() {
        let cx = Ctxt::new();
        let attrs: Vec<syn::Attribute> = vec![parse_quote!(#[tenant])];
        let _ = Field::from_ast(&cx, &attrs);
        assert_eq!(messages(cx), ["expected `#[tenant(...)]`"]);
    }

    #[test]
    fn references_parse() {
        assert_eq!(
            parse_reference("app.forms ( id )").unwrap().table,
            "app.forms"
        );
        assert!(parse_reference("forms(a, b)").is_err());
        assert!(parse_reference("(id)").is_err());
        assert!(parse_reference("forms(id) x").is_err());
        assert!(parse_reference("forms()").is_err());
        assert!(parse_reference("fo rms(id)").is_err());
    }
}
