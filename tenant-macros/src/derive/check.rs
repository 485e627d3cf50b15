//! Semantic checks of the derive input against itself and `tenancy.toml`,
//! producing the table [`Model`] that code generation works from.
//!
//! Every problem is recorded in the [`Ctxt`]; the model is still built as
//! well as possible so the fallback code has the right shape.

use syn::Ident;
use tenant_core::schema::{is_serial_type, Generated, IDENTITY_TYPES};
use tenant_core::TableKind;

use super::ast::Container;
use super::attr::Reference;
use super::ctxt::Ctxt;
use super::types;
use crate::config::LoadedConfig;

/// One column of the table.
pub struct Column<'a> {
    /// The field.
    pub ident: &'a Ident,
    /// The field's type.
    pub ty: &'a syn::Type,
    /// The column name.
    pub name: String,
    /// The PostgreSQL type (`text` as a placeholder when unmappable).
    pub sql_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The DEFAULT expression.
    pub default: Option<String>,
    /// An identity or a stored generated column.
    pub generated: Option<Generated>,
    /// `#[tenant(skip_insert)]`: `insert` leaves it to its default.
    pub skip_insert: bool,
}

impl Column<'_> {
    /// The database writes this column on every insert (identity, generated,
    /// serial): `insert` leaves it out and no statement sets it by hand.
    pub fn filled_by_database(&self) -> bool {
        self.generated.is_some() || is_serial_type(&self.sql_type)
    }

    /// `insert` leaves this column out and reads it back with RETURNING.
    pub fn left_to_database_on_insert(&self) -> bool {
        self.skip_insert || self.filled_by_database()
    }

    /// An UPDATE may not write it: identities and generated columns.
    pub fn never_updated(&self) -> bool {
        self.generated.is_some()
    }
}

/// The table as the generated code sees it.
pub struct Model<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's generics (only non-empty in the error case).
    pub generics: &'a syn::Generics,
    /// The schema of the table, when qualified.
    pub schema: Option<String>,
    /// The table's name.
    pub table: String,
    /// The tenant column.
    pub tenant_column: String,
    /// Index of the tenant key in `columns`, when found.
    pub key: Option<usize>,
    /// Columns in declaration order.
    pub columns: Vec<Column<'a>>,
    /// Indexes in `columns` of the primary key (without the tenant key).
    pub primary_key: Vec<usize>,
    /// Single-column unique constraints.
    pub unique: Vec<usize>,
    /// Single-column indexes.
    pub indexes: Vec<usize>,
    /// Foreign keys: column index and what it references.
    pub foreign_keys: Vec<(usize, Reference)>,
    /// Whether to emit a `sqlx::FromRow` impl.
    pub emit_from_row: bool,
    /// `#[tenant(row_level_security = true)]`.
    pub row_level_security: bool,
    /// `forbid_delete` in the configuration: no `delete` method.
    pub forbid_delete: bool,
}

/// The default table name: snake_case of the struct name plus a plain `s`.
pub fn default_table_name(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out.push('s');
    out
}

