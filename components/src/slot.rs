//! [`Slot`]: a shared, hot-swappable reference to the implementation of one interface.
//!
//! See [`docs::slot`](crate::docs::slot) for the algorithm, its progress guarantees
//! and costs, and [`docs::limitations`](crate::docs::limitations) for what it does
//! not do.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::StateError;
use crate::state::{StateMove, transfer};

/// Set while a swap holds the slot: new calls wait.
const HELD: usize = 1 << (usize::BITS - 1);
/// The low bits count calls in flight (plus callers briefly backing out).
const IN_FLIGHT: usize = !HELD;
/// How long a swapper spins for in-flight calls before parking.
const DRAIN_SPINS: u32 = 200;

/// A cloneable, `Send + Sync` handle through which callers reach the current
/// implementation of an interface, and through which a swap replaces it without
/// losing a call.
///
/// # Examples
///
/// ```
/// use hatch_components::{Component, Slot};
///
/// trait Greet: Component {
///     fn greet(&self) -> &'static str;
/// }
/// struct En;
/// struct Fr;
/// impl Component for En {}
/// impl Component for Fr {}
/// impl Greet for En { fn greet(&self) -> &'static str { "hello" } }
/// impl Greet for Fr { fn greet(&self) -> &'static str { "bonjour" } }
///
/// let slot: Slot<dyn Greet> = Slot::new(Box::new(En));
/// let caller = slot.clone(); // what a component that requires `Greet` keeps
/// assert_eq!(caller.load().greet(), "hello");
/// slot.swap(Box::new(Fr));
/// assert_eq!(caller.load().greet(), "bonjour");
/// ```
pub struct Slot<T: ?Sized> {
    inner: Arc<Inner<T>>,
}

struct Inner<T: ?Sized> {
    /// `HELD | in-flight count`. One word, so that "not held" and "counted in" are
    /// observed and established by the same read-modify-write.
    state: AtomicUsize,
    /// Completed swaps, for observation only.
    swaps: AtomicU64,
    /// Serialises swappers; never touched by callers.
    swap_lock: Mutex<()>,
    /// Protects the two condition variables below (no data).
    park: Mutex<()>,
    /// Callers wait here for `HELD` to clear.
    released: Condvar,
    /// The swapper waits here for the in-flight count to reach zero.
    drained: Condvar,
    /// Read by callers counted in while `HELD` is clear; written only by the swapper
    /// between "held and drained" and "released".
    current: UnsafeCell<Box<T>>,
}

// SAFETY: `current` is shared as `&T` between callers on any thread (needs
// `T: Sync`) and moved out/dropped by a swapper on any thread (needs `T: Send`).
// Exclusive access for the swapper is guaranteed by the `state` protocol.
unsafe impl<T: ?Sized + Send + Sync> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for Inner<T> {}

impl<T: ?Sized> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot { inner: Arc::clone(&self.inner) }
    }
}

impl<T: ?Sized> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.load(Ordering::Relaxed);
        f.debug_struct("Slot")
            .field("held", &(state & HELD != 0))
            .field("in_flight", &(state & IN_FLIGHT))
            .field("swaps", &self.swaps())
            .finish()
    }
}

