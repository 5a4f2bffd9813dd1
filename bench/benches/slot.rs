//! What does a call through a `Slot` cost, from one thread and from several at
//! once, and how long does a swap take while threads call?
//!
//! Every table puts the baselines next to the slot so each figure is a ratio from
//! one run: a plain `Arc<dyn Trait>` call, arc-swap (`ArcSwap<Box<dyn Trait>>`,
//! load plus call), crossbeam-epoch (pin, load, call), and the read paths of two
//! slot designs that were not kept (see `hatch_components::docs::slot`).
//!
//! 1. `threads`: N threads, each pinned to a vCPU, each making the same number of
//!    calls through one shared handle; CPU time per call per thread.
//! 2. `swap_under_callers`: swaps timed one by one into a histogram while N pinned
//!    threads call continuously.
//! 3. Criterion groups: single-thread calls, calls while another thread swaps, swap
//!    latency, and the composition space.
//!
//! Run: `cargo bench -p hatch-bench --bench slot` (`-- --quick` for a short run;
//! `HATCH_SLOT_BARRIER=fence` for the slot without `membarrier`).

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, criterion_group};
use hatch_bench::{pin, thread_cpu_time};
use hatch_components::{Component, Registry, Slot, StateError, StateTransfer, state};
use hdrhistogram::Histogram;

trait Work: Component {
    fn work(&self, x: u64) -> u64;
}

struct AddOne;
impl Component for AddOne {}
impl Work for AddOne {
    fn work(&self, x: u64) -> u64 {
        x.wrapping_add(1)
    }
}

struct Counter(AtomicU64);
impl Work for Counter {
    fn work(&self, x: u64) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed).wrapping_add(x)
    }
}
impl Component for Counter {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}
impl StateTransfer for Counter {
    fn state_format(&self) -> &'static str {
        "counter/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        state::encode(&self.0.load(Ordering::Relaxed))
    }
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        *self.0.get_mut() = state::decode(bytes)?;
        Ok(())
    }
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

/// No swap running: plain `Arc<dyn Work>` vs arc-swap vs `Slot`.
fn call(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    let plain: Arc<dyn Work> = Arc::new(AddOne);
    let swap: ArcSwap<Box<dyn Work>> = ArcSwap::from_pointee(Box::new(AddOne));
    let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    g.bench_function("arc_dyn", |b| b.iter(|| black_box(&plain).work(black_box(1))));
    g.bench_function("arc_swap_load", |b| b.iter(|| black_box(&swap).load().work(black_box(1))));
    g.bench_function("slot", |b| b.iter(|| black_box(&slot).load().work(black_box(1))));
    g.finish();
}

/// A background thread swapping as fast as it can (pausing 10 µs between swaps,
/// so callers are not starved on a 2-core machine).
fn call_during_swaps(c: &mut Criterion) {
    let mut g = c.benchmark_group("call_during_swaps");
    let stop = Arc::new(AtomicBool::new(false));

    let swap: Arc<ArcSwap<Box<dyn Work>>> = Arc::new(ArcSwap::from_pointee(Box::new(AddOne)));
    let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    let background = {
        let (swap, slot, stop) = (swap.clone(), slot.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                swap.store(Arc::new(Box::new(AddOne)));
                slot.swap(Box::new(AddOne));
                let until = Instant::now() + Duration::from_micros(10);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            slot.swaps()
        })
    };
    g.bench_function("arc_swap_load", |b| b.iter(|| black_box(&*swap).load().work(black_box(1))));
    g.bench_function("slot", |b| b.iter(|| black_box(&slot).load().work(black_box(1))));
    stop.store(true, Ordering::Relaxed);
    let swaps = background.join().unwrap();
    if swaps > 0 {
        eprintln!("call_during_swaps: background thread made {swaps} slot swaps");
    }
    g.finish();
}

/// Times each swap individually, recording into `hist`.
fn timed_swaps(iters: u64, hist: &mut Histogram<u64>, mut one: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        one();
        let took = start.elapsed();
        total += took;
        hist.record(took.as_nanos() as u64).unwrap();
    }
    total
}

