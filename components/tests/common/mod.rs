//! Fixture components shared by the integration tests: a small web stack.
//!
//! ```text
//! App:     Frontend(Handler) | Mirror(Handler, Handler)
//! Handler: Direct(Store)     | Cached(Cache, Store)
//! Cache:   ListCache | LruCache   (state format "cache/entries-v1")
//!          LfuCache               (state format "cache/lfu-v1")
//! Store:   Disk | Memory          (stateless)
//! ```
//!
//! Counts by hand: Store 2, Cache 3, Handler 2 + 3×2 = 8, App 8 + 8×8 = 72.
#![allow(dead_code)]

use std::collections::BTreeMap;

use hatch_components::{Component, Interface, Registry, Slot, StateError, StateTransfer, state};
use parking_lot::Mutex;

pub trait App: Component {
    fn serve(&self, key: u64) -> u64;
}
impl Interface for dyn App {
    const NAME: &'static str = "App";
}

pub trait Handler: Component {
    fn handle(&self, key: u64) -> u64;
}
impl Interface for dyn Handler {
    const NAME: &'static str = "Handler";
}

pub trait Cache: Component {
    fn get(&self, key: u64) -> Option<u64>;
    fn put(&self, key: u64, value: u64);
    fn len(&self) -> usize;
    fn kind(&self) -> &'static str;
}
impl Interface for dyn Cache {
    const NAME: &'static str = "Cache";
}

pub trait Store: Component {
    fn fetch(&self, key: u64) -> u64;
}
impl Interface for dyn Store {
    const NAME: &'static str = "Store";
}

/// The answer every composition must give.
pub fn expected(key: u64) -> u64 {
    key * 2 + 1
}

struct Disk;
impl Component for Disk {}
impl Store for Disk {
    fn fetch(&self, key: u64) -> u64 {
        expected(key)
    }
}

struct Memory;
impl Component for Memory {}
impl Store for Memory {
    fn fetch(&self, key: u64) -> u64 {
        key.wrapping_mul(2).wrapping_add(1)
    }
}

/// Cache entries, the state shared by ListCache and LruCache.
#[derive(Default)]
pub struct Entries {
    map: Mutex<BTreeMap<u64, u64>>,
    format: &'static str,
    kind: &'static str,
}

impl Entries {
    fn new(kind: &'static str, format: &'static str) -> Self {
        Entries { map: Mutex::new(BTreeMap::new()), format, kind }
    }
}

impl Component for Entries {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for Entries {
    fn state_format(&self) -> &'static str {
        self.format
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        let pairs: Vec<(u64, u64)> = self.map.lock().iter().map(|(&k, &v)| (k, v)).collect();
        state::encode(&pairs)
    }
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let pairs: Vec<(u64, u64)> = state::decode(bytes)?;
        *self.map.get_mut() = pairs.into_iter().collect();
        Ok(())
    }
}

impl Cache for Entries {
    fn get(&self, key: u64) -> Option<u64> {
        self.map.lock().get(&key).copied()
    }
    fn put(&self, key: u64, value: u64) {
        self.map.lock().insert(key, value);
    }
    fn len(&self) -> usize {
        self.map.lock().len()
    }
    fn kind(&self) -> &'static str {
        self.kind
    }
}

struct Direct(Slot<dyn Store>);
impl Component for Direct {}
impl Handler for Direct {
    fn handle(&self, key: u64) -> u64 {
        self.0.load().fetch(key)
    }
}

struct Cached(Slot<dyn Cache>, Slot<dyn Store>);
impl Component for Cached {}
impl Handler for Cached {
    fn handle(&self, key: u64) -> u64 {
        if let Some(v) = self.0.load().get(key) {
            return v;
        }
        let v = self.1.load().fetch(key);
        self.0.load().put(key, v);
        v
    }
}

struct Frontend(Slot<dyn Handler>);
impl Component for Frontend {}
impl App for Frontend {
    fn serve(&self, key: u64) -> u64 {
        self.0.load().handle(key)
    }
}

struct Mirror(Slot<dyn Handler>, Slot<dyn Handler>);
impl Component for Mirror {}
impl App for Mirror {
    fn serve(&self, key: u64) -> u64 {
        let a = self.0.load().handle(key);
        let b = self.1.load().handle(key);
        assert_eq!(a, b, "mirrored handlers disagree");
        a
    }
}

