//! The memcached analogue: a byte store in memory, shared by the scripts. Only the trait lives
//! here: hatch-proxygen reads this file.

/// A key-value store of bytes.
pub trait Memo: hatch::components::Component {
    /// The value under `key`.
    fn get(&self, key: &str) -> Option<Vec<u8>>;

    /// Stores `value` under `key` (optimistic: a lost set only costs a later miss).
    fn set(&self, key: String, value: Vec<u8>);

    /// Removes `key`, and returns once it is gone (so a write that invalidates is never
    /// followed by a stale read).
    #[hatch::sync]
    fn delete(&self, key: &str);

    /// How many entries it holds.
    fn len(&self) -> u64;

    /// Whether it holds nothing.
    fn is_empty(&self) -> bool;
}

hatch::include_proxies!("memo");
