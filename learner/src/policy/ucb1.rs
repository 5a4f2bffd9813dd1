//! UCB1 as Hatch uses it (FGCS 2022, §4.3): every arm once, then the arm
//! maximising `r_k + sqrt(2 ln n / n_k)`; with adaptive normalisation, arms
//! confidently worse than the best are skipped (see [`crate::normalise`]).

use super::{BestMean, Observation, Policy};
use crate::normalise::{ArmStats, CostRange, Fitted, Normalisation};

/// UCB1 over `k` arms with cost-to-reward normalisation.
///
/// Untried arms are played first, in index order, in O(1) each; after that a
/// choice scans every arm (O(k)), as in the paper.
///
/// # Examples
/// ```
/// use hatch_learner::policy::{Observation, Policy, Ucb1};
/// let mut p = Ucb1::new(3);
/// for _ in 0..60 {
///     let arm = p.choose();
///     let cost = [30.0, 10.0, 20.0][arm];
///     p.record(&arm, &Observation::total(cost));
/// }
/// assert_eq!(p.recommend(), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct Ucb1 {
    arms: Vec<ArmStats>,
    total: f64,
    next_untried: usize,
    mode: Normalisation,
    best: BestMean,
}

impl Ucb1 {
    /// UCB1 over `k` arms with adaptive normalisation.
    ///
    /// # Panics
    /// Panics if `k == 0`.
    pub fn new(k: usize) -> Self {
        Self::with_normalisation(k, Normalisation::Adaptive)
    }

    /// UCB1 over `k` arms with the given normalisation.
    ///
    /// # Panics
    /// Panics if `k == 0`.
    pub fn with_normalisation(k: usize, mode: Normalisation) -> Self {
        assert!(k > 0, "UCB1 needs at least one arm");
        Ucb1 { arms: vec![ArmStats::default(); k], total: 0.0, next_untried: 0, mode, best: BestMean::default() }
    }

    /// Statistics of arm `k`.
    pub fn stats(&self, k: usize) -> ArmStats {
        self.arms[k]
    }

    /// The UCB1 index of a tried arm under `range`.
    fn index(&self, a: &ArmStats, range: &CostRange) -> f64 {
        let r = range.reward(a.sum / a.n);
        r + (2.0 * self.total.ln() / a.n).sqrt()
    }
}

impl Policy for Ucb1 {
    type Arm = usize;

    fn choose(&mut self) -> usize {
        while self.next_untried < self.arms.len() {
            if self.arms[self.next_untried].n == 0.0 {
                return self.next_untried;
            }
            self.next_untried += 1;
        }
        let fit = Fitted::fit(self.mode, &self.arms).expect("all arms tried");
        let mut best = (0, f64::NEG_INFINITY);
        for (k, a) in self.arms.iter().enumerate() {
            if fit.confidently_poor(a) {
                continue;
            }
            let u = self.index(a, &fit.range);
            if u > best.1 {
                best = (k, u);
            }
        }
        best.0
    }

    fn record(&mut self, arm: &usize, obs: &Observation<'_>) {
        self.arms[*arm].add(obs.cost, 1.0);
        self.total += 1.0;
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
    use crate::rng::Rng;

    #[test]
    fn tries_every_arm_once_in_order_first() {
        let mut p = Ucb1::new(5);
        for expect in 0..5 {
            let a = p.choose();
            assert_eq!(a, expect);
            p.record(&a, &Observation::total(10.0 + a as f64));
        }
        assert_eq!(p.recommend(), Some(0));
    }

    #[test]
    fn index_matches_the_paper_formula() {
        let mut p = Ucb1::with_normalisation(2, Normalisation::MinMax);
        p.record(&0, &Observation::total(10.0));
        p.record(&1, &Observation::total(20.0));
        p.record(&1, &Observation::total(20.0));
        // n = 3; arm 0: r = 1, n_k = 1; arm 1: r = 0, n_k = 2.
        let range = CostRange { lo: 10.0, hi: 20.0 };
        let u0 = p.index(&p.stats(0), &range);
        let u1 = p.index(&p.stats(1), &range);
        assert!((u0 - (1.0 + (2.0 * 3f64.ln()).sqrt())).abs() < 1e-12);
        assert!((u1 - (2.0 * 3f64.ln() / 2.0).sqrt()).abs() < 1e-12);
        assert_eq!(p.choose(), 0);
    }

    #[test]
    fn adaptive_normalisation_stops_pulling_a_confidently_terrible_arm() {
        let means = [10.0, 10.6, 400.0];
        let (mut adaptive, mut min_max) = (0.0, 0.0);
        for seed in 0..3 {
            for (mode, pulls) in [(Normalisation::Adaptive, &mut adaptive), (Normalisation::MinMax, &mut min_max)] {
                let mut rng = Rng::new(seed);
                let mut p = Ucb1::with_normalisation(3, mode);
                for _ in 0..300 {
                    let a = p.choose();
                    p.record(&a, &Observation::total(means[a] + 0.5 * rng.normal()));
                }
                *pulls += p.stats(2).n;
            }
        }
        assert!(adaptive <= 3.0, "adaptive pulled the 400 ms arm {adaptive} times");
        assert!(min_max > 3.0 * adaptive, "min-max {min_max} vs adaptive {adaptive}");
    }

    fn pulls_of_best(mode: Normalisation, seed: u64) -> f64 {
        // Two close good arms and one disastrous arm (the paper's Option A/B).
        let means = [10.0, 10.6, 12.0, 400.0];
        let mut rng = Rng::new(seed);
        let mut p = Ucb1::with_normalisation(means.len(), mode);
        for _ in 0..400 {
            let a = p.choose();
            p.record(&a, &Observation::total(means[a] + 0.5 * rng.normal()));
        }
        p.stats(0).n
    }

    #[test]
    fn adaptive_normalisation_focuses_on_the_best_of_close_arms() {
        let mut adaptive = 0.0;
        let mut min_max = 0.0;
        for seed in 0..5 {
            adaptive += pulls_of_best(Normalisation::Adaptive, seed);
            min_max += pulls_of_best(Normalisation::MinMax, seed);
        }
        assert!(adaptive > 1.5 * min_max, "adaptive {adaptive} vs min-max {min_max}");
    }
}
