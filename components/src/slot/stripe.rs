//! In-flight counters striped across cache lines, and which one each thread uses.
//!
//! Every slot has the same [`Layout`]: `owned` stripes, each written by one thread
//! only (the thread holding that *seat*), then `shared` stripes for threads without
//! a seat, one per CPU. A thread takes the lowest free seat on its first call into
//! any slot and gives it back when it exits, so seats (and the stripes behind them)
//! are reused, never added: memory per slot is fixed at creation.

use std::cell::Cell;
#[cfg(not(hatch_loom))]
use std::sync::{Mutex, OnceLock, PoisonError};

use super::sync::{AtomicUsize, Ordering};

/// One in-flight counter, alone on its cache line. 128 bytes where CPUs fetch lines
/// in adjacent pairs (x86-64's spatial prefetcher, Apple and Neoverse aarch64
/// cores), as crossbeam's `CachePadded` does; 64 elsewhere.
///
/// Two monotonic (wrapping) counts rather than one that goes up and down, as
/// SRCU keeps lock and unlock counts: a call's count-in and count-out then write
/// different words, so back-to-back calls on one thread do not wait for each
/// other's store to forward (one up-down word costs about 1 ns per call in a
/// tight loop here).
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64"), repr(align(128)))]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64")), repr(align(64)))]
pub(crate) struct Stripe {
    /// Calls counted in on this stripe, ever.
    pub(crate) entered: AtomicUsize,
    /// Calls counted out of this stripe, ever.
    pub(crate) exited: AtomicUsize,
}

impl Stripe {
    pub(crate) fn new() -> Self {
        Stripe { entered: AtomicUsize::new(0), exited: AtomicUsize::new(0) }
    }

    /// Calls in (or backing out) on this stripe. `exited` is read first: a call
    /// that enters or leaves between the two loads can only make the result larger,
    /// so zero means that no call was in at the moment of the second load (and
    /// none at the first). Both loads Acquire, which pairs with the Release
    /// count-out stores.
    pub(crate) fn in_flight(&self) -> usize {
        let exited = self.exited.load(Ordering::Acquire);
        self.entered.load(Ordering::Acquire).wrapping_sub(exited)
    }
}

/// How many stripes every slot has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Stripes each written by one seated thread, with a plain load and store.
    pub(crate) owned: usize,
    /// Stripes shared by threads without a seat, with atomic read-modify-writes.
    pub(crate) shared: usize,
}

impl Layout {
    /// Twice the CPUs (at least 8) seats, so that the threads a program runs to
    /// serve requests usually all have one, and one shared stripe per CPU.
    #[cfg(not(hatch_loom))]
    fn for_this_machine() -> Layout {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(1024);
        Layout { owned: (2 * cpus).max(8), shared: cpus }
    }
}

/// The layout, fixed by the first slot created in this process.
#[cfg(not(hatch_loom))]
pub(crate) fn layout() -> Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    *LAYOUT.get_or_init(Layout::for_this_machine)
}

/// Small enough that loom explores every interleaving, and with one seated caller
/// and one unseated caller in a model of two (see `take_seat`).
#[cfg(hatch_loom)]
pub(crate) fn layout() -> Layout {
    Layout { owned: 2, shared: 1 }
}

pub(crate) fn new_stripes(n: usize) -> Box<[Stripe]> {
    (0..n).map(|_| Stripe::new()).collect()
}

/// This thread's seat, and how many times it has counted in and out on owned
/// stripes (of any slot): while the two differ, a guard of this thread is alive.
/// Cells rather than one `Cell<struct>`, so that entering and leaving each write
/// only their own word.
pub(crate) struct Local {
    /// An index below `Layout::owned`, or `UNSEATED`, or `SHARED`.
    seat: Cell<usize>,
    entered: Cell<usize>,
    exited: Cell<usize>,
}

/// No call made yet on this thread: the next one takes a seat.
pub(crate) const UNSEATED: usize = usize::MAX;
/// No seat was free (or the thread is exiting): calls use a shared stripe.
pub(crate) const SHARED: usize = usize::MAX - 1;

