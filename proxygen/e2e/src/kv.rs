//! A key-value interface exercising every supported argument and return form: borrowed `&str`
//! and `&[u8]` (zero-copy on the server), `&T` structs, owned values, tuples, arrays, `Result`
//! methods (explicit and implicit), one-way and `#[hatch::sync]` methods.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hatch::RemoteError;

/// A query for [`KeyValue::find`].
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Query {
    /// Keys must start with this.
    pub prefix: String,
    /// At most this many results; all when `None`.
    pub limit: Option<u32>,
}

/// One result of [`KeyValue::find`].
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value's length in bytes.
    pub len: u64,
}

/// The error of the explicit methods of [`KeyValue`]: application errors and transport failures.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum KvError {
    /// The store holds `capacity` entries already.
    Full {
        /// The store's capacity.
        capacity: u32,
    },
    /// The call did not reach the store, or its reply did not come back.
    Remote(String),
}

impl From<RemoteError> for KvError {
    fn from(err: RemoteError) -> Self {
        Self::Remote(err.to_string())
    }
}

/// A key-value store.
pub trait KeyValue: Send + Sync {
    /// The value stored under `key`.
    fn get(&self, key: &str) -> Option<Vec<u8>>;

    /// Stores `value` under `key`: optimistic, sent one-way and batched.
    fn put(&self, key: String, value: Vec<u8>);

    /// Removes every entry, and returns only once the server has done so.
    #[hatch::sync]
    fn clear(&self);

    /// Stores all `entries` or none: explicit, transport failures come back as `KvError::Remote`.
    /// (`BTreeMap` is imported by this file: signatures resolve as in the trait's module.)
    fn put_all(&self, entries: BTreeMap<String, Vec<u8>>) -> Result<u32, KvError>;

    /// Checks that `key` is acceptable: a `Result` method that is implicit, since `String` does
    /// not implement `From<RemoteError>`.
    fn validate(&self, key: &str) -> Result<(), String>;

    /// A checksum of `data`, read in place from the receive buffer.
    fn checksum(&self, data: &[u8]) -> u32;

    /// Entries matching `query`.
    fn find(&self, query: &self::Query) -> Vec<Entry>;

    /// The sum of `values`.
    fn sum(&self, values: &[i64]) -> i64;

    /// Echoes a mix of scalar types.
    fn mix(&self, c: char, x: f64, flags: [bool; 3], pair: (i8, u16)) -> (char, f64, [bool; 3], (i8, u16));

    /// The number of entries.
    fn len(&self) -> u64;

    /// Whether the store is empty.
    fn is_empty(&self) -> bool;
}

/// An in-memory [`KeyValue`] holding at most `capacity` entries.
#[derive(Debug)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
    capacity: u32,
}

impl MemoryKv {
    /// An empty store.
    pub fn new(capacity: u32) -> Self {
        Self { map: Mutex::new(BTreeMap::new()), capacity }
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map.lock().unwrap().get(key).cloned()
    }

    fn put(&self, key: String, value: Vec<u8>) {
        self.map.lock().unwrap().insert(key, value);
    }

    fn clear(&self) {
        self.map.lock().unwrap().clear();
    }

    fn put_all(&self, entries: BTreeMap<String, Vec<u8>>) -> Result<u32, KvError> {
        let mut map = self.map.lock().unwrap();
        let new = entries.keys().filter(|key| !map.contains_key(*key)).count();
        if map.len() + new > self.capacity as usize {
            return Err(KvError::Full { capacity: self.capacity });
        }
        let added = entries.len() as u32;
        map.extend(entries);
        Ok(added)
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        if key.is_empty() { Err("empty key".into()) } else { Ok(()) }
    }

    fn checksum(&self, data: &[u8]) -> u32 {
        data.iter().fold(0u32, |sum, &byte| sum.rotate_left(5) ^ u32::from(byte))
    }

    fn find(&self, query: &Query) -> Vec<Entry> {
        let map = self.map.lock().unwrap();
        let matches = map.iter().filter(|(key, _)| key.starts_with(&query.prefix));
        let entries = matches.map(|(key, value)| Entry { key: key.clone(), len: value.len() as u64 });
        entries.take(query.limit.map_or(usize::MAX, |limit| limit as usize)).collect()
    }

    fn sum(&self, values: &[i64]) -> i64 {
        values.iter().sum()
    }

    fn mix(&self, c: char, x: f64, flags: [bool; 3], pair: (i8, u16)) -> (char, f64, [bool; 3], (i8, u16)) {
        (c, x, flags, pair)
    }

    fn len(&self) -> u64 {
        self.map.lock().unwrap().len() as u64
    }

    fn is_empty(&self) -> bool {
        self.map.lock().unwrap().is_empty()
    }
}

hatch::include_proxies!("kv");
