//! The schema model: a tenant table as a LIST-partitioned parent, and the DDL
//! that creates it and one tenant's partition.
//!
//! `#[derive(TenantTable)]` builds a [`TableSchema`] at compile time; the
//! runtime and the CLI build one from the catalog. Both produce DDL here, so
//! the two paths cannot drift apart.

use serde::{Deserialize, Serialize};

/// One column of a tenant table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name (folded: lower-case unless it needs quoting).
    pub name: String,
    /// The PostgreSQL type, e.g. `bigint`, `text`, `timestamptz`.
    pub sql_type: String,
    /// `false` adds NOT NULL.
    pub nullable: bool,
    /// A DEFAULT expression, copied verbatim (it comes from the developer's
    /// own attribute or the catalog, never from end users).
    pub default: Option<String>,
}

/// A composite foreign key. The tenant column is prepended to both sides, so
/// the database refuses a row that points at another tenant's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Referencing columns, without the tenant column.
    pub columns: Vec<String>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns, without the tenant column.
    pub ref_columns: Vec<String>,
}

/// A tenant table: a parent LIST-partitioned by its tenant column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Schema of the parent; `None` means `public`. The runtime always names
    /// tables with their schema, so neither a `search_path` nor a temporary
    /// table of the same name (`pg_temp` is searched first) can stand in for
    /// them: declare the schema when the tables live elsewhere.
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// The tenant column (also the partition key).
    pub tenant_column: String,
    /// Columns in declaration order (including the tenant column).
    pub columns: Vec<ColumnDef>,
    /// Primary-key columns without the tenant column (prepended in the DDL).
    pub primary_key: Vec<String>,
    /// Unique constraints, each without the tenant column.
    pub unique: Vec<Vec<String>>,
    /// Plain indexes, each without the tenant column.
    pub indexes: Vec<Vec<String>>,
    /// Composite foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Install row-level security on this table and its partitions (see
    /// [`TableSchema::row_level_security_ddl`]); `#[tenant(row_level_security
    /// = true)]` on the struct sets it.
    #[serde(default)]
    pub row_level_security: bool,
}

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// The name of the temporary CHECK constraint that implies a partition's
/// bound, so `ATTACH PARTITION` can skip scanning the new table.
pub const BOUND_CHECK_NAME: &str = "tenancy_partition_bound";

/// Keywords that cannot stand unquoted everywhere an identifier can
/// (PostgreSQL's reserved, type/function-name and column-name keywords).
/// Quoting a word that does not need it is harmless, so the list errs wide.
const KEYWORDS_NEEDING_QUOTES: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_object",
    "json_objectagg",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Quotes an identifier for PostgreSQL when it needs it: anything but a