#[cfg(not(hatch_loom))]
std::thread_local! {
    // No destructor, so it stays readable in other thread-locals' destructors.
    static LOCAL: Local = const {
        Local { seat: Cell::new(UNSEATED), entered: Cell::new(0), exited: Cell::new(0) }
    };
    // Touched only when a seat is taken; its destructor gives the seat back.
    static LEASE: Lease = const { Lease };
}

#[cfg(hatch_loom)]
loom::thread_local! {
    static LOCAL: Local = Local { seat: Cell::new(UNSEATED), entered: Cell::new(0), exited: Cell::new(0) };
}

/// This thread's seat.
#[inline(always)]
pub(crate) fn seat() -> usize {
    LOCAL.with(|l| l.seat.get())
}

/// Called by a seated thread counting in on its owned stripe.
#[inline(always)]
pub(crate) fn entered_owned() {
    LOCAL.with(|l| l.entered.set(l.entered.get().wrapping_add(1)));
}

/// Called when a guard on an owned stripe drops (on the thread that made it).
#[inline(always)]
pub(crate) fn exited_owned() {
    LOCAL.with(|l| l.exited.set(l.exited.get().wrapping_add(1)));
}

/// Index of a shared stripe for this call: the CPU it runs on, so that callers on
/// different CPUs do not share a line (those on one CPU do, uncontended).
pub(crate) fn shared_stripe() -> usize {
    #[cfg(all(target_os = "linux", not(miri), not(hatch_loom)))]
    {
        // SAFETY: sched_getcpu takes no arguments and touches no memory of ours.
        let cpu = unsafe { libc::sched_getcpu() };
        if let Ok(cpu) = usize::try_from(cpu) {
            return cpu % layout().shared;
        }
    }
    0
}

/// The first call on this thread: takes the lowest free seat, or marks the thread
/// shared if there is none (it then stays shared until it exits).
#[cold]
#[inline(never)]
pub(crate) fn take_seat() {
    let seat = seat_from_pool();
    LOCAL.with(|l| l.seat.set(seat));
}

#[cfg(not(hatch_loom))]
static SEATS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

#[cfg(not(hatch_loom))]
fn seat_from_pool() -> usize {
    // The lease's destructor must be registered before a seat is taken, or the seat
    // would never come back; if this thread is already destroying its
    // thread-locals, it gets no seat.
    if LEASE.try_with(|_| ()).is_err() {
        return SHARED;
    }
    let mut seats = SEATS.lock().unwrap_or_else(PoisonError::into_inner);
    if seats.is_empty() {
        seats.resize(layout().owned, false);
    }
    match seats.iter().position(|taken| !taken) {
        Some(seat) => {
            seats[seat] = true;
            seat
        }
        None => SHARED,
    }
}

/// Under loom: seat `n` for loom's thread `n` (the model's main thread is 0, spawned
/// threads count up), shared beyond `Layout::owned`; no pool, so the model covers
/// the slot and not the seat bookkeeping.
#[cfg(hatch_loom)]
fn seat_from_pool() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    let n: usize = id.trim_start_matches("ThreadId(").trim_end_matches(')').parse().expect("loom thread id");
    if n < layout().owned { n } else { SHARED }
}

/// Gives the seat back when its thread exits.
#[cfg(not(hatch_loom))]
struct Lease;

#[cfg(not(hatch_loom))]
impl Drop for Lease {
    fn drop(&mut self) {
        let (seat, in_flight) = LOCAL.with(|l| (l.seat.get(), l.entered.get() != l.exited.get()));
        if seat >= layout().owned {
            return;
        }
        if in_flight {
            // A guard on this seat's stripe is still alive (held by another
            // thread-local that is destroyed later): the seat cannot be given to
            // another thread while this one may still write its stripe. It stays
            // taken; a pool of seats that only shrinks this way is still bounded.
            return;
        }
        LOCAL.with(|l| l.seat.set(SHARED));
        // The pool's lock orders this thread's last stripe writes before the next
        // holder's first ones.
        SEATS.lock().unwrap_or_else(PoisonError::into_inner)[seat] = false;
    }
}

/// Seats currently taken, for tests.
#[cfg(all(test, not(hatch_loom)))]
pub(crate) fn seats_taken() -> usize {
    SEATS.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|&&t| t).count()
}
