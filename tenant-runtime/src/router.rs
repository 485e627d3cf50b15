//! The router behind [`Tenant`](crate::tenant::Tenant) handles: each macro
//! call's SQL is a `static` [`RoutedQuery`]; each handle renders it on its
//! tenant's partitions once and keeps the result in a slot numbered per
//! query ([`QueryIndex`]). The settings that steer it, and why routing
//! exists, are in [`routing`](crate::routing).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use tenant_core::layout::Layout;
use tenant_core::route::{requalify_columns, RouteSlot, RouteTemplate};
use tenant_core::schema::{qualified_name, TableSchema, DEFAULT_SCHEMA};

use crate::routing::StatementCaching;

/// A macro call's SQL: the parent form, and the template to route it.
/// Emitted as a `static` by the macros; not built by hand.
#[derive(Debug)]
pub struct RoutedQuery {
    /// The SQL on the parents (every slot as written).
    pub parent_sql: &'static str,
    /// The routing template of the same SQL.
    pub template: RouteTemplate,
    /// Where each tenant handle keeps this query's rendered SQL.
    pub index: QueryIndex,
}

/// A routed query's number in this process, given on first use: the index
/// of its rendered SQL in every tenant handle. Why: at thousands of tenants
/// each query meets a handle that is cold in the CPU caches, and an indexed
/// slot costs fewer cache misses than a hash map behind a lock (measured
/// with `perf` in `tenant-bench`; see `docs/performance/routing.md`).
#[derive(Debug)]
pub struct QueryIndex(AtomicU32);

/// The numbers handed out so far.
static NEXT_QUERY_INDEX: AtomicU32 = AtomicU32::new(0);

impl QueryIndex {
    const UNASSIGNED: u32 = u32::MAX;

    /// Not numbered yet.
    #[allow(clippy::new_without_default)] // used in `static`s: must be const
    pub const fn new() -> QueryIndex {
        QueryIndex(AtomicU32::new(Self::UNASSIGNED))
    }

    fn get(&self) -> usize {
        let index = self.0.load(Ordering::Relaxed);
        if index != Self::UNASSIGNED {
            return index as usize;
        }
        // A number lost to a race is only a gap.
        let next = NEXT_QUERY_INDEX.fetch_add(1, Ordering::Relaxed);
        match self
            .0
            .compare_exchange(Self::UNASSIGNED, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => next as usize,
            Err(assigned) => assigned as usize,
        }
    }
}

/// What a query runs: its SQL text and whether to keep it prepared.
#[derive(Debug, Clone, Copy)]
pub struct Routed<'t> {
    /// The SQL to send.
    pub sql: &'t str,
    /// `true` to use a named, cached prepared statement.
    pub persistent: bool,
}

/// The routing shared by every handle of one [`Tenancy`](crate::Tenancy).
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) enabled: bool,
    pub(crate) caching: StatementCaching,
    /// Behind a transaction pooler: every statement unnamed.
    transaction_pooler: bool,
    tables: Vec<(Option<String>, String)>,
    /// Quoted, qualified parent name per table (same order).
    parents: Vec<String>,
    /// Each macro query on the parents, their names qualified (keyed by the
    /// `static`'s address, which never changes nor is reused).
    parent_sql: elsa::sync::FrozenMap<usize, Box<str>>,
}

impl Router {
    pub(crate) fn new(
        enabled: bool,
        caching: StatementCaching,
        transaction_pooler: bool,
        tables: &[TableSchema],
    ) -> Router {
        Router {
            enabled,
            caching,
            transaction_pooler,
            tables: tables
                .iter()
                .map(|t| (t.schema.clone(), t.name.clone()))
                .collect(),
            parents: tables.iter().map(TableSchema::qualified_name).collect(),
            parent_sql: elsa::sync::FrozenMap::new(),
        }
    }

    /// `template` with each tenancy table named by `names` (quoted,
    /// qualified, same order as the tables), in place: the parents, or a
    /// schema tenant's tables, whose names are the parents' in another
    /// schema, so the statement keeps its meaning without aliases. `None`
    /// when the result does not parse back.
    fn render_in_place(&self, template: &RouteTemplate, names: &[String]) -> Option<String> {
        template
            .render_in_place_checked(|slot| self.table_of(slot).map(|index| names[index].clone()))
    }

