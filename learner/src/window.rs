//! Observation windows: the learner acts once per window, on the mean latency
//! measured during it.
//!
//! A window closes after a fixed duration (5 s by default, as in the paper) or
//! early once enough samples arrived at slot 0. Time is an argument
//! (sans-IO): a driver passes a monotonic `now` and sleeps until
//! [`ObservationWindow::deadline`]; tests pass a simulated clock.

use std::time::Duration;

use crate::probe::LatencyProbe;
use crate::shard::SlotTotals;

/// When a window closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowConfig {
    /// Longest a window lasts. Default 5 s.
    pub duration: Duration,
    /// Close early once slot 0 has this many samples. Default `None` (never).
    pub min_samples: Option<u64>,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { duration: Duration::from_secs(5), min_samples: None }
    }
}

/// What a closed window measured.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowStats {
    /// When the window opened and closed.
    pub opened: Duration,
    /// When the window closed.
    pub closed: Duration,
    /// Per-slot sample counts.
    pub counts: Vec<u64>,
    /// Per-slot mean latency in milliseconds; `None` for a slot without samples.
    pub mean_ms: Vec<Option<f64>>,
    /// Whether it closed early on the sample count.
    pub early: bool,
}

impl WindowStats {
    /// Mean of slot 0, the window's cost, if it had samples.
    pub fn cost_ms(&self) -> Option<f64> {
        self.mean_ms.first().copied().flatten()
    }

    /// Means of slots `1..`, if every one of them had samples.
    pub fn parts_ms(&self) -> Option<Vec<f64>> {
        self.mean_ms.get(1..)?.iter().copied().collect()
    }
}

/// One observation window at a time over a probe.
#[derive(Clone, Debug)]
pub struct ObservationWindow {
    cfg: WindowConfig,
    opened: Duration,
    base: Vec<SlotTotals>,
    scratch: Vec<SlotTotals>,
}

impl ObservationWindow {
    /// Open the first window at `now`, counting from the probe's current totals.
    pub fn open(cfg: WindowConfig, now: Duration, probe: &dyn LatencyProbe) -> Self {
        let mut base = vec![SlotTotals::default(); probe.slots()];
        probe.read(&mut base);
        ObservationWindow { cfg, opened: now, scratch: base.clone(), base }
    }

    /// Starts the current window over at `now`: what the probe saw before is not counted.
    pub fn restart(&mut self, now: Duration, probe: &dyn LatencyProbe) {
        probe.read(&mut self.base);
        self.opened = now;
    }

    /// When the current window closes at the latest.
    pub fn deadline(&self) -> Duration {
        self.opened + self.cfg.duration
    }

    /// Close the window if it is due at `now` (and open the next one at
    /// `now`); otherwise `None`.
    pub fn poll(&mut self, now: Duration, probe: &dyn LatencyProbe) -> Option<WindowStats> {
        probe.read(&mut self.scratch);
        let timed_out = now >= self.deadline();
        let samples = self.scratch[0].since(self.base[0]).count;
        let enough = self.cfg.min_samples.is_some_and(|m| samples >= m);
        if !timed_out && !enough {
            return None;
        }
        let mut counts = Vec::with_capacity(self.base.len());
        let mut mean_ms = Vec::with_capacity(self.base.len());
        for (now_t, base_t) in self.scratch.iter().zip(&self.base) {
            let d = now_t.since(*base_t);
            counts.push(d.count);
            mean_ms.push((d.count > 0).then(|| d.sum as f64 / d.count as f64 / 1e6));
        }
        let stats = WindowStats { opened: self.opened, closed: now, counts, mean_ms, early: !timed_out };
        std::mem::swap(&mut self.base, &mut self.scratch);
        self.opened = now;
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ManualProbe;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn closes_after_the_duration_with_that_windows_samples_only() {
        let probe = ManualProbe::new(2);
        probe.record_ns(0, 99_000_000); // before the window: not counted
        let mut w = ObservationWindow::open(WindowConfig::default(), 10 * S, &probe);
        probe.record_ns(0, 2_000_000);
        probe.record_ns(0, 4_000_000);
        probe.record_ns(1, 1_000_000);
        assert!(w.poll(14 * S, &probe).is_none());
        let st = w.poll(15 * S, &probe).expect("5 s elapsed");
        assert_eq!(st.counts, vec![2, 1]);
        assert_eq!(st.cost_ms(), Some(3.0));
        assert_eq!(st.parts_ms(), Some(vec![1.0]));
        assert!(!st.early);
        assert_eq!((st.opened, st.closed), (10 * S, 15 * S));
        // The next window starts empty at 15 s.
        assert_eq!(w.deadline(), 20 * S);
        let st = w.poll(20 * S, &probe).unwrap();
        assert_eq!(st.counts, vec![0, 0]);
        assert_eq!(st.cost_ms(), None);
        assert_eq!(st.parts_ms(), None);
    }

    #[test]
    fn closes_early_once_enough_samples_arrived() {
        let probe = ManualProbe::new(1);
        let cfg = WindowConfig { min_samples: Some(3), ..WindowConfig::default() };
        let mut w = ObservationWindow::open(cfg, Duration::ZERO, &probe);
        probe.record_ns(0, 1_000_000);
        probe.record_ns(0, 1_000_000);
        assert!(w.poll(S, &probe).is_none());
        probe.record_ns(0, 4_000_000);
        let st = w.poll(2 * S, &probe).expect("three samples");
        assert!(st.early);
        assert_eq!(st.cost_ms(), Some(2.0));
        assert_eq!(w.deadline(), 7 * S);
    }
}
