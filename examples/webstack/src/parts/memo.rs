//! The [`Memo`] variants (the memcached analogue): `ShardedMemo`, a map split into 16 shards each
//! behind its own lock so that concurrent scripts rarely meet, and `LockedMemo`, one map behind
//! one lock. Both are bounded (oldest insertions go first) and carry their entries across swaps
//! and relocations in the shared format `webstack/memo-v1`.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};

use hatch_components::{Component, StateError, StateTransfer, state};
use parking_lot::Mutex;

use crate::api::memo::Memo;

const FORMAT: &str = "webstack/memo-v1";

/// A bounded map: FIFO eviction by insertion once over `budget` bytes (as memcached's slabs
/// would, roughly).
struct Bounded {
    map: HashMap<String, Vec<u8>>,
    order: VecDeque<String>,
    bytes: usize,
    budget: usize,
}

impl Bounded {
    fn new(budget: usize) -> Self {
        Bounded { map: HashMap::new(), order: VecDeque::new(), bytes: 0, budget }
    }

    fn set(&mut self, key: String, value: Vec<u8>) {
        let w = key.len() + value.len();
        if w > self.budget {
            return;
        }
        self.bytes += w;
        match self.map.insert(key.clone(), value) {
            Some(old) => self.bytes -= key.len() + old.len(),
            None => self.order.push_back(key),
        }
        while self.bytes > self.budget {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(old) = self.map.remove(&oldest) {
                self.bytes -= oldest.len() + old.len();
            }
        }
    }

    fn delete(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.bytes -= key.len() + old.len();
            self.order.retain(|k| k != key);
        }
    }

    /// Entries in insertion order.
    fn entries(&self) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
        self.order.iter().filter_map(|k| self.map.get(k).map(|v| (k.clone(), v.clone())))
    }
}

type Entries = Vec<(String, Vec<u8>)>;

/// 16 shards, each a bounded map behind its own lock.
pub struct ShardedMemo {
    shards: Vec<Mutex<Bounded>>,
    hasher: RandomState,
}

impl ShardedMemo {
    const SHARDS: usize = 16;

    /// An empty store of at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        let shards = (0..Self::SHARDS).map(|_| Mutex::new(Bounded::new(budget / Self::SHARDS))).collect();
        ShardedMemo { shards, hasher: RandomState::new() }
    }

    fn shard(&self, key: &str) -> &Mutex<Bounded> {
        &self.shards[self.hasher.hash_one(key) as usize % Self::SHARDS]
    }
}

impl Memo for ShardedMemo {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.shard(key).lock().map.get(key).cloned()
    }

    fn set(&self, key: String, value: Vec<u8>) {
        self.shard(&key).lock().set(key, value);
    }

    fn delete(&self, key: &str) {
        self.shard(key).lock().delete(key);
    }

    fn len(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().map.len() as u64).sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One bounded map behind one lock.
pub struct LockedMemo {
    map: Mutex<Bounded>,
}

impl LockedMemo {
    /// An empty store of at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        LockedMemo { map: Mutex::new(Bounded::new(budget)) }
    }
}

impl Memo for LockedMemo {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map.lock().map.get(key).cloned()
    }

    fn set(&self, key: String, value: Vec<u8>) {
        self.map.lock().set(key, value);
    }

    fn delete(&self, key: &str) {
        self.map.lock().delete(key);
    }

    fn len(&self) -> u64 {
        self.map.lock().map.len() as u64
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

macro_rules! memo_state {
    ($ty:ty, |$this:ident| $entries:expr) => {
        impl Component for $ty {
            fn state(&self) -> Option<&dyn StateTransfer> {
                Some(self)
            }

            fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
                Some(self)
            }
        }

        impl StateTransfer for $ty {
            fn state_format(&self) -> &'static str {
                FORMAT
            }

            fn export_state(&self) -> Result<Vec<u8>, StateError> {
                let $this = self;
                let entries: Entries = $entries;
                state::encode(&entries)
            }

            fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
                let entries: Entries = state::decode(bytes)?;
                for (key, value) in entries {
                    self.set(key, value);
                }
                Ok(())
            }
        }
    };
}

memo_state!(ShardedMemo, |this| this.shards.iter().flat_map(|s| s.lock().entries().collect::<Vec<_>>()).collect());
memo_state!(LockedMemo, |this| this.map.lock().entries().collect());

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(memo: &dyn Memo) {
        assert!(memo.is_empty());
        memo.set("a".into(), b"1".to_vec());
        memo.set("a".into(), b"2".to_vec());
        memo.set("b".into(), b"3".to_vec());
        assert_eq!(memo.get("a").as_deref(), Some(&b"2"[..]));
        assert_eq!(memo.len(), 2);
        memo.delete("a");
        assert_eq!(memo.get("a"), None);
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn both_variants_store_and_delete() {
        exercise(&ShardedMemo::new(1 << 20));
        exercise(&LockedMemo::new(1 << 20));
    }

    #[test]
    fn bounded_by_bytes() {
        let memo = LockedMemo::new(10_000);
        for i in 0..100 {
            memo.set(format!("k{i}"), vec![0; 1000]);
        }
        assert!(memo.len() < 11);
        assert!(memo.get("k99").is_some() && memo.get("k0").is_none());
    }

    #[test]
    fn state_moves_between_variants() {
        let sharded = ShardedMemo::new(1 << 20);
        for i in 0..50 {
            sharded.set(format!("k{i}"), vec![i as u8; 10]);
        }
        let mut locked = LockedMemo::new(1 << 20);
        locked.import_state(&sharded.export_state().unwrap()).unwrap();
        assert_eq!(locked.len(), 50);
        assert_eq!(locked.get("k7"), Some(vec![7; 10]));
        let mut again = ShardedMemo::new(1 << 20);
        again.import_state(&locked.export_state().unwrap()).unwrap();
        assert_eq!(again.get("k49"), Some(vec![49; 10]));
    }
}
