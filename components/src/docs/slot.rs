//! How a slot lets calls through and how a swap stops them without losing one.
//!
//! ## The guarantees
//!
//! A swap ([`Slot::hold`](crate::Slot::hold), and [`Slot::swap`](crate::Slot::swap)
//! and [`Slot::swap_with_state`](crate::Slot::swap_with_state) on top of it):
//!
//! 1. holds new calls: from the moment it starts, a call that arrives waits;
//! 2. waits until every call in flight is done;
//! 3. never lets a call run on a replaced implementation: a call runs wholly on
//!    the implementation that was current when it was admitted, and none is
//!    admitted between the start of the swap and the installation;
//! 4. never loses or duplicates a call: a waiting call runs exactly once, on the
//!    new implementation;
//! 5. gives the swapper exclusive access to the implementation for the state
//!    transfer.
//!
//! ## State
//!
//! A slot is an `Arc` to one allocation holding a `held` flag, the current
//! implementation `Box<T>` in an `UnsafeCell`, and in-flight counters (*stripes*),
//! each alone on a 128-byte line (64 on CPUs that do not prefetch lines in pairs).
//! A stripe is two monotonic counts, `entered` and `exited` (as SRCU keeps lock
//! and unlock counts), so that a call's count-in and count-out write different
//! words; its calls in flight are `entered - exited`. There are three kinds:
//!
//! * **owned** stripes, one per *seat*. A thread takes a seat (the lowest free index
//!   in a process-wide pool of `max(2 × CPUs, 8)`) on its first call into any slot
//!   and gives it back when it exits, from a thread-local destructor. Only the
//!   thread holding seat `k` ever writes stripe `k` of any slot, so it counts with
//!   a plain load and store, no read-modify-write.
//! * **shared** stripes, one per CPU, for threads that found no seat free: they
//!   count with `fetch_add` on the stripe of the CPU they run on
//!   (`sched_getcpu`, which glibc reads from the thread's rseq area), so callers on
//!   different CPUs still write different lines.
//! * one **hand-off** stripe, on which a swap's release counts in, on their behalf,
//!   the calls that waited for it (below).
//!
//! Thread-local cells record the thread's seat and how many times it has counted
//! in and out on owned stripes; a [`Guard`](crate::Guard) records the stripe it
//! counted on, so a call always leaves the stripe it entered (no stripe ever shows
//! fewer calls than it has), and is not `Send`, so it is dropped on the thread that
//! owns that stripe.
//!
//! ## A call ([`Slot::load`](crate::Slot::load))
//!
//! 1. **Count in**: `e = entered.load(Relaxed); entered.store(e + 1, Relaxed)`
//!    (owned) or `entered.fetch_add(1, Relaxed)` (shared).
//! 2. **Light barrier** (below).
//! 3. **Check**: `held.load(Acquire)`. Clear: the call is admitted, reads the `Box`
//!    and calls through it. Set: the call backs out (step 5) and *waits*: under the
//!    parking mutex it re-reads `held` (if clear, it starts again at step 1),
//!    registers as waiting and notes the release count; then it spins 100 rounds,
//!    then parks, until the release count changes. The release that changes it has
//!    already counted the call in on the hand-off stripe, so the call goes straight
//!    to step 4, on the new implementation, even if another swap has started since
//!    (that swap waits for it). A call therefore waits for at most one swap, never
//!    fails, and never runs on a replaced implementation.
//! 4. The call runs.
//! 5. **Count out** (dropping the guard): `x = exited.load(Relaxed);
//!    exited.store(x + 1, Release)` (owned) or `exited.fetch_add(1, Release)`
//!    (shared, hand-off); the light barrier again; `held.load(Relaxed)`, and if set,
//!    wake the swapper (take the parking mutex, notify), since this may have been
//!    the last call it waits for.
//!
//! On the fast path a call touches its own stripe (a line its core owns), the
//! slot's first line (read-mostly: `held`, the stripe arrays, the `Box`), and the
//! thread-local cells. No shared line is written.
//!
//! ## A swap ([`Slot::hold`](crate::Slot::hold))
//!
//! 1. Take the slot's swap mutex (swappers of one slot are serialised; callers
//!    never touch it).
//! 2. `held.store(true, Relaxed)`: from now on new calls back out and wait.
//! 3. **Heavy barrier** (below).
//! 4. **Drain**: for every stripe, `exited.load(Acquire)` then
//!    `entered.load(Acquire)`, until every stripe reads empty: 200 rounds of
//!    `spin_loop` (calls are usually nanoseconds long), then park on a condition
//!    variable, re-reading at each wake-up (step 5 of a call).
//! 5. With exclusive access, export state from the old implementation and import
//!    it into the new one ([`Slot::swap_with_state`](crate::Slot::swap_with_state)),
//!    then replace the `Box`. If the import fails nothing is replaced.
//! 6. **Release**: under the parking mutex, count every registered waiting call in
//!    on the hand-off stripe (`entered.fetch_add(n)`), increment the release count
//!    (`Release`), `held.store(false, Release)`; then, if any call waited, notify
//!    the parked ones. This happens before the swap mutex is unlocked, so the next
//!    swapper's drain sees the hand-off count. Without the hand-off, a swapper
//!    swapping back to back re-held the slot before the woken callers ran, and in
//!    the stress test (10,000 swaps with no pause) most runs let no call through
//!    between the first swap and the last.
//! 7. Drop the old implementation, after the release, so its destructor does not
//!    lengthen the hold.
//!
//! If the swapping code panics, the [`Hold`](crate::Hold) guard's destructor still
//! runs step 6 and the old implementation stays installed.
//!
//! ## Why a call admitted before `held` is always counted
//!
//! A call *stores* to its stripe, then *loads* `held`; a swapper *stores* `held`,
//! then *loads* the stripes. That is Dekker's pattern, and it needs store-load
//! ordering on both sides: without it a CPU may perform each load before its own
//! store is visible (x86's store buffer does exactly that), so the caller reads
//! `held` clear while the swapper reads the stripe still zero, and the call runs
//! while the swapper writes the `Box`. Acquire and Release cannot order a store
//! before a later load; only a `SeqCst` fence (or a `SeqCst` read-modify-write, a
//! locked instruction on x86) can. The two barriers provide it:
//!
//! * **Fences** (`HATCH_SLOT_BARRIER=fence`, non-Linux, miri, loom): both halves
//!   are `fence(SeqCst)`. All `SeqCst` fences are in one total order *S*. If the
//!   caller's fence `F_c` precedes the swapper's `F_s` in *S*, then the swapper's
//!   stripe load (after `F_s`) must see the caller's store (before `F_c`) or a
//!   later value of that stripe (C++20 \[atomics.order\]: a store sequenced before
//!   a `SeqCst` fence `X`, a load sequenced after a `SeqCst` fence `Y`, `X` before
//!   `Y` in *S*: the load sees that store or a later one). If `F_s` precedes
//!   `F_c`, then by the same rule the caller's `held` load sees `true` (or the
//!   release's `false`, which means the swap is over). Either the swapper counts
//!   the call, or the call does not run during the swap.
//! * **`membarrier`** (Linux, the default): the caller's half is only a compiler
//!   fence, and the swapper's is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
//!   which returns only after every CPU currently running a thread of this process
//!   has executed a full memory barrier (threads not running pass one when they
//!   are next scheduled). That barrier falls, on the caller's CPU, either after its
//!   stripe store (which is then visible before the swapper's first stripe load) or
//!   before it (and then after the swapper's `held` store, so the caller's `held`
//!   load sees it). It is `F_c` above, placed by the kernel. Registration and a
//!   trial call happen once, in the first [`Slot::new`](crate::Slot::new); if
//!   either fails (old kernel, seccomp) both halves are fences. This is the
//!   asymmetric fence of liburcu's `urcu-memb` and folly's
//!   `asymmetricHeavyBarrier`; it moves the fences' cost (about 12 ns per call on
//!   this machine, see below) to the swap, whose p50 stays at 0.2 µs.
//!
//! Each stripe is read once per pass, at different moments, and that is enough:
//! the set of calls that may run during the swap is fixed when `held` is set
//! (every later call backs out, and hand-offs were counted before it), and a call
//! that left never comes back without seeing `held`. Reading `exited` before
//! `entered` can only over-count a stripe (a call entering or leaving between the
//! two loads makes `entered - exited` larger, never smaller), so a stripe read
//! empty had no call in at the moment of its second load. When every stripe has
//! been read empty, each of those calls has left, and none has started since.
//!
//! The same argument covers leaving: a call stores its decrement, then loads
//! `held`. Either the swapper's next sum sees the decrement, or the call sees
//! `held` and wakes the swapper; the parking mutex orders the wake-up after the
//! swapper's check-then-wait, so it is never lost.
//!
//! ## Which `Release` pairs with which `Acquire`
//!
//! | Release | Acquire | what it carries |
//! |---|---|---|
//! | a call's count-out store or `fetch_add` on its stripe's `exited` | the swapper's `exited` loads in the drain | everything the call did through the old `Box` happens before the swapper exports its state, replaces it, or drops it |
//! | `held.store(false)` in the release | the caller's `held` load in `Slot::load` | the new `Box` (and its imported state) happens before the calls admitted after the swap |
//! | the release count's `fetch_add` in the release | a waiting call's load of it (when spinning; when parked, the parking mutex carries the same) | the new `Box` happens before the handed-off call runs on it |
//! | the swap mutex's unlock, after the release | the next swapper's lock | the hand-off count happens before the next drain reads it |
//! | the seat pool's mutex, on a thread's exit | the same mutex, when the next thread takes that seat | the old holder's last stripe writes happen before the new holder's first |
//!
//! The `exited` value a drain reads was written by a count-out (only count-outs
//! write it), so the load synchronises with that store and, on an owned stripe,
//! with every earlier one of the same thread (sequenced before it); on a shared or
//! hand-off stripe every later `fetch_add` continues the release sequence of each
//! earlier one.
//!
//! ## Seats, exiting threads, and guards that outlive them
//!
//! A thread that exits gives its seat back so the pool never grows. A seat must
//! not go to a new thread while the old one can still write the stripe, which it
//! could if a guard were kept alive in another thread-local that is destroyed
//! after the seat's lease: the thread-local word counts the guards held on owned
//! stripes, and a lease destroyed with that count non-zero keeps its seat taken
//! forever (the pool loses one seat; nothing unsound can happen). Calls made after
//! the lease is gone (from later thread-local destructors) use a shared stripe.
//! A thread that finds every seat taken uses shared stripes until it exits.
//!
//! ## Nested and re-entrant calls
//!
//! A component calling another slot from inside a call counts on the other slot's
//! stripe of the same seat; each slot's counters are independent, so a swap of
//! one never waits for calls on another (`tests/nesting.rs`). A re-entrant call
//! of the same slot on the same thread adds one more to the same stripe and works
//! while no swap runs; with a swap waiting it deadlocks, as does a swap of a slot
//! requested from inside a call on that same slot, exactly as before this design
//! (the swapper waits for the outer call; see
//! [`limitations`](super::limitations)). Guards may be dropped in any order: a
//! count-out decrements, it does not restore a saved value.
//!
//! ## Progress guarantees
//!
//! * Calls when no swap is running are **wait-free**: no loop, no CAS, and for
//!   seated threads no read-modify-write at all.
//! * Calls while a swap is running **block** until it installs: that is the
//!   point (held calls must not run on a component whose state is being moved).
//!   The wait is bounded by the longest in-flight call plus the state transfer.
//! * A swap **blocks** until every call in flight finishes. A call that never
//!   returns stalls the swap and, behind it, every new call on that slot.
//! * Different slots are independent: a swap of one slot never waits for calls on
//!   another.
//!
//! ## Designs measured and not kept
//!
//! From the `threads` table of `cargo bench -p hatch-bench --bench slot` (the
//! run's conditions are in [`performance`](super::performance)), CPU time per call
//! per thread on this 2-vCPU machine, and in brackets the cost above a plain call:
//!
//! | design | 1 thread | 2 threads, one per vCPU | why not |
//! |---|---|---|---|
//! | plain `Arc<dyn Trait>` call (reference) | 2.07 ns | 2.03 ns | |
//! | **kept**: owned stripes (plain store) + `membarrier` | 3.97 ns (+1.90) | 3.99 ns (+1.96) | |
//! | the same with `HATCH_SLOT_BARRIER=fence` (another run) | 14.72 ns (+12.65) | 14.92 ns (+12.84) | two `SeqCst` fences per call |
//! | one shared word, `fetch_add`/`fetch_sub` (the slot before issue #18) | 12.59 ns (+10.51) | 115.43 ns (+113.40) | the word's line moves between cores on every call |
//! | per-thread stripes, `SeqCst` `fetch_add`/`fetch_sub` (percpu-refcount style) | 12.80 ns (+10.73) | 12.58 ns (+10.55) | two locked instructions per call |
//! | per-CPU stripes by `sched_getcpu`, `SeqCst` RMW | 12.12 ns (+10.05) | 12.60 ns (+10.57) | the same two locked instructions; the CPU lookup itself is cheap (rseq) |
//! | arc-swap's debt lists (`ArcSwap::load`) | 15.78 ns (+13.71) | 15.78 ns (+13.74) | two locked instructions plus a search of the debt slots; and it cannot tell a swapper when the last reader of the old value is done, which drain-transfer-install needs |
//! | crossbeam-epoch (`pin`, load) | 8.07 ns (+5.99) | 10.95 ns (+8.92) | a locked instruction per pin; and an epoch only advances when *every* pinned thread moves on, so a swap of one slot would wait for calls on all slots, including an outer call that is itself waiting for that swap: nested calls would deadlock |
//!
//! The shared-word, stripe and per-CPU rows are the read paths alone (no swap
//! support), so they flatter those designs.
//!
//! Locked instructions are the cost on this (Intel Xeon, KVM) machine: the rows
//! above put an uncontended locked read-modify-write on a line the core owns at
//! about 5 ns and a `SeqCst` fence (`lock or` on the stack) at about 6 ns, while
//! the kept design's plain loads and stores add under 2 ns in all. Any design
//! whose call runs two of them stays above 10 ns even without contention; only an
//! asymmetric barrier takes them out of the call.
//!
//! Not built: a process-wide registry of per-thread records with a per-slot index
//! (SRCU's or an epoch scheme's layout, transposed). It packs every slot's counter
//! for one thread into that thread's lines (8 bytes per slot per thread instead of
//! 128 per slot per seat), but slots need indices that are recycled when slots
//! die, per-thread arrays must grow without moving while swappers read them, and
//! a swap reads one line per thread instead of one per seat. With a few hundred
//! slots the fixed per-slot arrays cost at most a few MiB (see
//! [`performance`](super::performance)) and keep all of that out of the code.
//!
//! ## Verification
//!
//! * **loom** (`RUSTFLAGS="--cfg hatch_loom" cargo test -p hatch-components --test
//!   loom --release`, 15-20 s): two callers (one on an owned stripe, one on a
//!   shared stripe) against one stateful swap; a caller holding a guard across a
//!   swap; and a caller against two back-to-back swaps (the hand-off). loom's
//!   atomics, locks and access-tracking cell, both barrier halves as
//!   `fence(SeqCst)`, at most 4 preemptions per execution (5 takes a minute, 3 a
//!   second). Each of these mutations fails it: no light barrier, no heavy
//!   barrier, `Relaxed` loads in the drain, a `Relaxed` `held` load on admission,
//!   a release that does not count its hand-offs (causality violations), and no
//!   wake-up from the last call out (deadlock). Spinning is off under loom, so
//!   the spin paths' `Acquire` loads are covered only by their parking twins,
//!   which the mutex orders. The cfg is `hatch_loom`, not
//!   `loom`, because `--cfg loom` reaches every crate and tokio (under
//!   hatch-transport) then drops its `net` module.
//! * **miri** (`ci/miri`): the unit tests and the reduced stress and nesting tests
//!   under miri's data-race detector, with fences as the barrier (miri cannot run
//!   `membarrier`).
//! * **Stress** (`cargo test -p hatch-components --test stress`): 8 callers and
//!   10,000 stateful swaps with every returned value checked; stateless swaps under
//!   load; and 1,600 short-lived caller threads, 16 at a time (more than the seats
//!   of a small machine, so some use shared stripes), against continuous stateful
//!   swaps: no call lost or duplicated, state intact.
//! * The membarrier path's ordering comes from the kernel's guarantee, which no
//!   tool here models; the stress tests run it (it is the default on Linux).