fn report(name: &str, hist: &Histogram<u64>) {
    if hist.is_empty() {
        return; // filtered out
    }
    eprintln!(
        "{name}: n={} p50={:.2} µs p99={:.2} µs p99.9={:.2} µs max={:.2} µs",
        hist.len(),
        hist.value_at_quantile(0.5) as f64 / 1e3,
        hist.value_at_quantile(0.99) as f64 / 1e3,
        hist.value_at_quantile(0.999) as f64 / 1e3,
        hist.max() as f64 / 1e3
    );
}

/// The swap itself: stateless, stateful (rkyv export/import), and stateless with a
/// reader thread calling continuously.
fn swap(c: &mut Criterion) {
    let mut g = c.benchmark_group("swap");
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();

    let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    let mut stateless = new_hist();
    g.bench_function("stateless", |b| {
        b.iter_custom(|iters| timed_swaps(iters, &mut stateless, || drop(black_box(slot.swap(Box::new(AddOne))))))
    });

    let slot: Slot<dyn Work> = Slot::new(Box::new(Counter(AtomicU64::new(0))));
    let mut stateful = new_hist();
    g.bench_function("stateful_rkyv", |b| {
        b.iter_custom(|iters| {
            timed_swaps(iters, &mut stateful, || {
                slot.swap_with_state(Box::new(Counter(AtomicU64::new(0)))).map_err(|(e, _)| e).unwrap();
            })
        })
    });

    let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (slot, stop) = (slot.clone(), stop.clone());
        thread::spawn(move || {
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                calls = slot.load().work(calls);
            }
            calls
        })
    };
    let mut loaded = new_hist();
    g.bench_function("stateless_with_reader", |b| {
        b.iter_custom(|iters| timed_swaps(iters, &mut loaded, || drop(black_box(slot.swap(Box::new(AddOne))))))
    });
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    g.finish();

    report("swap/stateless", &stateless);
    report("swap/stateful_rkyv", &stateful);
    report("swap/stateless_with_reader", &loaded);
}

