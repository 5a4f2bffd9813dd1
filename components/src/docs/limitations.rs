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
//! cost a thread-local lookup on every call.
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
//! ## Contention on one cache line
//!
//! Every call on a slot writes the slot's state word, so threads calling the same
//! slot concurrently on different cores share that cache line (as with an
//! uncontended `RwLock`). arc-swap avoids this with per-thread debt slots; a
//! striped (per-CPU) counter would too, at the cost of a thread-local lookup per
//! call and one wait per stripe for the swapper. On the 2-core machine this crate
//! was built on the shared word was the better trade; revisit it with many cores.
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
