//! [`Slot`]: a shared, hot-swappable reference to the implementation of one interface.
//!
//! See [`docs::slot`](crate::docs::slot) for the algorithm, its progress guarantees
//! and costs, and [`docs::limitations`](crate::docs::limitations) for what it does
//! not do.

mod barrier;
mod stripe;
mod sync;

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use self::stripe::Stripe;
use self::sync::{AtomicBool, AtomicU64, Condvar, ConstPtr, MutPtr, Mutex, MutexGuard, Ordering, UnsafeCell};
use crate::error::StateError;
use crate::state::{StateMove, transfer};

/// How long a swapper spins for in-flight calls before parking, and a held caller
/// for the release (loom explores parking only: a spin is an unbounded loop to it).
const DRAIN_SPINS: u32 = if cfg!(hatch_loom) { 0 } else { 200 };
const RELEASE_SPINS: u32 = if cfg!(hatch_loom) { 0 } else { 100 };

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
    /// Set by a swapper before it counts the stripes; read by every call (shared,
    /// read-mostly: written twice per swap).
    held: AtomicBool,
    /// In-flight calls on stripes each written by one thread, indexed by seat
    /// (see `stripe`); its length is also the test "does this thread have a seat".
    owned: Box<[Stripe]>,
    /// In-flight calls of threads without a seat, indexed by CPU.
    shared: Box<[Stripe]>,
    /// Read by calls admitted while `held` is clear; written only by the swapper
    /// between "held and drained" and "released".
    current: UnsafeCell<Box<T>>,
    /// Calls that waited for a hold and were admitted by its release, which
    /// counted them in here on their behalf (a read-modify-write stripe like the
    /// shared ones): they run even if the next hold has started, and it waits for
    /// them.
    handoff: Stripe,
    /// Releases so far; a waiting call watches it change (written under `park`).
    releases: AtomicU64,
    /// Completed swaps, for observation only.
    swaps: AtomicU64,
    /// Serialises swappers; never touched by callers.
    swap_lock: Mutex<()>,
    /// Calls waiting for the current hold's release, and the two condition
    /// variables below.
    park: Mutex<Waiting>,
    /// Callers wait here for `held` to clear.
    released: Condvar,
    /// The swapper waits here for the stripes to drain.
    drained: Condvar,
}

// SAFETY: `current` is shared as `&T` between callers on any thread (needs
// `T: Sync`) and moved out/dropped by a swapper on any thread (needs `T: Send`).
// Exclusive access for the swapper is guaranteed by the held/stripes protocol.
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
        let in_flight: usize = self.inner.stripes().map(Stripe::in_flight).fold(0, usize::wrapping_add);
        f.debug_struct("Slot")
            .field("held", &self.inner.held.load(Ordering::Relaxed))
            .field("in_flight", &in_flight)
            .field("swaps", &self.swaps())
            .field("stripes", &self.inner.stripes().count())
            .field("barrier", &barrier::name())
            .finish()
    }
}

impl<T: ?Sized> Slot<T> {
    /// Creates a slot holding `implementation`.
    ///
    /// A slot takes one allocation for itself and two for its in-flight counters:
    /// 128 bytes (64 on CPUs without paired-line prefetch) per stripe, with
    /// `max(2 × CPUs, 8) + CPUs + 1` stripes, so 1.4 KiB on 2 CPUs and 24 KiB on
    /// 64. See [`docs::limitations`](crate::docs::limitations).
    pub fn new(implementation: Box<T>) -> Self {
        barrier::init();
        Slot {
            inner: Arc::new(Inner {
                held: AtomicBool::new(false),
                owned: stripe::new_stripes(stripe::layout().owned),
                shared: stripe::new_stripes(stripe::layout().shared),
                current: UnsafeCell::new(implementation),
                handoff: Stripe::new(),
                releases: AtomicU64::new(0),
                swaps: AtomicU64::new(0),
                swap_lock: Mutex::new(()),
                park: Mutex::new(Waiting { calls: 0 }),
                released: Condvar::new(),
                drained: Condvar::new(),
            }),
        }
    }

