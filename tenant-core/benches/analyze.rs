//! Analysis time of a typical three-table join, uncached and through the
//! [`AnalysisCache`] (one thread, and two threads sharing one cache).
//!
//! Run with `cargo bench -p tenant-core --bench analyze`. Targets (issue 2):
//! uncached <= 50 us per statement; cached >= 1M checks/s across 2 threads.
//! Criterion writes each benchmark's median to
//! `target/criterion/<group>/<name>/new/estimates.json` (`median.point_estimate`, ns).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tenant_core::cache::AnalysisCache;
use tenant_core::{Analyzer, Config};

/// What an application's report page runs: three tenant tables joined, each
/// bound through the join chain, with a filter and ordering.
const JOIN_QUERY: &str = "SELECT f.id, f.name, s.id AS submission_id, s.created_at, u.email
FROM forms f
JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id
JOIN follow_ups u ON u.submission_id = s.id AND u.tenant_id = s.tenant_id
WHERE f.tenant_id = $tenant AND f.archived = false AND s.created_at >= $1
ORDER BY s.created_at DESC
LIMIT 50";

/// Distinct statements for the cached benchmarks, so the threads do not all
/// hammer one entry (real traffic repeats a working set of statements).
fn working_set(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{JOIN_QUERY} OFFSET {i}")).collect()
}

fn analyzer() -> Analyzer {
    let config = Config::from_toml_str("global_tables = [\"plans\"]").expect("valid config");
    Analyzer::new(config)
}

fn uncached(c: &mut Criterion) {
    let analyzer = analyzer();
    let analysis = analyzer.analyze(JOIN_QUERY).expect("the query parses");
    assert!(
        analysis.is_ok(),
        "the benchmark query must be accepted: {analysis:?}"
    );

    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Elements(1));
    group.bench_function("uncached_3_table_join", |b| {
        b.iter(|| analyzer.analyze(black_box(JOIN_QUERY)))
    });
    group.finish();
}

fn cached(c: &mut Criterion) {
    let statements = Arc::new(working_set(256));
    let cache = Arc::new(AnalysisCache::new(analyzer(), 10_000));
    for sql in statements.iter() {
        assert!(cache.check(sql).as_ref().as_ref().is_ok_and(|a| a.is_ok()));
    }

    let mut group = c.benchmark_group("cache");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hit_1_thread", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % statements.len();
            cache.check(black_box(&statements[i]))
        })
    });

    // One iteration = one check on each of the two threads, so criterion's
    // elements/s is checks per second across both threads.
    const THREADS: usize = 2;
    group.throughput(Throughput::Elements(THREADS as u64));
    group.bench_function("hit_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(THREADS));
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let cache = Arc::clone(&cache);
                    let statements = Arc::clone(&statements);
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        let mut i = t * 7;
                        for _ in 0..iters {
                            i = (i + 1) % statements.len();
                            black_box(cache.check(black_box(&statements[i])));
                        }
                        (start, Instant::now())
                    })
                })
                .collect();
            let spans: Vec<(Instant, Instant)> = workers
                .into_iter()
                .map(|w| w.join().expect("bench thread"))
                .collect();
            let start = spans.iter().map(|s| s.0).min().expect("two threads");
            let end = spans.iter().map(|s| s.1).max().expect("two threads");
            end.duration_since(start)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = uncached, cached
}
criterion_main!(benches);