/// Counting and addressing a space the size of the paper's web platform.
fn space(c: &mut Criterion) {
    trait Node: Component {}
    impl hatch_components::Interface for dyn Node {
        const NAME: &'static str = "Node";
    }
    struct Blank;
    impl Component for Blank {}
    impl Node for Blank {}
    let mut r = Registry::new();
    let mut node = |interface: &str, variant: &str, requires: &[&str]| {
        let mut b = r.variant_as::<dyn Node>(interface, variant);
        for q in requires {
            b = b.requires_named(q);
        }
        b.build(|_| Box::new(Blank)).unwrap();
    };
    for (interface, n) in [("Parser", 4), ("Compress", 6), ("Store", 7), ("Policy", 5)] {
        for k in 0..n {
            node(interface, &format!("{interface}{k}"), &[]);
        }
    }
    for k in 0..9 {
        node("Cache", &format!("Cache{k}"), &[]);
    }
    for k in 0..3 {
        node("Cache", &format!("PolicyCache{k}"), &["Policy"]);
    }
    node("Cache", "TieredCache", &["Store", "Policy"]);
    node("Http", "Http1", &["Parser"]);
    node("Http", "Http2", &["Parser", "Compress"]);
    node("Http", "Http3", &[]);
    node("Web", "WebA", &["Http", "Cache", "Store"]);
    node("Web", "WebB", &["Http", "Store"]);
    node("Web", "WebC", &["Http", "Cache", "Cache", "Store"]);

    let mut g = c.benchmark_group("space_718823");
    g.bench_function("build_and_count", |b| b.iter(|| black_box(r.space_named("Web").unwrap().count())));
    let space = r.space_named("Web").unwrap();
    assert_eq!(space.count(), 718_823);
    let mut i = 0u64;
    g.bench_function(BenchmarkId::new("index_to_composition", "random"), |b| {
        b.iter(|| {
            i = (i + 104_729) % space.count();
            black_box(space.composition(i).unwrap())
        })
    });
    let comp = space.composition(700_000).unwrap();
    g.bench_function("composition_to_index", |b| b.iter(|| black_box(space.index_of(black_box(&comp)).unwrap())));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = call, call_during_swaps, swap, space
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // Positional arguments are criterion's filters: run a table only when no
    // filter is given or one names it.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let wanted = |table: &str| filters.is_empty() || filters.iter().any(|f| table.contains(f.as_str()));
    let probe: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    println!("# Slot benchmark ({probe:?})\n");
    if wanted("threads") {
        threads_table(if quick { 3_000_000 } else { 30_000_000 });
    }
    if wanted("swap_under_callers") {
        swap_under_callers_table(if quick { 2_000 } else { 20_000 });
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// CPU sets for the thread tables: one thread; one per vCPU for 2, 4, 8, ...
/// threads up to the machine's size; and two threads sharing vCPU 0.
fn thread_sets() -> Vec<(String, Vec<usize>)> {
    let cpus = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    let mut sets = vec![("1 thread".to_string(), vec![0])];
    let mut n = 2;
    while n <= cpus {
        sets.push((format!("{n} threads, one per vCPU"), (0..n).collect()));
        n *= 2;
    }
    if cpus > 1 && !cpus.is_power_of_two() {
        sets.push((format!("{cpus} threads, one per vCPU"), (0..cpus).collect()));
    }
    sets.push(("2 threads on one vCPU".to_string(), vec![0, 0]));
    sets
}

/// Runs `call` `iters` times on a thread pinned to each CPU in `cpus`, all
/// starting together; returns the mean CPU time per call per thread in ns.
/// CPU time, not wall time, so that other processes on the machine (and, for
/// threads sharing a vCPU, each other) do not count, while cache-line transfers do.
fn per_thread(cpus: &[usize], iters: u64, call: &(dyn Fn(u64) -> u64 + Sync)) -> f64 {
    let start = Barrier::new(cpus.len());
    let times: Vec<f64> = thread::scope(|s| {
        let threads: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                let start = &start;
                s.spawn(move || {
                    pin(cpu);
                    let mut x = 0u64;
                    for _ in 0..iters / 10 {
                        x = call(black_box(x));
                    }
                    start.wait();
                    let cpu_start = thread_cpu_time();
                    for _ in 0..iters {
                        x = call(black_box(x));
                    }
                    let took = thread_cpu_time().saturating_sub(cpu_start);
                    black_box(x);
                    took.as_nanos() as f64 / iters as f64
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    times.iter().sum::<f64>() / times.len() as f64
}

fn threads_table(iters: u64) {
    let plain: Arc<dyn Work> = Arc::new(AddOne);
    let swap: ArcSwap<Box<dyn Work>> = ArcSwap::from_pointee(Box::new(AddOne));
    let epoch = crossbeam_epoch::Atomic::new(Box::new(AddOne) as Box<dyn Work>);
    let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
    let word = alternatives::OneWord::new(Box::new(AddOne));
    let rmw = alternatives::RmwStripes::new(Box::new(AddOne));
    type Row<'a> = (&'a str, Box<dyn Fn(u64) -> u64 + Sync + 'a>);
    let rows: Vec<Row> = vec![
        ("plain `Arc<dyn Work>` (ref)", Box::new(|x| black_box(&plain).work(x))),
        ("`ArcSwap<Box<dyn Work>>` load + call", Box::new(|x| black_box(&swap).load().work(x))),
        (
            "crossbeam-epoch pin + load + call",
            Box::new(|x| {
                let guard = crossbeam_epoch::pin();
                let current = black_box(&epoch).load(Ordering::Acquire, &guard);
                // SAFETY: never null (set at creation, never swapped or freed here).
                unsafe { current.deref() }.work(x)
            }),
        ),
        ("`Slot<dyn Work>` load + call", Box::new(|x| black_box(&slot).load().work(x))),
        ("one shared word (the slot before #18)", Box::new(|x| black_box(&word).call(|w| w.work(x)))),
        ("per-thread stripes, atomic RMW + SeqCst", Box::new(|x| black_box(&rmw).call(|w| w.work(x)))),
        ("per-CPU stripes (`sched_getcpu`), atomic RMW", Box::new(|x| black_box(&rmw).call_per_cpu(|w| w.work(x)))),
    ];
    let sets = thread_sets();
    println!("## Calls from several threads at once: CPU time per call per thread, ns\n");
    println!(
        "{iters} calls per thread, threads pinned (`sched_setaffinity`), one `Slot` / `ArcSwap` / `Arc` shared by all; load average {}.\n",
        load_average()
    );
    print!("| call |");
    for (name, _) in &sets {
        print!(" {name} |");
    }
    println!();
    print!("|---|");
    for _ in &sets {
        print!("---|");
    }
    println!();
    let mut reference = Vec::new();
    for (k, (name, call)) in rows.iter().enumerate() {
        print!("| {name} |");
        for (i, (_, cpus)) in sets.iter().enumerate() {
            let ns = per_thread(cpus, iters, call.as_ref());
            if k == 0 {
                reference.push(ns);
                print!(" {ns:.2} |");
            } else {
                print!(" {ns:.2} (+{:.2}) |", ns - reference[i]);
            }
            use std::io::Write;
            std::io::stdout().flush().ok();
        }
        println!();
    }
    println!("\n(in brackets: ns above the plain `Arc<dyn Work>` call in the same column)\n");
}

/// Swaps timed one by one while `callers` pinned threads call continuously.
fn swap_under_callers_table(swaps: usize) {
    let cpus = core_affinity::get_core_ids().map_or(1, |ids| ids.len());
    // Callers on vCPUs 1.. first (the swapper has vCPU 0 to itself), then on 0 too.
    let mut caller_sets: Vec<Vec<usize>> = vec![vec![]];
    for n in 1..=cpus {
        caller_sets.push((0..n).map(|k| (k + 1) % cpus).collect());
    }
    println!("## Swap latency while threads call\n");
    println!(
        "{swaps} swaps per row, each timed alone (two `Instant` reads, ~25 ns, included); swapper pinned to vCPU 0, pausing 20 µs between swaps; load average {}.\n",
        load_average()
    );
    println!("| swap | callers (vCPUs) | p50 µs | p99 µs | p99.9 µs | max µs | calls/s per caller during the run |");
    println!("|---|---|---|---|---|---|---|");
    for callers in &caller_sets {
        let slot: Slot<dyn Work> = Slot::new(Box::new(AddOne));
        let (hist, rate) =
            with_callers(callers, |x| slot.load().work(x), || drop(black_box(slot.swap(Box::new(AddOne)))), swaps);
        swap_row("`Slot::swap`, stateless", callers, &hist, rate);
        let swap: ArcSwap<Box<dyn Work>> = ArcSwap::from_pointee(Box::new(AddOne));
        let (hist, rate) =
            with_callers(callers, |x| swap.load().work(x), || swap.store(Arc::new(Box::new(AddOne))), swaps);
        swap_row("`ArcSwap::store` (ref: waits for no reader)", callers, &hist, rate);
    }
    println!();
}

fn swap_row(name: &str, callers: &[usize], hist: &Histogram<u64>, rate: f64) {
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    let on = if callers.is_empty() { "none".to_string() } else { format!("{} ({callers:?})", callers.len()) };
    println!(
        "| {name} | {on} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
        us(0.5),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1e3,
        if callers.is_empty() { "-".to_string() } else { format!("{:.1} M", rate / 1e6) }
    );
}

/// Starts one calling thread per entry of `callers` (pinned there), then times
/// `swaps` runs of `swap` on this thread (pinned to vCPU 0). Returns the
/// histogram (ns) and the mean calls per second of one caller.
fn with_callers(
    callers: &[usize],
    call: impl Fn(u64) -> u64 + Sync,
    mut swap: impl FnMut(),
    swaps: usize,
) -> (Histogram<u64>, f64) {
    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(0);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut rate = 0.0;
    thread::scope(|s| {
        let threads: Vec<_> = callers
            .iter()
            .map(|&cpu| {
                let (call, stop, running) = (&call, &stop, &running);
                s.spawn(move || {
                    pin(cpu);
                    running.fetch_add(1, Ordering::SeqCst);
                    let start = Instant::now();
                    let (mut x, mut calls) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        x = call(black_box(x));
                        calls += 1;
                    }
                    black_box(x);
                    calls as f64 / start.elapsed().as_secs_f64()
                })
            })
            .collect();
        pin(0);
        while running.load(Ordering::SeqCst) < callers.len() {
            thread::yield_now();
        }
        for k in 0..swaps + swaps / 10 {
            let until = Instant::now() + Duration::from_micros(20);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            swap();
            let took = start.elapsed();
            if k >= swaps / 10 {
                hist.record(took.as_nanos() as u64).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rates: Vec<f64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        if !rates.is_empty() {
            rate = rates.iter().sum::<f64>() / rates.len() as f64;
        }
    });
    // Unpin this thread again for the criterion groups that follow.
    if let Some(ids) = core_affinity::get_core_ids() {
        // SAFETY: a zeroed cpu_set_t is a valid empty set, filled with known CPUs.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for id in ids {
                libc::CPU_SET(id.id, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    (hist, rate)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Read paths of two slot designs that were measured and not kept: enough to
/// time a call, with the same admission work as the real thing (no swap support).
mod alternatives {
    use super::*;

    const HELD: usize = 1 << (usize::BITS - 1);

    /// The slot before issue #18: every call does one `fetch_add` and one
    /// `fetch_sub` on one word shared by all callers.
    pub struct OneWord<T: ?Sized> {
        state: AtomicUsize,
        current: Box<T>,
    }

    impl<T: ?Sized> OneWord<T> {
        pub fn new(current: Box<T>) -> Self {
            OneWord { state: AtomicUsize::new(0), current }
        }

        #[inline]
        pub fn call<R>(&self, f: impl FnOnce(&T) -> R) -> R {
            if self.state.fetch_add(1, Ordering::Acquire) & HELD != 0 {
                unreachable!("never held here");
            }
            let r = f(&self.current);
            self.state.fetch_sub(1, Ordering::Release);
            r
        }
    }

    #[repr(align(128))]
    struct Stripe(AtomicUsize);

    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// Per-thread stripes (thread index modulo the stripe count) counted with
    /// atomic read-modify-writes, with SeqCst so that no separate fence is needed
    /// (on x86 the locked RMW is the fence): the design issue #18 first proposed.
    pub struct RmwStripes<T: ?Sized> {
        held: AtomicBool,
        stripes: Box<[Stripe]>,
        current: Box<T>,
    }

    impl<T: ?Sized> RmwStripes<T> {
        pub fn new(current: Box<T>) -> Self {
            let n = core_affinity::get_core_ids().map_or(1, |ids| ids.len()).next_power_of_two() * 2;
            RmwStripes {
                held: AtomicBool::new(false),
                stripes: (0..n).map(|_| Stripe(AtomicUsize::new(0))).collect(),
                current,
            }
        }

        #[inline]
        pub fn call<R>(&self, f: impl FnOnce(&T) -> R) -> R {
            let mut i = INDEX.with(Cell::get);
            if i == usize::MAX {
                i = NEXT.fetch_add(1, Ordering::Relaxed);
                INDEX.with(|c| c.set(i));
            }
            self.call_on(&self.stripes[i % self.stripes.len()].0, f)
        }

        /// The same, with the stripe of the CPU the call runs on (glibc reads it
        /// from the thread's rseq area): threads on one CPU share a line, which
        /// stays on that CPU.
        #[inline]
        pub fn call_per_cpu<R>(&self, f: impl FnOnce(&T) -> R) -> R {
            // SAFETY: sched_getcpu takes no arguments and touches no memory of ours.
            let cpu = unsafe { libc::sched_getcpu() } as usize;
            self.call_on(&self.stripes[cpu % self.stripes.len()].0, f)
        }

        #[inline(always)]
        fn call_on<R>(&self, stripe: &AtomicUsize, f: impl FnOnce(&T) -> R) -> R {
            stripe.fetch_add(1, Ordering::SeqCst);
            if self.held.load(Ordering::SeqCst) {
                unreachable!("never held here");
            }
            let r = f(&self.current);
            stripe.fetch_sub(1, Ordering::SeqCst);
            if self.held.load(Ordering::SeqCst) {
                unreachable!("never held here");
            }
            r
        }
    }
}
