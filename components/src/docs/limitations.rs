//! What slots and transitions do not do, and why.
//!
//! ## Re-entrant calls on the same slot during its swap deadlock
//!
//! A caller that holds a [`Guard`](crate::Guard) on slot `S` (is inside a call on
//! `S`) and calls `S` again, directly or through other components, works while no
//! swap runs. If a swap of `S` starts in between, the swapper waits for the outer
//! call to finish and the inner call waits for the swap: deadlock. Compositions
//! cannot produce this, because cycles are rejected when a space is built, so a
//! component never reaches its own slot through its requirements; it can only
//! happen if a component is handed its own slot by other means. Detecting it would
//! need a per-thread record of the slots the thread is inside, updated on every
//! call. (A held call could in principle be let through when this thread's stripe
//! of that slot is non-zero, but only for threads with a seat, and it would run
//! the inner call during the state transfer; the slot does not.)
//!
//! The same applies to calling [`Slot::hold`](crate::Slot::hold) (or a swap) while
//! this thread holds a guard of that slot, and to calling the slot being swapped
//! from inside a [`StateTransfer`](crate::StateTransfer) method.
//!
//! Calls into *other* slots are always fine: a call on `A` that calls `B` while
//! `B` is being swapped parks until `B`'s swap installs, and a swap of `A` waits for
//! the call on `A` to finish. [`System::transition`](crate::System::transition)
//! swaps one slot at a time, so it never holds two slots at once.
//!
//! ## Guards stay on their thread
//!
//! A [`Guard`](crate::Guard) is not `Send`: it decrements the in-flight counter of
//! the thread that made it, which only that thread writes. Hold it for one call
//! (not across an `.await` in a future that may move between threads); to use the
//! implementation elsewhere, pass `&*guard` to scoped threads (it is `Sync`).
//!
//! ## Seats are few, and fixed per process
//!
//! A slot has `max(2 × CPUs, 8)` owned stripes and one shared stripe per CPU, and
//! a thread holds a seat (an owned stripe in every slot) from its first call until
//! it exits. Threads beyond that count share the per-CPU stripes with atomic
//! read-modify-writes: correct, and free of cross-core contention while those
//! threads run on different CPUs, but about 10 ns more per call on this machine
//! (two locked instructions; see the per-CPU row in [`slot`](super::slot)). A thread that found no seat keeps using the
//! shared stripes until it exits, even if seats free up later. A program with many
//! more calling threads than cores (thread-per-connection) should expect that
//! cost; one with a worker pool sized to the cores does not pay it. The counts are
//! fixed by the first slot created; changing them means changing
//! `slot/stripe.rs`.
//!
//! A thread that exits while a guard of its own is still alive in one of its
//! thread-locals (a guard stored in a `thread_local!` and dropped by its
//! destructor) cannot give its seat back safely; that seat stays taken for the
//! rest of the process.
//!
//! ## Memory per slot
//!
//! Each slot allocates its stripes up front: `max(2 × CPUs, 8) + CPUs + 1` lines
//! of 128 bytes, 1.4 KiB on 2 CPUs, 6.1 KiB on 16, 24 KiB on 64, so a few hundred
//! slots on a 64-core machine take several MiB. The counts scale with the CPUs,
//! not with the threads or the calls, and nothing grows after creation.
//!
//! ## Every swap interrupts the process's running threads
//!
//! With the `membarrier` barrier (the default on Linux), each swap makes the kernel
//! interrupt every CPU that is running a thread of this process at that moment, to
//! execute a memory barrier there, and waits for all of them. Swaps are rare, so
//! this is cheap overall (a stateless swap's p50 is 0.2 µs here), but
//! latency-critical threads on isolated cores see that interrupt, and a swap
//! whose interrupt goes to a vCPU the hypervisor has descheduled waits for it
//! (part of the p99.9 of 13-20 µs in [`performance`](super::performance)).
//! `HATCH_SLOT_BARRIER=fence` (read once, at the first `Slot::new`) uses a
//! `SeqCst` fence on both sides instead: no interrupts, about 12 ns more per call
//! on this machine. Where `membarrier` is unavailable (not Linux, kernels before
//! 4.14, a seccomp filter) the fences are used automatically.
//!
//! ## Swaps block calls briefly, by design
//!
//! A swap parks new calls for the time it takes in-flight calls to drain plus the
//! state transfer. Long-running calls therefore delay swaps and, behind them, new
//! calls. Components with long calls should be split or should poll for shutdown.
//!
//! ## Transitions are not atomic across slots
//!
//! [`System::transition`](crate::System::transition) swaps leaves first, one slot at
//! a time, so a call that crosses several slots during a transition may see a mix of
//! old and new components (each one consistent). A failed state import stops the
//! transition at that component; what ran before stays, and
//! [`System::composition`](crate::System::composition) reports what is running.
//!
//! ## State moves only between equal formats
//!
//! State moves when the old and new variants report the same
//! [`state_format`](crate::StateTransfer::state_format); otherwise it is dropped
//! and counted in [`TransitionReport::state_dropped`](crate::TransitionReport).
//! Converters between formats are not implemented.
//!
//! ## Compositions are trees
//!
//! Each requirement gets its own instance; two components requiring `Store` get two
//! `Store` instances (which may be different variants). Sharing one instance between
//! requirers would need a different identifier scheme. Decorators that require their
//! own interface (a logging `Cache` over a `Cache`) form a cycle and are rejected.
//!
//! ## Placement lives beside the composition
//!
//! [`Placement`](crate::Placement) of a plain [`Composition`](crate::Composition)
//! has only `Local`; where each component runs (`B_X{host}` in identifiers) is
//! kept by [`remote::Placed`](crate::remote::Placed) and enumerated by
//! [`remote::PlacedSpace`](crate::remote::PlacedSpace), so compositions stay
//! independent of the hosts a system happens to know.
