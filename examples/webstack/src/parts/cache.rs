//! The [`Cache`] variants: `Lru` (least recently used, the `lru` crate), `S3Fifo` (quick_cache's
//! scan-resistant S3-FIFO policy) and `NoCache`. Both real caches are bounded by body bytes and
//! carry their entries across a swap or a relocation (state format `webstack/cache-v1`, shared,
//! so a swap from one policy to the other keeps what was cached).

use std::sync::atomic::{AtomicU64, Ordering};

use hatch_components::{Component, StateError, StateTransfer, state};
use parking_lot::Mutex;

use crate::api::cache::{Cache, CacheStats, Cached};

const FORMAT: &str = "webstack/cache-v1";

/// The bytes an entry is charged: its body, key and headers.
fn weight(key: &str, value: &Cached) -> usize {
    key.len() + value.body.len() + value.etag.len() + value.content_type.len() + 64
}

/// The state both caches export: (key, entry) pairs, coldest first, so that importing them in
/// order into any policy leaves the hottest entries in.
type Entries = Vec<(String, Cached)>;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self, entries: u64, bytes: u64) -> CacheStats {
        CacheStats {
            entries,
            bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Least recently used, bounded by bytes.
pub struct Lru {
    inner: Mutex<LruInner>,
    counters: Counters,
}

struct LruInner {
    map: lru::LruCache<String, Cached>,
    bytes: usize,
    budget: usize,
}

impl Lru {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        let inner = LruInner { map: lru::LruCache::unbounded(), bytes: 0, budget };
        Lru { inner: Mutex::new(inner), counters: Counters::default() }
    }
}

impl LruInner {
    fn insert(&mut self, key: String, value: Cached) {
        let w = weight(&key, &value);
        if w > self.budget {
            return;
        }
        if let Some(old) = self.map.peek(&key) {
            self.bytes -= weight(&key, old);
        }
        self.bytes += w;
        self.map.put(key, value);
        while self.bytes > self.budget {
            let Some((k, v)) = self.map.pop_lru() else { break };
            self.bytes -= weight(&k, &v);
        }
    }
}

impl Cache for Lru {
    fn get(&self, key: &str) -> Option<Cached> {
        let found = self.inner.lock().map.get(key).cloned();
        self.counters.count(found.is_some());
        found
    }

    fn put(&self, key: String, value: Cached) {
        self.inner.lock().insert(key, value);
    }

    fn invalidate(&self, key: &str) {
        let mut inner = self.inner.lock();
        if let Some(old) = inner.map.pop(key) {
            inner.bytes -= weight(key, &old);
        }
    }

    fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        self.counters.stats(inner.map.len() as u64, inner.bytes as u64)
    }
}

impl Component for Lru {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for Lru {
    fn state_format(&self) -> &'static str {
        FORMAT
    }

    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        // `iter` runs from most to least recently used.
        let mut entries: Entries = self.inner.lock().map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.reverse();
        state::encode(&entries)
    }

    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let entries: Entries = state::decode(bytes)?;
        let inner = self.inner.get_mut();
        for (key, value) in entries {
            inner.insert(key, value);
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Bytes;

impl quick_cache::Weighter<String, Cached> for Bytes {
    fn weight(&self, key: &String, value: &Cached) -> u64 {
        weight(key, value) as u64
    }
}

/// S3-FIFO (quick_cache): a small probationary FIFO in front of the main one, so one-hit
/// wonders (a crawler's scan) do not flush the popular entries.
pub struct S3Fifo {
    cache: quick_cache::sync::Cache<String, Cached, Bytes>,
    counters: Counters,
}

impl S3Fifo {
    /// An empty cache holding at most `budget` bytes (sized for entries of about 16 KiB).
    pub fn new(budget: usize) -> Self {
        let items = (budget / (16 << 10)).max(16);
        S3Fifo {
            cache: quick_cache::sync::Cache::with_weighter(items, budget as u64, Bytes),
            counters: Counters::default(),
        }
    }
}

impl Cache for S3Fifo {
    fn get(&self, key: &str) -> Option<Cached> {
        let found = self.cache.get(key);
        self.counters.count(found.is_some());
        found
    }

    fn put(&self, key: String, value: Cached) {
        self.cache.insert(key, value);
    }

    fn invalidate(&self, key: &str) {
        self.cache.remove(key);
    }

    fn stats(&self) -> CacheStats {
        self.counters.stats(self.cache.len() as u64, self.cache.weight())
    }
}

impl Component for S3Fifo {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for S3Fifo {
    fn state_format(&self) -> &'static str {
        FORMAT
    }

    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        let entries: Entries = self.cache.iter().collect();
        state::encode(&entries)
    }

    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let entries: Entries = state::decode(bytes)?;
        for (key, value) in entries {
            self.cache.insert(key, value);
        }
        Ok(())
    }
}

/// Holds nothing: every lookup misses (the paper's "no cache" choice inside a caching handler).
#[derive(Default)]
pub struct NoCache {
    counters: Counters,
}

impl Cache for NoCache {
    fn get(&self, _key: &str) -> Option<Cached> {
        self.counters.count(false);
        None
    }

    fn put(&self, _key: String, _value: Cached) {}

    fn invalidate(&self, _key: &str) {}

    fn stats(&self) -> CacheStats {
        self.counters.stats(0, 0)
    }
}

impl Component for NoCache {}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Cached {
        Cached {
            content_type: "text/plain".into(),
            content_encoding: None,
            etag: format!("\"{n}\""),
            body: vec![b'x'; n],
        }
    }

    fn exercise(cache: &dyn Cache, budget: usize) {
        assert_eq!(cache.get("/a"), None);
        cache.put("/a".into(), entry(1000));
        assert_eq!(cache.get("/a"), Some(entry(1000)));
        cache.invalidate("/a");
        assert_eq!(cache.get("/a"), None);
        for i in 0..200 {
            cache.put(format!("/f{i}"), entry(1000));
        }
        let stats = cache.stats();
        assert!(stats.bytes as usize <= budget, "{stats:?} over {budget}");
        assert!(stats.entries > 0 && stats.entries < 200, "{stats:?}");
        assert_eq!((stats.hits, stats.misses), (1, 2));
    }

    #[test]
    fn lru_is_bounded_and_evicts_the_coldest() {
        let lru = Lru::new(20_000);
        exercise(&lru, 20_000);
        assert!(lru.get("/f199").is_some() && lru.get("/f0").is_none());
    }

    #[test]
    fn s3fifo_is_bounded() {
        exercise(&S3Fifo::new(20_000), 20_000);
    }

    #[test]
    fn state_moves_between_policies() {
        let lru = Lru::new(1 << 20);
        for i in 0..10 {
            lru.put(format!("/k{i}"), entry(100 + i));
        }
        let bytes = lru.export_state().unwrap();
        let mut fifo = S3Fifo::new(1 << 20);
        fifo.import_state(&bytes).unwrap();
        assert_eq!(fifo.get("/k3"), Some(entry(103)));
        let mut back = Lru::new(1 << 20);
        back.import_state(&fifo.export_state().unwrap()).unwrap();
        assert_eq!(back.stats().entries, 10);
        assert_eq!(back.get("/k9"), Some(entry(109)));
    }

    #[test]
    fn no_cache_misses() {
        let none = NoCache::default();
        none.put("/a".into(), entry(1));
        assert_eq!(none.get("/a"), None);
        assert_eq!(none.stats().misses, 1);
    }
}
