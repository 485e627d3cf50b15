//! Partition-direct routing: the checked SQL as a template with one slot per
//! reference to a tenant table, which a runtime fills with the requesting
//! tenant's partition names.
//!
//! Why: with prepared statements, a cached generic plan over a partitioned
//! parent locks every partition at every execution, and planning with
//! pruning still costs per partition; at thousands of tenants parent queries
//! collapse. The analyzer has proved that every tenant-table reference is
//! bound to the one requesting tenant, so the statement may name that
//! tenant's partitions instead; the tenant predicate stays in the SQL, and the
//! partition's own bound makes a wrong tenant return nothing.
//!
//! A slot keeps the query's meaning:
//! - `forms` becomes `forms_t7 AS forms`, so `forms.id`, `RETURNING
//!   forms.*` and `ON CONFLICT .. WHERE forms.x` still resolve;
//! - `forms f` becomes `forms_t7 f` (the query's own alias stays);
//! - a CTE named like a table is not a table reference and is left alone.
//!
//! Some statements cannot be routed without changing their meaning; they
//! stay on the parents (still correct, only slower) and
//! [`RouteTemplate::unroutable`] says why. The rules are named in code as in
//! that reason: see [`Unroutable`].
//!
//! ```
//! use tenant_core::{Analyzer, Config};
//! use tenant_core::route::RouteTemplate;
//!
//! let analysis = Analyzer::new(Config::default())
//!     .analyze("SELECT forms.id FROM forms WHERE tenant_id = $tenant")
//!     .unwrap();
//! let template = RouteTemplate::from_analysis(&analysis);
//! let routed = template.render(|slot| (slot.table == "forms").then(|| "forms_t7".to_string()));
//! assert_eq!(routed, "SELECT forms.id FROM forms_t7 AS forms WHERE tenant_id = $1");
//! assert_eq!(template.render(|_| None), analysis.sql);
//! ```

use std::borrow::Cow;
use std::fmt;

use pg_query::{protobuf, NodeRef};
use serde::Serialize;

use crate::report::Analysis;
use crate::schema::quote_ident;
use crate::walk::for_each_child;

mod requalify;
pub use requalify::requalify_columns;

/// A string of a template: borrowed in the statics the macros emit, owned
/// when built at run time.
pub type Text = Cow<'static, str>;

/// One reference to a tenant table in a [`RouteTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSlot {
    /// Schema, when the reference is qualified.
    pub schema: Option<Text>,
    /// Table name, folded as PostgreSQL folds it.
    pub table: Text,
    /// The reference as written; rendered as is when the slot is not routed.
    pub written: Text,
    /// What follows the partition name when the query gave no alias
    /// (` AS forms`), so the original name still qualifies columns.
    pub alias: Option<Text>,
}

/// Why a statement stays on the parent tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unroutable {
    /// `ON CONFLICT ON CONSTRAINT name`: the name is the parent's constraint;
    /// the partition's copy has another name.
    ConflictOnConstraint,
    /// A column qualified with schema and table (`public.forms.id`): behind
    /// the alias the partition gets, that spelling no longer resolves.
    SchemaQualifiedColumn,
    /// The rendered statement did not parse back (a syntax corner such as
    /// `forms *`, the legacy inheritance star, admits no alias).
    RenderDoesNotParse,
    /// More than one statement: templates are per statement.
    SeveralStatements,
    /// `ONLY forms`: on a partitioned parent it reads no rows, on the
    /// partition it would read them all.
    OnlyParent,
}

