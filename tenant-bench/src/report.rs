//! The output: a human table on stdout, then one JSON object as the last line.

use std::time::Duration;

use serde_json::Value;

use crate::arms::{ArmKind, ArmResult};
use crate::dataset::human_duration;
use crate::memory::{Measured, MemoryResult};
use crate::onboarding::OnboardingResult;
use crate::Args;

/// Everything one run measured.
pub struct Report<'a> {
    /// The command line.
    pub args: &'a Args,
    /// `tenant_bench_N`.
    pub database: &'a str,
    /// Whether the data set was reused or built (and how long that took).
    pub dataset_origin: &'a str,
    /// The arms, in [`ArmKind::ALL`] order.
    pub arms: &'a [ArmResult],
    /// The plan of each arm's query: `(label, first line of EXPLAIN)`.
    pub plans: &'a [(String, String)],
    /// The onboarding measurement.
    pub onboarding: &'a OnboardingResult,
    /// The statement-memory measurement.
    pub memory: &'a MemoryResult,
    /// Wall time of the whole run.
    pub total: Duration,
    /// The machine's 1-minute load average before and after measuring.
    pub load: (Option<f64>, Option<f64>),
}

/// The 1-minute load average (Linux), to judge how busy the machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A JSON number rounded to `decimals`, `null` for none or a non-finite value.
fn number(value: Option<f64>, decimals: i32) -> Value {
    match value {
        Some(v) if v.is_finite() => {
            let scale = 10f64.powi(decimals);
            Value::from((v * scale).round() / scale)
        }
        _ => Value::Null,
    }
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".to_string(),
    }
}

