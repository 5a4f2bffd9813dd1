//! What does the learner cost on the hot path and per window?
//!
//! * `probe`: one timed call through the in-process probe (timing every call,
//!   and one in 8), next to its parts and baselines (an empty call, a pair of
//!   `Instant::now`, one shared atomic counter pair), single-threaded.
//! * `probe_contended`: the same record from 2 threads at once, sharded vs one
//!   shared counter pair vs a mutex, per record.
//! * `policy`: one window's `choose` + `record` for flat UCB1 / Thompson after
//!   every arm was tried (the O(k) scan), and for the factored learner on the
//!   ~700k-composition web space shape.
//! * `live`: one window of the live learner (`FactoredConfig::live`, nearby
//!   search) on spaces of 10^3, 10^5 and 10^7 compositions.
//!
//! Run: `cargo bench -p hatch-bench --bench learner`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use hatch_learner::clock;
use hatch_learner::factored::{Factored, FactoredConfig};
use hatch_learner::policy::{Observation, Policy, Thompson, Ucb1};
use hatch_learner::probe::InProcessProbe;
use hatch_learner::rng::Rng;
use hatch_learner::shard::ShardedRecorder;
use hatch_learner::space::Radix;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

fn probe(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    let probe = InProcessProbe::new(16);
    let shared = (AtomicU64::new(0), AtomicU64::new(0));
    let _ = clock::now_ticks(); // calibrate outside the measurement
    g.bench_function("baseline_call", |b| b.iter(|| work(black_box(1))));
    g.bench_function("instant_now_pair", |b| {
        b.iter(|| {
            let t = Instant::now();
            let r = work(black_box(1));
            black_box(t.elapsed());
            r
        })
    });
    g.bench_function("clock_ticks_pair", |b| {
        b.iter(|| {
            let t = clock::now_ticks();
            let r = work(black_box(1));
            black_box(clock::now_ticks().wrapping_sub(t));
            r
        })
    });
    g.bench_function("shared_atomic_record", |b| {
        b.iter(|| {
            shared.0.fetch_add(1, Ordering::Relaxed);
            shared.1.fetch_add(black_box(100), Ordering::Relaxed);
        })
    });
    g.bench_function("sharded_record", |b| b.iter(|| probe.recorder().record(black_box(3), black_box(100))));
    g.bench_function("probe_time_call", |b| b.iter(|| probe.time(black_box(3), || work(black_box(1)))));
    let sampled = InProcessProbe::new(16).sampled(8);
    g.bench_function("probe_time_call_sampled_1_in_8", |b| {
        b.iter(|| sampled.time(black_box(3), || work(black_box(1))))
    });
    g.finish();
}

/// Per-record time with `threads` threads recording at once.
fn contended(threads: usize, iters: u64, record: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let per = iters.div_ceil(threads as u64);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (record, barrier) = (Arc::clone(&record), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let t = Instant::now();
                for _ in 0..per {
                    record();
                }
                t.elapsed()
            })
        })
        .collect();
    let total: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total / threads as u32
}

/// One way of recording a sample, callable from several threads.
type SharedRecord = Arc<dyn Fn() + Send + Sync>;

fn probe_contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe_contended");
    let threads = 2;
    let sharded = Arc::new(ShardedRecorder::new(16));
    let shared = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let locked = Arc::new(Mutex::new((0u64, 0u64)));
    let cases: Vec<(&str, SharedRecord)> = vec![
        ("sharded", {
            let s = Arc::clone(&sharded);
            Arc::new(move || s.record(black_box(3), black_box(100)))
        }),
        ("shared_atomic", {
            let s = Arc::clone(&shared);
            Arc::new(move || {
                s.0.fetch_add(1, Ordering::Relaxed);
                s.1.fetch_add(black_box(100), Ordering::Relaxed);
            })
        }),
        ("mutex", {
            let s = Arc::clone(&locked);
            Arc::new(move || {
                let mut g = s.lock().unwrap();
                g.0 += 1;
                g.1 += black_box(100);
            })
        }),
    ];
    for (name, f) in cases {
        g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
            b.iter_custom(|iters| contended(t, iters, Arc::clone(&f)))
        });
    }
    g.finish();
}

fn policy(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy");
    g.sample_size(20);
    let mut rng = Rng::new(1);
    for k in [100usize, 10_000, 699_840] {
        let mut ucb = Ucb1::new(k);
        let mut ts = Thompson::new(k, 2);
        for arm in 0..k {
            let cost = 10.0 + rng.next_f64();
            ucb.record(&arm, &Observation::total(cost));
            ts.record(&arm, &Observation::total(cost));
        }
        g.bench_with_input(BenchmarkId::new("ucb1_choose_record", k), &k, |b, _| {
            b.iter(|| {
                let a = ucb.choose();
                ucb.record(&a, &Observation::total(10.5));
            })
        });
        g.bench_with_input(BenchmarkId::new("thompson_choose_record", k), &k, |b, _| {
            b.iter(|| {
                let a = ts.choose();
                ts.record(&a, &Observation::total(10.5));
            })
        });
    }
    // The web700k space shape: 5·4·3·3·3·3·4·6·3·6 = 699,840 compositions.
    let radix = Radix::new(vec![5, 4, 3, 3, 3, 3, 4, 6, 3, 6]);
    for semi in [false, true] {
        let mut f = Factored::new(radix.clone(), FactoredConfig::default());
        let parts = vec![0.5; radix.decisions()];
        let cost = |c: &[usize]| 10.0 + c.iter().map(|&o| o as f64 * 0.3).sum::<f64>();
        // Warm up to a realistic pool (a few hundred windows).
        for _ in 0..300 {
            let a = f.choose();
            let obs = Observation { cost: cost(&a), parts: semi.then_some(&parts[..]) };
            f.record(&a, &obs);
        }
        let name = if semi { "factored_semi" } else { "factored_total" };
        g.bench_with_input(BenchmarkId::new(name, radix.size()), &semi, |b, &semi| {
            // A fresh copy each time, so the pool does not grow across iterations.
            b.iter_batched(
                || f.clone(),
                |mut f| {
                    let a = f.choose();
                    let obs = Observation { cost: cost(&a), parts: semi.then_some(&parts[..]) };
                    f.record(&a, &obs);
                    black_box(f.recommend())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// The live learner's own cost per window (choose + record + recommend), as the space grows
/// from 10^3 to 10^7 compositions (3, 5 and 7 decisions of 10 options), after 300 windows.
fn live(c: &mut Criterion) {
    let mut g = c.benchmark_group("live");
    g.sample_size(20);
    for decisions in [3usize, 5, 7] {
        let radix = Radix::new(vec![10; decisions]);
        let cost = |c: &[usize]| 10.0 + c.iter().map(|&o| (o as f64 - 4.0).abs() * 0.3).sum::<f64>();
        let mut f = Factored::new(radix.clone(), FactoredConfig::live(1));
        for _ in 0..300 {
            let a = f.choose();
            f.record(&a, &Observation::total(cost(&a)));
        }
        g.bench_with_input(BenchmarkId::new("factored_nearby", radix.size()), &(), |b, _| {
            b.iter_batched(
                || f.clone(),
                |mut f| {
                    let a = f.choose();
                    f.record(&a, &Observation::total(cost(&a)));
                    black_box(f.recommend())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, probe, probe_contended, policy, live);
criterion_main!(benches);
