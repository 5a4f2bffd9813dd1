//! What does a call through a `Slot` cost, and how long does a swap take?
//!
//! Every group puts the baselines next to the slot so each figure is a ratio from
//! one run: a plain `Arc<dyn Trait>` call, and arc-swap (`ArcSwap<Box<dyn Trait>>`,
//! load plus call). Swap latencies are also collected one by one into a histogram
//! and printed as p50/p99.
//!
//! Run: `cargo bench -p hatch-bench --bench slot`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
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
criterion_main!(benches);
