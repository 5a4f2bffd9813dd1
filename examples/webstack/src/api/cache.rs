//! A cache of finished responses for static content, keyed by path (and encoding). Only the
//! trait and its types live here: hatch-proxygen reads this file.

/// A cached representation.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Cached {
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`, if the body is compressed.
    pub content_encoding: Option<String>,
    /// The strong `ETag`, with its quotes.
    pub etag: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What a cache holds and how it did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct CacheStats {
    /// Entries held.
    pub entries: u64,
    /// Body bytes held.
    pub bytes: u64,
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
}

/// A bounded cache of representations (by body bytes).
pub trait Cache: hatch::components::Component {
    /// The entry under `key`, if held.
    fn get(&self, key: &str) -> Option<Cached>;

    /// Stores `value` under `key` (optimistic: a lost insert only costs a later miss).
    fn put(&self, key: String, value: Cached);

    /// Drops the entry under `key`, and returns once it is gone.
    #[hatch::sync]
    fn invalidate(&self, key: &str);

    /// Counters.
    fn stats(&self) -> CacheStats;
}

hatch::include_proxies!("cache");