    /// Enters the slot and returns a guard that dereferences to the current
    /// implementation. The fast path writes only this thread's own in-flight
    /// counter (a plain load and store, no read-modify-write) and reads the slot's
    /// held flag; the guard's drop does the same.
    ///
    /// If a swap is in progress the call waits until the swap has installed the new
    /// implementation, then proceeds on it.
    ///
    /// Keep the guard for one call only, and drop it on the thread that made it
    /// (it is not `Send`): while it lives, a swap of this slot cannot complete,
    /// and loading this same slot again on this thread while a swap is waiting
    /// deadlocks (see [`docs::limitations`](crate::docs::limitations)).
    #[inline]
    pub fn load(&self) -> Guard<'_, T> {
        // The guard is built only once admitted, in place: moving a half-built one
        // costs two store-forwarding stalls, more than the rest of the call.
        let entry = self.inner.enter();
        // Acquire pairs with the Release that clears `held` in `release`: a call
        // admitted after a swap sees the implementation it installed.
        if self.inner.held.load(Ordering::Acquire) {
            self.inner.leave(entry);
            return self.load_after_hold();
        }
        Guard::admitted(&self.inner, entry)
    }

    /// Slow path of [`load`](Self::load): the call counted itself in while the
    /// slot was held, and backed out. Wait for the release and try again.
    #[cold]
    #[inline(never)]
    fn load_after_hold(&self) -> Guard<'_, T> {
        loop {
            if let Some(entry) = self.inner.wait_for_release() {
                return Guard::admitted(&self.inner, entry);
            }
            // The hold ended before this call could wait for it: the usual way in.
            let entry = self.inner.enter();
            if !self.inner.held.load(Ordering::Acquire) {
                return Guard::admitted(&self.inner, entry);
            }
            self.inner.leave(entry);
        }
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
        self.inner.held.store(true, Ordering::Relaxed);
        // Pairs with the light half in every call's `enter` and `leave`: a call
        // either sees `held` or is counted by the sums below (docs::slot).
        barrier::heavy();
        self.inner.wait_until_drained();
        Hold { inner: &self.inner, current: Some(self.inner.current.get_mut()), _serial: serial }
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
    /// Counts this call in on this thread's stripe and runs the light barrier. The
    /// caller then reads `held`: if set it backs out with `leave`, if clear the
    /// call is admitted.
    #[inline(always)]
    fn enter(&self) -> Entry<'_> {
        if let Some(stripe) = self.owned.get(stripe::seat()) {
            stripe::entered_owned();
            // Only this thread writes an owned stripe, so a plain load and store
            // count it in; the swapper only reads it.
            let entered = &stripe.entered;
            entered.store(entered.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            barrier::light();
            Entry { stripe, owned: true }
        } else {
            self.enter_unseated()
        }
    }

    /// A thread's first call (which takes a seat), or a thread without a seat.
    #[cold]
    #[inline(never)]
    fn enter_unseated(&self) -> Entry<'_> {
        if stripe::seat() == stripe::UNSEATED {
            stripe::take_seat();
            return self.enter();
        }
        let stripe = &self.shared[stripe::shared_stripe()];
        // Shared by threads without a seat: a read-modify-write.
        stripe.entered.fetch_add(1, Ordering::Relaxed);
        barrier::light();
        Entry { stripe, owned: false }
    }

    /// Counts a call out: the end of a call, or a caller backing out of a held slot.
    #[inline(always)]
    fn leave(&self, entry: Entry<'_>) {
        let Entry { stripe, owned } = entry;
        // Release: a swapper whose Acquire load of `exited` reads this value (or
        // any later one) sees everything the call did through `current`.
        let exited = &stripe.exited;
        if owned {
            stripe::exited_owned();
            exited.store(exited.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
        } else {
            exited.fetch_add(1, Ordering::Release);
        }
        // The same store-load pattern as entering: either the swapper's next pass
        // sees this count-out, or this load sees `held` and wakes the swapper.
        barrier::light();
        if self.held.load(Ordering::Relaxed) {
            self.notify_drained();
        }
    }

    /// Waits for the current hold to be released, registered as a waiting call, and
    /// returns the entry on the hand-off stripe that the release made for it; or
    /// `None` if the slot was no longer held.
    #[cold]
    fn wait_for_release(&self) -> Option<Entry<'_>> {
        let mut park = self.park.lock();
        // `held` only clears under `park`, so a call registered here is counted
        // by the release that clears it.
        if !self.held.load(Ordering::Acquire) {
            return None;
        }
        park.calls += 1;
        let seen = self.releases.load(Ordering::Relaxed);
        drop(park);
        // Acquire pairs with the Release increment in `release`: the new `current`
        // and this call's hand-off count happen before it goes on.
        let released = || self.releases.load(Ordering::Acquire) != seen;
        for _ in 0..RELEASE_SPINS {
            if released() {
                return Some(Entry { stripe: &self.handoff, owned: false });
            }
            std::hint::spin_loop();
        }
        let mut park = self.park.lock();
        while !released() {
            park = self.released.wait(park);
        }
        Some(Entry { stripe: &self.handoff, owned: false })
    }

    /// Calls in flight (plus callers briefly backing out), summed over the stripes.
    fn in_flight(&self) -> usize {
        // Acquire (in `Stripe::in_flight`) pairs with the Release count-out stores
        // in `leave`: a stripe read empty means the swapper sees everything its
        // calls did.
        self.stripes().map(Stripe::in_flight).fold(0, usize::wrapping_add)
    }

    fn stripes(&self) -> impl Iterator<Item = &Stripe> {
        self.owned.iter().chain(self.shared.iter()).chain(std::iter::once(&self.handoff))
    }

    /// Called by the holder after setting `held` and running the heavy barrier.
    fn wait_until_drained(&self) {
        for _ in 0..DRAIN_SPINS {
            if self.in_flight() == 0 {
                return;
            }
            std::hint::spin_loop();
        }
        let mut park = self.park.lock();
        while self.in_flight() != 0 {
            park = self.drained.wait(park);
        }
    }

    /// A call left a held slot: wake the swapper, which recounts.
    #[cold]
    #[inline(never)]
    fn notify_drained(&self) {
        // Taking `park` orders this notification after the swapper's check-then-wait.
        let _park = self.park.lock();
        self.drained.notify_one();
    }

    /// Admits every waiting call (counting it in on the hand-off stripe), clears
    /// `held`, and wakes the waiting calls.
    fn release(&self) {
        let waited = {
            let mut park = self.park.lock();
            let waited = std::mem::take(&mut park.calls);
            // Counted in before `held` clears and before the swap mutex is unlocked,
            // so the next holder's drain (after that mutex) waits for these calls.
            self.handoff.entered.fetch_add(waited, Ordering::Relaxed);
            // Release pairs with the Acquire loads of `releases` in
            // `wait_for_release`, and the one below with the Acquire loads of
            // `held` in `Slot::load`: a call admitted after this sees the new
            // `current`.
            self.releases.fetch_add(1, Ordering::Release);
            self.held.store(false, Ordering::Release);
            waited
        };
        if waited != 0 {
            self.released.notify_all();
        }
    }
}