/// Checks `container` and builds its model.
pub fn check<'a>(cx: &Ctxt, container: &Container<'a>, loaded: &LoadedConfig) -> Model<'a> {
    let config = &loaded.config;
    let table_attr_span = container.attrs.table.span();
    let qualified = container
        .attrs
        .table
        .get()
        .cloned()
        .unwrap_or_else(|| default_table_name(&container.ident.to_string()));
    let (schema, table) = match qualified.split_once('.') {
        Some((schema, table)) => (Some(schema.to_string()), table.to_string()),
        None => (None, qualified.clone()),
    };
    let error_span = table_attr_span.unwrap_or_else(|| container.ident.span());
    let tenant_column = match config.table_kind(schema.as_deref(), &table) {
        TableKind::Global => {
            cx.error_at(
                error_span,
                format!(
                    "table `{qualified}` is global in {}: a global table is shared by all tenants and has no tenant key, so it cannot derive TenantTable; remove `{qualified}` from the global tables or do not derive TenantTable",
                    loaded.origin()
                ),
            );
            config.tenant_column.clone()
        }
        TableKind::Tenant { column } => column,
    };

    let mut columns = Vec::new();
    for field in &container.fields {
        let (sql_type, nullable) = match (field.attrs.sql_type.get(), types::map(field.ty)) {
            (Some(explicit), _) => (explicit.clone(), types::is_option(field.ty)),
            (None, Ok(mapped)) => (mapped.sql_type, mapped.nullable),
            (None, Err(unsupported)) => {
                cx.error_spanned_by(field.ty, unsupported.message);
                ("text".to_string(), types::is_option(field.ty))
            }
        };
        // The tenant key's own attributes are refused by check_key_field.
        let is_key = field.attrs.key.is_set() || field.name == tenant_column;
        let generated = if is_key {
            None
        } else {
            generated_by_database(cx, field, &sql_type)
        };
        let filled = generated.is_some() || is_serial_type(&sql_type);
        let default = field.attrs.default.get().cloned();
        if let (false, Some(span)) = (is_key, field.attrs.skip_insert.span()) {
            if default.is_none() && !filled && !nullable {
                cx.error_at(
                    span,
                    format!(
                        "`skip_insert` leaves `{}` to the database on insert, but the column has no default and is NOT NULL, so every insert would fail; add `default = \"...\"`",
                        field.name
                    ),
                );
            }
        }
        columns.push(Column {
            ident: field.ident,
            ty: field.ty,
            name: field.name.clone(),
            sql_type,
            nullable,
            default,
            generated,
            skip_insert: field.attrs.skip_insert.is_set(),
        });
    }

    let key = find_key(cx, container, &tenant_column, &qualified, loaded);
    if let Some(index) = key {
        check_key_field(cx, container, index);
    }

    let mut primary_key = Vec::new();
    let mut unique = Vec::new();
    let mut indexes = Vec::new();
    let mut foreign_keys = Vec::new();
    for (index, field) in container.fields.iter().enumerate() {
        if Some(index) == key {
            continue;
        }
        if field.attrs.primary_key.is_set() {
            if types::is_option(field.ty) {
                cx.error_spanned_by(
                    field.ty,
                    format!(
                        "primary key column `{}` cannot be an `Option`: primary keys are NOT NULL",
                        field.name
                    ),
                );
            }
            primary_key.push(index);
        }
        if field.attrs.unique.is_set() {
            unique.push(index);
        }
        if field.attrs.index.is_set() {
            indexes.push(index);
        }
        if let Some(reference) = field.attrs.references.get() {
            let (ref_schema, ref_table) = match reference.table.split_once('.') {
                Some((s, t)) => (Some(s), t),
                None => (None, reference.table.as_str()),
            };
            if config.table_kind(ref_schema, ref_table) == TableKind::Global {
                cx.error_at(
                    field.attrs.references.span().unwrap_or_else(|| field.ident.span()),
                    format!(
                        "`references` points at `{}`, which is global in {}: the tenant-scoped foreign key `({tenant_column}, {}) REFERENCES {} ({tenant_column}, {})` needs a tenant table; declare a plain foreign key to a global table in a migration",
                        reference.table, loaded.origin(), field.name, reference.table, reference.column
                    ),
                );
            }
            foreign_keys.push((index, reference.clone()));
        }
    }

    let user_implements =
        container.derives_from_row || container.attrs.from_row.get() == Some(&false);
    Model {
        ident: container.ident,
        generics: container.generics,
        schema,
        table,
        tenant_column,
        key,
        columns,
        primary_key,
        unique,
        indexes,
        foreign_keys,
        emit_from_row: !user_implements,
        row_level_security: container.attrs.row_level_security.get() == Some(&true),
        forbid_delete: config.forbid_delete,
    }
}

