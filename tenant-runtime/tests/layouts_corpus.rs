//! Both layouts on real PostgreSQL: every safe statement of the analyzer
//! corpus (`tenant-core/tests/corpus/safe.sql`) returns the same rows, and
//! leaves the same data behind, for a tenant in partition layout as for a
//! tenant in schema layout, and again after each has moved in place to the
//! other layout.
//!
//! Two tenants, `acme` and `kilo`, are seeded alike. Their ids have the same
//! length, so once each one's id is written `<tenant>` their rows are equal,
//! and so is everything computed from them (lengths, orders, sums). Two
//! neighbours, one per layout, are seeded with other values: a statement
//! that read or wrote a neighbour's rows would differ, and every run checks
//! that the rows of all other tenants are unchanged after it.
//!
//! The schema is the partitioned corpus schema of `routing_corpus.rs`
//! without its two `archive` tables: schema layout refuses `archive.forms`
//! (a second tenant table called `forms`) and `archive.plans` (it would
//! shadow the global `public.plans` on a schema tenant's `search_path`).
//! Tenants are onboarded, and moved between layouts, by a one-database
//! fleet, as in production.
//!
//! Each pair of runs shares one transaction (so `now()` is the same), each
//! run in a savepoint that is rolled back. The partition tenant's statement
//! runs as the application does (routed SQL on its partitions); the schema
//! tenant's runs as in its tenant transaction (`Tenant::begin`): as its
//! role, with its `search_path`, on its schema's tables.

#[path = "routing_corpus/common.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use common::*;
use sqlx::PgConnection;
use support::TestDb;
use tenant_runtime::fleet::{Fleet, MoveOptions};
use tenant_runtime::schema::{qualified_name, quote_ident, quote_literal, TableSchema};
use tenant_runtime::tenant_core::layout::{schema_search_path, Layout};
use tenant_runtime::tenant_core::placement::{DatabaseConfig, PlacementConfig};
use tenant_runtime::tenant_core::route::{RouteTemplate, Unroutable};
use tenant_runtime::{Config, Tenancy, Tenant};

/// The partitioned variant of the corpus schema.
const SCHEMA: &str = include_str!("routing_corpus/schema.sql");

/// The compared tenants: seeded alike (seed index 0), ids of one length.
const PAIR: [&str; 2] = ["acme", "kilo"];
/// The other tenants, seeded with other values: one per layout.
const NEIGHBOURS: [(&str, Layout, usize); 2] = [
    ("globex", Layout::Partition, 1),
    ("o'hara & söhne", Layout::Schema, 2),
];
/// What an id is replaced with before two tenants' rows are compared.
const TENANT_MARK: &str = "<tenant>";
/// The fleet's only database.
const DATABASE: &str = "main";

/// Failures shown in full; the others get one line each.
const FAILURES_IN_FULL: usize = 20;

struct Fixture {
    db: TestDb,
    fleet: Fleet,
    tenancy: Tenancy,
    /// A timestamp between the seeded rows' timestamps.
    timestamp: String,
}

fn fleet_config() -> Config {
    Config {
        databases: vec![DatabaseConfig {
            name: DATABASE.into(),
            url_env: "LAYOUTS_CORPUS_URL".into(),
            pool_size: Some(4),
        }],
        placement: Some(PlacementConfig {
            default: Some(DATABASE.into()),
            ..PlacementConfig::default()
        }),
        ..corpus_config()
    }
}