impl Unroutable {
    /// The reason's name, as in messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            Unroutable::ConflictOnConstraint => "conflict-on-constraint",
            Unroutable::SchemaQualifiedColumn => "schema-qualified-column",
            Unroutable::RenderDoesNotParse => "render-does-not-parse",
            Unroutable::SeveralStatements => "several-statements",
            Unroutable::OnlyParent => "only-parent",
        }
    }

    /// A sentence for humans.
    pub fn explain(self) -> &'static str {
        match self {
            Unroutable::ConflictOnConstraint => {
                "`ON CONFLICT ON CONSTRAINT` names the parent's constraint, which the partition \
                 knows under another name; name the conflict columns instead"
            }
            Unroutable::SchemaQualifiedColumn => {
                "a column is qualified with schema and table (`schema.table.column`), which does \
                 not resolve once the table is the partition aliased as `table`; write \
                 `table.column`"
            }
            Unroutable::RenderDoesNotParse => {
                "the statement names a table where PostgreSQL's grammar allows no alias \
                 (`t *`)"
            }
            Unroutable::SeveralStatements => "the SQL holds more than one statement",
            Unroutable::OnlyParent => {
                "`ONLY table` means the parent's own rows (none, for a partitioned parent); on \
                 the partition it would mean all of the tenant's rows"
            }
        }
    }
}

impl fmt::Display for Unroutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.explain())
    }
}

/// The checked SQL split around its tenant-table references.
///
/// `pieces.len() == slots.len() + 1`; rendering writes `pieces[0]`, slot 0,
/// `pieces[1]`, … A template without slots (no tenant table, or
/// [`unroutable`](RouteTemplate::unroutable)) renders to the SQL unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTemplate {
    /// Text between slots.
    pub pieces: Cow<'static, [Text]>,
    /// The tenant-table references, in text order.
    pub slots: Cow<'static, [RouteSlot]>,
    /// Set when the statement must stay on the parents.
    pub unroutable: Option<Unroutable>,
}

/// The partition name used to test-render a template at build time.
const PROBE_PARTITION: &str = "tenant_route_probe";

impl RouteTemplate {
    /// The template of an accepted analysis. Refused analyses may be passed
    /// too (the result is meaningless for them, never unsafe to compute).
    pub fn from_analysis(analysis: &Analysis) -> RouteTemplate {
        let unrouted = |reason| RouteTemplate::unrouted(&analysis.sql, reason);
        if analysis.statements.len() > 1 {
            return unrouted(Some(Unroutable::SeveralStatements));
        }
        let Some(statement) = analysis.statements.first() else {
            return unrouted(None);
        };
        if statement.tenant_tables.is_empty() {
            return unrouted(None);
        }
        // Spans index the rewritten SQL; a corrupt span would slice wrongly,
        // so check them rather than trust them.
        let sql = analysis.sql.as_str();
        let mut sites: Vec<_> = statement.tenant_tables.iter().collect();
        sites.sort_by_key(|site| site.span.start);
        let mut cursor = 0;
        for site in &sites {
            let valid = site.span.start >= cursor
                && site.span.start < site.span.end
                && site.span.end <= sql.len()
                && sql.is_char_boundary(site.span.start)
                && sql.is_char_boundary(site.span.end);
            if !valid {
                return unrouted(Some(Unroutable::RenderDoesNotParse));
            }
            cursor = site.span.end;
        }
        // The analyzer parsed this SQL already, so it parses.
        let Ok(parsed) = pg_query::parse(sql, 0) else {
            return unrouted(Some(Unroutable::RenderDoesNotParse));
        };
        // A statement that cannot be routed keeps its slots: the runtime
        // still names the parents there with their schema (see
        // `render_in_place`).
        let obstacle = parse_tree_obstacle(&parsed.protobuf);
        let mut pieces = Vec::with_capacity(sites.len() + 1);
        let mut slots = Vec::with_capacity(sites.len());
        let mut cursor = 0;
        for site in sites {
            pieces.push(Text::Owned(sql[cursor..site.span.start].to_string()));
            slots.push(RouteSlot {
                schema: site.schema.clone().map(Text::Owned),
                table: Text::Owned(site.table.clone()),
                written: Text::Owned(sql[site.span.clone()].to_string()),
                alias: site
                    .alias
                    .is_none()
                    .then(|| Text::Owned(format!(" AS {}", quote_ident(&site.table)))),
            });
            cursor = site.span.end;
        }
        pieces.push(Text::Owned(sql[cursor..].to_string()));
        let mut template = RouteTemplate {
            pieces: Cow::Owned(pieces),
            slots: Cow::Owned(slots),
            unroutable: obstacle,
        };
        // Rendering must not change what PostgreSQL parses, only which
        // relations it names: parse the probe rendering back.
        if obstacle.is_none() && !template.render_parses_back(parsed.protobuf.stmts.len()) {
            template.unroutable = Some(Unroutable::RenderDoesNotParse);
        }
        template
    }