    /// `template` on the parents, each tenancy table named with its schema
    /// (`forms` as `public.forms`), so that no `search_path` entry, the
    /// session's temporary schema included, can stand in for it. Falls back
    /// to the SQL as written when the qualified form does not parse back.
    pub(crate) fn render_parents(&self, template: &RouteTemplate) -> String {
        self.render_in_place(template, &self.parents)
            .unwrap_or_else(|| template.parent_sql())
    }

    /// A macro query on the parents, qualified (see
    /// [`render_parents`](Self::render_parents)), rendered once per process.
    pub(crate) fn parents(&self, query: &'static RoutedQuery) -> &str {
        let key = query as *const RoutedQuery as usize;
        match self.parent_sql.get(&key) {
            Some(sql) => sql,
            None => self
                .parent_sql
                .insert(key, self.render_parents(&query.template).into_boxed_str()),
        }
    }

    /// The index of the tenancy table a slot names, if any. A qualified
    /// reference must match the table's schema; an unqualified one resolves
    /// through `search_path`, so it is routed only to a table declared
    /// without a schema or in `public` (never to `archive.forms` just
    /// because it is also called `forms`). No match: not routed.
    fn table_of(&self, slot: &RouteSlot) -> Option<usize> {
        let in_default_schema = |schema: Option<&str>| matches!(schema, None | Some("public"));
        self.tables.iter().position(|(schema, name)| {
            *name == *slot.table
                && match slot.schema.as_deref() {
                    None => in_default_schema(schema.as_deref()),
                    Some(written) => match schema.as_deref() {
                        Some(schema) => written == schema,
                        None => written == "public",
                    },
                }
        })
    }
}

/// Rendered queries per chunk of a handle's slots.
const SLOTS_PER_CHUNK: usize = 16;
/// Chunks per handle: the first 256 routed queries of a process have a
/// slot, later ones go to a map.
const SLOT_CHUNKS: usize = 16;

type SlotChunk = [OnceLock<Rendered>; SLOTS_PER_CHUNK];

/// One tenant's routing: the names of its tables (partitions, or the
/// tables of its schema) and the SQL rendered so far.
pub(crate) struct TenantRoutes {
    /// Rendered SQL of the queries numbered first ([`QueryIndex`]), inline:
    /// the hot path then reads one line of the handle and no other.
    first_slots: SlotChunk,
    /// The next chunks of slots, allocated on first use.
    more_slots: [OnceLock<Box<SlotChunk>>; SLOT_CHUNKS - 1],
    router: Arc<Router>,
    /// Where the tenant's rows live.
    layout: Layout,
    /// Quoted, qualified name of the tenant's table per tenancy table (same
    /// order): its partition, or its schema's table.
    tables: Vec<String>,
    /// A schema tenant's schema.
    schema: Option<String>,
    /// Rendered SQL of queries numbered past the slots (keyed by the
    /// `static`'s address, which never changes nor is reused).
    overflow: elsa::sync::FrozenMap<usize, Box<Rendered>>,
}

struct Rendered {
    sql: Box<str>,
    /// Whether this pair has run before in this process.
    seen: AtomicBool,
}

impl std::fmt::Debug for TenantRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRoutes")
            .field("layout", &self.layout)
            .field("tables", &self.tables)
            .field("enabled", &self.router.enabled)
            .finish_non_exhaustive()
    }
}

