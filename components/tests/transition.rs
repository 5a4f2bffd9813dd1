//! Assembly and transitions: only what changed is swapped, leaves first, with state.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use common::*;
use hatch_components::{AssemblyError, Composition, Space, TransitionReport};

fn space() -> Space {
    web_registry().space::<dyn App>().unwrap()
}

fn comp(id: &str) -> Composition {
    id.parse().unwrap()
}

const DIRECT: &str = "{Frontend,Direct,Disk|0:Handler:1,1:Store:2}";
const LRU: &str = "{Frontend,Cached,LruCache,Disk|0:Handler:1,1:Cache:2,1:Store:3}";
const LIST: &str = "{Frontend,Cached,ListCache,Disk|0:Handler:1,1:Cache:2,1:Store:3}";
const LFU: &str = "{Frontend,Cached,LfuCache,Disk|0:Handler:1,1:Cache:2,1:Store:3}";
const LRU_MEMORY: &str = "{Frontend,Cached,LruCache,Memory|0:Handler:1,1:Cache:2,1:Store:3}";

#[test]
fn assembled_system_answers_through_its_root_slot() {
    let space = space();
    for comp in space.iter() {
        let system = space.assemble(&comp).unwrap();
        let app = system.root::<dyn App>().unwrap();
        assert_eq!(app.load().serve(20), expected(20), "{comp}");
        assert_eq!(system.composition(), &comp);
        assert_eq!(system.index(), space.index_of(&comp).unwrap());
    }
    let system = space.assemble(&comp(DIRECT)).unwrap();
    assert!(matches!(system.root::<dyn Cache>(), Err(AssemblyError::RootType { .. })));
}

#[test]
fn transition_to_same_composition_swaps_nothing() {
    let space = space();
    let mut system = space.assemble(&comp(LRU)).unwrap();
    assert_eq!(system.transition(&comp(LRU)).unwrap(), TransitionReport::default());
}

#[test]
fn changing_a_leaf_swaps_only_that_leaf_and_moves_its_state() {
    let space = space();
    let mut system = space.assemble(&comp(LRU)).unwrap();
    let app = system.root::<dyn App>().unwrap();
    for k in 0..10 {
        app.load().serve(k);
    }
    let report = system.transition(&comp(LIST)).unwrap();
    assert_eq!(report, TransitionReport { swaps: 1, built: 0, state_moved: 1, state_dropped: 0 });
    assert_eq!(system.composition(), &comp(LIST));
    // The same root slot now reaches a ListCache holding the ten entries.
    assert_eq!(app.load().serve(3), expected(3));
    let cache = system.slot::<dyn Cache>(2).unwrap();
    assert_eq!((cache.load().kind(), cache.load().len()), ("list", 10));

    // LFU speaks another state format: the swap happens, the state is dropped.
    let report = system.transition(&comp(LFU)).unwrap();
    assert_eq!((report.swaps, report.state_moved, report.state_dropped), (1, 0, 1));
    assert_eq!((cache.load().kind(), cache.load().len()), ("lfu", 0));
    assert!(system.slot::<dyn Store>(2).is_err());
    assert!(system.slot::<dyn Store>(4).is_err());
}

#[test]
fn replacing_a_parent_builds_new_children_and_reuses_matching_ones() {
    let space = space();
    let mut system = space.assemble(&comp(DIRECT)).unwrap();
    let store_before = system.slot::<dyn Store>(2).unwrap();
    // Direct(Store) -> Cached(Cache, Store): the handler is swapped, the cache is
    // built fresh, the Disk store is reused untouched.
    let report = system.transition(&comp(LRU)).unwrap();
    assert_eq!(report, TransitionReport { swaps: 1, built: 1, state_moved: 0, state_dropped: 0 });
    let store_after = system.slot::<dyn Store>(3).unwrap();
    assert!(hatch_components::Slot::ptr_eq(&store_before, &store_after));
    assert_eq!(store_after.swaps(), 0);

    // Changing the handler's store and nothing else: one swap, deep in the tree.
    let report = system.transition(&comp(LRU_MEMORY)).unwrap();
    assert_eq!((report.swaps, report.built), (1, 0));
    assert_eq!(store_after.swaps(), 1);

    // Frontend -> Mirror: root swapped, first handler sub-tree reused as is, the
    // second handler sub-tree (Cached, LruCache, Memory) built: 3 components.
    let mirror = "{Mirror,Cached,LruCache,Memory,Cached,LruCache,Memory|0:Handler:1,1:Cache:2,1:Store:3,0:Handler:4,4:Cache:5,4:Store:6}";
    let report = system.transition(&comp(mirror)).unwrap();
    assert_eq!((report.swaps, report.built), (1, 3));
    assert_eq!(system.composition().to_string(), mirror);
    assert_eq!(system.root::<dyn App>().unwrap().load().serve(5), expected(5));
}

