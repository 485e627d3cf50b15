//! A bounded, thread-safe cache of analysis results keyed by SQL text, for
//! run-time callers (the runtime guard) that see the same statements over and
//! over.
//!
//! Analysing a statement means parsing it with PostgreSQL's parser (tens of
//! microseconds); a cache hit is a hash lookup. The cache is built on
//! `quick_cache` (sharded, lock-light, CLOCK-Pro eviction), so many threads
//! can share one `AnalysisCache` through `&self` or an `Arc`.
//!
//! ```
//! use tenant_core::cache::AnalysisCache;
//! use tenant_core::{Analyzer, Config};
//!
//! let cache = AnalysisCache::new(Analyzer::new(Config::default()), 10_000);
//! let verdict = cache.check("SELECT id FROM forms WHERE tenant_id = $tenant");
//! assert!(verdict.as_ref().as_ref().is_ok_and(|analysis| analysis.is_ok()));
//! // The second check of the same text is served from the cache.
//! let again = cache.check("SELECT id FROM forms WHERE tenant_id = $tenant");
//! assert!(std::sync::Arc::ptr_eq(&verdict, &again));
//! ```

use std::fmt;
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::analyzer::Analyzer;
use crate::parse::ParseError;
use crate::report::Analysis;

/// What the cache stores per SQL text: the analyzer's answer, shared.
pub type CachedResult = Arc<Result<Analysis, ParseError>>;

/// The function that produces a result on a miss (the analyzer, or a fake in
/// unit tests that must count calls).
type AnalyzeFn = dyn Fn(&str) -> Result<Analysis, ParseError> + Send + Sync;

/// One cache entry: the shared result and its weight, computed once at
/// insertion because quick_cache asks for weights during eviction.
#[derive(Clone)]
struct Entry {
    result: CachedResult,
    weight: u64,
}

/// How entries count against the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// Each entry weighs 1: the capacity is a number of entries.
    Entries,
    /// Each entry weighs its approximate heap size: the capacity is in bytes.
    Bytes,
}

#[derive(Clone)]
struct EntryWeighter;

impl Weighter<String, Entry> for EntryWeighter {
    fn weight(&self, _sql: &String, entry: &Entry) -> u64 {
        entry.weight
    }
}

/// Check results keyed by SQL text, shared across threads, bounded in size.
///
/// `AnalysisCache` is `Send + Sync`; every method takes `&self`. When two
/// threads miss on the same text at once, only one runs the analyzer and the
/// other waits for its result.
pub struct AnalysisCache {
    analyzer: Analyzer,
    analyze: Box<AnalyzeFn>,
    cache: Cache<String, Entry, EntryWeighter>,
    bound: Bound,
    capacity: u64,
}

impl fmt::Debug for AnalysisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalysisCache")
            .field("analyzer", &self.analyzer)
            .field("bound", &self.bound)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl AnalysisCache {
    /// A cache holding at most `max_entries` distinct SQL texts (at least 1).
    pub fn new(analyzer: Analyzer, max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self::build(analyzer, Bound::Entries, max_entries as u64, max_entries)
    }

    /// A cache whose entries take at most about `max_bytes` of memory in
    /// total (SQL text plus analysis, estimated). Use this when statements
    /// vary a lot in size; a text too large to fit is analysed but not kept.
    pub fn with_max_bytes(analyzer: Analyzer, max_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(1) as u64;
        // quick_cache sizes its tables from an item estimate; assume ~1 KiB
        // per statement, the order of magnitude of a typical analysed query.
        let estimated_items = (max_bytes / 1024).clamp(16, 1 << 20) as usize;
        Self::build(analyzer, Bound::Bytes, max_bytes, estimated_items)
    }

    fn build(analyzer: Analyzer, bound: Bound, capacity: u64, estimated_items: usize) -> Self {
        let for_misses = analyzer.clone();
        Self::with_analyze_fn(
            analyzer,
            bound,
            capacity,
            estimated_items,
            Box::new(move |sql| for_misses.analyze(sql)),
        )
    }

    fn with_analyze_fn(
        analyzer: Analyzer,
        bound: Bound,
        capacity: u64,
        estimated_items: usize,
        analyze: Box<AnalyzeFn>,
    ) -> Self {
        AnalysisCache {
            analyzer,
            analyze,
            cache: Cache::with_weighter(estimated_items, capacity, EntryWeighter),
            bound,
            capacity,
        }
    }

    /// Checks `sql`: returns the cached result when this exact text was seen
    /// before (and is still cached), otherwise analyses it and caches the
    /// result. Parse errors are cached too: the same text fails the same way.
    pub fn check(&self, sql: &str) -> CachedResult {
        let computed: Result<Entry, std::convert::Infallible> =
            self.cache.get_or_insert_with(sql, || {
                let result = Arc::new((self.analyze)(sql));
                let weight = match self.bound {
                    Bound::Entries => 1,
                    Bound::Bytes => approximate_size(sql, &result),
                };
                Ok(Entry { result, weight })
            });
        match computed {
            Ok(entry) => entry.result,
            Err(never) => match never {},
        }
    }

    /// The cached result for `sql`, without analysing it on a miss.
    pub fn get(&self, sql: &str) -> Option<CachedResult> {
        self.cache.get(sql).map(|entry| entry.result)
    }

    /// The analyzer used on misses.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The number of SQL texts currently cached.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The bound: a number of entries ([`new`](AnalysisCache::new)) or of
    /// bytes ([`with_max_bytes`](AnalysisCache::with_max_bytes)).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The current total weight: entries, or estimated bytes, matching
    /// [`capacity`](AnalysisCache::capacity).
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// Drops every cached result (for instance after the configuration the
    /// analyzer was built from has changed, in a new cache).
    pub fn clear(&self) {
        self.cache.clear();
    }
}