impl TenantRoutes {
    /// The routes of the tenant with partition suffix `suffix` in `layout`.
    pub(crate) fn new(router: Arc<Router>, suffix: &str, layout: Layout) -> TenantRoutes {
        let tables = match layout {
            // Always qualified: an unqualified name would let a temporary
            // table of that name (pg_temp is searched first) take the
            // tenant's queries on a pooled connection.
            Layout::Partition => router
                .tables
                .iter()
                .map(|(schema, name)| {
                    qualified_name(
                        Some(schema.as_deref().unwrap_or(DEFAULT_SCHEMA)),
                        &tenant_core::schema::partition_name(name, suffix),
                    )
                })
                .collect(),
            Layout::Schema => {
                let schema = tenant_core::layout::tenant_schema_name(suffix);
                router
                    .tables
                    .iter()
                    .map(|(_, name)| qualified_name(Some(&schema), name))
                    .collect()
            }
        };
        let schema =
            (layout == Layout::Schema).then(|| tenant_core::layout::tenant_schema_name(suffix));
        TenantRoutes {
            first_slots: std::array::from_fn(|_| OnceLock::new()),
            more_slots: std::array::from_fn(|_| OnceLock::new()),
            router,
            layout,
            tables,
            schema,
            overflow: elsa::sync::FrozenMap::new(),
        }
    }

