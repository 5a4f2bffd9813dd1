//! Measured costs of slots and spaces.
//!
//! ## Machine and command
//!
//! A 2-vCPU KVM virtual machine (Intel Xeon with AVX-512 and AMX, 48 KiB L1d and
//! 2 MiB L2 per vCPU as `lscpu` reports them, Linux 6.18, glibc 2.36), shared with
//! other builds, Rust
//! 1.95, release profile:
//!
//! ```text
//! cargo bench -p hatch-bench --bench slot
//! HATCH_SLOT_BARRIER=fence cargo bench -p hatch-bench --bench slot -- threads
//! ```
//!
//! The run below started at load average 1.75 (1.4 by its end); the fence row
//! comes from a second run at load average 4.1. Under heavier load (28) the slot's
//! figures moved by 0.1-0.2 ns but the two-thread contention figures collapse
//! (the threads rarely run at the same time), so read those only from a quiet run.
//! The `threads` table reports CPU time (`CLOCK_THREAD_CPUTIME_ID`) per call per
//! thread, each thread pinned (`sched_setaffinity`), 30 million calls each through
//! one shared handle, each call's argument the previous call's result. Criterion
//! figures are its estimate of back-to-back calls from one thread. Swap
//! percentiles come from timing every swap with `Instant` into an HDR histogram,
//! so they include about 25 ns of clock reads.
//!
//! ## Calls from several threads at once
//!
//! | call | 1 thread | 2 threads, one per vCPU | 2 threads on one vCPU |
//! |---|---|---|---|
//! | plain `Arc<dyn Work>` (ref) | 2.07 | 2.03 | 2.03 |
//! | `ArcSwap<Box<dyn Work>>` load + call | 15.78 (+13.71) | 15.78 (+13.74) | 15.57 (+13.53) |
//! | crossbeam-epoch pin + load + call | 8.07 (+5.99) | 10.95 (+8.92) | 8.06 (+6.03) |
//! | **`Slot<dyn Work>` load + call** | **3.97 (+1.90)** | **3.99 (+1.96)** | **3.97 (+1.94)** |
//! | `Slot`, `HATCH_SLOT_BARRIER=fence` (second run) | 14.72 (+12.65) | 14.92 (+12.84) | 14.71 (+12.64) |
//! | one shared word (the slot before issue #18) | 12.59 (+10.51) | 115.43 (+113.40) | 12.41 (+10.38) |
//! | per-thread stripes, atomic RMW + SeqCst | 12.80 (+10.73) | 12.58 (+10.55) | 12.39 (+10.36) |
//! | per-CPU stripes (`sched_getcpu`), atomic RMW | 12.12 (+10.05) | 12.60 (+10.57) | 12.11 (+10.08) |
//!
//! ns per call; in brackets, above the plain call in the same column. The slot's
//! cost does not change with a second thread on the other vCPU: each thread
//! writes only its own stripe, and the slot's shared line is only read. The old
//! shared word went from 12.6 to 115 ns. On machines with more CPUs the bench adds
//! columns for 4, 8, ... threads, one per vCPU.
//!
//! Criterion, one thread, back to back: plain call 1.35 ns, `Slot` 2.98 ns (+1.63),
//! `ArcSwap` 14.83 ns. While another thread swaps every 10 µs (1,322,706 swaps
//! during the measurement): `Slot` 6.06 ns, `ArcSwap` 30.16 ns.
//!
//! Where the slot's 2 ns go: a thread-local read (the seat) and two thread-local
//! increments (entered and exited, for the seat's return at thread exit), a plain
//! increment of the stripe's `entered` and one of its `exited`, the barrier-mode
//! test twice, and two reads of `held` from a line every core has cached. No
//! locked instruction, and no write to a line another core reads on the fast
//! path.
//!
//! ## Swaps
//!
//! While threads call (the swapper on vCPU 0, pausing 20 µs between swaps, 20,000
//! swaps per row; "CPUs 1, 0" puts the second caller on the swapper's vCPU):
//!
//! | swap | callers (vCPUs) | p50 µs | p99 µs | p99.9 µs | max µs | calls/s per caller |
//! |---|---|---|---|---|---|---|
//! | `Slot::swap`, stateless | none | 0.20 | 1.20 | 2.69 | 61.5 | - |
//! | `ArcSwap::store` (ref: waits for no reader) | none | 0.09 | 0.32 | 0.71 | 171.0 | - |
//! | `Slot::swap`, stateless | 1 (CPU 1) | 0.23 | 1.62 | 12.95 | 4057.1 | 160.6 M |
//! | `ArcSwap::store` | 1 (CPU 1) | 0.09 | 0.32 | 0.66 | 4032.5 | 34.1 M |
//! | `Slot::swap`, stateless | 2 (CPUs 1, 0) | 0.23 | 10.29 | 20.06 | 12042.2 | 104.3 M |
//! | `ArcSwap::store` | 2 (CPUs 1, 0) | 0.10 | 0.33 | 0.66 | 12042.2 | 22.7 M |
//!
//! Back to back from one thread (criterion, each swap timed):
//!
//! | swap | p50 | p99 | p99.9 |
//! |---|---|---|---|
//! | stateless, no callers | 0.22 µs | 0.25 µs | 3.50 µs |
//! | stateful, rkyv export + import of a `u64` | 0.38 µs | 0.80 µs | 4.48 µs |
//! | stateless, one unpinned thread calling continuously | 0.22 µs | 0.26 µs | 4.64 µs |
//!
//! A swap is the swap mutex, the `held` store, one `membarrier` (most of the 0.2
//! µs: the kernel interrupts the other vCPU when a thread of this process runs
//! there and waits for it), one pass over 11 stripes, the `Box` exchange, and the
//! release. When calls are waiting, the release also counts them in on the
//! hand-off stripe and wakes the parked ones. `ArcSwap::store` is cheaper because
//! it never waits for readers; it cannot hold calls or hand the old value back
//! exclusively. Tails of tens of µs are the swapper waiting for a descheduled
//! vCPU (the `membarrier` interrupt, or a caller sharing its vCPU), and maxima of
//! milliseconds the swapping thread itself being descheduled on the shared
//! machine.
//!
//! ## Memory
//!
//! A slot's stripes take `max(2 × CPUs, 8) + CPUs + 1` lines of 128 bytes: 11
//! lines (1.4 KiB) here, 49 (6.1 KiB) on 16 CPUs, 193 (24 KiB) on 64. The seat
//! pool is one `bool` per owned stripe, process-wide; a thread holds a seat from
//! its first call to its exit and allocates nothing else.
//!
//! ## Spaces
//!
//! For the generated 718,823-composition space (the paper's web platform has
//! 699,044), 41 variants over 7 interfaces (criterion, same run):
//!
//! | operation                                | time    |
//! |------------------------------------------|---------|
//! | build the space and count it             | 5.01 µs |
//! | index → `Composition` (5-9 components)   | 0.45 µs |
//! | `Composition` → index (validating)       | 0.76 µs |
//!
//! Building is linear in the registry (one counting pass per interface), so the
//! size of the space does not matter, only the size of the registry.