#[test]
fn every_pairwise_transition_lands_on_its_target() {
    let space = space();
    let all: Vec<_> = space.iter().collect();
    let mut system = space.assemble(&all[0]).unwrap();
    let app = system.root::<dyn App>().unwrap();
    // A walk that visits every composition from several predecessors.
    for step in 0..(all.len() * 3) {
        let to = &all[(step * 37 + 11) % all.len()];
        let before = system.composition().clone();
        let report = system.transition(to).unwrap();
        assert_eq!(system.composition(), to);
        assert_eq!(system.index(), space.index_of(to).unwrap());
        assert_eq!(app.load().serve(step as u64), expected(step as u64));
        // Never more swaps than components in the target, none for identity.
        assert!(report.swaps <= to.components().len());
        if &before == to {
            assert_eq!(report, TransitionReport::default());
        }
    }
}

#[test]
fn calls_keep_flowing_during_transitions() {
    let space = space();
    let all: Vec<_> = space.iter().collect();
    let mut system = space.assemble(&all[0]).unwrap();
    let app = system.root::<dyn App>().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let (app, stop, calls) = (app.clone(), stop.clone(), calls.clone());
            thread::spawn(move || {
                let mut k = t;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(app.load().serve(k), expected(k));
                    calls.fetch_add(1, Ordering::Relaxed);
                    k += 4;
                }
            })
        })
        .collect();
    while calls.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    let transitions = 2_000;
    let mut swaps = 0;
    for step in 0..transitions {
        let to = &all[(step * 7919 + 3) % all.len()];
        swaps += system.transition(to).unwrap().swaps;
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().unwrap();
    }
    assert!(swaps > 0);
    assert!(calls.load(Ordering::Relaxed) > 0);
}

mod order {
    use hatch_components::{Component, Interface, Registry, StateError, StateTransfer};
    use parking_lot::Mutex;

    pub trait Part: Component {}
    impl Interface for dyn Part {
        const NAME: &'static str = "Part";
    }

    /// Logs the order in which state is imported, i.e. the order of swaps.
    pub static IMPORTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    struct Logged(&'static str);
    impl Part for Logged {}
    impl Component for Logged {
        fn state(&self) -> Option<&dyn StateTransfer> {
            Some(self)
        }
        fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
            Some(self)
        }
    }
    impl StateTransfer for Logged {
        fn state_format(&self) -> &'static str {
            "log/v1"
        }
        fn export_state(&self) -> Result<Vec<u8>, StateError> {
            Ok(Vec::new())
        }
        fn import_state(&mut self, _: &[u8]) -> Result<(), StateError> {
            IMPORTS.lock().push(self.0);
            Ok(())
        }
    }

    pub fn registry() -> Registry {
        let mut r = Registry::new();
        for (interface, variants, requires) in
            [("Top", ["T1", "T2"], Some("Mid")), ("Mid", ["M1", "M2"], Some("Leaf")), ("Leaf", ["L1", "L2"], None)]
        {
            for v in variants {
                let mut b = r.variant_as::<dyn Part>(interface, v);
                if let Some(q) = requires {
                    b = b.requires_named(q);
                }
                b.build(move |_| Box::new(Logged(v))).unwrap();
            }
        }
        r
    }
}

#[test]
fn swaps_happen_leaves_first() {
    let space = order::registry().space_named("Top").unwrap();
    let mut system = space.assemble(&comp("{T1,M1,L1|0:Mid:1,1:Leaf:2}")).unwrap();
    let report = system.transition(&comp("{T2,M2,L2|0:Mid:1,1:Leaf:2}")).unwrap();
    assert_eq!((report.swaps, report.state_moved, report.built), (3, 3, 0));
    assert_eq!(*order::IMPORTS.lock(), ["L2", "M2", "T2"]);
}
