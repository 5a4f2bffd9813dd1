//! Measured costs of slots and spaces.
//!
//! ## Machine and command
//!
//! A 2-vCPU virtual machine (AMD EPYC, 64 KiB L1d and 1 MiB L2 per vCPU, Linux
//! 6.18), shared with other builds (load average about 5 during the run), Rust
//! 1.95, release profile:
//!
//! ```text
//! cargo bench -p hatch-bench --bench slot
//! ```
//!
//! Figures are criterion's estimate and, in brackets, the median of its samples.
//! Swap percentiles come from timing every swap with `Instant` into an HDR
//! histogram (`iter_custom`), so they include about 20-30 ns of clock reads. Treat
//! them as ratios within one run; a loaded machine shifts all of them together
//! (an earlier run under heavier load measured 3.8 / 10.3 / 10.9 ns for the three
//! call figures below).
//!
//! ## Calls (no swap running)
//!
//! | call                                  | time              |
//! |---------------------------------------|-------------------|
//! | plain `Arc<dyn Work>`                 | 2.7 ns (2.3 ns)   |
//! | `ArcSwap<Box<dyn Work>>` load + call  | 7.1 ns (6.8 ns)   |
//! | `Slot<dyn Work>` load + call          | 5.6 ns (5.8 ns)   |
//!
//! The slot adds about 3 ns to a virtual call: one `lock xadd` on entry and one on
//! exit, on a cache line the calling core owns, and one more dependent load (the
//! slot's allocation, then the boxed trait object). That is in the same range as
//! arc-swap's load, which does comparable atomic work on a per-thread debt list
//! but, unlike a slot, cannot tell a swapper when the old value's last call ended.
//!
//! ## Calls while another thread swaps
//!
//! A background thread swaps the slot (and, separately, an `ArcSwap`) every 10 µs;
//! 795,768 slot swaps happened during the measurement.
//!
//! | call                                  | time              |
//! |---------------------------------------|-------------------|
//! | `ArcSwap` load + call                 | 27.3 ns (26.0 ns) |
//! | `Slot` load + call                    | 21.0 ns (21.0 ns) |
//!
//! The increase is the state word's cache line moving between the two cores, plus
//! the occasional call that arrives during a swap and parks.
//!
//! ## Swaps
//!
//! | swap                                           | p50     | p99     | p99.9   |
//! |------------------------------------------------|---------|---------|---------|
//! | stateless, no readers                          | 0.05 µs | 0.06 µs | 0.09 µs |
//! | stateful, rkyv export + import of a `u64`      | 0.22 µs | 0.31 µs | 0.44 µs |
//! | stateless, one thread calling continuously     | 0.05 µs | 0.08 µs | 0.21 µs |
//!
//! A swap with nobody in flight is a handful of uncontended mutex and atomic
//! operations, the `Box` exchange, and the old implementation's drop (after the
//! release). With
//! calls in flight it waits for the longest of them; parked callers are woken with
//! one `notify_all`. Maxima were tens to hundreds of milliseconds: the swapping
//! thread being descheduled on the shared 2-vCPU machine, not the algorithm.
//!
//! ## Spaces
//!
//! For the generated 718,823-composition space (the paper's web platform has
//! 699,044), 41 variants over 7 interfaces:
//!
//! | operation                                | time    |
//! |------------------------------------------|---------|
//! | build the space and count it             | 10.4 µs |
//! | index → `Composition` (5-9 components)   | 1.10 µs |
//! | `Composition` → index (validating)       | 1.26 µs |
//!
//! Building is linear in the registry (one counting pass per interface), so the
//! size of the space does not matter, only the size of the registry.
