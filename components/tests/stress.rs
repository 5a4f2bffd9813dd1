//! Readers and a swapper together (after arc-swap's `tests/stress.rs`): every call
//! returns a correct result, none is lost, and state survives every swap.
//!
//! Sizes shrink under miri (`cargo +nightly miri test -p hatch-components --test stress`),
//! which checks the slot's `UnsafeCell` accesses for data races.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;

use hatch_components::{Component, Slot, StateError, StateMove, StateTransfer, state};
use parking_lot::Mutex;

/// Returns the new total after each increment, so the values returned by all
/// calls together must be exactly 1..=N.
trait Counter: Component {
    fn incr(&self) -> u64;
    fn total(&self) -> u64;
    fn variant(&self) -> u8;
}

struct AtomicCounter(AtomicU64);
struct LockedCounter(Mutex<u64>);

impl Counter for AtomicCounter {
    fn incr(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
    fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn variant(&self) -> u8 {
        0
    }
}

impl Counter for LockedCounter {
    fn incr(&self) -> u64 {
        let mut n = self.0.lock();
        *n += 1;
        *n
    }
    fn total(&self) -> u64 {
        *self.0.lock()
    }
    fn variant(&self) -> u8 {
        1
    }
}

macro_rules! stateful {
    ($t:ty, $get:expr, $set:expr) => {
        impl Component for $t {
            fn state(&self) -> Option<&dyn StateTransfer> {
                Some(self)
            }
            fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
                Some(self)
            }
        }
        impl StateTransfer for $t {
            fn state_format(&self) -> &'static str {
                "counter/v1"
            }
            fn export_state(&self) -> Result<Vec<u8>, StateError> {
                state::encode(&($get)(self))
            }
            fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
                ($set)(self, state::decode::<u64>(bytes)?);
                Ok(())
            }
        }
    };
}
stateful!(AtomicCounter, |c: &AtomicCounter| c.total(), |c: &mut AtomicCounter, n| *c.0.get_mut() = n);
stateful!(LockedCounter, |c: &LockedCounter| c.total(), |c: &mut LockedCounter, n| *c.0.get_mut() = n);

struct Sizes {
    callers: usize,
    swaps: usize,
    /// Per-caller cap, to bound memory; callers stop early only if they hit it.
    max_calls: usize,
}

const SIZES: Sizes = if cfg!(miri) {
    Sizes { callers: 4, swaps: 200, max_calls: 2_000 }
} else {
    Sizes { callers: 8, swaps: 10_000, max_calls: 4_000_000 }
};