async fn fixture() -> Fixture {
    let db = TestDb::new(4).await;
    db.exec(SCHEMA).await;
    db.exec("DROP TABLE archive.plans, archive.forms").await;
    let tenancy = Tenancy::discover(&db.pool, fleet_config())
        .await
        .expect("discover the partitioned corpus tables");
    let url = db.url();
    let fleet = Fleet::connect_with(&tenancy, |variable| {
        (variable == "LAYOUTS_CORPUS_URL").then(|| url.clone())
    })
    .expect("a one-database fleet");
    fleet.install().await.expect("install");

    let mut seed = GLOBAL_SEED.to_string();
    let tenants = [
        (PAIR[0], Layout::Partition, 0),
        (PAIR[1], Layout::Schema, 0),
        NEIGHBOURS[0],
        NEIGHBOURS[1],
    ];
    for (id, layout, k) in tenants {
        let onboarded = fleet.onboard_as(id, layout).await.expect("onboard");
        let tenant = onboarded.outcome.tenant;
        assert_eq!(tenant.layout(), layout, "{id}");
        // Unqualified names reach the tenant's tables as they would in its
        // transaction: its schema, then public.
        let rows = seed_sql(id, k);
        match tenant.tenant_schema() {
            Some(schema) => write!(
                seed,
                "BEGIN; SELECT set_config('search_path', {}, true); {rows} COMMIT;",
                quote_literal(&schema_search_path(schema))
            )
            .unwrap(),
            None => seed.push_str(&rows),
        }
    }
    db.exec(&seed).await;
    // What every schema tenant may use besides its schema (the layouts
    // guide tells applications to grant it): the global tables.
    let group: String = sqlx::query_scalar(
        "SELECT g.rolname::text FROM pg_auth_members m \
           JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member \
          WHERE r.rolname = $1",
    )
    .bind(tenant(&fleet, PAIR[1]).await.tenant_schema().unwrap())
    .fetch_one(&db.pool)
    .await
    .expect("the schema tenants' group role");
    db.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON plans, countries, currencies TO {}",
        quote_ident(&group)
    ))
    .await;

    let timestamp = seeded_timestamp(&db.pool).await;
    Fixture {
        db,
        fleet,
        tenancy,
        timestamp,
    }
}

async fn tenant(fleet: &Fleet, id: &str) -> Tenant {
    fleet.tenant(id).await.expect("tenant handle")
}

/// Identity columns draw from their table's own sequence: the parent's for
/// a partition tenant, the schema table's for a schema tenant. Every
/// sequence is set to one position, so an INSERT draws the same id in both.
async fn align_sequences(db: &TestDb) {
    db.exec("SELECT setval(format('%I.%I', schemaname, sequencename), 1000) FROM pg_sequences")
        .await;
}

// ---------------------------------------------------------------------------
// One side of a comparison

/// A tenant as one side of a comparison: its handle and how its runs see
/// the database.
struct Side {
    tenant: Tenant,
    /// SQL run at the start of each run (the tenant transaction's settings).
    settings: String,
    /// The tenant's rows of every table, the global tables, and a digest of
    /// every other tenant's rows (see [`dump_sql`]).
    dump_sql: String,
}

impl Side {
    fn new(tenant: Tenant, tables: &[TableSchema], schema_tenants: &[String]) -> Side {
        let settings = match tenant.tenant_schema() {
            // As `Tenant::begin` sets them: transaction-local, so they end
            // with the savepoint.
            Some(schema) => format!(
                "SELECT set_config('search_path', {}, true), set_config('role', {}, true)",
                quote_literal(&schema_search_path(schema)),
                quote_literal(schema)
            ),
            None => String::new(),
        };
        let dump_sql = dump_sql(&tenant, tables, schema_tenants);
        Side {
            tenant,
            settings,
            dump_sql,
        }
    }

    fn id(&self) -> &str {
        self.tenant.id()
    }

    fn describe(&self) -> String {
        match self.tenant.tenant_schema() {
            Some(schema) => format!("{:?} (schema layout, {schema})", self.id()),
            None => format!(
                "{:?} (partition layout, suffix {})",
                self.id(),
                self.tenant.partition_suffix()
            ),
        }
    }
}