    fn unrouted(sql: &str, reason: Option<Unroutable>) -> RouteTemplate {
        RouteTemplate {
            pieces: Cow::Owned(vec![Text::Owned(sql.to_string())]),
            slots: Cow::Owned(Vec::new()),
            unroutable: reason,
        }
    }

    /// [`render_in_place`](Self::render_in_place), when the result parses
    /// (a rendering that changed the grammar is refused: `None`).
    pub fn render_in_place_checked(
        &self,
        name: impl FnMut(&RouteSlot) -> Option<String>,
    ) -> Option<String> {
        let out = self.render_in_place(name);
        pg_query::parse(&out, 0).ok().map(|_| out)
    }

    /// True when the template can be rendered on a tenant's partitions: it
    /// has slots and nothing makes routing change its meaning.
    pub fn is_routable(&self) -> bool {
        !self.slots.is_empty() && self.unroutable.is_none()
    }

    /// Renders the SQL with each slot's name replaced by `name(slot)` (kept
    /// as written for `None`) and never an alias added: for naming the same
    /// relation another way, such as the parent with its schema
    /// (`forms` as `public.forms`, whose references still read `forms.x`).
    /// Works for statements that cannot be routed too.
    pub fn render_in_place(&self, mut name: impl FnMut(&RouteSlot) -> Option<String>) -> String {
        let mut out =
            String::with_capacity(self.pieces.iter().map(|p| p.len()).sum::<usize>() + 64);
        for (index, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            if let Some(slot) = self.slots.get(index) {
                match name(slot) {
                    Some(name) => out.push_str(&name),
                    None => out.push_str(&slot.written),
                }
            }
        }
        out
    }

    /// The SQL naming the parents (every slot as written).
    pub fn parent_sql(&self) -> String {
        self.render_in_place(|_| None)
    }

    /// Renders the SQL: `partition(slot)` returns the quoted (and, if need
    /// be, schema-qualified) partition name for a slot, or `None` to keep the
    /// reference as written (a table the runtime does not route).
    pub fn render(&self, mut partition: impl FnMut(&RouteSlot) -> Option<String>) -> String {
        if self.unroutable.is_some() {
            // Routing would change this statement's meaning.
            return self.parent_sql();
        }
        let extra: usize = self.slots.iter().map(|s| s.written.len() + 16).sum();
        let mut out =
            String::with_capacity(self.pieces.iter().map(|p| p.len()).sum::<usize>() + extra);
        for (index, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            if let Some(slot) = self.slots.get(index) {
                match partition(slot) {
                    Some(name) => {
                        out.push_str(&name);
                        if let Some(alias) = &slot.alias {
                            out.push_str(alias);
                        }
                    }
                    None => out.push_str(&slot.written),
                }
            }
        }
        out
    }

    fn render_parses_back(&self, statements: usize) -> bool {
        let probe = self.render(|_| Some(PROBE_PARTITION.to_string()));
        let Ok(rendered) = pg_query::parse(&probe, 0) else {
            return false;
        };
        if rendered.protobuf.stmts.len() != statements {
            return false;
        }
        // Every slot must have become a relation named by the probe.
        let mut probes = 0;
        for stmt in &rendered.protobuf.stmts {
            if let Some(node) = stmt.stmt.as_ref().and_then(|n| n.node.as_ref()) {
                visit(node.to_ref(), &mut |n| {
                    if let NodeRef::RangeVar(rv) = n {
                        if rv.relname == PROBE_PARTITION {
                            probes += 1;
                        }
                    }
                });
            }
        }
        probes == self.slots.len()
    }
}

