//! The runtime guard's cost per statement (issue 6): a cache miss (parse and
//! analyse) and cache hits on two threads sharing one guard.
//!
//! Run with `cargo bench -p tenant-runtime --bench guard`. Target: cached
//! checks >= 1M/s across 2 threads.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tenant_runtime::guard::Guard;
use tenant_runtime::Config;

/// SQL as an application written without the macros sends it: the tenant
/// bound with an ordinary parameter (the guard is lenient by default).
const REPORT_QUERY: &str = "SELECT f.id, f.name, s.id AS submission_id, u.email
FROM forms f
JOIN form_submissions s ON s.form_id = f.id AND s.tenant_id = f.tenant_id
JOIN follow_ups u ON u.submission_id = s.id AND u.tenant_id = s.tenant_id
WHERE f.tenant_id = $1 AND s.created_at >= $2
ORDER BY s.created_at DESC LIMIT 50";

fn guard_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard");
    group.throughput(Throughput::Elements(1));

    // Every iteration checks a text never seen before: a miss each time.
    let cold = Guard::builder(Config::default()).capacity(1024).build();
    let counter = AtomicU64::new(0);
    group.bench_function("miss", |b| {
        b.iter_batched(
            || {
                format!(
                    "{REPORT_QUERY} OFFSET {}",
                    counter.fetch_add(1, Ordering::Relaxed)
                )
            },
            |sql| cold.check(black_box(&sql)).expect("bound"),
            criterion::BatchSize::SmallInput,
        )
    });

    let statements: Arc<Vec<String>> = Arc::new(
        (0..256)
            .map(|i| format!("{REPORT_QUERY} OFFSET {i}"))
            .collect(),
    );
    let warm = Guard::builder(Config::default()).build();
    for sql in statements.iter() {
        warm.check(sql).expect("bound");
    }
    const THREADS: usize = 2;
    group.throughput(Throughput::Elements(THREADS as u64));
    group.bench_function("hit_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(THREADS));
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (guard, statements, barrier) =
                        (warm.clone(), Arc::clone(&statements), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters as usize {
                            let sql = &statements[(i * 31 + t * 7) % statements.len()];
                            black_box(guard.check(black_box(sql))).expect("bound");
                        }
                        start.elapsed()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = guard_checks
}
criterion_main!(benches);
