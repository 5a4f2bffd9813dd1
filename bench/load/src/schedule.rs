//! Open-loop send times.
//!
//! A rate of `R` requests/s over `N` connections gives each connection one send every `N / R`
//! seconds, and connection `i` starts `i / R` seconds into the phase, so that all the sends
//! together are evenly spaced `1 / R` apart (as wrk2 does; not Poisson: a fixed spacing makes
//! runs comparable and the tests deterministic). Times are offsets from the start of the run;
//! each is computed from its index, so no rounding error accumulates over long phases.

use std::time::Duration;

/// The intended send times of one connection during one open-loop phase.
#[derive(Clone, Debug)]
pub struct Schedule {
    start: Duration,
    rate: f64,
    first: f64,
    stride: f64,
    next: u64,
    count: u64,
}

impl Schedule {
    /// The sends of connection `index` (of `connections`) when they share `rate` requests/s
    /// over the phase `[start, end)`. A rate that is not positive and finite gives no sends.
    pub fn new(start: Duration, end: Duration, rate: f64, connections: usize, index: usize) -> Schedule {
        let span = end.saturating_sub(start).as_secs_f64();
        let (first, stride) = (index as f64, connections.max(1) as f64);
        let limit = span * rate;
        let count =
            if rate.is_finite() && rate > 0.0 && first < limit { ((limit - first) / stride).ceil() as u64 } else { 0 };
        Schedule { start, rate, first, stride, next: 0, count }
    }

    /// How many sends are still to come.
    pub fn remaining(&self) -> u64 {
        self.count - self.next
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next == self.count {
            return None;
        }
        let at = (self.first + self.next as f64 * self.stride) / self.rate;
        self.next += 1;
        Some(self.start + Duration::from_secs_f64(at))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Schedule {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn connections_interleave_into_an_even_stream() {
        let mut all: Vec<Duration> = (0..2).flat_map(|i| Schedule::new(ms(1000), ms(2000), 10.0, 2, i)).collect();
        all.sort();
        let expected: Vec<Duration> = (0..10).map(|k| ms(1000 + 100 * k)).collect();
        assert_eq!(all.len(), 10);
        for (got, want) in all.iter().zip(&expected) {
            assert!(got.abs_diff(*want) < Duration::from_micros(1), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn counts_are_exact_at_the_edges() {
        assert_eq!(Schedule::new(ms(0), ms(1000), 10.0, 1, 0).count(), 10);
        assert_eq!(Schedule::new(ms(0), ms(1050), 10.0, 1, 0).count(), 11);
        assert_eq!(Schedule::new(ms(0), ms(1000), 5.0, 10, 7).count(), 0, "connection 7 of 10 at 5/s starts at 1.4 s");
        assert_eq!(Schedule::new(ms(0), ms(2000), 5.0, 10, 7).collect::<Vec<_>>(), vec![ms(1400)]);
        assert_eq!(Schedule::new(ms(0), ms(1000), 0.0, 1, 0).count(), 0);
        assert_eq!(Schedule::new(ms(0), ms(1000), f64::NAN, 1, 0).count(), 0);
        let mut s = Schedule::new(ms(0), ms(1000), 100.0, 4, 1);
        assert_eq!(s.remaining(), 25);
        s.next();
        assert_eq!((s.remaining(), s.len()), (24, 24));
    }

    #[test]
    fn long_phases_do_not_drift() {
        let last = Schedule::new(ms(0), Duration::from_secs(3600), 20_000.0, 3, 2).last().unwrap();
        let want = (2.0 + 3.0 * 23_999_999.0) / 20_000.0;
        assert!((last.as_secs_f64() - want).abs() < 1e-6, "{last:?}");
    }
}