/// What `#[tenant(identity)]` or `#[tenant(generated = "..")]` asks of the
/// database, after checking they fit the field.
fn generated_by_database(
    cx: &Ctxt,
    field: &super::ast::Field,
    sql_type: &str,
) -> Option<Generated> {
    let attrs = &field.attrs;
    let name = &field.name;
    if let (Some(_), Some(span)) = (attrs.identity.span(), attrs.generated.span()) {
        cx.error_at(
            span,
            format!("`{name}` cannot be both `identity` and `generated`: pick the one the database computes"),
        );
    }
    let generated = if attrs.identity.is_set() {
        Some(Generated::IdentityAlways)
    } else {
        attrs.generated.get().cloned().map(Generated::Stored)
    };
    let kind = match &generated {
        Some(Generated::Stored(_)) => "generated",
        Some(_) => "identity",
        None => return None,
    };
    let span = attrs
        .identity
        .span()
        .or(attrs.generated.span())
        .unwrap_or_else(|| field.ident.span());
    if let Some(default_span) = attrs.default.span() {
        cx.error_at(
            default_span,
            format!("`{name}` is `{kind}`, so the database computes it: a `default` would never apply; remove it"),
        );
    }
    if kind == "identity" {
        if types::is_option(field.ty) {
            cx.error_spanned_by(
                field.ty,
                format!("identity column `{name}` cannot be an `Option`: the database always fills it, so it is never NULL"),
            );
        }
        let base = sql_type.trim().to_ascii_lowercase();
        if !IDENTITY_TYPES.contains(&base.as_str()) {
            cx.error_at(
                span,
                format!("`identity` needs an integer column (i16, i32 or i64: smallint, integer, bigint), but `{name}` is `{sql_type}`"),
            );
        }
    }
    generated
}

/// The index of the tenant key field: the one marked `#[tenant(key)]`, or
/// the one named like the configured tenant column.
fn find_key(
    cx: &Ctxt,
    container: &Container,
    tenant_column: &str,
    table: &str,
    loaded: &LoadedConfig,
) -> Option<usize> {
    let marked: Vec<usize> = container
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.attrs.key.is_set())
        .map(|(i, _)| i)
        .collect();
    for &extra in marked.iter().skip(1) {
        let field = &container.fields[extra];
        cx.error_at(
            field.attrs.key.span().unwrap_or_else(|| field.ident.span()),
            format!(
                "only one field can be the tenant key, but `{}` is marked `#[tenant(key)]` as well as `{}`",
                field.name, container.fields[marked[0]].name
            ),
        );
    }
    if let Some(&index) = marked.first() {
        let field = &container.fields[index];
        if field.name != tenant_column {
            cx.error_at(
                field.attrs.key.span().unwrap_or_else(|| field.ident.span()),
                format!(
                    "`{}` is marked as the tenant key, but {} says the tenant column of `{table}` is `{tenant_column}`; rename the field, or set `[tables.{table}] tenant_column = \"{}\"` in tenancy.toml so queries are checked against the same column",
                    field.name, loaded.origin(), field.name
                ),
            );
        }
        return Some(index);
    }
    let by_name = container
        .fields
        .iter()
        .position(|f| f.name == tenant_column);
    if by_name.is_none() {
        cx.error_spanned_by(
            container.ident,
            format!(
                "`{}` has no tenant key: the tenant column of `{table}` is `{tenant_column}` ({}); add a field `{tenant_column}: String`, or mark the tenant key field with `#[tenant(key)]` and name that column in tenancy.toml",
                container.ident,
                loaded.origin()
            ),
        );
    }
    by_name
}