/// lower-case ASCII word (`[a-z_][a-z0-9_$]*`) that is not a keyword gets
/// double quotes, with embedded double quotes doubled. The result is always
/// safe to splice into SQL as one identifier.
///
/// ```
/// use tenant_core::schema::quote_ident;
/// assert_eq!(quote_ident("forms"), "forms");
/// assert_eq!(quote_ident("Forms"), "\"Forms\"");
/// assert_eq!(quote_ident("user"), "\"user\"");
/// assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
/// ```
pub fn quote_ident(ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !KEYWORDS_NEEDING_QUOTES.contains(&ident);
    if plain {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// Quotes a string literal the way PostgreSQL's `quote_literal` does: single
/// quotes doubled, and when the value holds a backslash, an `E'..'` literal
/// with backslashes doubled, so the result means the same whatever
/// `standard_conforming_strings` says. (PostgreSQL text cannot hold NUL;
/// callers validate values first.)
///
/// ```
/// use tenant_core::schema::quote_literal;
/// assert_eq!(quote_literal("it's"), "'it''s'");
/// assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
/// ```
pub fn quote_literal(value: &str) -> String {
    let escaped = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", escaped.replace('\\', "\\\\"))
    } else {
        format!("'{escaped}'")
    }
}

/// `schema.name`, each part quoted; just the name when `schema` is `None`.
pub fn qualified_name(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// A stable 32-bit FNV-1a hash, rendered as 8 hex digits: used to keep
/// generated names unique when they must be shortened. (Stable across Rust
/// versions and platforms, unlike `std`'s hasher.)
fn short_hash(text: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Joins `prefix` and `suffix` with `_` into an identifier of at most
/// [`MAX_IDENTIFIER_BYTES`]. When the whole does not fit, the prefix is cut
/// and a hash of the full prefix keeps distinct prefixes distinct.
fn bounded_identifier(prefix: &str, suffix: &str) -> String {
    let full = format!("{prefix}_{suffix}");
    if full.len() <= MAX_IDENTIFIER_BYTES {
        return full;
    }
    let hash = short_hash(prefix);
    // prefix_cut + "_" + hash + "_" + suffix
    let room = MAX_IDENTIFIER_BYTES.saturating_sub(suffix.len() + hash.len() + 2);
    let cut = truncate_bytes(prefix, room);
    let name = format!("{cut}_{hash}_{suffix}");
    truncate_bytes(&name, MAX_IDENTIFIER_BYTES).to_string()
}

/// The name of the partition of `parent` that holds the tenant whose
/// partition suffix is `suffix` (lives in the parent's schema). At most
/// [`MAX_IDENTIFIER_BYTES`] bytes: long parent names are shortened and
/// disambiguated with a hash, so PostgreSQL never truncates it silently.
///
/// ```
/// use tenant_core::schema::partition_name;
/// assert_eq!(partition_name("forms", "t42"), "forms_t42");
/// assert!(partition_name(&"x".repeat(80), "t42").len() <= 63);
/// ```
pub fn partition_name(parent: &str, suffix: &str) -> String {
    bounded_identifier(parent, suffix)
}

/// The statements that create one tenant's partition of a parent without an
/// ACCESS EXCLUSIVE lock on the parent, in order: create the table like the
/// parent, add a CHECK implying the partition bound (so ATTACH skips its
/// scan), attach it (SHARE UPDATE EXCLUSIVE on the parent), drop the CHECK.
///
/// `LIKE .. INCLUDING ALL` copies defaults, CHECK constraints and indexes
/// (which `ATTACH` then adopts as partitions of the parent's indexes), but
/// not identity: a copied identity would give the partition a sequence of
/// its own, and a row inserted straight into the partition (routed queries)
/// would draw ids the parent's sequence also hands out. The runtime points
/// such columns at the parent's sequence instead. The
/// composite foreign keys are added to the standalone table before it is
/// attached, referencing the tenant's partitions of the referenced tables.
/// Foreign keys declared on the parent itself (a schema made by hand) are
/// cloned onto the partition by `ATTACH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDdl {
    /// The partition's (unquoted) name, in the parent's schema.
    pub partition: String,
    /// `CREATE TABLE part (LIKE parent INCLUDING ALL EXCLUDING IDENTITY)`.
    pub create: String,
    /// `ALTER TABLE part ADD CONSTRAINT .. CHECK (tenant = 'id')`.
    pub add_bound_check: String,
    /// One `ALTER TABLE part ADD FOREIGN KEY (tenant, x) REFERENCES
    /// ref_part (tenant, y)` per foreign key, `ref_part` being the same
    /// tenant's partition of the referenced table (which must exist first).
    pub add_foreign_keys: Vec<String>,
    /// `ALTER TABLE parent ATTACH PARTITION part FOR VALUES IN ('id')`.
    pub attach: String,
    /// `ALTER TABLE part DROP CONSTRAINT ..`.
    pub drop_bound_check: String,
}

impl PartitionDdl {
    /// All statements, in the order they must run.
    pub fn steps(&self) -> Vec<&str> {
        let mut steps = vec![self.create.as_str(), self.add_bound_check.as_str()];
        steps.extend(self.add_foreign_keys.iter().map(String::as_str));
        steps.push(&self.attach);
        steps.push(&self.drop_bound_check);
        steps
    }
}

/// Orders tables so that every table comes after the tables it references
/// (needed for CREATE TABLE with inline foreign keys and for onboarding).
/// References to tables outside the list and self-references are ignored; a
/// cycle keeps the remaining tables in their given order.
pub fn sort_by_dependencies(tables: &[TableSchema]) -> Vec<&TableSchema> {
    let mut remaining: Vec<&TableSchema> = tables.iter().collect();
    let mut sorted: Vec<&TableSchema> = Vec::with_capacity(tables.len());
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|table| {
            table.foreign_keys.iter().all(|fk| {
                fk.ref_table == table.name
                    || !remaining
                        .iter()
                        .any(|other| other.name == fk.ref_table && other.schema == table.schema)
            })
        });
        // A cycle: take the first one as declared; PostgreSQL reports what fails.
        let index = ready.unwrap_or(0);
        sorted.push(remaining.remove(index));
    }
    sorted
}

