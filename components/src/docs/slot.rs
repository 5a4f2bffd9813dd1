//! How a slot lets calls through and how a swap stops them without losing one.
//!
//! ## State
//!
//! A slot is an `Arc` to one allocation holding a single `AtomicUsize` *state* and
//! the current implementation `Box<T>` in an `UnsafeCell`. The top bit of the state
//! is `HELD`; the other bits count calls in flight.
//!
//! ## A call ([`Slot::load`](crate::Slot::load))
//!
//! 1. `fetch_add(1, Acquire)` on the state. If the previous value had `HELD` clear,
//!    the call is admitted: it reads the `Box<T>` and calls through it.
//! 2. Dropping the [`Guard`](crate::Guard) does `fetch_sub(1, Release)`. If the
//!    previous value was exactly `HELD | 1`, this was the last call out of a held
//!    slot and it wakes the swapper.
//!
//! Because "is the slot held?" and "count me in" are the same read-modify-write,
//! there is no window between checking the flag and registering the call: the
//! modification order of the one atomic word puts every admission either before
//! the swapper's `fetch_or(HELD)` (and the swapper then waits for it) or after it
//! (and the caller sees `HELD`).
//!
//! If the caller sees `HELD` it backs out (decrements, waking the swapper if it was
//! last), parks on a condition variable until `HELD` clears, and tries again. It
//! never fails and never runs on the old implementation after a swap began.
//!
//! ## A swap ([`Slot::hold`](crate::Slot::hold), [`Slot::swap`](crate::Slot::swap))
//!
//! 1. Take the slot's swap mutex (swappers of one slot are serialised; callers
//!    never touch it).
//! 2. `fetch_or(HELD, Acquire)`: from now on new calls park.
//! 3. Wait until the in-flight count is zero: spin 200 rounds with `spin_loop`
//!    (in-flight calls are usually nanoseconds long), then park on a condition
//!    variable that the last caller out signals. The `Acquire` load of a zero count
//!    synchronises with every admitted call's `Release` decrement, so the swapper
//!    sees all their effects.
//! 4. With exclusive access, export state from the old implementation and import it
//!    into the new one ([`Slot::swap_with_state`](crate::Slot::swap_with_state)),
//!    then replace the `Box`. If the import fails nothing is replaced.
//! 5. Clear `HELD` with `fetch_and(!HELD, Release)` under the parking mutex and
//!    notify all parked callers. Each retries its `Acquire` increment, which reads
//!    the cleared state (or a later value in its release sequence), so it sees the
//!    new `Box`.
//! 6. Drop the old implementation, after the release, so its destructor does not
//!    lengthen the hold.
//!
//! If the swapping code panics, the [`Hold`](crate::Hold) guard's destructor still
//! runs step 5 and the old implementation stays installed.
//!
//! ## Progress guarantees
//!
//! * Calls when no swap is running are **wait-free**: one `fetch_add`, one
//!   `fetch_sub`, no loop, no CAS retry.
//! * Calls while a swap is running **block** until it installs: that is the
//!   point (held calls must not run on a component whose state is being moved).
//!   The wait is bounded by the longest in-flight call plus the state transfer.
//! * A swap **blocks** until every call in flight finishes. A call that never
//!   returns stalls the swap and, behind it, every new call on that slot.
//! * Different slots are independent: a swap of one slot never waits for calls on
//!   another, so a component calling into a dependency's slot does not deadlock a
//!   swap of either one (see [`limitations`](super::limitations) for the case that
//!   does deadlock).
//!
//! ## Why not arc-swap, or an `RwLock`
//!
//! arc-swap makes loads cheap and lock-free but cannot tell a swapper when the last
//! reader of the old value is done, and the hold-drain-transfer-install sequence
//! needs exactly that; an in-flight counter beside it would add a second atomic per
//! call to arc-swap's own. An `RwLock<Box<T>>` (parking_lot's is task-fair, so a
//! waiting writer blocks new readers) gives the same semantics; the slot is that
//! idea reduced to what is needed: a read lock that is one `fetch_add` without a
//! CAS loop, the old value handed back to the swapper, a state transfer inside the
//! exclusive section, and a swap counter.
//!
//! ## Verification
//!
//! The `UnsafeCell` accesses are checked by miri's data-race detector on a reduced
//! stress test: `cargo +nightly miri test -p hatch-components --test stress`
//! (4 callers, 200 swaps per test). The full-size stress test (8 callers, 10,000
//! swaps, every returned value checked) runs in `cargo test`.