    /// Where the tenant's rows live.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    pub(crate) fn enabled(&self) -> bool {
        self.router.enabled
    }

    /// A macro's query on the parents (qualified): a `via_parents` handle,
    /// routing turned off, or a statement routing would change.
    pub(crate) fn on_parents(&self, query: &'static RoutedQuery) -> Routed<'_> {
        Routed {
            sql: self.router.parents(query),
            persistent: !self.router.transaction_pooler,
        }
    }

    /// A run-time template on the parents (qualified).
    pub(crate) fn render_parents(&self, template: &RouteTemplate) -> String {
        self.router.render_parents(template)
    }

    /// The SQL of `template` on this tenant's tables. A schema tenant's
    /// tables carry the parents' names, so every statement is rendered in
    /// place, routable or not: its rows are nowhere else.
    pub(crate) fn render(&self, template: &RouteTemplate) -> String {
        match self.layout {
            Layout::Partition => template.render(|slot| {
                self.router
                    .table_of(slot)
                    .map(|index| self.tables[index].clone())
            }),
            Layout::Schema => self
                .router
                .render_in_place(template, &self.tables)
                .and_then(|sql| self.requalified(template, sql))
                .unwrap_or_else(|| {
                    // Not seen in the corpus: the parents hold none of this
                    // tenant's rows, so the statement finds nothing there
                    // (and the tenant role may not read them at all).
                    tracing::warn!(
                        sql = %template.parent_sql(),
                        "statement could not be rendered on a schema tenant's tables"
                    );
                    self.router.render_parents(template)
                }),
        }
    }

    /// A schema tenant's statement rendered in place, with its columns
    /// written `schema.table.column` moved to the tenant's schema with
    /// their tables (`public.forms.id` no longer resolves once `FROM` names
    /// `tenant_t7_k3x9q2.forms`). `None` when that fails.
    fn requalified(&self, template: &RouteTemplate, sql: String) -> Option<String> {
        // Only a template with an obstacle to routing can hold such a
        // column (the obstacle recorded may be another one of it).
        if template.unroutable.is_none() {
            return Some(sql);
        }
        let schema = self.schema.as_deref()?;
        requalify_columns(&sql, |written_schema, table| {
            self.router
                .tables
                .iter()
                .any(|(declared, name)| {
                    name == table && declared.as_deref().unwrap_or(DEFAULT_SCHEMA) == written_schema
                })
                .then(|| schema.to_string())
        })
    }

    /// The routed SQL of a macro's static query, rendered once per handle.
    pub(crate) fn route(&self, query: &'static RoutedQuery) -> Routed<'_> {
        let on_own_tables = match self.layout {
            Layout::Partition => self.router.enabled && query.template.is_routable(),
            // Routing cannot be turned off for a schema tenant: its rows
            // are only in its schema.
            Layout::Schema => !query.template.slots.is_empty(),
        };
        if !on_own_tables {
            return self.on_parents(query);
        }
        let rendered = self.rendered(query);
        if self.router.transaction_pooler {
            return Routed {
                sql: &rendered.sql,
                persistent: false,
            };
        }
        let persistent = match self.router.caching {
            StatementCaching::Unnamed => false,
            // Admission on second sight: one-off pairs take the unnamed
            // statement instead of evicting a hot prepared one.
            // (Load before store: no write, so no cache-line bouncing, on
            // the hot path.)
            StatementCaching::Prepared => {
                rendered.seen.load(Ordering::Relaxed) || rendered.seen.swap(true, Ordering::Relaxed)
            }
        };
        Routed {
            sql: &rendered.sql,
            persistent,
        }
    }

    /// This handle's rendering of `query`, made on first use.
    fn rendered(&self, query: &'static RoutedQuery) -> &Rendered {
        let render = || Rendered {
            sql: self.render(&query.template).into_boxed_str(),
            seen: AtomicBool::new(false),
        };
        let index = query.index.get();
        let chunk = match index / SLOTS_PER_CHUNK {
            0 => Some(&self.first_slots),
            n => self.more_slots.get(n - 1).map(|chunk| {
                &**chunk.get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())))
            }),
        };
        match chunk {
            Some(chunk) => chunk[index % SLOTS_PER_CHUNK].get_or_init(render),
            None => {
                let key = query as *const RoutedQuery as usize;
                match self.overflow.get(&key) {
                    Some(rendered) => rendered,
                    None => self.overflow.insert(key, Box::new(render())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_core::schema::ColumnDef;
    use tenant_core::{Analyzer, Config};

    fn forms() -> TableSchema {
        let column = ColumnDef::new;
        TableSchema {
            schema: None,
            name: "forms".into(),
            tenant_column: "tenant_id".into(),
            columns: vec![column("tenant_id", "text"), column("id", "bigint")],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            row_level_security: false,
        }
    }

    /// A `static` as the macros emit it, numbered `index` when given.
    fn query(sql: &str, index: Option<u32>) -> &'static RoutedQuery {
        let analysis = Analyzer::new(Config::default())
            .analyze(sql)
            .expect("a checked query");
        let query = RoutedQuery {
            parent_sql: Box::leak(analysis.sql.clone().into_boxed_str()),
            template: RouteTemplate::from_analysis(&analysis),
            index: QueryIndex::new(),
        };
        if let Some(index) = index {
            query.index.0.store(index, Ordering::Relaxed);
        }
        Box::leak(Box::new(query))
    }

    fn routes(caching: StatementCaching) -> TenantRoutes {
        TenantRoutes::new(
            Arc::new(Router::new(true, caching, false, &[forms()])),
            "t7",
            Layout::Partition,
        )
    }

    #[test]
    fn behind_a_transaction_pooler_nothing_is_prepared_routed_or_not() {
        let pooled = TenantRoutes::new(
            Arc::new(Router::new(
                true,
                StatementCaching::Prepared,
                true,
                &[forms()],
            )),
            "t7",
            Layout::Partition,
        );
        let select = query("SELECT id FROM forms WHERE tenant_id = $tenant", None);
        for _ in 0..3 {
            let routed = pooled.route(select);
            assert_eq!(
                routed.sql,
                "SELECT id FROM public.forms_t7 AS forms WHERE tenant_id = $1"
            );
            assert!(!routed.persistent);
            let parents = pooled.on_parents(select);
            assert!(parents.sql.contains("public.forms"), "{}", parents.sql);
            assert!(!parents.persistent);
        }
        // Without the pooler, the parents' statement is prepared.
        assert!(
            routes(StatementCaching::Unnamed)
                .on_parents(select)
                .persistent
        );
    }

    #[test]
    fn a_handle_stays_under_a_kibibyte_besides_its_sql() {
        // docs/guide/routing.md quotes "about 0.8 KiB per handle".
        assert!(std::mem::size_of::<TenantRoutes>() <= 1024);
    }

    #[test]
    fn query_indexes_are_given_once_and_differ() {
        let (a, b) = (QueryIndex::new(), QueryIndex::new());
        let first = a.get();
        assert_eq!(a.get(), first);
        assert_ne!(b.get(), first);
        assert_eq!(a.get(), first);
    }

    #[test]
    fn slotted_and_overflowing_queries_render_the_tenants_partition_once() {
        let routes = routes(StatementCaching::Prepared);
        let slotted = query("SELECT id FROM forms WHERE tenant_id = $tenant", Some(3));
        let past_the_slots = (SLOT_CHUNKS * SLOTS_PER_CHUNK) as u32 + 5;
        let overflowing = query(
            "SELECT f.id FROM forms f WHERE f.tenant_id = $tenant AND f.id = $1",
            Some(past_the_slots),
        );
        for (query, expected) in [
            (
                slotted,
                "SELECT id FROM public.forms_t7 AS forms WHERE tenant_id = $1",
            ),
            (
                overflowing,
                "SELECT f.id FROM public.forms_t7 f WHERE f.tenant_id = $2 AND f.id = $1",
            ),
        ] {
            let first = routes.route(query);
            assert_eq!(first.sql, expected);
            assert!(!first.persistent, "first sight runs unnamed");
            let second = routes.route(query);
            assert!(second.persistent, "second sight is prepared");
            assert!(
                std::ptr::eq(first.sql, second.sql),
                "rendered once per handle"
            );
        }
        assert!(routes.first_slots[3].get().is_some());
        assert!(
            routes.more_slots.iter().all(|chunk| chunk.get().is_none()),
            "chunks are made on use"
        );
        let in_a_later_chunk = query(
            "SELECT id FROM forms WHERE tenant_id = $tenant AND id = 2",
            Some(SLOTS_PER_CHUNK as u32 + 1),
        );
        assert_eq!(
            routes.route(in_a_later_chunk).sql,
            "SELECT id FROM public.forms_t7 AS forms WHERE tenant_id = $1 AND id = 2"
        );
        assert!(routes.more_slots[0].get().is_some());
        assert!(routes.more_slots[1].get().is_none());
        assert!(routes
            .overflow
            .get(&(overflowing as *const RoutedQuery as usize))
            .is_some());
    }

    #[test]
    fn unnamed_caching_never_prepares_and_another_tenant_renders_its_own() {
        let routes = routes(StatementCaching::Unnamed);
        let select = query("SELECT id FROM forms WHERE tenant_id = $tenant", None);
        for _ in 0..3 {
            assert!(!routes.route(select).persistent);
        }
        let other = TenantRoutes::new(Arc::clone(&routes.router), "t8", Layout::Partition);
        assert_eq!(
            other.route(select).sql,
            "SELECT id FROM public.forms_t8 AS forms WHERE tenant_id = $1"
        );
        assert_eq!(
            routes.route(select).sql,
            "SELECT id FROM public.forms_t7 AS forms WHERE tenant_id = $1"
        );
    }

    #[test]
    fn a_schema_tenant_runs_every_statement_in_place_on_its_schema() {
        // Routing off and a statement routing would change: both still run
        // on the schema's tables, where the tenant's rows are.
        let router = Arc::new(Router::new(
            false,
            StatementCaching::Prepared,
            false,
            &[forms()],
        ));
        let routes = TenantRoutes::new(router, "t7_k3x9q2", Layout::Schema);
        assert_eq!(routes.layout(), Layout::Schema);
        for (sql, expected) in [
            (
                "SELECT forms.id FROM forms WHERE tenant_id = $tenant",
                "SELECT forms.id FROM tenant_t7_k3x9q2.forms WHERE tenant_id = $1",
            ),
            (
                "SELECT f.id FROM public.forms f WHERE f.tenant_id = $tenant",
                "SELECT f.id FROM tenant_t7_k3x9q2.forms f WHERE f.tenant_id = $1",
            ),
            (
                "INSERT INTO forms (tenant_id, id) VALUES ($tenant, 1) \
                 ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING",
                "INSERT INTO tenant_t7_k3x9q2.forms (tenant_id, id) VALUES ($1, 1) \
                 ON CONFLICT ON CONSTRAINT forms_pkey DO NOTHING",
            ),
            (
                // `public.forms.id` would not resolve against the schema's
                // `forms`: it moves there with its table.
                "SELECT public.forms.id FROM public.forms WHERE public.forms.tenant_id = $tenant",
                "SELECT tenant_t7_k3x9q2.forms.id FROM tenant_t7_k3x9q2.forms \
                 WHERE tenant_t7_k3x9q2.forms.tenant_id = $1",
            ),
        ] {
            let routed = routes.route(query(sql, None));
            assert_eq!(routed.sql, expected);
        }
    }
}
