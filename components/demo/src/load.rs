//! A closed-loop load generator: worker threads call a `Primes` slot back to back,
//! check every answer, and record latencies per phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch_components::Slot;
use hdrhistogram::Histogram;

use crate::component::TrialDivision;
use crate::primes::Primes;

/// Numbers counted per call: about 100 µs of trial division per call near 10⁹.
pub const SPAN: u64 = 64;
/// Distinct ranges the workers cycle through.
const RANGES: u64 = 64;
const BASE: u64 = 1_000_000_000;

/// What one phase measured.
#[derive(Clone, Debug)]
pub struct PhaseStats {
    /// Calls completed.
    pub calls: u64,
    /// Calls whose answer was wrong (must be zero).
    pub wrong: u64,
    /// Latency of each call, in microseconds.
    pub latency: Histogram<u64>,
    /// How long the phase lasted.
    pub elapsed: Duration,
}

impl PhaseStats {
    /// Calls per second.
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// One worker's record of one phase: latencies and wrong answers.
type Record = (Histogram<u64>, u64);

/// Workers calling a slot in a closed loop.
pub struct Load {
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    started: Vec<Instant>,
    workers: Vec<JoinHandle<Vec<Record>>>,
}

impl Load {
    /// Starts `workers` threads calling `slot`, recording into phase 0 of `phases`.
    pub fn start(slot: &Slot<dyn Primes>, workers: usize, phases: usize) -> Load {
        let expected: Arc<Vec<u64>> =
            Arc::new((0..RANGES).map(|r| TrialDivision.count(range(r).0, range(r).1)).collect());
        let phase = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let workers = (0..workers)
            .map(|w| {
                let (slot, phase, stop, calls, expected) =
                    (slot.clone(), phase.clone(), stop.clone(), calls.clone(), expected.clone());
                std::thread::spawn(move || {
                    let mut stats: Vec<Record> = (0..phases)
                        .map(|_| (Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"), 0))
                        .collect();
                    let mut r = w as u64;
                    while !stop.load(Ordering::Relaxed) {
                        let (lo, hi) = range(r % RANGES);
                        let p = phase.load(Ordering::Relaxed);
                        let t = Instant::now();
                        let got = slot.load().count(lo, hi);
                        let us = t.elapsed().as_micros() as u64;
                        stats[p].0.saturating_record(us.max(1));
                        if got != expected[(r % RANGES) as usize] {
                            stats[p].1 += 1;
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                        r += 7;
                    }
                    stats
                })
            })
            .collect();
        Load { phase, stop, calls, started: vec![Instant::now()], workers }
    }

    /// Calls completed so far, all phases together.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Starts recording into the next phase.
    pub fn next_phase(&mut self) {
        self.started.push(Instant::now());
        self.phase.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops the workers and returns each phase's statistics.
    pub fn finish(self) -> Vec<PhaseStats> {
        let end = Instant::now();
        self.stop.store(true, Ordering::Relaxed);
        let per_worker: Vec<Vec<Record>> =
            self.workers.into_iter().map(|w| w.join().expect("worker panicked")).collect();
        let phases = self.phase.load(Ordering::Relaxed) + 1;
        (0..phases)
            .map(|p| {
                let mut latency = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                let mut wrong = 0;
                for worker in &per_worker {
                    latency.add(&worker[p].0).expect("same configuration");
                    wrong += worker[p].1;
                }
                let until = self.started.get(p + 1).copied().unwrap_or(end);
                PhaseStats { calls: latency.len(), wrong, latency, elapsed: until - self.started[p] }
            })
            .collect()
    }
}

fn range(r: u64) -> (u64, u64) {
    let lo = BASE + r * 1_000;
    (lo, lo + SPAN)
}