/// The dump after a run, as the superuser: the side's own rows of each
/// tenant table (`own <table>`, one row each), each global table's rows,
/// and one digest of every other tenant's rows wherever they are (the
/// parents, every schema tenant's tables): a run must leave those alone.
fn dump_sql(tenant: &Tenant, tables: &[TableSchema], schema_tenants: &[String]) -> String {
    let own = quote_literal(tenant.id());
    let mut parts = vec!["RESET ROLE".to_string()];
    let mut selects = Vec::new();
    let mut others = Vec::new();
    for table in tables {
        let column = quote_ident(&table.tenant_column);
        let parent = qualified_name(Some("public"), &table.name);
        let label = quote_literal(&table.name);
        match tenant.tenant_schema() {
            Some(schema) => {
                selects.push(format!(
                    "SELECT 'own ' || {label}, t::text FROM {} t",
                    qualified_name(Some(schema), &table.name)
                ));
                others.push(format!("SELECT {label} || ' ' || t::text FROM {parent} t"));
            }
            None => {
                selects.push(format!(
                    "SELECT 'own ' || {label}, t::text FROM {parent} t WHERE t.{column} = {own}"
                ));
                others.push(format!(
                    "SELECT {label} || ' ' || t::text FROM {parent} t \
                     WHERE t.{column} IS DISTINCT FROM {own}"
                ));
            }
        }
        for schema in schema_tenants {
            if Some(schema.as_str()) != tenant.tenant_schema() {
                others.push(format!(
                    "SELECT {label} || ' ' || t::text FROM {} t",
                    qualified_name(Some(schema), &table.name)
                ));
            }
        }
    }
    for global in ["plans", "countries", "currencies"] {
        selects.push(format!(
            "SELECT 'global {global}', t::text FROM public.{global} t"
        ));
    }
    selects.push(format!(
        "SELECT 'others', md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM ({}) o(x)",
        others.join(" UNION ALL ")
    ));
    parts.push(selects.join(" UNION ALL "));
    parts.join("; ")
}

/// `rows` with `id` written as [`TENANT_MARK`] in every value, sorted.
fn normalized(rows: &Rows, id: &str) -> Rows {
    let mut rows: Rows = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| cell.as_ref().map(|v| v.replace(id, TENANT_MARK)))
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// The dump without its digest of other tenants' rows, normalized.
fn own_part(dump: &Rows, id: &str) -> Rows {
    let own: Rows = dump
        .iter()
        .filter(|row| row[0].as_deref() != Some("others"))
        .cloned()
        .collect();
    normalized(&own, id)
}

fn others_digest(dump: &Rows) -> Option<String> {
    dump.iter()
        .find(|row| row[0].as_deref() == Some("others"))
        .and_then(|row| row[1].clone())
}

// ---------------------------------------------------------------------------
// Comparing the two sides

/// A statement of one case, for one side: its SQL (lenient cases bind the
/// literal `'acme'`, written with the side's id) and template.
struct Prepared {
    analysis: tenant_runtime::tenant_core::Analysis,
    template: RouteTemplate,
    routed: String,
}

fn prepare(case: &Case, form: &str, side: &Side) -> Result<Prepared, String> {
    let sql = if case.lenient {
        form.replace("'acme'", &quote_literal(side.id()))
    } else {
        form.to_string()
    };
    let analysis = analyze(case, &sql)?;
    if !analysis.is_ok() {
        return Err(format!(
            "the analyzer refuses it: {:?}",
            analysis
                .violations()
                .map(|v| v.rule.name())
                .collect::<Vec<_>>()
        ));
    }
    let template = RouteTemplate::from_analysis(&analysis);
    let routed = side.tenant.route_sql(&template);
    Ok(Prepared {
        analysis,
        template,
        routed,
    })
}

enum Verdict {
    Same {
        rows: usize,
        changed: bool,
    },
    BothFailed(String),
    /// A difference the layouts explain (the reason is printed).
    Explained(&'static str),
    Differ(String),
}

/// Why partition and schema layout may answer a statement differently.
#[derive(Clone, Copy, PartialEq)]
enum Explained {
    /// `ONLY forms`: see [`ONLY_PARENT`].
    OnlyParent,
    /// The statement reads the session's settings: see [`SESSION_SETTINGS`].
    SessionSettings,
}

const ONLY_PARENT: &str = "ONLY on a partitioned parent reads no rows; a schema tenant's table is \
                           a plain table holding its rows";
const SESSION_SETTINGS: &str = "it reads the search_path or the role, which a schema tenant's \
                                transaction sets to its own schema and role";

impl Explained {
    fn reason(self) -> &'static str {
        match self {
            Explained::OnlyParent => ONLY_PARENT,
            Explained::SessionSettings => SESSION_SETTINGS,
        }
    }
}

