//! Discounted UCB (Garivier & Moulines, 2011) for workloads that change:
//! every window, all past observations lose weight by a factor `gamma`, so the
//! policy forgets a workload that has gone and re-explores.

use super::{BestMean, Observation, Policy};
use crate::normalise::{ArmStats, Fitted, Normalisation};

/// Weights are stored scaled by `gamma^-t` so a record costs O(1); the scale
/// is folded back into the stored values before it can overflow.
const RESCALE_AT: f64 = 1e150;

/// UCB with exponentially discounted statistics.
///
/// With `gamma = 1` this is UCB1. Typical values are `0.95..0.999`: the
/// effective memory is about `1 / (1 - gamma)` windows.
///
/// # Examples
/// ```
/// use hatch_learner::policy::{DiscountedUcb, Observation, Policy};
/// let mut p = DiscountedUcb::new(2, 0.9);
/// for t in 0..400 {
///     let arm = p.choose();
///     // Arm 0 is best for 200 windows, then arm 1.
///     let cost = if (t < 200) == (arm == 0) { 10.0 } else { 20.0 };
///     p.record(&arm, &Observation::total(cost));
/// }
/// assert_eq!(p.recommend(), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct DiscountedUcb {
    /// Stored as `gamma^-t`-scaled sums.
    scaled: Vec<ArmStats>,
    gamma: f64,
    /// `gamma^-t` for the current window.
    scale: f64,
    mode: Normalisation,
    best: BestMean,
}

impl DiscountedUcb {
    /// Discounted UCB over `k` arms with adaptive normalisation.
    ///
    /// # Panics
    /// Panics if `k == 0` or `gamma` is not in `(0, 1]`.
    pub fn new(k: usize, gamma: f64) -> Self {
        assert!(k > 0, "needs at least one arm");
        assert!(gamma > 0.0 && gamma <= 1.0, "gamma must be in (0, 1]");
        DiscountedUcb {
            scaled: vec![ArmStats::default(); k],
            gamma,
            scale: 1.0,
            mode: Normalisation::Adaptive,
            best: BestMean::default(),
        }
    }

    /// Discounted statistics of arm `k` as of now.
    pub fn stats(&self, k: usize) -> ArmStats {
        let a = self.scaled[k];
        ArmStats { n: a.n / self.scale, sum: a.sum / self.scale, sumsq: a.sumsq / self.scale }
    }

    fn advance(&mut self) {
        self.scale /= self.gamma;
        if self.scale > RESCALE_AT {
            for a in &mut self.scaled {
                a.n /= self.scale;
                a.sum /= self.scale;
                a.sumsq /= self.scale;
            }
            self.scale = 1.0;
        }
    }
}

impl Policy for DiscountedUcb {
    type Arm = usize;

    fn choose(&mut self) -> usize {
        if let Some(k) = self.scaled.iter().position(|a| a.n == 0.0) {
            return k;
        }
        let arms: Vec<ArmStats> = (0..self.scaled.len()).map(|k| self.stats(k)).collect();
        let total: f64 = arms.iter().map(|a| a.n).sum();
        let fit = Fitted::fit(self.mode, &arms).expect("all arms tried");
        let ln_n = total.max(1.0).ln().max(0.0);
        let mut best = (0, f64::NEG_INFINITY);
        for (k, a) in arms.iter().enumerate() {
            // Discounting erodes confidence, so a skipped arm returns once
            // its evidence has faded.
            if fit.confidently_poor(a) {
                continue;
            }
            let u = fit.range.reward(a.sum / a.n) + (2.0 * ln_n / a.n).sqrt();
            if u > best.1 {
                best = (k, u);
            }
        }
        best.0
    }

    fn record(&mut self, arm: &usize, obs: &Observation<'_>) {
        self.advance();
        self.scaled[*arm].add(obs.cost, self.scale);
        let arms = &self.scaled;
        // Discounting scales an arm's count and sum alike, so means (and the
        // incumbent) only change for the arm just recorded.
        self.best.after_record(*arm, |i| arms[i].mean(), arms.len());
    }

    fn recommend(&self) -> Option<usize> {
        self.best.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Ucb1;
    use crate::rng::Rng;

    /// Best arm switches half way; count late pulls of the new best.
    fn late_pulls_of_new_best(p: &mut impl Policy<Arm = usize>, seed: u64) -> usize {
        let mut rng = Rng::new(seed);
        let mut hits = 0;
        for t in 0..1000 {
            let a = p.choose();
            // A mild shift: the old best only becomes second best.
            let means = if t < 500 { [10.0, 12.0, 16.0] } else { [11.0, 10.0, 16.0] };
            if t >= 750 && a == 1 {
                hits += 1;
            }
            p.record(&a, &Observation::total(means[a] + 0.3 * rng.normal()));
        }
        hits
    }

    #[test]
    fn follows_a_workload_change() {
        let mut d = 0;
        for seed in 0..4 {
            let mut p = DiscountedUcb::new(3, 0.97);
            d += late_pulls_of_new_best(&mut p, seed);
            assert_eq!(p.recommend(), Some(1));
        }
        assert!(d > 4 * 200, "discounted pulled the new best {d} of 1000");
    }

    #[test]
    fn statistics_describe_the_current_workload_not_the_average() {
        let mut d = DiscountedUcb::new(3, 0.97);
        let mut u = Ucb1::new(3);
        late_pulls_of_new_best(&mut d, 1);
        late_pulls_of_new_best(&mut u, 1);
        // Arm 0 cost 10 ms for 500 windows, then 11 ms.
        let (dm, um) = (d.stats(0).mean().unwrap(), u.stats(0).mean().unwrap());
        assert!((dm - 11.0).abs() < 0.3, "discounted mean {dm}");
        assert!(um < 10.6, "ucb1 mean {um}");
    }

    #[test]
    fn rescaling_keeps_statistics() {
        let mut p = DiscountedUcb::new(1, 0.5);
        for _ in 0..2000 {
            p.record(&0, &Observation::total(3.0));
        }
        let s = p.stats(0);
        assert!((s.n - 2.0).abs() < 1e-9, "n {}", s.n);
        assert!((s.sum / s.n - 3.0).abs() < 1e-9);
    }
}