/// The columns of a key as the partitions declare it: the tenant column
/// first, then `columns` (which leave it out, or have it dropped here).
pub fn key_columns<'a>(
    tenant_column: &'a str,
    columns: &'a [String],
) -> impl Iterator<Item = &'a str> + 'a {
    std::iter::once(tenant_column).chain(
        columns
            .iter()
            .map(String::as_str)
            .filter(move |c| *c != tenant_column),
    )
}

fn column_list(tenant_column: &str, columns: &[String]) -> String {
    key_columns(tenant_column, columns)
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The schema of a table declared without one.
pub const DEFAULT_SCHEMA: &str = "public";

impl TableSchema {
    /// The parent's schema: the declared one, or [`DEFAULT_SCHEMA`].
    pub fn schema_or_default(&self) -> &str {
        self.schema.as_deref().unwrap_or(DEFAULT_SCHEMA)
    }

    /// The parent's quoted, schema-qualified name.
    pub fn qualified_name(&self) -> String {
        qualified_name(Some(self.schema_or_default()), &self.name)
    }

    /// The partition of this table for the tenant with partition suffix
    /// `suffix`, unquoted (see [`partition_name`]).
    pub fn partition_name(&self, suffix: &str) -> String {
        partition_name(&self.name, suffix)
    }

    /// The partition's quoted, schema-qualified name.
    pub fn qualified_partition_name(&self, suffix: &str) -> String {
        qualified_name(Some(self.schema_or_default()), &self.partition_name(suffix))
    }

    /// The names of the tables this one references with a foreign key.
    pub fn referenced_tables(&self) -> impl Iterator<Item = &str> {
        self.foreign_keys.iter().map(|fk| fk.ref_table.as_str())
    }

    /// The statements that create the parent, in order: the partitioned table
    /// (`CREATE TABLE IF NOT EXISTS .. PARTITION BY LIST (tenant)`, with its
    /// primary key and unique constraints, the tenant column prepended to
    /// each) and then `CREATE INDEX IF NOT EXISTS` for each index (also led by
    /// the tenant column). Idempotent.
    ///
    /// The composite foreign keys are not declared on the parent but on each
    /// partition, pointing at the same tenant's partition of the referenced
    /// table (see [`PartitionDdl::add_foreign_keys`]): measured on PostgreSQL
    /// 15, a foreign key between partitioned parents makes every `ATTACH` take
    /// SHARE ROW EXCLUSIVE on the referenced parent and on every one of its
    /// partitions (stalling all tenants' writes), and makes removing a
    /// detached partition take ACCESS EXCLUSIVE on them. Per-partition keys
    /// refuse a cross-tenant reference just the same: the referenced
    /// partition only holds the tenant's own rows.
    pub fn parent_ddl(&self) -> Vec<String> {
        let tenant = &self.tenant_column;
        let mut items: Vec<String> = Vec::new();
        // The tenant column comes first even if not declared, so a schema
        // built by hand without it still yields a valid partitioned table.
        if !self.columns.iter().any(|c| &c.name == tenant) {
            items.push(format!("{} text NOT NULL", quote_ident(tenant)));
        }
        for column in &self.columns {
            let mut item = format!("{} {}", quote_ident(&column.name), column.sql_type);
            // The partition key can never be NULL: a NULL row would have no partition.
            if !column.nullable || &column.name == tenant {
                item.push_str(" NOT NULL");
            }
            if let Some(default) = &column.default {
                item.push_str(" DEFAULT ");
                item.push_str(default);
            }
            items.push(item);
        }
        if !self.primary_key.is_empty() {
            items.push(format!(
                "PRIMARY KEY ({})",
                column_list(tenant, &self.primary_key)
            ));
        }
        for unique in &self.unique {
            items.push(format!("UNIQUE ({})", column_list(tenant, unique)));
        }
        let mut statements = vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    {}\n) PARTITION BY LIST ({})",
            self.qualified_name(),
            items.join(",\n    "),
            quote_ident(tenant)
        )];
        for index in &self.indexes {
            let index_name = bounded_identifier(
                &format!(
                    "{}_{}",
                    self.name,
                    index
                        .iter()
                        .filter(|c| *c != tenant)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("_")
                ),
                "idx",
            );
            statements.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                quote_ident(&index_name),
                self.qualified_name(),
                column_list(tenant, index)
            ));
        }
        statements
    }

    /// [`parent_ddl`](Self::parent_ddl) as one script, statements ended by `;`.
    pub fn parent_ddl_script(&self) -> String {
        self.parent_ddl()
            .iter()
            .map(|s| format!("{s};\n"))
            .collect()
    }

    /// The statements that create and attach the partition of this table for
    /// one tenant (see [`PartitionDdl`]). `tenant_id` is quoted as a literal
    /// here; callers must have rejected ids PostgreSQL text cannot hold (NUL).
    pub fn partition_ddl(&self, suffix: &str, tenant_id: &str) -> PartitionDdl {
        let partition = self.partition_name(suffix);
        let qualified_partition = qualified_name(Some(self.schema_or_default()), &partition);
        let tenant = quote_ident(&self.tenant_column);
        let value = quote_literal(tenant_id);
        PartitionDdl {
            create: format!(
                "CREATE TABLE {qualified_partition} (LIKE {} INCLUDING ALL EXCLUDING IDENTITY)",
                self.qualified_name()
            ),
            add_bound_check: format!(
                "ALTER TABLE {qualified_partition} ADD CONSTRAINT {} CHECK ({tenant} IS NOT NULL AND {tenant} = {value})",
                quote_ident(BOUND_CHECK_NAME)
            ),
            add_foreign_keys: self
                .foreign_keys
                .iter()
                .map(|fk| {
                    format!(
                        "ALTER TABLE {qualified_partition} ADD FOREIGN KEY ({}) REFERENCES {} ({})",
                        column_list(&self.tenant_column, &fk.columns),
                        qualified_name(
                            Some(self.schema_or_default()),
                            &partition_name(&fk.ref_table, suffix)
                        ),
                        column_list(&self.tenant_column, &fk.ref_columns),
                    )
                })
                .collect(),
            attach: format!(
                "ALTER TABLE {} ATTACH PARTITION {qualified_partition} FOR VALUES IN ({value})",
                self.qualified_name()
            ),
            drop_bound_check: format!(
                "ALTER TABLE {qualified_partition} DROP CONSTRAINT {}",
                quote_ident(BOUND_CHECK_NAME)
            ),
            partition,
        }
    }
}