/// What `park` protects.
struct Waiting {
    /// Calls registered as waiting for the current hold's release.
    calls: usize,
}

/// A call in flight on a [`Slot`]: dereferences to the implementation that was
/// current when the call entered. Returned by [`Slot::load`].
///
/// Not `Send`: it must be dropped on the thread that loaded it, whose own
/// in-flight counter it decrements.
///
/// ```compile_fail
/// # use hatch_components::{Component, Slot};
/// # trait Work: Component {}
/// # struct W;
/// # impl Component for W {}
/// # impl Work for W {}
/// fn send<S: Send>(_: S) {}
/// let slot: Slot<dyn Work> = Slot::new(Box::new(W));
/// send(slot.load());
/// ```
pub struct Guard<'a, T: ?Sized> {
    inner: &'a Inner<T>,
    entry: Entry<'a>,
    /// Under loom, the tracked read access to `current`, from admission until the
    /// drop ends it before counting the call out.
    #[cfg(hatch_loom)]
    read: Option<ConstPtr<Box<T>>>,
    _not_send: PhantomData<*const ()>,
}

/// One call counted in on a stripe (not yet admitted, or inside a [`Guard`]).
#[derive(Clone, Copy)]
struct Entry<'a> {
    stripe: &'a Stripe,
    /// On an owned stripe (plain store) rather than a shared one (read-modify-write).
    owned: bool,
}

// SAFETY: a shared `&Guard` only hands out `&T` (hence `T: Sync`); dropping the
// guard, the one thing that must happen on its own thread, needs ownership.
unsafe impl<T: ?Sized + Sync> Sync for Guard<'_, T> {}

impl<'a, T: ?Sized> Guard<'a, T> {
    /// `held` was read clear after `entry`'s barrier: the call may use `current`.
    #[inline(always)]
    fn admitted(inner: &'a Inner<T>, entry: Entry<'a>) -> Self {
        Guard {
            inner,
            entry,
            #[cfg(hatch_loom)]
            read: Some(inner.current.get()),
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for Guard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        #[cfg(hatch_loom)]
        let current: &ConstPtr<Box<T>> = self.read.as_ref().expect("admitted");
        #[cfg(not(hatch_loom))]
        let current: ConstPtr<Box<T>> = self.inner.current.get();
        // SAFETY: the guard is counted on a stripe and was admitted with `held`
        // read clear after the light barrier, so a holder either waits for it to
        // drop or made this call see `held`: nobody writes `current` while this
        // shared borrow lives, and the last write to it happened-before the
        // admission (Release in `release`, Acquire in `Slot::load`). The slot
        // outlives 'a, which bounds the borrow.
        unsafe { current.deref() }
    }
}

impl<T: ?Sized> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(hatch_loom)]
        {
            self.read = None;
        }
        self.inner.leave(self.entry);
    }
}