impl<T: ?Sized> Slot<T> {
    /// Creates a slot holding `implementation`.
    pub fn new(implementation: Box<T>) -> Self {
        Slot {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(0),
                swaps: AtomicU64::new(0),
                swap_lock: Mutex::new(()),
                park: Mutex::new(()),
                released: Condvar::new(),
                drained: Condvar::new(),
                current: UnsafeCell::new(implementation),
            }),
        }
    }

    /// Enters the slot and returns a guard that dereferences to the current
    /// implementation. The fast path is one atomic increment; the guard's drop is
    /// one atomic decrement.
    ///
    /// If a swap is in progress the call waits until the swap has installed the new
    /// implementation, then proceeds on it.
    ///
    /// Keep the guard for one call only: while it lives, a swap of this slot cannot
    /// complete, and loading this same slot again on this thread while a swap is
    /// waiting deadlocks (see [`docs::limitations`](crate::docs::limitations)).
    #[inline]
    pub fn load(&self) -> Guard<'_, T> {
        let prev = self.inner.state.fetch_add(1, Ordering::Acquire);
        if prev & HELD != 0 {
            self.inner.wait_until_released();
        }
        Guard { inner: &self.inner }
    }

    /// Runs `f` on the current implementation; `slot.call(|c| c.get(k))` is
    /// `slot.load().get(k)`.
    #[inline]
    pub fn call<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.load())
    }

    /// Holds the slot: new calls wait, and this returns once every call in flight
    /// has finished. The returned [`Hold`] gives exclusive access to the current
    /// implementation and can [`replace`](Hold::replace) it; dropping it releases
    /// the waiting calls. Concurrent holders are serialised.
    ///
    /// # Deadlocks
    ///
    /// Never call while this thread holds a [`Guard`] of the same slot.
    pub fn hold(&self) -> Hold<'_, T> {
        let serial = self.inner.swap_lock.lock();
        let prev = self.inner.state.fetch_or(HELD, Ordering::Acquire);
        debug_assert_eq!(prev & HELD, 0, "swap_lock admits one holder");
        self.inner.wait_until_drained();
        Hold { inner: &self.inner, _serial: serial }
    }

    /// Replaces the implementation, without moving state, and returns the old one.
    /// Calls made meanwhile wait and then run on `new`; none fails.
    pub fn swap(&self, new: Box<T>) -> Box<T> {
        self.hold().replace(new)
    }

    /// Number of completed swaps (replacements) since creation.
    pub fn swaps(&self) -> u64 {
        self.inner.swaps.load(Ordering::Relaxed)
    }

    /// Whether both handles refer to the same slot.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl<T: ?Sized + crate::Component> Slot<T> {
    /// Replaces the implementation, first moving the old one's state into `new`
    /// when both use the same state format. On an import error nothing is
    /// replaced and `new` is returned in the error.
    ///
    /// The old implementation is dropped after the waiting calls are released.
    pub fn swap_with_state(&self, mut new: Box<T>) -> Result<StateMove, (StateError, Box<T>)> {
        let mut hold = self.hold();
        match transfer(&*hold, &mut *new) {
            Ok(moved) => {
                let old = hold.replace(new);
                drop(hold);
                drop(old);
                Ok(moved)
            }
            Err(e) => Err((e, new)),
        }
    }
}

impl<T: ?Sized> Inner<T> {
    /// Slow path of [`Slot::load`]: the caller counted itself in while the slot was
    /// held. Back out, wait for the release, and try again.
    #[cold]
    #[inline(never)]
    fn wait_until_released(&self) {
        loop {
            self.leave();
            {
                let mut park = self.park.lock();
                while self.state.load(Ordering::Acquire) & HELD != 0 {
                    self.released.wait(&mut park);
                }
            }
            if self.state.fetch_add(1, Ordering::Acquire) & HELD == 0 {
                return;
            }
        }
    }

    /// Counts a caller out; the last one out of a held slot wakes the swapper.
    #[inline]
    fn leave(&self) {
        // Release: the swapper's Acquire load of a zero count sees everything this
        // caller did through `current`.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        if prev == HELD | 1 {
            self.notify_drained();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_drained(&self) {
        // Taking `park` orders this notification after the swapper's check-then-wait.
        let _park = self.park.lock();
        self.drained.notify_one();
    }

    /// Called by the holder after setting `HELD`.
    fn wait_until_drained(&self) {
        // Acquire pairs with the Release decrement in `leave`.
        let drained = || self.state.load(Ordering::Acquire) & IN_FLIGHT == 0;
        for _ in 0..DRAIN_SPINS {
            if drained() {
                return;
            }
            std::hint::spin_loop();
        }
        let mut park = self.park.lock();
        while !drained() {
            self.drained.wait(&mut park);
        }
    }

    /// Clears `HELD` and wakes every waiting caller.
    fn release(&self) {
        {
            let _park = self.park.lock();
            // Release pairs with the Acquire increment in `Slot::load`: a caller that
            // counts in after this sees the new `current`.
            self.state.fetch_and(!HELD, Ordering::Release);
        }
        self.released.notify_all();
    }
}

/// A call in flight on a [`Slot`]: dereferences to the implementation that was
/// current when the call entered. Returned by [`Slot::load`].
pub struct Guard<'a, T: ?Sized> {
    inner: &'a Inner<T>,
}