/// The PostgreSQL setting a tenant transaction also sets to the tenant id
/// (transaction-local), for the application's own SQL to read. Policies do
/// not read it: SQL inside the transaction could change it. They call the
/// registry's verifying function instead (see [`TableSchema::row_level_security_ddl`]).
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The name of the policy [`TableSchema::row_level_security_ddl`] creates.
pub const POLICY_NAME: &str = "tenant_isolation";

impl TableSchema {
    /// Row-level security for the parent: ENABLE and FORCE (so the owner is
    /// subject to it too; superusers and BYPASSRLS roles never are) and a
    /// policy that admits only rows of the tenant `tenant_function` returns
    /// (the runtime's registry function `tenancy.current_tenant()`, which
    /// returns the tenant of the transaction only when the runtime's tenant
    /// transaction set it), for reading and writing. The sub-select makes
    /// PostgreSQL evaluate it once per query (an InitPlan), not once per
    /// row. With no tenant it is NULL, and no row matches.
    pub fn row_level_security_ddl(&self, tenant_function: &str) -> Vec<String> {
        self.rls_statements(&self.qualified_name(), tenant_function)
    }

    /// The same policy on one tenant's partition: a query that names the
    /// partition directly (routed queries do) is checked against the
    /// partition's own policies, not the parent's.
    pub fn partition_row_level_security_ddl(
        &self,
        suffix: &str,
        tenant_function: &str,
    ) -> Vec<String> {
        self.rls_statements(&self.qualified_partition_name(suffix), tenant_function)
    }