/// Whether the two sides may differ on this statement, and why.
fn explained(template: &RouteTemplate, sql: &str, sides: &[Side; 2]) -> Option<Explained> {
    let lower = sql.to_lowercase();
    let reads_settings = ["current_setting(", "pg_settings", "current_user"]
        .iter()
        .any(|s| lower.contains(s));
    let schema_side = sides.iter().any(|s| s.tenant.layout() == Layout::Schema);
    let layouts_differ = sides[0].tenant.layout() != sides[1].tenant.layout();
    if reads_settings && schema_side {
        return Some(Explained::SessionSettings);
    }
    (template.unroutable == Some(Unroutable::OnlyParent) && layouts_differ)
        .then_some(Explained::OnlyParent)
}

/// Runs one statement form for both sides in one transaction.
async fn compare(
    conn: &mut PgConnection,
    fixture: &Fixture,
    case: &Case,
    sides: &[Side; 2],
    prepared: &[Prepared; 2],
    compare_rows: bool,
) -> Verdict {
    let values = |index: usize, candidate: Candidate| Values {
        candidate,
        tenant_param: prepared[index].analysis.tenant_param,
        tenant: sides[index].id(),
        lenient: case.lenient,
        timestamp: &fixture.timestamp,
    };
    must(conn, "BEGIN").await;
    let mut baselines = Vec::new();
    for side in sides {
        let dump = simple(conn, &side.dump_sql).await.expect("dump");
        baselines.push(dump);
    }
    // The first side picks the values (see `Candidate`).
    let mut chosen: Option<(Candidate, Outcome)> = None;
    let mut first_ok: Option<(Candidate, Outcome)> = None;
    let mut first_error = None;
    for candidate in CANDIDATES {
        let picked = values(0, candidate);
        match run_side(
            conn,
            &sides[0].settings,
            &prepared[0].routed,
            &sides[0].dump_sql,
            &|types| picked.for_types(types),
        )
        .await
        {
            Ok(outcome) => {
                if !outcome.rows.is_empty() || outcome.dump != baselines[0] {
                    chosen = Some((candidate, outcome));
                    break;
                }
                first_ok.get_or_insert((candidate, outcome));
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    let chosen = chosen.or(first_ok);
    let candidate = chosen.as_ref().map_or(CANDIDATES[0], |(c, _)| *c);
    let picked = values(1, candidate);
    let second = run_side(
        conn,
        &sides[1].settings,
        &prepared[1].routed,
        &sides[1].dump_sql,
        &|types| picked.for_types(types),
    )
    .await;
    must(conn, "ROLLBACK").await;

    let first = match (chosen, second) {
        (None, Err(second)) => {
            return Verdict::BothFailed(format!(
                "{}: {}\n    {}: {second}",
                sides[0].describe(),
                first_error.unwrap_or_default(),
                sides[1].describe()
            ))
        }
        (None, Ok(outcome)) => {
            return Verdict::Differ(format!(
                "\n    fails for {} ({}) but succeeds for {} ({} rows)",
                sides[0].describe(),
                first_error.unwrap_or_default(),
                sides[1].describe(),
                outcome.rows.len()
            ))
        }
        (Some((_, outcome)), Err(error)) => {
            return Verdict::Differ(format!(
                "\n    fails for {}: {error}\n    (values {:?}); {} returned {} rows",
                sides[1].describe(),
                picked.for_types(&outcome.types),
                sides[0].describe(),
                outcome.rows.len()
            ))
        }
        (Some((_, first)), Ok(second)) => [first, second],
    };

    let mut problems = String::new();
    // Neither run may touch another tenant's rows.
    for (index, outcome) in first.iter().enumerate() {
        if others_digest(&outcome.dump) != others_digest(&baselines[index]) {
            let _ = write!(
                problems,
                "\n    the run for {} changed other tenants' rows",
                sides[index].describe()
            );
        }
    }
    if let Some(why) = explained(&prepared[0].template, &prepared[0].routed, sides) {
        let partition = first
            .iter()
            .zip(sides)
            .find(|(_, side)| side.tenant.layout() == Layout::Partition);
        if let (Explained::OnlyParent, Some((outcome, side))) = (why, partition) {
            if !outcome.rows.is_empty() {
                let _ = write!(
                    problems,
                    "\n    expected no rows for {} ({}), got {}",
                    side.describe(),
                    why.reason(),
                    outcome.rows.len()
                );
            }
        }
        let reason = why.reason();
        return if problems.is_empty() {
            Verdict::Explained(reason)
        } else {
            Verdict::Differ(problems)
        };
    }
    if first[0].types != first[1].types {
        let _ = write!(
            problems,
            "\n    parameter types differ: {:?} and {:?}",
            first[0].types, first[1].types
        );
    }
    let rows = [
        normalized(&first[0].rows, sides[0].id()),
        normalized(&first[1].rows, sides[1].id()),
    ];
    if compare_rows && rows[0] != rows[1] {
        let _ = write!(
            problems,
            "\n    rows differ:\n      {}:{}\n      {}:{}",
            sides[0].describe(),
            show_rows(&rows[0]),
            sides[1].describe(),
            show_rows(&rows[1])
        );
    }
    let dumps = [
        own_part(&first[0].dump, sides[0].id()),
        own_part(&first[1].dump, sides[1].id()),
    ];
    if dumps[0] != dumps[1] {
        let only =
            |a: &Rows, b: &Rows| -> Rows { a.iter().filter(|r| !b.contains(r)).cloned().collect() };
        let _ = write!(
            problems,
            "\n    data left behind differs:\n      only for {}:{}\n      only for {}:{}",
            sides[0].describe(),
            show_rows(&only(&dumps[0], &dumps[1])),
            sides[1].describe(),
            show_rows(&only(&dumps[1], &dumps[0]))
        );
    }
    if !problems.is_empty() {
        return Verdict::Differ(problems);
    }
    Verdict::Same {
        rows: rows[0].len(),
        changed: first[0].dump != baselines[0],
    }
}

/// What one phase found.
#[derive(Default)]
struct PhaseReport {
    runs: usize,
    same: usize,
    with_rows: usize,
    changing_data: usize,
    explained: BTreeMap<&'static str, Vec<String>>,
    both_failed: Vec<String>,
    failures: Vec<String>,
}

/// Every runnable safe statement, for the pair as the fleet has them now.
async fn run_phase(fixture: &Fixture, phase: &str) -> PhaseReport {
    align_sequences(&fixture.db).await;
    let schema_tenants: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^tenant_t[0-9]+_[a-z0-9]{6}$' \
         ORDER BY 1",
    )
    .fetch_all(&fixture.db.pool)
    .await
    .expect("schema tenants");
    let tables = fixture.tenancy.tables();
    let sides = [
        Side::new(
            tenant(&fixture.fleet, PAIR[0]).await,
            tables,
            &schema_tenants,
        ),
        Side::new(
            tenant(&fixture.fleet, PAIR[1]).await,
            tables,
            &schema_tenants,
        ),
    ];
    println!(
        "phase {phase}: {} against {}",
        sides[0].describe(),
        sides[1].describe()
    );
    let mut conn = fixture.db.connect().await;
    let mut report = PhaseReport::default();
    for case in safe_cases() {
        let Ok(analysis) = analyze(&case, &case.sql) else {
            continue;
        };
        let kind = analysis.statements.first().map_or("", |s| s.kind.as_str());
        if analysis.statements.len() != 1 || !RUNNABLE_KINDS.contains(&kind) {
            continue;
        }
        for (form, compare_rows) in statement_forms(&case.sql) {
            let context = format!("{}: {}", case.location(), case.reason);
            let prepared = match (
                prepare(&case, &form, &sides[0]),
                prepare(&case, &form, &sides[1]),
            ) {
                (Ok(a), Ok(b)) => [a, b],
                (Err(e), _) | (_, Err(e)) => {
                    report.failures.push(format!("{context}\n    {e}"));
                    continue;
                }
            };
            report.runs += 1;
            let routed = format!(
                "\n    {}: {}\n    {}: {}",
                sides[0].id(),
                prepared[0].routed.trim_end(),
                sides[1].id(),
                prepared[1].routed.trim_end()
            );
            match compare(&mut conn, fixture, &case, &sides, &prepared, compare_rows).await {
                Verdict::Same { rows, changed } => {
                    report.same += 1;
                    report.with_rows += usize::from(rows > 0);
                    report.changing_data += usize::from(changed);
                }
                Verdict::BothFailed(errors) => report
                    .both_failed
                    .push(format!("{context}{routed}\n    {errors}")),
                Verdict::Explained(reason) => {
                    report.explained.entry(reason).or_default().push(context)
                }
                Verdict::Differ(problems) => {
                    report.failures.push(format!("{context}{routed}{problems}"))
                }
            }
        }
    }
    println!(
        "  runs {}: same {}, with rows {}, changing data {}, explained {}, failing on both \
         sides {}, differing {}",
        report.runs,
        report.same,
        report.with_rows,
        report.changing_data,
        report.explained.values().map(Vec::len).sum::<usize>(),
        report.both_failed.len(),
        report.failures.len()
    );
    for (reason, cases) in &report.explained {
        println!("  explained ({reason}):");
        for case in cases {
            println!("    {case}");
        }
    }
    for line in &report.both_failed {
        println!("  FAILED ON BOTH SIDES {line}");
    }
    report
}

/// Fails the test with every phase's differences.
fn assert_agree(phases: &[(&str, PhaseReport)]) {
    let mut report = String::new();
    let mut count = 0;
    for (phase, found) in phases {
        for failure in &found.failures {
            count += 1;
            if count <= FAILURES_IN_FULL {
                let _ = write!(report, "\n\n[{phase}] {failure}");
            } else {
                let _ = write!(
                    report,
                    "\nalso [{phase}] {}",
                    failure.lines().next().unwrap_or("")
                );
            }
        }
    }
    assert!(
        count == 0,
        "{count} difference(s) between the layouts:{report}"
    );
    for (phase, found) in phases {
        assert!(
            found.both_failed.len() <= MAX_BOTH_FAILED,
            "[{phase}] {} runs fail on both sides (at most {MAX_BOTH_FAILED} expected)",
            found.both_failed.len()
        );
        // Not vacuous: the statements return rows or change data.
        assert!(found.runs >= 60, "[{phase}] only {} runs", found.runs);
        assert!(
            (found.with_rows + found.changing_data) * 4 >= found.same * 3,
            "[{phase}] only {} runs with rows and {} changing data of {}",
            found.with_rows,
            found.changing_data,
            found.same
        );
    }
}

fn to(layout: Layout) -> MoveOptions {
    MoveOptions {
        layout: Some(layout),
        ..MoveOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_safe_corpus_statement_returns_the_same_rows_in_both_layouts_and_after_moves() {
    let fixture = fixture().await;
    let mut phases = Vec::new();

    // 1. acme on partitions, kilo in its schema.
    phases.push(("partition / schema", run_phase(&fixture, "1").await));

    // 2. acme moves to schema layout in place: both in schema layout, one
    //    of them moved there.
    let report = fixture
        .fleet
        .move_tenant(PAIR[0], DATABASE, to(Layout::Schema))
        .await
        .expect("move acme to schema layout");
    assert!(report.rows_copied > 0, "acme's rows were copied");
    assert_eq!(
        tenant(&fixture.fleet, PAIR[0]).await.layout(),
        Layout::Schema
    );
    phases.push(("moved schema / schema", run_phase(&fixture, "2").await));

    // 3. kilo moves to partition layout: the two moved tenants, one per
    //    layout.
    fixture
        .fleet
        .move_tenant(PAIR[1], DATABASE, to(Layout::Partition))
        .await
        .expect("move kilo to partition layout");
    assert_eq!(
        tenant(&fixture.fleet, PAIR[1]).await.layout(),
        Layout::Partition
    );
    phases.push((
        "moved schema / moved partition",
        run_phase(&fixture, "3").await,
    ));

    assert_agree(&phases);
}