impl<T: ?Sized> Deref for Guard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is counted in `state` and was admitted while `HELD` was
        // clear (Acquire), so no holder can be past `wait_until_drained` until the
        // guard drops: nobody writes `current` while this shared borrow lives, and
        // the last write to it happened-before our admission (Release in `release`).
        unsafe { &*self.inner.current.get() }
    }
}

impl<T: ?Sized> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.inner.leave();
    }
}

/// Exclusive access to a held [`Slot`]: no call is in flight and new calls wait
/// until this is dropped. Returned by [`Slot::hold`].
pub struct Hold<'a, T: ?Sized> {
    inner: &'a Inner<T>,
    _serial: parking_lot::MutexGuard<'a, ()>,
}

impl<T: ?Sized> Hold<'_, T> {
    /// Installs `new` and returns the previous implementation. Waiting calls run on
    /// `new` once this hold is dropped.
    pub fn replace(&mut self, new: Box<T>) -> Box<T> {
        self.inner.swaps.fetch_add(1, Ordering::Relaxed);
        std::mem::replace(self.current_mut(), new)
    }

    fn current_mut(&mut self) -> &mut Box<T> {
        // SAFETY: `HELD` is set and the in-flight count was observed zero with
        // Acquire, so no guard exists or can be created until `release`; `&mut self`
        // makes this the only access through the hold.
        unsafe { &mut *self.inner.current.get() }
    }
}

impl<T: ?Sized> Deref for Hold<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: see `current_mut`; shared access through `&self`.
        unsafe { &*self.inner.current.get() }
    }
}

impl<T: ?Sized> DerefMut for Hold<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.current_mut()
    }
}

impl<T: ?Sized> Drop for Hold<'_, T> {
    fn drop(&mut self) {
        self.inner.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::thread;
    use std::time::Duration;

    trait Value: Send + Sync {
        fn value(&self) -> u32;
    }
    struct Fixed(u32);
    impl Value for Fixed {
        fn value(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn swap_replaces_for_every_clone() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let other = slot.clone();
        assert_eq!(other.load().value(), 1);
        let old = slot.swap(Box::new(Fixed(2)));
        assert_eq!(old.value(), 1);
        assert_eq!(other.load().value(), 2);
        assert_eq!(other.swaps(), 1);
        assert!(Slot::ptr_eq(&slot, &other));
    }

    #[test]
    fn hold_waits_for_in_flight_call_and_parks_new_calls() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let in_call = slot.load();
        let swapped = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                slot.swap(Box::new(Fixed(2)));
                swapped.store(true, Ordering::SeqCst);
            });
            // The swap cannot finish while our call is in flight.
            thread::sleep(Duration::from_millis(50));
            assert!(!swapped.load(Ordering::SeqCst));
            assert_eq!(in_call.value(), 1);
            // A call made while the slot is held waits, then sees the new value.
            let late = s.spawn(|| slot.load().value());
            thread::sleep(Duration::from_millis(20));
            assert!(!late.is_finished());
            drop(in_call);
            assert_eq!(late.join().unwrap(), 2);
        });
        assert!(swapped.load(Ordering::SeqCst));
    }

    #[test]
    fn panic_inside_hold_releases_callers() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _hold = slot.hold();
            panic!("swap failed");
        }));
        assert!(r.is_err());
        assert_eq!(slot.load().value(), 1);
        assert_eq!(slot.swaps(), 0);
    }

    #[test]
    fn panic_inside_call_still_counts_out() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.call(|_| panic!("callee failed"));
        }));
        assert!(r.is_err());
        // Would hang if the panicking call had stayed counted in.
        slot.swap(Box::new(Fixed(3)));
        assert_eq!(slot.load().value(), 3);
    }
}