/// Registers the web stack; each group in its own call, as separate modules would.
pub fn web_registry() -> Registry {
    let mut r = Registry::new();
    register_stores(&mut r);
    register_caches(&mut r);
    register_handlers(&mut r);
    register_apps(&mut r);
    r
}

pub fn register_stores(r: &mut Registry) {
    r.variant::<dyn Store>("Disk").build(|_| Box::new(Disk)).unwrap();
    r.variant::<dyn Store>("Memory").build(|_| Box::new(Memory)).unwrap();
}

pub fn register_caches(r: &mut Registry) {
    const ENTRIES: &str = "cache/entries-v1";
    r.variant::<dyn Cache>("ListCache").build(|_| Box::new(Entries::new("list", ENTRIES))).unwrap();
    r.variant::<dyn Cache>("LruCache").build(|_| Box::new(Entries::new("lru", ENTRIES))).unwrap();
    r.variant::<dyn Cache>("LfuCache").build(|_| Box::new(Entries::new("lfu", "cache/lfu-v1"))).unwrap();
}

pub fn register_handlers(r: &mut Registry) {
    r.variant::<dyn Handler>("Direct").requires::<dyn Store>().build(|d| Box::new(Direct(d.slot()))).unwrap();
    r.variant::<dyn Handler>("Cached")
        .requires::<dyn Cache>()
        .requires::<dyn Store>()
        .build(|d| Box::new(Cached(d.slot(), d.slot())))
        .unwrap();
}

pub fn register_apps(r: &mut Registry) {
    r.variant::<dyn App>("Frontend").requires::<dyn Handler>().build(|d| Box::new(Frontend(d.slot()))).unwrap();
    r.variant::<dyn App>("Mirror")
        .requires::<dyn Handler>()
        .requires::<dyn Handler>()
        .build(|d| Box::new(Mirror(d.slot_at(0), d.slot_at(1))))
        .unwrap();
}

/// A trait used for generated spaces: one Rust type serving many named interfaces.
pub trait Node: Component {}
impl Interface for dyn Node {
    const NAME: &'static str = "Node";
}
pub struct Blank;
impl Component for Blank {}
impl Node for Blank {}

/// Registers `variant` providing `interface` and requiring `requires`, all `dyn Node`.
pub fn node(r: &mut Registry, interface: &str, variant: &str, requires: &[&str]) {
    let mut b = r.variant_as::<dyn Node>(interface, variant);
    for q in requires {
        b = b.requires_named(q);
    }
    b.build(|_| Box::new(Blank)).unwrap();
}

/// A generated space of 718,823 compositions, the size of the paper's web platform
/// (699,044). By hand:
///
/// ```text
/// Parser 4, Compress 6, Store 7, Policy 5                       (leaves)
/// Cache  = 9 leaves + 3 × Policy + Store × Policy = 9 + 15 + 35 = 59
/// Http   = Parser + Parser × Compress + 1          = 4 + 24 + 1  = 29
/// Web    = Http×Cache×Store + Http×Store + Http×Cache×Cache×Store
///        = 11,977 + 203 + 706,643                               = 718,823
/// ```
pub fn web_platform() -> Registry {
    let mut r = Registry::new();
    for (interface, n) in [("Parser", 4), ("Compress", 6), ("Store", 7), ("Policy", 5)] {
        for k in 0..n {
            node(&mut r, interface, &format!("{interface}{k}"), &[]);
        }
    }
    for k in 0..9 {
        node(&mut r, "Cache", &format!("Cache{k}"), &[]);
    }
    for k in 0..3 {
        node(&mut r, "Cache", &format!("PolicyCache{k}"), &["Policy"]);
    }
    node(&mut r, "Cache", "TieredCache", &["Store", "Policy"]);
    node(&mut r, "Http", "Http1", &["Parser"]);
    node(&mut r, "Http", "Http2", &["Parser", "Compress"]);
    node(&mut r, "Http", "Http3", &[]);
    node(&mut r, "Web", "WebA", &["Http", "Cache", "Store"]);
    node(&mut r, "Web", "WebB", &["Http", "Store"]);
    node(&mut r, "Web", "WebC", &["Http", "Cache", "Cache", "Store"]);
    r
}
