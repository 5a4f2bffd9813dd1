//! Model checks of a slot's admission against a swap, with loom: every
//! interleaving (and every value the memory model lets a load return) of two
//! callers and one stateful swap.
//!
//! ```text
//! RUSTFLAGS="--cfg hatch_loom" cargo test -p hatch-components --test loom --release
//! ```
//!
//! Under loom the slot's barrier is `fence(SeqCst)` on both sides (loom cannot run
//! `membarrier`), its atomics, locks and cell are loom's, and its implementation
//! cell tracks accesses: a call reading the implementation while the swapper
//! writes it, or without a happens-before edge from the swapper's last write,
//! fails the model. The model's main thread is loom thread 0 and the callers 1
//! and 2; with two seats per slot under loom, caller 1 counts on a stripe it
//! owns (plain store) and caller 2 on a shared stripe (read-modify-write).

#![cfg(hatch_loom)]

use hatch_components::{Component, Slot, StateError, StateMove, StateTransfer, state};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

/// Returns the total after each increment, so two calls must return exactly 1 and 2
/// whichever variant serves them.
trait Counter: Component {
    fn incr(&self) -> (u64, u8);
    fn total(&self) -> u64;
}

struct Variant(u8, AtomicU64);

impl Counter for Variant {
    fn incr(&self) -> (u64, u8) {
        (self.1.fetch_add(1, Ordering::Relaxed) + 1, self.0)
    }
    fn total(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

impl Component for Variant {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for Variant {
    fn state_format(&self) -> &'static str {
        "counter/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        state::encode(&self.total())
    }
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.1 = AtomicU64::new(state::decode(bytes)?);
        Ok(())
    }
}

/// `loom::model` with at most `PREEMPTIONS` forced thread switches per execution
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise: unbounded, the three-thread model
/// does not finish in an hour; bugs of this kind need one or two (tokio's CI uses
/// two).
fn model(f: impl Fn() + Sync + Send + 'static) {
    const PREEMPTIONS: usize = 4;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(PREEMPTIONS);
    builder.check(f);
}

#[test]
fn two_callers_against_one_stateful_swap() {
    model(|| {
        let slot: Slot<dyn Counter> = Slot::new(Box::new(Variant(0, AtomicU64::new(0))));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let slot = slot.clone();
                thread::spawn(move || slot.load().incr())
            })
            .collect();
        let moved = slot.swap_with_state(Box::new(Variant(1, AtomicU64::new(0)))).map_err(|(e, _)| e).unwrap();
        assert_eq!(moved, StateMove::Moved);
        let mut values: Vec<(u64, u8)> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        values.sort_unstable();
        // Neither lost nor duplicated, and the state moved intact: the new variant
        // continues from the count the old one had at the swap.
        assert_eq!(values.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);
        // A call served by the old variant cannot follow one served by the new.
        assert!(values[0].1 <= values[1].1, "old variant after new: {values:?}");
        let after = slot.load();
        assert_eq!(after.total(), 2);
        assert_eq!(after.incr(), (3, 1));
    });
}

#[test]
fn a_call_in_flight_holds_off_the_swap_and_a_held_call_waits() {
    model(|| {
        let slot: Slot<dyn Counter> = Slot::new(Box::new(Variant(0, AtomicU64::new(0))));
        let caller = {
            let slot = slot.clone();
            thread::spawn(move || {
                let call = slot.load();
                let first = call.incr();
                // Still the same implementation within one guard, swap or not.
                let second = call.incr();
                drop(call);
                (first, second, slot.load().incr())
            })
        };
        let old = slot.swap(Box::new(Variant(1, AtomicU64::new(0))));
        let (first, second, third) = caller.join().unwrap();
        assert_eq!(first.1, second.1);
        if first.1 == 0 {
            assert_eq!(old.total(), if third.1 == 0 { 3 } else { 2 });
        } else {
            assert_eq!(old.total(), 0);
            assert_eq!((first.0, second.0, third), (1, 2, (3, 1)));
        }
    });
}

#[test]
fn a_call_admitted_by_one_release_holds_off_the_next_swap() {
    model(|| {
        let slot: Slot<dyn Counter> = Slot::new(Box::new(Variant(0, AtomicU64::new(0))));
        let caller = {
            let slot = slot.clone();
            thread::spawn(move || slot.load().incr())
        };
        // Back to back: a call that waited for the first swap is handed off by its
        // release and may still run when the second starts, which must wait for it.
        let first = slot.swap_with_state(Box::new(Variant(1, AtomicU64::new(0)))).map_err(|(e, _)| e).unwrap();
        let second = slot.swap_with_state(Box::new(Variant(2, AtomicU64::new(0)))).map_err(|(e, _)| e).unwrap();
        assert_eq!((first, second), (StateMove::Moved, StateMove::Moved));
        let (value, _) = caller.join().unwrap();
        assert_eq!(value, 1);
        assert_eq!(slot.load().total(), 1, "the call's increment survived both swaps");
    });
}