fn mib(bytes: i64) -> String {
    format!("{:+.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl Report<'_> {
    fn arm(&self, kind: ArmKind) -> Option<&ArmResult> {
        self.arms.iter().find(|arm| arm.kind == kind)
    }

    fn qps(&self, kind: ArmKind) -> Option<f64> {
        self.arm(kind).and_then(ArmResult::qps)
    }

    fn vs_flat(&self, kind: ArmKind) -> Option<f64> {
        match (self.qps(kind), self.qps(ArmKind::Flat)) {
            (Some(arm), Some(flat)) if flat > 0.0 => Some(arm / flat),
            _ => None,
        }
    }

    /// `kind`'s throughput over `base`'s.
    fn ratio(&self, kind: ArmKind, base: ArmKind) -> Option<f64> {
        match (self.qps(kind), self.qps(base)) {
            (Some(arm), Some(base)) if base > 0.0 => Some(arm / base),
            _ => None,
        }
    }

    fn table(&self) -> String {
        let args = self.args;
        let mut out = String::new();
        out.push_str(&format!(
            "tenant-bench: {} tenants x {} rows, {} clients, {} s per arm; database {}: {}; run took {}\n",
            args.tenants,
            args.rows_per_tenant,
            args.clients,
            args.seconds,
            self.database,
            self.dataset_origin,
            human_duration(self.total)
        ));
        out.push_str(&format!(
            "load average (1 min) before measuring {}, after {}\n",
            cell(self.load.0, 2),
            cell(self.load.1, 2)
        ));
        out.push_str(&format!(
            "random_page_cost: {}; plans:",
            args.random_page_cost
        ));
        for (label, plan) in self.plans {
            out.push_str(&format!(" {label}: {plan};"));
        }
        out.push_str("\n\n");
        out.push_str(&format!(
            "{:<23} {:>10} {:>10} {:>8} {:>9} {:>9} {:>10} {:>6} {:>9} {:>10} {:>10} {:>7}  {}\n",
            "arm",
            "queries",
            "qps",
            "vs flat",
            "p50 µs",
            "p99 µs",
            "max µs",
            "errors",
            "prepared",
            "client µs",
            "server µs",
            "steal %",
            "status"
        ));
        for arm in self.arms {
            let status = match &arm.failed {
                Some(message) => format!("FAILED: {message}"),
                None => "ok".to_string(),
            };
            let prepared = arm
                .prepared_statements
                .map_or_else(|| "-".to_string(), |n| n.to_string());
            out.push_str(&format!(
                "{:<23} {:>10} {:>10} {:>8} {:>9} {:>9} {:>10} {:>6} {:>9} {:>10} {:>10} {:>7}  {}\n",
                arm.kind.name(),
                arm.queries,
                cell(arm.qps(), 1),
                cell(self.vs_flat(arm.kind), 3),
                cell(arm.p50_us, 1),
                cell(arm.p99_us, 1),
                cell(arm.max_us, 1),
                arm.errors,
                prepared,
                cell(arm.client_cpu_us, 1),
                cell(arm.server_cpu_us, 1),
                cell(arm.steal_pct, 1),
                status
            ));
        }
        out.push_str(
            "(prepared: server-side prepared statements per connection at the end of the run;\n \
             client µs / server µs: CPU time per query of this process / of the arm's backends;\n \
             steal %: share of the machine's CPU time the hypervisor took during the arm's slices)\n",
        );
        if self.arm(ArmKind::RoutedPgbouncer).is_some() {
            out.push_str(&format!(
                "routed_pgbouncer / routed_pgbouncer_direct: {}; routed_pgbouncer / routed_uniform: {}\n",
                cell(self.ratio(ArmKind::RoutedPgbouncer, ArmKind::RoutedPgbouncerDirect), 3),
                cell(self.ratio(ArmKind::RoutedPgbouncer, ArmKind::RoutedUniform), 3)
            ));
        }
        if self.arm(ArmKind::SchemaUniform).is_some() {
            out.push_str(&format!(
                "schema_uniform / routed_uniform: {}; schema_uniform / flat: {}\n",
                cell(
                    self.ratio(ArmKind::SchemaUniform, ArmKind::RoutedUniform),
                    3
                ),
                cell(self.vs_flat(ArmKind::SchemaUniform), 3)
            ));
        }
        if self.arm(ArmKind::SchemaSearchPathTx).is_some() {
            out.push_str(&format!(
                "schema_search_path_tx / schema_qualified_tx: {} (unqualified names re-planned per search_path vs schema-qualified, per transaction)\n",
                cell(
                    self.ratio(ArmKind::SchemaSearchPathTx, ArmKind::SchemaQualifiedTx),
                    3
                )
            ));
        }

        let o = self.onboarding;
        out.push_str(&format!(
            "\nonboarding: {} tenants x 3 partitions, one at a time, at {} tenants\n",
            o.tenants, args.tenants
        ));
        if let Some(error) = &o.error {
            out.push_str(&format!("  FAILED: {error}\n"));
        }
        out.push_str(&format!(
            "  onboard          p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms\n",
            o.p50_ms, o.p99_ms, o.max_ms
        ));
        out.push_str(&format!(
            "  bare DDL         ATTACH items {:.2} ms; 3 ATTACHes in one transaction {:.2} ms; full DDL of 3 partitions {:.2} ms (medians of 5)\n",
            o.bare_attach_ms, o.bare_attach_3_tables_ms, o.bare_ddl_3_tables_ms
        ));
        out.push_str(&format!(
            "  reader           {} routed queries of another tenant meanwhile, slowest {:.2} ms{}\n",
            o.reader_queries,
            o.reader_max_ms,
            o.reader_error
                .as_ref()
                .map(|e| format!(", first error: {e}"))
                .unwrap_or_default()
        ));
        out.push_str(&format!(
            "  offboard (Drop)  p50 {:.2} ms\n",
            o.offboard_p50_ms
        ));
        if let Some(schema) = &o.schema {
            out.push_str(&format!(
                "  schema layout    {} tenants (schema, role, 3 tables), alternated with the above: p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms; offboard (Drop) p50 {:.2} ms\n",
                schema.tenants, schema.p50_ms, schema.p99_ms, schema.max_ms, schema.offboard_p50_ms
            ));
        }

        let m = self.memory;
        out.push_str("\nstatement memory (pg_backend_memory_contexts of one connection)\n");
        let line = |label: &str, measured: &Measured| -> String {
            match measured {
                Ok(s) => format!(
                    "  {label:<34} {} tenants x {}: {}, {} prepared statements kept: {} B per tenant, {} B per prepared statement\n",
                    s.tenants,
                    s.executions,
                    mib(s.delta_bytes),
                    s.prepared,
                    cell(Some(s.per_tenant()), 0),
                    cell(s.per_statement(), 0)
                ),
                Err(message) => format!("  {label:<34} {message}\n"),
            }
        };
        out.push_str(&line("routed (library defaults)", &m.routed_1x));
        out.push_str(&line("routed (library defaults)", &m.routed_6x));
        out.push_str(&line("routed, statement caching off", &m.nocache_6x));
        for (executions, net) in [(1, m.routed_net_1x()), (6, m.routed_net_6x())] {
            if let Some(net) = net {
                out.push_str(&format!(
                    "  {:<34} executed {executions}x: {net:.0} B per prepared statement beyond the catalog caches\n",
                    "routed, net of caching off"
                ));
            }
        }
        for measured in [&m.parent_1x, &m.parent_6x] {
            out.push_str(&match measured {
                Ok(s) => format!(
                    "  {:<34} 1 statement executed {}x: {}\n",
                    "parent (sqlx defaults)",
                    s.executions,
                    mib(s.delta_bytes)
                ),
                Err(message) => format!("  {:<34} {message}\n", "parent (sqlx defaults)"),
            });
        }
        out
    }

    fn json(&self) -> String {
        let o = self.onboarding;
        let m = self.memory;
        let mut fields: Vec<(String, Value)> =
            vec![("tenants".into(), Value::from(self.args.tenants))];
        // The keys first: the six arms it names.
        let pooler_arms = [ArmKind::RoutedPgbouncer, ArmKind::RoutedPgbouncerDirect];
        for kind in ArmKind::ALL {
            if !pooler_arms.contains(&kind) && !kind.schema_layout() {
                fields.push((format!("{}_qps", kind.name()), number(self.qps(kind), 1)));
            }
        }
        for kind in [
            ArmKind::RoutedUniform,
            ArmKind::RoutedZipf,
            ArmKind::RoutedNocache,
            ArmKind::ParentCustom,
        ] {
            fields.push((
                format!("{}_vs_flat", kind.name()),
                number(self.vs_flat(kind), 3),
            ));
        }
        fields.push(("onboard_p50_ms".into(), number(Some(o.p50_ms), 2)));
        fields.push(("onboard_p99_ms".into(), number(Some(o.p99_ms), 2)));
        fields.push(("bare_attach_ms".into(), number(Some(o.bare_attach_ms), 2)));
        // Extra keys, after the ones the issue names.
        for kind in pooler_arms {
            fields.push((format!("{}_qps", kind.name()), number(self.qps(kind), 1)));
        }
        fields.push((
            "routed_pgbouncer_vs_direct".into(),
            number(
                self.ratio(ArmKind::RoutedPgbouncer, ArmKind::RoutedPgbouncerDirect),
                3,
            ),
        ));
        fields.push((
            "routed_pgbouncer_vs_routed_uniform".into(),
            number(
                self.ratio(ArmKind::RoutedPgbouncer, ArmKind::RoutedUniform),
                3,
            ),
        ));
        for kind in [
            ArmKind::SchemaUniform,
            ArmKind::SchemaQualifiedTx,
            ArmKind::SchemaSearchPathTx,
        ] {
            fields.push((format!("{}_qps", kind.name()), number(self.qps(kind), 1)));
        }
        fields.push((
            "schema_uniform_vs_flat".into(),
            number(self.vs_flat(ArmKind::SchemaUniform), 3),
        ));
        fields.push((
            "schema_uniform_vs_routed_uniform".into(),
            number(
                self.ratio(ArmKind::SchemaUniform, ArmKind::RoutedUniform),
                3,
            ),
        ));
        fields.push((
            "schema_search_path_vs_qualified".into(),
            number(
                self.ratio(ArmKind::SchemaSearchPathTx, ArmKind::SchemaQualifiedTx),
                3,
            ),
        ));
        let schema = o.schema.as_ref();
        fields.push((
            "onboard_schema_p50_ms".into(),
            number(schema.map(|s| s.p50_ms), 2),
        ));
        fields.push((
            "onboard_schema_p99_ms".into(),
            number(schema.map(|s| s.p99_ms), 2),
        ));
        fields.push((
            "onboard_schema_max_ms".into(),
            number(schema.map(|s| s.max_ms), 2),
        ));
        fields.push((
            "offboard_schema_p50_ms".into(),
            number(schema.map(|s| s.offboard_p50_ms), 2),
        ));
        fields.push((
            "rows_per_tenant".into(),
            Value::from(self.args.rows_per_tenant),
        ));
        fields.push(("clients".into(), Value::from(self.args.clients)));
        fields.push(("seconds_per_arm".into(), Value::from(self.args.seconds)));
        fields.push((
            "random_page_cost".into(),
            match self.args.random_page_cost {
                crate::arms::RandomPageCost::Server => Value::Null,
                crate::arms::RandomPageCost::Set(cost) => Value::from(cost),
            },
        ));
        for (label, plan) in self.plans {
            fields.push((format!("{label}_plan"), Value::from(plan.as_str())));
        }
        for arm in self.arms {
            let name = arm.kind.name();
            fields.push((format!("{name}_p50_us"), number(arm.p50_us, 1)));
            fields.push((format!("{name}_p99_us"), number(arm.p99_us, 1)));
            fields.push((format!("{name}_errors"), Value::from(arm.errors)));
            fields.push((
                format!("{name}_failed"),
                arm.failed.clone().map_or(Value::Null, Value::from),
            ));
            fields.push((
                format!("{name}_client_cpu_us"),
                number(arm.client_cpu_us, 1),
            ));
            fields.push((
                format!("{name}_server_cpu_us"),
                number(arm.server_cpu_us, 1),
            ));
            fields.push((format!("{name}_steal_pct"), number(arm.steal_pct, 2)));
            if arm.kind.routed() {
                fields.push((
                    format!("{name}_prepared_statements"),
                    arm.prepared_statements.map_or(Value::Null, Value::from),
                ));
            }
        }
        fields.push(("onboard_max_ms".into(), number(Some(o.max_ms), 2)));
        fields.push((
            "bare_attach_3_tables_ms".into(),
            number(Some(o.bare_attach_3_tables_ms), 2),
        ));
        fields.push((
            "bare_ddl_3_tables_ms".into(),
            number(Some(o.bare_ddl_3_tables_ms), 2),
        ));
        fields.push(("offboard_p50_ms".into(), number(Some(o.offboard_p50_ms), 2)));
        fields.push(("reader_queries".into(), Value::from(o.reader_queries)));
        fields.push(("reader_max_ms".into(), number(Some(o.reader_max_ms), 2)));
        fields.push((
            "onboard_failed".into(),
            o.error.clone().map_or(Value::Null, Value::from),
        ));
        let per_statement =
            |measured: &Measured| number(measured.as_ref().ok().and_then(|s| s.per_statement()), 0);
        let per_tenant =
            |measured: &Measured| number(measured.as_ref().ok().map(|s| s.per_tenant()), 0);
        let kept = |measured: &Measured| {
            measured
                .as_ref()
                .ok()
                .map_or(Value::Null, |s| Value::from(s.prepared))
        };
        fields.push(("routed_stmt_bytes".into(), per_statement(&m.routed_1x)));
        fields.push(("routed_stmt_bytes_6x".into(), per_statement(&m.routed_6x)));
        fields.push(("routed_tenant_bytes".into(), per_tenant(&m.routed_1x)));
        fields.push(("routed_tenant_bytes_6x".into(), per_tenant(&m.routed_6x)));
        fields.push(("routed_statements_kept".into(), kept(&m.routed_1x)));
        fields.push(("nocache_tenant_bytes_6x".into(), per_tenant(&m.nocache_6x)));
        fields.push(("routed_stmt_net_bytes".into(), number(m.routed_net_1x(), 0)));
        fields.push((
            "routed_stmt_net_bytes_6x".into(),
            number(m.routed_net_6x(), 0),
        ));
        fields.push(("parent_stmt_bytes".into(), per_tenant(&m.parent_1x)));
        fields.push(("parent_stmt_bytes_6x".into(), per_tenant(&m.parent_6x)));
        fields.push(("loadavg_start".into(), number(self.load.0, 2)));
        fields.push(("loadavg_end".into(), number(self.load.1, 2)));

        // serde_json's map would sort the keys; the order is kept by hand.
        let body: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("{}:{}", Value::from(key.as_str()), value))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// Prints the table, then the JSON line (last).
pub fn print(report: &Report<'_>) {
    print!("{}", report.table());
    println!("{}", report.json());
}