#[test]
fn eight_callers_ten_thousand_stateful_swaps() {
    let slot: Slot<dyn Counter> = Slot::new(Box::new(AtomicCounter(AtomicU64::new(0))));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..SIZES.callers)
        .map(|_| {
            let (slot, stop, started) = (slot.clone(), stop.clone(), started.clone());
            thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let mut seen = Vec::new();
                let mut served_by = [0u64; 2];
                while !stop.load(Ordering::Relaxed) && seen.len() < SIZES.max_calls {
                    let call = slot.load();
                    let value = call.incr();
                    served_by[call.variant() as usize] += 1;
                    drop(call);
                    // A thread's own calls are ordered, so its values increase.
                    assert!(seen.last().is_none_or(|&last| value > last), "lost state: {value} after {seen:?}");
                    seen.push(value);
                }
                (seen, served_by)
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < SIZES.callers {
        thread::yield_now();
    }

    let mut moved = 0;
    for k in 0..SIZES.swaps {
        let next: Box<dyn Counter> = if k % 2 == 0 {
            Box::new(LockedCounter(Mutex::new(0)))
        } else {
            Box::new(AtomicCounter(AtomicU64::new(0)))
        };
        match slot.swap_with_state(next) {
            Ok(StateMove::Moved) => moved += 1,
            Ok(other) => panic!("state not moved: {other:?}"),
            Err((e, _)) => panic!("swap failed: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);

    let mut all = Vec::new();
    let mut served_by = [0u64; 2];
    for c in callers {
        let (seen, by) = c.join().unwrap();
        all.extend(seen);
        served_by[0] += by[0];
        served_by[1] += by[1];
    }
    let total = slot.load().total();
    assert_eq!(moved, SIZES.swaps);
    assert_eq!(slot.swaps(), SIZES.swaps as u64);
    assert_eq!(total, all.len() as u64, "calls and final count differ");
    all.sort_unstable();
    assert!(all.iter().copied().eq(1..=total), "returned values are not exactly 1..={total}");
    assert!(served_by[0] > 0 && served_by[1] > 0, "both variants served calls: {served_by:?}");
    println!(
        "{} calls across {} swaps ({} on AtomicCounter, {} on LockedCounter)",
        total, SIZES.swaps, served_by[0], served_by[1]
    );
}

#[test]
fn stateless_swaps_under_load_return_the_current_variant() {
    trait Tag: Component {
        fn tag(&self) -> u64;
    }
    struct Fixed(u64);
    impl Component for Fixed {}
    impl Tag for Fixed {
        fn tag(&self) -> u64 {
            self.0
        }
    }
    let slot: Slot<dyn Tag> = Slot::new(Box::new(Fixed(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..SIZES.callers)
        .map(|_| {
            let (slot, stop, started) = (slot.clone(), stop.clone(), started.clone());
            thread::spawn(move || {
                let mut last = slot.load().tag();
                let mut calls = 1u64;
                started.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::Relaxed) {
                    // Tags only grow: a caller never sees an older implementation
                    // after a newer one (installation is a total order).
                    let tag = slot.load().tag();
                    assert!(tag >= last);
                    last = tag;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < SIZES.callers {
        thread::yield_now();
    }
    for k in 1..=SIZES.swaps as u64 {
        let old = slot.swap(Box::new(Fixed(k)));
        assert_eq!(old.tag(), k - 1);
    }
    stop.store(true, Ordering::Relaxed);
    let calls: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(calls >= SIZES.callers as u64);
    assert_eq!(slot.load().tag(), SIZES.swaps as u64);
}

/// Sizes of the churn test: lanes run at once, each starting caller threads one
/// after another, each thread making a few calls and exiting.
struct Churn {
    lanes: usize,
    threads_per_lane: usize,
    calls_per_thread: usize,
}

const CHURN: Churn = if cfg!(miri) {
    Churn { lanes: 3, threads_per_lane: 3, calls_per_thread: 20 }
} else {
    // 16 callers at once is more than the seats of a small machine (8 + ...), so
    // some calls use the shared stripes; 1,600 threads exit and give seats back.
    Churn { lanes: 16, threads_per_lane: 100, calls_per_thread: 500 }
};

#[test]
fn callers_created_and_destroyed_while_stateful_swaps_happen() {
    let slot: Slot<dyn Counter> = Slot::new(Box::new(AtomicCounter(AtomicU64::new(0))));
    let lanes_done = Arc::new(AtomicUsize::new(0));
    let lanes: Vec<_> = (0..CHURN.lanes)
        .map(|_| {
            let (slot, lanes_done) = (slot.clone(), lanes_done.clone());
            thread::spawn(move || {
                let mut seen = Vec::new();
                for _ in 0..CHURN.threads_per_lane {
                    let slot = slot.clone();
                    let values = thread::spawn(move || {
                        let mut values: Vec<u64> = Vec::with_capacity(CHURN.calls_per_thread);
                        for _ in 0..CHURN.calls_per_thread {
                            let value = slot.load().incr();
                            assert!(
                                values.last().is_none_or(|&last| value > last),
                                "lost state: {value} after {last:?}",
                                last = values.last()
                            );
                            values.push(value);
                        }
                        values
                    })
                    .join()
                    .unwrap();
                    seen.extend(values);
                }
                lanes_done.fetch_add(1, Ordering::SeqCst);
                seen
            })
        })
        .collect();

    let mut swaps = 0usize;
    while lanes_done.load(Ordering::SeqCst) < CHURN.lanes {
        let next: Box<dyn Counter> = if swaps.is_multiple_of(2) {
            Box::new(LockedCounter(Mutex::new(0)))
        } else {
            Box::new(AtomicCounter(AtomicU64::new(0)))
        };
        match slot.swap_with_state(next) {
            Ok(StateMove::Moved) => swaps += 1,
            Ok(other) => panic!("state not moved: {other:?}"),
            Err((e, _)) => panic!("swap failed: {e}"),
        }
        if cfg!(miri) {
            thread::yield_now();
        }
    }

    let mut all: Vec<u64> = lanes.into_iter().flat_map(|lane| lane.join().unwrap()).collect();
    let expected = (CHURN.lanes * CHURN.threads_per_lane * CHURN.calls_per_thread) as u64;
    let total = slot.load().total();
    assert_eq!(all.len() as u64, expected, "every call returned");
    assert_eq!(total, expected, "calls and final count differ");
    all.sort_unstable();
    assert!(all.iter().copied().eq(1..=total), "returned values are not exactly 1..={total}");
    assert_eq!(slot.swaps(), swaps as u64);
    assert!(swaps > 0);
    println!(
        "{total} calls from {} short-lived threads across {swaps} swaps; {slot:?}",
        CHURN.lanes * CHURN.threads_per_lane
    );
}