/// A construct of the statement that routing would change the meaning of.
fn parse_tree_obstacle(parsed: &protobuf::ParseResult) -> Option<Unroutable> {
    let mut found = None;
    for stmt in &parsed.stmts {
        if let Some(node) = stmt.stmt.as_ref().and_then(|n| n.node.as_ref()) {
            visit(node.to_ref(), &mut |n| match n {
                NodeRef::InferClause(infer) if !infer.conname.is_empty() => {
                    found.get_or_insert(Unroutable::ConflictOnConstraint);
                }
                NodeRef::ColumnRef(column) if qualified_beyond_table(column) => {
                    found.get_or_insert(Unroutable::SchemaQualifiedColumn);
                }
                NodeRef::RangeVar(relation) if !relation.inh => {
                    found.get_or_insert(Unroutable::OnlyParent);
                }
                _ => {}
            });
        }
    }
    found
}

/// `schema.table.column` (or `schema.table.*`): three or more name parts.
fn qualified_beyond_table(column: &protobuf::ColumnRef) -> bool {
    column.fields.len() >= 3
}

/// Depth-first visit of every node (on a grown stack for deep trees).
fn visit<'a>(node: NodeRef<'a>, f: &mut dyn FnMut(NodeRef<'a>)) {
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || {
        f(node);
        for_each_child(node, &mut |child| visit(child, f));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Analyzer, Config};

    fn template(sql: &str) -> RouteTemplate {
        let analysis = Analyzer::new(Config::default()).analyze(sql).unwrap();
        assert!(
            analysis.is_ok(),
            "{:?}",
            analysis.violations().collect::<Vec<_>>()
        );
        RouteTemplate::from_analysis(&analysis)
    }

    fn routed(sql: &str) -> String {
        template(sql).render(|slot| Some(format!("{}_t1", slot.table)))
    }

    #[test]
    fn unaliased_reference_keeps_its_name_as_alias() {
        assert_eq!(
            routed("SELECT forms.id FROM forms WHERE forms.tenant_id = $tenant"),
            "SELECT forms.id FROM forms_t1 AS forms WHERE forms.tenant_id = $1"
        );
    }

    #[test]
    fn aliased_reference_keeps_its_alias() {
        assert_eq!(
            routed("SELECT f.id FROM forms f JOIN submissions AS s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $tenant"),
            "SELECT f.id FROM forms_t1 f JOIN submissions_t1 AS s ON s.form_id = f.id AND s.tenant_id = f.tenant_id WHERE f.tenant_id = $1"
        );
    }

    #[test]
    fn schema_qualified_reference_is_replaced_whole() {
        assert_eq!(
            routed("SELECT id FROM public.forms WHERE tenant_id = $tenant"),
            "SELECT id FROM forms_t1 AS forms WHERE tenant_id = $1"
        );
    }

    #[test]
    fn quoted_names_get_a_quoted_alias() {
        let t = template(r#"SELECT 1 FROM "Forms" WHERE tenant_id = $tenant"#);
        assert_eq!(t.slots[0].table, "Forms");
        assert_eq!(t.slots[0].written, r#""Forms""#);
        assert_eq!(t.slots[0].alias.as_deref(), Some(r#" AS "Forms""#));
    }

    #[test]
    fn dml_targets_are_routed() {
        assert_eq!(
            routed("INSERT INTO forms (tenant_id, id) VALUES ($tenant, $1) ON CONFLICT (tenant_id, id) DO UPDATE SET title = EXCLUDED.title WHERE forms.id > 0 RETURNING forms.id"),
            "INSERT INTO forms_t1 AS forms (tenant_id, id) VALUES ($2, $1) ON CONFLICT (tenant_id, id) DO UPDATE SET title = EXCLUDED.title WHERE forms.id > 0 RETURNING forms.id"
        );
        assert_eq!(
            routed("UPDATE forms SET title = $1 WHERE tenant_id = $tenant RETURNING forms.title"),
            "UPDATE forms_t1 AS forms SET title = $1 WHERE tenant_id = $2 RETURNING forms.title"
        );
        assert_eq!(
            routed("DELETE FROM forms WHERE tenant_id = $tenant AND id = $1"),
            "DELETE FROM forms_t1 AS forms WHERE tenant_id = $2 AND id = $1"
        );
    }

    #[test]
    fn a_cte_named_like_a_table_is_not_routed() {
        let sql =
            "WITH forms AS (SELECT * FROM forms WHERE tenant_id = $tenant) SELECT * FROM forms";
        assert_eq!(
            routed(sql),
            "WITH forms AS (SELECT * FROM forms_t1 AS forms WHERE tenant_id = $1) SELECT * FROM forms"
        );
    }

    #[test]
    fn unrouted_slots_render_as_written() {
        let sql = "SELECT 1 FROM forms f, submissions s WHERE f.tenant_id = $tenant AND s.tenant_id = $tenant";
        let t = template(sql);
        let out = t.render(|slot| (slot.table == "forms").then(|| "forms_t1".to_string()));
        assert_eq!(
            out,
            "SELECT 1 FROM forms_t1 f, submissions s WHERE f.tenant_id = $1 AND s.tenant_id = $1"
        );
        assert_eq!(
            t.parent_sql(),
            "SELECT 1 FROM forms f, submissions s WHERE f.tenant_id = $1 AND s.tenant_id = $1"
        );
    }

    #[test]
    fn conflict_on_constraint_stays_on_the_parent() {
        let t = template("INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1) ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING");
        assert_eq!(t.unroutable, Some(Unroutable::ConflictOnConstraint));
        assert!(!t.is_routable());
        assert!(t.parent_sql().contains("INSERT INTO forms "));
        // Its slots still let the runtime name the parent with its schema.
        assert_eq!(
            t.render_in_place(|_| Some("public.forms".into())),
            "INSERT INTO public.forms (tenant_id, id) VALUES ($1, 1) ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING"
        );
    }

    #[test]
    fn parents_are_named_in_place_without_an_alias() {
        let t = template("SELECT public.forms.id FROM public.forms WHERE tenant_id = $tenant");
        assert_eq!(
            t.render_in_place(|_| Some("public.forms".into())),
            "SELECT public.forms.id FROM public.forms WHERE tenant_id = $1"
        );
        let t = template("SELECT forms.id FROM forms JOIN submissions s ON s.tenant_id = forms.tenant_id WHERE forms.tenant_id = $tenant");
        assert_eq!(
            t.render_in_place(|slot| Some(format!("public.{}", slot.table))),
            "SELECT forms.id FROM public.forms JOIN public.submissions s ON s.tenant_id = forms.tenant_id WHERE forms.tenant_id = $1"
        );
    }

    #[test]
    fn schema_qualified_column_stays_on_the_parent() {
        let t = template("SELECT public.forms.id FROM public.forms WHERE tenant_id = $tenant");
        assert_eq!(t.unroutable, Some(Unroutable::SchemaQualifiedColumn));
    }

    #[test]
    fn only_stays_on_the_parent() {
        for sql in [
            "SELECT 1 FROM ONLY forms WHERE tenant_id = $tenant",
            "SELECT 1 FROM ONLY (forms) WHERE tenant_id = $tenant",
            "UPDATE ONLY forms SET title = 'x' WHERE tenant_id = $tenant",
        ] {
            let t = template(sql);
            assert_eq!(t.unroutable, Some(Unroutable::OnlyParent), "{sql}");
        }
    }

    #[test]
    fn grammar_corners_without_alias_stay_on_the_parent() {
        let t = template("SELECT 1 FROM forms * WHERE tenant_id = $tenant");
        assert_eq!(t.unroutable, Some(Unroutable::RenderDoesNotParse), "{t:?}");
    }

    #[test]
    fn global_only_statement_has_no_slots() {
        let analysis = Analyzer::new(Config::from_toml_str("global_tables = [\"plans\"]").unwrap())
            .analyze("SELECT * FROM plans")
            .unwrap();
        let t = RouteTemplate::from_analysis(&analysis);
        assert!(!t.is_routable());
        assert_eq!(t.unroutable, None);
        assert_eq!(t.parent_sql(), "SELECT * FROM plans");
    }

    #[test]
    fn merge_routes_target_and_source() {
        let out = routed("MERGE INTO forms USING submissions s ON s.form_id = forms.id AND s.tenant_id = $tenant AND forms.tenant_id = $tenant WHEN MATCHED THEN UPDATE SET title = 'x'");
        assert!(
            out.starts_with("MERGE INTO forms_t1 AS forms USING submissions_t1 s ON"),
            "{out}"
        );
    }
}