/// Estimated heap bytes of one entry: the key, every string of the analysis,
/// and a fixed overhead per allocation-bearing item.
fn approximate_size(sql: &str, result: &Result<Analysis, ParseError>) -> u64 {
    const OVERHEAD: usize = 64;
    let mut size = OVERHEAD + sql.len();
    match result {
        Ok(analysis) => {
            size += analysis.original_sql.len() + analysis.sql.len();
            for statement in &analysis.statements {
                size += OVERHEAD + statement.text.len() + statement.kind.len();
                for v in &statement.violations {
                    size += OVERHEAD
                        + v.message.len()
                        + v.fix.len()
                        + v.table.as_ref().map_or(0, String::len)
                        + v.alias.as_ref().map_or(0, String::len);
                }
                for value in &statement.tenant_values {
                    size += OVERHEAD + value.len();
                }
                for site in &statement.tenant_tables {
                    size += OVERHEAD
                        + site.table.len()
                        + site.tenant_column.len()
                        + site.schema.as_ref().map_or(0, String::len)
                        + site.alias.as_ref().map_or(0, String::len);
                }
            }
        }
        Err(error) => size += error.message.len(),
    }
    size as u64
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Config;
    use crate::report::{Position, StatementAnalysis};

    /// A fake analyzer that counts its calls, so hits and misses are
    /// observable without depending on the real rules. Texts starting with
    /// `!` fail to parse.
    fn counting(bound: Bound, capacity: u64) -> (AnalysisCache, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let cache = AnalysisCache::with_analyze_fn(
            Analyzer::new(Config::default()),
            bound,
            capacity,
            capacity.min(1024) as usize,
            Box::new(move |sql| {
                counter.fetch_add(1, Ordering::SeqCst);
                if sql.starts_with('!') {
                    return Err(ParseError {
                        message: "syntax error".into(),
                        position: Some(Position::at(sql, 0)),
                    });
                }
                Ok(Analysis {
                    original_sql: sql.to_string(),
                    sql: sql.to_string(),
                    tenant_param: None,
                    tenant_param_cast: false,
                    param_count: 0,
                    statements: vec![StatementAnalysis {
                        index: 0,
                        text: sql.to_string(),
                        span: 0..sql.len(),
                        position: Position::at(sql, 0),
                        kind: "SELECT".into(),
                        violations: Vec::new(),
                        tenant_tables: Vec::new(),
                        tenant_values: Vec::new(),
                    }],
                })
            }),
        );
        (cache, calls)
    }

    #[test]
    fn cache_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AnalysisCache>();
    }

    #[test]
    fn second_check_is_a_hit() {
        let (cache, calls) = counting(Bound::Entries, 100);
        assert!(cache.get("SELECT 1").is_none());
        let first = cache.check("SELECT 1");
        let second = cache.check("SELECT 1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(cache.get("SELECT 1").is_some());
        cache.check("SELECT 2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn parse_errors_are_cached_too() {
        let (cache, calls) = counting(Bound::Entries, 100);
        assert!(cache.check("!bad").is_err());
        assert!(cache.check("!bad").is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn entry_bound_is_respected() {
        let (cache, calls) = counting(Bound::Entries, 50);
        for i in 0..2_000 {
            cache.check(&format!("SELECT {i}"));
            assert!(cache.len() <= 50, "len {} after {i}", cache.len());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2_000);
        assert!(cache.len() > 10, "the cache should keep a useful share");
        assert_eq!(cache.capacity(), 50);
    }

    #[test]
    fn byte_bound_is_respected_and_huge_texts_are_not_kept() {
        let (cache, _) = counting(Bound::Bytes, 64 * 1024);
        for i in 0..2_000 {
            cache.check(&format!("SELECT {i} /* {} */", "x".repeat(i % 300)));
            assert!(cache.weight() <= 64 * 1024, "weight {}", cache.weight());
        }
        let huge = format!("SELECT 1 /* {} */", "y".repeat(1 << 20));
        assert!(cache.check(&huge).is_ok(), "a huge text is still analysed");
        assert!(cache.weight() <= 64 * 1024);
        assert!(cache.get(&huge).is_none());
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let cache = AnalysisCache::new(Analyzer::new(Config::default()), 0);
        assert_eq!(cache.capacity(), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn concurrent_checks_analyse_each_text_once() {
        let (cache, calls) = counting(Bound::Entries, 1_000);
        let cache = Arc::new(cache);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for round in 0..50 {
                        for i in 0..100 {
                            let result = cache.check(&format!("SELECT {i}"));
                            let analysis = result.as_ref().as_ref().expect("fake never fails");
                            assert_eq!(analysis.original_sql, format!("SELECT {i}"), "{round}");
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no thread panicked");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 100);
        assert_eq!(cache.len(), 100);
    }

    #[test]
    fn clear_forgets_everything() {
        let (cache, calls) = counting(Bound::Entries, 10);
        cache.check("SELECT 1");
        cache.clear();
        assert!(cache.is_empty());
        cache.check("SELECT 1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
