//! The placement lookup at fleet scale: `Placement::place` with 1,000,000
//! listed tenants and 10,000 ranges over four databases, plus a default.
//!
//! Run with `cargo bench -p tenant-core --bench placement`. Target (issue
//! 20): median per lookup <= 1 µs. Before the lookups it prints, per key
//! type, the heap bytes the built `Placement` holds (counted by this
//! binary's global allocator), the peak heap while building it, and the
//! median time of `Placement::new` over three builds. Criterion writes each
//! lookup's median to
//! `target/criterion/placement_<key type>/<case>/new/estimates.json`
//! (`median.point_estimate`, ns).
//!
//! The id space is the numbers `0..1_000_000_000`, spelt per key type
//! (`org-000123456`, `123456`, or a UUID whose first 8 bytes grow with the
//! number and whose last 8 are random). Listed: every number `≡ 7 (mod
//! 1000)`, 1,000,000 of them, in four list rules (one per database).
//! Ranges: `[i·100,000, i·100,000 + 50,000)` for `i < 10,000`, spread over
//! the databases; the other half of the space falls to the default. Each
//! case looks up 262,144 ids drawn at random in turn, so most lookups miss
//! the CPU caches as a server's lookups of many tenants would.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tenant_core::placement::{
    DatabaseConfig, KeyType, ListRule, Placement, PlacementConfig, RangeRule,
};

/// The system allocator, counting live and peak heap bytes while
/// `COUNTING` is set (off during the lookups, so they pay nothing for it).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() && COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size as isize, Ordering::Relaxed) + new_size as isize;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LISTED: u64 = 1_000_000;
const RANGES: u64 = 10_000;
const RANGE_STRIDE: u64 = 100_000;
const RANGE_WIDTH: u64 = 50_000;
const DATABASES: [&str; 4] = ["eu1", "eu2", "us1", "us2"];
/// Ids looked up per case, cycled through (a power of two).
const PROBES: usize = 1 << 18;

/// splitmix64: a fixed, dependency-free stream of pseudo-random numbers.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The number `n` (below 10⁹) spelt as a tenant id of `key_type`. A range
/// bound (`bound`) is a UUID with its random half zero.
fn id(key_type: KeyType, n: u64, bound: bool) -> String {
    match key_type {
        KeyType::Text => format!("org-{n:09}"),
        KeyType::Integer => n.to_string(),
        KeyType::Uuid => {
            // 18,446,744,073 · 10⁹ < 2⁶⁴: the high half orders as `n`.
            let high = n * 18_446_744_073;
            let low = if bound { 0 } else { mix(n) };
            let hex = format!("{high:016x}{low:016x}");
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        }
    }
}

fn databases() -> Vec<DatabaseConfig> {
    DATABASES
        .iter()
        .map(|name| DatabaseConfig {
            name: name.to_string(),
            url_env: format!("{}_DATABASE_URL", name.to_uppercase()),
            pool_size: None,
        })
        .collect()
}

fn rules(key_type: KeyType) -> PlacementConfig {
    let mut list: Vec<ListRule> = DATABASES
        .iter()
        .map(|db| ListRule {
            database: db.to_string(),
            tenants: Vec::with_capacity((LISTED as usize) / DATABASES.len()),
        })
        .collect();
    for k in 0..LISTED {
        let n = k * 1000 + 7;
        list[(mix(k) % 4) as usize]
            .tenants
            .push(id(key_type, n, false));
    }
    let range = (0..RANGES)
        .map(|i| RangeRule {
            database: DATABASES[(i % 4) as usize].to_string(),
            start: Some(id(key_type, i * RANGE_STRIDE, true)),
            end: Some(id(key_type, i * RANGE_STRIDE + RANGE_WIDTH, true)),
        })
        .collect();
    PlacementConfig {
        key_type,
        default: Some("eu1".to_string()),
        list,
        range,
    }
}