/// The tenant key must be a NOT NULL text column without constraints of its
/// own (it is prepended to every constraint automatically).
fn check_key_field(cx: &Ctxt, container: &Container, index: usize) {
    let field = &container.fields[index];
    if !types::is_string(field.ty) {
        cx.error_spanned_by(
            field.ty,
            format!(
                "the tenant key `{}` must be a `String`: tenant ids are text (`Tenant::id()` is a `&str`) and never NULL",
                field.name
            ),
        );
    }
    let attrs = &field.attrs;
    let misplaced = [
        ("primary_key", attrs.primary_key.span()),
        ("unique", attrs.unique.span()),
        ("index", attrs.index.span()),
        ("references", attrs.references.span()),
        ("default", attrs.default.span()),
        ("skip_insert", attrs.skip_insert.span()),
        ("identity", attrs.identity.span()),
        ("generated", attrs.generated.span()),
    ];
    for (name, span) in misplaced {
        if let Some(span) = span {
            let why = if matches!(
                name,
                "default" | "references" | "skip_insert" | "identity" | "generated"
            ) {
                "the tenant key is always the requesting tenant"
            } else {
                "the tenant key is prepended to every primary key, unique constraint and index automatically"
            };
            cx.error_at(
                span,
                format!(
                    "`{name}` is not allowed on the tenant key `{}`: {why}",
                    field.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{parse_quote, DeriveInput};

    /// Table name, key index, primary key, emit FromRow.
    type Summary = (String, Option<usize>, Vec<usize>, bool);

    fn run(input: DeriveInput, toml: &str) -> (Vec<String>, Option<Summary>) {
        let cx = Ctxt::new();
        let loaded = LoadedConfig::from_toml(toml);
        let summary = Container::from_ast(&cx, &input).map(|c| {
            let m = check(&cx, &c, &loaded);
            (m.table, m.key, m.primary_key, m.emit_from_row)
        });
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (errors, summary)
    }

    #[test]
    fn default_names_are_snake_case_plural() {
        assert_eq!(default_table_name("Form"), "forms");
        assert_eq!(default_table_name("FormSubmission"), "form_submissions");
        assert_eq!(default_table_name("HTTPRequest"), "http_requests");
        assert_eq!(default_table_name("V2Thing"), "v2_things");
    }

    #[test]
    fn valid_struct_builds_a_model() {
        let (errors, model) = run(
            parse_quote! {
                struct FormSubmission {
                    #[tenant(primary_key)] id: i64,
                    tenant_id: String,
                    #[tenant(references = "forms(id)", index)] form_id: i64,
                }
            },
            "",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            model.unwrap(),
            ("form_submissions".into(), Some(1), vec![0], true)
        );
    }

    #[test]
    fn missing_key_is_an_error() {
        let (errors, _) = run(
            parse_quote!(
                struct Form {
                    id: i64,
                }
            ),
            "",
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`Form` has no tenant key"), "{errors:?}");
        assert!(errors[0].contains("`tenant_id`"), "{errors:?}");
    }

    #[test]
    fn configured_column_and_marked_key_must_agree() {
        let (errors, _) = run(
            parse_quote!(
                struct Form {
                    #[tenant(key)]
                    org: String,
                }
            ),
            "",
        );
        assert!(
            errors[0].contains("tenant column of `forms` is `tenant_id`"),
            "{errors:?}"
        );
        let (errors, model) = run(
            parse_quote!(
                struct Form {
                    #[tenant(key)]
                    org: String,
                }
            ),
            "[tables.forms]\ntenant_column = \"org\"",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(model.unwrap().1, Some(0));
        let (errors, model) = run(
            parse_quote!(
                struct Form {
                    org: String,
                }
            ),
            "tenant_column = \"org\"",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(model.unwrap().1, Some(0));
    }

    #[test]
    fn global_table_is_refused() {
        let (errors, _) = run(
            parse_quote!(
                #[tenant(table = "plans")]
                struct Plan {
                    tenant_id: String,
                }
            ),
            "global_tables = [\"plans\"]",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("table `plans` is global"), "{errors:?}");
    }

    #[test]
    fn key_field_rules() {
        let (errors, _) = run(
            parse_quote!(
                struct Form {
                    #[tenant(primary_key, index)]
                    tenant_id: Option<String>,
                }
            ),
            "",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("must be a `String`"));
        assert!(errors[1].contains("`primary_key` is not allowed on the tenant key"));
        assert!(errors[2].contains("`index` is not allowed"));
    }

    #[test]
    fn every_error_is_reported_together() {
        let (errors, _) = run(
            parse_quote! {
                #[tenant(tabel = "x")]
                struct Form {
                    tenant_id: String,
                    a: u64,
                    #[tenant(primary_key)] b: Option<i64>,
                    #[tenant(key)] c: String,
                    #[tenant(references = "plans(id)")] d: i64,
                }
            },
            "global_tables = [\"plans\"]",
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn from_row_can_be_left_to_the_user() {
        let (_, model) = run(
            parse_quote!(
                #[tenant(from_row = false)]
                struct Form {
                    tenant_id: String,
                }
            ),
            "",
        );
        assert!(!model.unwrap().3);
    }
}
