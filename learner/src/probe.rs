//! Latency probes: where window measurements come from.
//!
//! The learner reads a probe once per window through [`LatencyProbe`]; how the
//! samples were taken is the probe's business. [`InProcessProbe`] (the
//! default, portable one) is called by the slot or proxy boundary itself and
//! records into a [`ShardedRecorder`]. An eBPF probe that times the same
//! boundaries from the kernel would implement the same trait behind a cargo
//! feature, reading its BPF map in [`LatencyProbe::read`].

use std::sync::Arc;

use crate::clock;
use crate::shard::{ShardedRecorder, SlotTotals};

/// A source of cumulative per-slot latency totals.
///
/// Slot `0` is by convention the end-to-end boundary whose mean is the
/// window's cost (the paper's probe at `HTTPHandler`); further slots time one
/// decision's component each, for semi-bandit feedback.
pub trait LatencyProbe: Send + Sync {
    /// Number of slots.
    fn slots(&self) -> usize;

    /// Cumulative totals since the probe started, values in nanoseconds.
    ///
    /// # Panics
    /// Implementations may panic if `out.len() != self.slots()`.
    fn read(&self, out: &mut [SlotTotals]);
}

/// The in-process probe: the instrumented boundary calls
/// [`start`](Self::start) and [`stop`](Self::stop) (or [`time`](Self::time))
/// around each call.
///
/// Cost per timed call: two clock reads and two relaxed load/store pairs on
/// a thread-owned cache line. On the 2-vCPU development VM a timed call costs
/// 24.8 ns against 2.1 ns for the bare call, and 4.8 ns when
/// [`sampled`](Self::sampled) times one call in 8 (`probe/*` in
/// `cargo bench -p hatch-bench --bench learner`).
///
/// # Examples
/// ```
/// use hatch_learner::probe::{InProcessProbe, LatencyProbe};
/// use hatch_learner::shard::SlotTotals;
///
/// let probe = InProcessProbe::new(2);
/// let answer = probe.time(0, || 6 * 7);
/// assert_eq!(answer, 42);
/// let mut totals = [SlotTotals::default(); 2];
/// probe.read(&mut totals);
/// assert_eq!(totals[0].count, 1);
/// assert_eq!(totals[1].count, 0);
/// ```
#[derive(Clone, Debug)]
pub struct InProcessProbe {
    recorder: Arc<ShardedRecorder>,
    /// Time one call in `sample_mask + 1` per thread (a power of two).
    sample_mask: u32,
}

/// A start mark from [`InProcessProbe::start`]: clock ticks, or `None` for a
/// call the probe does not time.
#[derive(Clone, Copy, Debug)]
pub struct Start(Option<u64>);

thread_local! {
    static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl InProcessProbe {
    /// A probe with `slots` slots and a default-sharded recorder.
    pub fn new(slots: usize) -> Self {
        Self::with_recorder(Arc::new(ShardedRecorder::new(slots)))
    }

    /// A probe over an existing recorder (which records clock ticks).
    pub fn with_recorder(recorder: Arc<ShardedRecorder>) -> Self {
        InProcessProbe { recorder, sample_mask: 0 }
    }

    /// Time only one call in `every` on each thread (rounded up to a power
    /// of two); the others cost a thread-local increment. Window means stay
    /// unbiased (calls are picked by count, not by latency), with fewer
    /// samples; sample counts, and so early window closing, count timed calls
    /// only.
    pub fn sampled(mut self, every: u32) -> Self {
        self.sample_mask = every.max(1).next_power_of_two() - 1;
        self
    }

    /// The underlying recorder.
    pub fn recorder(&self) -> &Arc<ShardedRecorder> {
        &self.recorder
    }

    /// Mark the start of a call.
    #[inline]
    pub fn start(&self) -> Start {
        if self.sample_mask != 0 {
            let n = CALLS.with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n
            });
            if n & self.sample_mask != 0 {
                return Start(None);
            }
        }
        Start(Some(clock::now_ticks()))
    }

    /// Record the call begun at `start` against `slot`.
    #[inline]
    pub fn stop(&self, slot: usize, start: Start) {
        if let Start(Some(t0)) = start {
            let ticks = clock::now_ticks().wrapping_sub(t0);
            self.recorder.record(slot, ticks);
        }
    }

    /// Time `f` against `slot`.
    #[inline]
    pub fn time<R>(&self, slot: usize, f: impl FnOnce() -> R) -> R {
        let s = self.start();
        let r = f();
        self.stop(slot, s);
        r
    }
}

impl LatencyProbe for InProcessProbe {
    fn slots(&self) -> usize {
        self.recorder.slots()
    }

    fn read(&self, out: &mut [SlotTotals]) {
        self.recorder.totals_into(out);
        let k = clock::ns_per_tick();
        for t in out {
            t.sum = (t.sum as f64 * k) as u64;
        }
    }
}

/// A probe fed directly with nanosecond samples; for simulations and tests
/// where the "latency" is computed rather than timed.
#[derive(Clone, Debug)]
pub struct ManualProbe {
    recorder: Arc<ShardedRecorder>,
}

impl ManualProbe {
    /// A manual probe with `slots` slots.
    pub fn new(slots: usize) -> Self {
        ManualProbe { recorder: Arc::new(ShardedRecorder::with_shards(slots, 1)) }
    }

    /// Record a sample of `ns` nanoseconds against `slot`.
    pub fn record_ns(&self, slot: usize, ns: u64) {
        self.recorder.record(slot, ns);
    }
}

impl LatencyProbe for ManualProbe {
    fn slots(&self) -> usize {
        self.recorder.slots()
    }

    fn read(&self, out: &mut [SlotTotals]) {
        self.recorder.totals_into(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sampled_probe_times_one_call_in_n_per_thread() {
        let p = InProcessProbe::new(1).sampled(6); // rounds to 8
        for _ in 0..80 {
            p.time(0, || ());
        }
        let mut t = [SlotTotals::default()];
        p.read(&mut t);
        assert_eq!(t[0].count, 10);
    }

    #[test]
    fn in_process_probe_reports_nanoseconds() {
        let p = InProcessProbe::new(1);
        p.time(0, || std::thread::sleep(Duration::from_millis(5)));
        let mut t = [SlotTotals::default()];
        p.read(&mut t);
        assert_eq!(t[0].count, 1);
        assert!((4_500_000..60_000_000).contains(&t[0].sum), "{} ns", t[0].sum);
    }
}
