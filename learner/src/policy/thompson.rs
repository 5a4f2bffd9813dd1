//! Gaussian Thompson sampling on cost: each arm's mean cost has a normal
//! posterior whose spread is the pooled noise over `sqrt(n_k)`; play the arm
//! with the lowest sampled cost. Scale-free, so no normalisation is needed.

use super::{BestMean, Observation, Policy};
use crate::normalise::ArmStats;
use crate::rng::Rng;

/// Thompson sampling over `k` arms.
///
/// Untried arms are played first (O(1) each), then every choice draws one
/// normal sample per arm (O(k)).
///
/// # Examples
/// ```
/// use hatch_learner::policy::{Observation, Policy, Thompson};
/// let mut p = Thompson::new(3, 42);
/// for _ in 0..100 {
///     let arm = p.choose();
///     p.record(&arm, &Observation::total([30.0, 10.0, 20.0][arm]));
/// }
/// assert_eq!(p.recommend(), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct Thompson {
    arms: Vec<ArmStats>,
    /// Per-arm sum of squared costs, for the pooled variance.
    sumsq: Vec<f64>,
    next_untried: usize,
    rng: Rng,
    best: BestMean,
}

impl Thompson {
    /// Thompson sampling over `k` arms, reproducible from `seed`.
    ///
    /// # Panics
    /// Panics if `k == 0`.
    pub fn new(k: usize, seed: u64) -> Self {
        assert!(k > 0, "needs at least one arm");
        Thompson {
            arms: vec![ArmStats::default(); k],
            sumsq: vec![0.0; k],
            next_untried: 0,
            rng: Rng::new(seed),
            best: BestMean::default(),
        }
    }

    /// Pooled within-arm noise estimate; falls back to a tenth of the mean
    /// cost while no arm has two samples.
    fn noise_sd(&self) -> f64 {
        let (mut ss, mut dof, mut total, mut n) = (0.0, 0.0, 0.0, 0.0);
        for (a, &sq) in self.arms.iter().zip(&self.sumsq) {
            if a.n > 1.0 {
                ss += sq - a.sum * a.sum / a.n;
                dof += a.n - 1.0;
            }
            total += a.sum;
            n += a.n;
        }
        let fallback = 0.1 * (total / n.max(1.0)).abs();
        if dof > 0.0 { (ss.max(0.0) / dof).sqrt().max(1e-3 * fallback) } else { fallback.max(1e-9) }
    }
}

impl Policy for Thompson {
    type Arm = usize;

    fn choose(&mut self) -> usize {
        while self.next_untried < self.arms.len() {
            if self.arms[self.next_untried].n == 0.0 {
                return self.next_untried;
            }
            self.next_untried += 1;
        }
        let sd = self.noise_sd();
        let mut best = (0, f64::INFINITY);
        for k in 0..self.arms.len() {
            let a = self.arms[k];
            let draw = a.sum / a.n + sd / a.n.sqrt() * self.rng.normal();
            if draw < best.1 {
                best = (k, draw);
            }
        }
        best.0
    }

    fn record(&mut self, arm: &usize, obs: &Observation<'_>) {
        let a = &mut self.arms[*arm];
        a.n += 1.0;
        a.sum += obs.cost;
        self.sumsq[*arm] += obs.cost * obs.cost;
        let arms = &self.arms;
        self.best.after_record(*arm, |i| arms[i].mean(), arms.len());
    }

    fn recommend(&self) -> Option<usize> {
        self.best.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concentrates_on_the_best_arm_under_noise() {
        let means = [12.0, 10.0, 11.0, 15.0];
        let mut rng = Rng::new(5);
        let mut p = Thompson::new(4, 9);
        let mut late_best = 0;
        for t in 0..600 {
            let a = p.choose();
            if t >= 300 && a == 1 {
                late_best += 1;
            }
            p.record(&a, &Observation::total(means[a] + 0.5 * rng.normal()));
        }
        assert!(late_best > 270, "best arm pulled {late_best} of 300");
        assert_eq!(p.recommend(), Some(1));
    }
}