impl<T: ?Sized> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").field("owned_stripe", &self.entry.owned).finish_non_exhaustive()
    }
}

/// Exclusive access to a held [`Slot`]: no call is in flight and new calls wait
/// until this is dropped. Returned by [`Slot::hold`].
pub struct Hold<'a, T: ?Sized> {
    inner: &'a Inner<T>,
    /// `Some` until the drop, which ends the access before releasing the callers.
    current: Option<MutPtr<Box<T>>>,
    _serial: MutexGuard<'a, ()>,
}

impl<T: ?Sized> Hold<'_, T> {
    /// Installs `new` and returns the previous implementation. Waiting calls run on
    /// `new` once this hold is dropped.
    pub fn replace(&mut self, new: Box<T>) -> Box<T> {
        self.inner.swaps.fetch_add(1, Ordering::Relaxed);
        std::mem::replace(self.current_mut(), new)
    }

    fn current(&self) -> &MutPtr<Box<T>> {
        self.current.as_ref().expect("the hold is live until dropped")
    }

    fn current_mut(&mut self) -> &mut Box<T> {
        // SAFETY: `held` is set and every stripe was read zero (Acquire) after the
        // heavy barrier, so no guard exists or can be created until `release`;
        // `&mut self` makes this the only access through the hold.
        unsafe { self.current().deref() }
    }
}

impl<T: ?Sized> Deref for Hold<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: see `current_mut`; shared access through `&self`, without making
        // a `&mut` (other `&T` from this hold may be alive).
        self.current().with(|p| unsafe { &**p })
    }
}

impl<T: ?Sized> DerefMut for Hold<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.current_mut()
    }
}

impl<T: ?Sized> Drop for Hold<'_, T> {
    fn drop(&mut self) {
        self.current = None;
        self.inner.release();
    }
}

#[cfg(all(test, not(hatch_loom)))]
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

    #[test]
    fn guards_dropped_out_of_order_still_hold_off_a_swap() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let first = slot.load();
        let second = slot.load(); // re-entrant: same thread, same stripe
        drop(first);
        let swapped = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                slot.swap(Box::new(Fixed(2)));
                swapped.store(true, Ordering::SeqCst);
            });
            thread::sleep(Duration::from_millis(30));
            assert!(!swapped.load(Ordering::SeqCst), "the second guard is still in flight");
            assert_eq!(second.value(), 1);
            drop(second);
        });
        assert_eq!(slot.load().value(), 2);
        assert!(format!("{slot:?}").contains("in_flight: 0"));
    }

    #[test]
    fn exiting_threads_give_their_seat_back() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let owned = stripe::layout().owned;
        // Far more threads, one after another, than there are seats: each finds
        // one free because its predecessor gave it back.
        for _ in 0..3 * owned {
            let seat = thread::scope(|s| {
                s.spawn(|| {
                    assert_eq!(slot.load().value(), 1);
                    stripe::seat()
                })
                .join()
                .unwrap()
            });
            assert!(seat < owned, "thread got no seat: {seat}");
        }
        assert!(stripe::seats_taken() < owned);
    }

    #[test]
    fn threads_without_a_seat_share_a_stripe_and_are_still_waited_for() {
        let slot: Slot<dyn Value> = Slot::new(Box::new(Fixed(1)));
        let owned = stripe::layout().owned;
        let all_seated = std::sync::Barrier::new(owned + 1);
        let done = std::sync::Barrier::new(owned + 1);
        let (slot, all_seated, done) = (&slot, &all_seated, &done);
        thread::scope(|s| {
            // Take every seat (other tests may hold some: then some of these share).
            for _ in 0..owned {
                s.spawn(move || {
                    drop(slot.load());
                    all_seated.wait();
                    done.wait();
                });
            }
            all_seated.wait();
            let (entered_tx, entered_rx) = std::sync::mpsc::channel();
            let (leave_tx, leave_rx) = std::sync::mpsc::channel::<()>();
            let late = s.spawn(move || {
                let call = slot.load();
                entered_tx.send(stripe::seat()).unwrap();
                leave_rx.recv().unwrap();
                call.value()
            });
            let seat = entered_rx.recv().unwrap();
            if stripe::seats_taken() == owned && seat >= owned {
                assert_eq!(seat, stripe::SHARED);
            }
            let swapper = s.spawn(move || slot.swap(Box::new(Fixed(2))).value());
            thread::sleep(Duration::from_millis(30));
            assert!(!swapper.is_finished(), "the swap waits for the unseated call");
            leave_tx.send(()).unwrap();
            assert_eq!(late.join().unwrap(), 1);
            assert_eq!(swapper.join().unwrap(), 1);
            done.wait();
        });
        assert_eq!(slot.load().value(), 2);
    }
}