    fn rls_statements(&self, table: &str, tenant_function: &str) -> Vec<String> {
        let column = quote_ident(&self.tenant_column);
        // Compare in the column's own type so the tenant index stays usable.
        let cast = self
            .columns
            .iter()
            .find(|c| c.name == self.tenant_column)
            .map(|c| c.sql_type.trim().to_ascii_lowercase())
            .filter(|t| !matches!(t.as_str(), "text" | "varchar" | "character varying"))
            .map(|t| format!("::{t}"))
            .unwrap_or_default();
        let predicate = format!("{column} = (SELECT {tenant_function}){cast}");
        let policy = quote_ident(POLICY_NAME);
        vec![
            format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
            format!("DROP POLICY IF EXISTS {policy} ON {table}"),
            format!(
                "CREATE POLICY {policy} ON {table} USING ({predicate}) WITH CHECK ({predicate})"
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_level_security_policy_reads_the_verified_tenant_once_per_query() {
        let ddl = forms().row_level_security_ddl("tenancy.current_tenant()");
        assert_eq!(ddl[0], "ALTER TABLE public.forms ENABLE ROW LEVEL SECURITY");
        assert_eq!(ddl[1], "ALTER TABLE public.forms FORCE ROW LEVEL SECURITY");
        assert_eq!(
            ddl[3],
            "CREATE POLICY tenant_isolation ON public.forms USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()))"
        );
        let mut uuid_keyed = forms();
        uuid_keyed.columns[0].sql_type = "uuid".into();
        assert!(
            uuid_keyed.partition_row_level_security_ddl("t7", "tenancy.current_tenant()")[3]
                .contains(
                "ON public.forms_t7 USING (tenant_id = (SELECT tenancy.current_tenant())::uuid)"
            )
        );
    }

    fn column(name: &str, sql_type: &str, nullable: bool, default: Option<&str>) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable,
            default: default.map(Into::into),
        }
    }

    fn forms() -> TableSchema {
        TableSchema {
            schema: None,
            name: "forms".into(),
            tenant_column: "tenant_id".into(),
            columns: vec![
                column("tenant_id", "text", false, None),
                column("id", "bigint", false, None),
                column("title", "text", false, None),
                column("slug", "text", true, None),
                column("created_at", "timestamptz", false, Some("now()")),
            ],
            primary_key: vec!["id".into()],
            unique: vec![vec!["slug".into()]],
            indexes: vec![vec!["created_at".into()]],
            foreign_keys: vec![],
            row_level_security: false,
        }
    }

    fn submissions() -> TableSchema {
        TableSchema {
            schema: Some("app".into()),
            name: "form_submissions".into(),
            tenant_column: "tenant_id".into(),
            columns: vec![
                column("tenant_id", "text", false, None),
                column("id", "bigint", false, None),
                column("form_id", "bigint", false, None),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![ForeignKey {
                columns: vec!["form_id".into()],
                ref_table: "forms".into(),
                ref_columns: vec!["id".into()],
            }],
            row_level_security: false,
        }
    }

    #[test]
    fn quote_ident_quotes_what_needs_it() {
        assert_eq!(quote_ident("tenant_id"), "tenant_id");
        assert_eq!(quote_ident("_x1$"), "_x1$");
        assert_eq!(quote_ident("1x"), "\"1x\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("with space"), "\"with space\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
        assert_eq!(quote_ident("été"), "\"été\"");
    }

    #[test]
    fn quote_literal_escapes_quotes_and_backslashes() {
        assert_eq!(quote_literal(""), "''");
        assert_eq!(
            quote_literal("x'; DROP TABLE forms; --"),
            "'x''; DROP TABLE forms; --'"
        );
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
        assert_eq!(quote_literal("ünï"), "'ünï'");
    }

    #[test]
    fn parent_ddl_prepends_tenant_everywhere() {
        let ddl = forms().parent_ddl();
        assert_eq!(ddl.len(), 2);
        assert_eq!(
            ddl[0],
            "CREATE TABLE IF NOT EXISTS public.forms (\n    tenant_id text NOT NULL,\n    id bigint NOT NULL,\n    title text NOT NULL,\n    slug text,\n    created_at timestamptz NOT NULL DEFAULT now(),\n    PRIMARY KEY (tenant_id, id),\n    UNIQUE (tenant_id, slug)\n) PARTITION BY LIST (tenant_id)"
        );
        assert_eq!(
            ddl[1],
            "CREATE INDEX IF NOT EXISTS forms_created_at_idx ON public.forms (tenant_id, created_at)"
        );
    }

    #[test]
    fn foreign_keys_go_on_partitions_not_on_parents() {
        let ddl = submissions().parent_ddl();
        assert!(ddl[0].starts_with("CREATE TABLE IF NOT EXISTS app.form_submissions ("));
        assert!(!ddl[0].contains("FOREIGN KEY"), "{}", ddl[0]);
        assert!(submissions().parent_ddl_script().ends_with(";\n"));
        let partition = submissions().partition_ddl("t3", "acme");
        assert_eq!(
            partition.add_foreign_keys,
            ["ALTER TABLE app.form_submissions_t3 ADD FOREIGN KEY (tenant_id, form_id) REFERENCES app.forms_t3 (tenant_id, id)"]
        );
        // Keys are added while the table is standalone, before ATTACH.
        let steps = partition.steps();
        assert_eq!(steps.len(), 5);
        assert!(steps[2].contains("FOREIGN KEY"));
        assert!(steps[3].contains("ATTACH PARTITION"));
    }

    #[test]
    fn parent_ddl_adds_a_missing_tenant_column_and_does_not_repeat_it() {
        let mut table = forms();
        table.columns.remove(0);
        table.primary_key = vec!["tenant_id".into(), "id".into()];
        let ddl = table.parent_ddl();
        assert!(ddl[0].contains("(\n    tenant_id text NOT NULL,\n    id bigint"));
        assert!(ddl[0].contains("PRIMARY KEY (tenant_id, id)"), "{}", ddl[0]);
    }

    #[test]
    fn partition_ddl_quotes_the_tenant_and_names() {
        let ddl = submissions().partition_ddl("t7", "x'; DROP TABLE forms; --");
        assert_eq!(ddl.partition, "form_submissions_t7");
        assert_eq!(
            ddl.create,
            "CREATE TABLE app.form_submissions_t7 (LIKE app.form_submissions INCLUDING ALL EXCLUDING IDENTITY)"
        );
        assert_eq!(
            ddl.add_bound_check,
            "ALTER TABLE app.form_submissions_t7 ADD CONSTRAINT tenancy_partition_bound CHECK (tenant_id IS NOT NULL AND tenant_id = 'x''; DROP TABLE forms; --')"
        );
        assert_eq!(
            ddl.attach,
            "ALTER TABLE app.form_submissions ATTACH PARTITION app.form_submissions_t7 FOR VALUES IN ('x''; DROP TABLE forms; --')"
        );
        assert_eq!(
            ddl.drop_bound_check,
            "ALTER TABLE app.form_submissions_t7 DROP CONSTRAINT tenancy_partition_bound"
        );
        assert_eq!(ddl.steps()[3], ddl.attach);
    }

    #[test]
    fn long_names_stay_within_the_limit_and_distinct() {
        let a = partition_name(&format!("{}a", "x".repeat(70)), "t1");
        let b = partition_name(&format!("{}b", "x".repeat(70)), "t1");
        assert!(a.len() <= MAX_IDENTIFIER_BYTES && b.len() <= MAX_IDENTIFIER_BYTES);
        assert_ne!(a, b);
        assert!(a.ends_with("_t1"));
        // Multi-byte characters are never cut in half.
        let c = partition_name(&"é".repeat(40), "t1");
        assert!(c.len() <= MAX_IDENTIFIER_BYTES);
        assert!(c.ends_with("_t1"));
    }

    #[test]
    fn dependencies_come_first() {
        let mut follow_ups = submissions();
        follow_ups.name = "follow_ups".into();
        follow_ups.foreign_keys[0].ref_table = "form_submissions".into();
        let mut forms = forms();
        forms.schema = Some("app".into());
        let tables = vec![follow_ups, submissions(), forms];
        let order: Vec<&str> = sort_by_dependencies(&tables)
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(order, ["forms", "form_submissions", "follow_ups"]);
    }
}