/// `PROBES` ids of one case, drawn at random.
fn probes(key_type: KeyType, case: &str) -> Vec<String> {
    (0..PROBES as u64)
        .map(|i| {
            let r = mix(i ^ 0xA5A5_0000);
            let n = match case {
                "listed" => (r % LISTED) * 1000 + 7,
                // In a range (offset below RANGE_WIDTH), never ≡ 7 mod 1000.
                "range" => {
                    let n = (r % RANGES) * RANGE_STRIDE + (r >> 32) % RANGE_WIDTH;
                    if n % 1000 == 7 {
                        n + 1
                    } else {
                        n
                    }
                }
                // In a gap between ranges, not listed.
                _ => {
                    let n = (r % RANGES) * RANGE_STRIDE + RANGE_WIDTH + (r >> 32) % RANGE_WIDTH;
                    if n % 1000 == 7 {
                        n + 1
                    } else {
                        n
                    }
                }
            };
            id(key_type, n, false)
        })
        .collect()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Builds the placement three times, printing what the kept one holds on
/// the heap, the peak while building, and the median build time.
fn build(databases: &[DatabaseConfig], rules: &PlacementConfig) -> Placement {
    let mut times = Vec::new();
    let mut kept = None;
    for _ in 0..3 {
        drop(kept.take());
        LIVE.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::SeqCst);
        let start = Instant::now();
        let placement = Placement::new(databases, rules).expect("valid rules");
        times.push(start.elapsed());
        COUNTING.store(false, Ordering::SeqCst);
        kept = Some(placement);
    }
    let held = LIVE.load(Ordering::Relaxed).max(0) as usize;
    let peak = PEAK.load(Ordering::Relaxed).max(0) as usize;
    let ids: usize = rules
        .list
        .iter()
        .flat_map(|rule| &rule.tenants)
        .map(|t| t.len())
        .sum();
    times.sort();
    eprintln!(
        "placement_{}: Placement::new median {:.0} ms (of {:?}); heap held {:.1} MiB \
         ({:.1} bytes per listed tenant, ids themselves {:.1} MiB); peak while building {:.1} MiB",
        rules.key_type,
        times[1].as_secs_f64() * 1e3,
        times
            .iter()
            .map(|t| format!("{:.0} ms", t.as_secs_f64() * 1e3))
            .collect::<Vec<_>>(),
        mib(held),
        held as f64 / LISTED as f64,
        mib(ids),
        mib(peak),
    );
    kept.expect("built")
}

fn lookups(c: &mut Criterion, key_type: KeyType) {
    let databases = databases();
    let mut rules = rules(key_type);
    let placement = build(&databases, &rules);

    let mut group = c.benchmark_group(format!("placement_{key_type}"));
    let mut cases = vec!["listed", "range", "default"];
    // Without a default, an unplaced id is an error (text only: it costs
    // another build).
    let unplaced = (key_type == KeyType::Text).then(|| {
        rules.default = None;
        cases.push("unplaced");
        Placement::new(&databases, &rules).expect("valid rules")
    });
    drop(rules);
    for case in cases {
        let (placement, probe_case) = match case {
            "unplaced" => (unplaced.as_ref().expect("built"), "default"),
            _ => (&placement, case),
        };
        let ids = probes(key_type, probe_case);
        // Every probe lands where its case says.
        for id in ids.iter().take(1000) {
            let found = placement.place(id);
            match case {
                "unplaced" => assert!(found.is_err(), "{id}: {found:?}"),
                "default" => assert_eq!(found, Ok("eu1"), "{id}"),
                _ => assert!(found.is_ok(), "{id}: {found:?}"),
            }
        }
        group.bench_function(BenchmarkId::from_parameter(case), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                let _ = black_box(placement.place(black_box(&ids[i])));
            })
        });
    }
    group.finish();
}

fn text(c: &mut Criterion) {
    lookups(c, KeyType::Text)
}

fn integer(c: &mut Criterion) {
    lookups(c, KeyType::Integer)
}

fn uuid(c: &mut Criterion) {
    lookups(c, KeyType::Uuid)
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = text, integer, uuid
}
criterion_main!(benches);
