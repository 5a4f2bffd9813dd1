//! The global bandit over whole compositions sampled so far (the "global
//! MAB" of naive sampling, Ontañón 2017). It is what catches interactions the
//! additive models cannot express: each sampled composition keeps its own
//! observed cost, shrunk towards the model's prediction while it has few
//! observations.

use std::collections::HashMap;

use crate::normalise::ArmStats;
use crate::rng::Rng;
use crate::space::Composition;

/// Sampled compositions in first-sampled order (iteration order must not
/// depend on hashing, or runs would not be reproducible from a seed).
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    index: HashMap<Composition, usize>,
    arms: Vec<(Composition, ArmStats)>,
}

/// A normal belief about one composition's mean cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Belief {
    pub(crate) mean: f64,
    pub(crate) var: f64,
}

impl Pool {
    pub(crate) fn observe(&mut self, c: &[usize], cost: f64) {
        let i = match self.index.get(c) {
            Some(&i) => i,
            None => {
                self.arms.push((c.to_vec(), ArmStats::default()));
                self.index.insert(c.to_vec(), self.arms.len() - 1);
                self.arms.len() - 1
            }
        };
        self.arms[i].1.add(cost, 1.0);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.arms.is_empty()
    }

    pub(crate) fn get(&self, c: &[usize]) -> Option<&ArmStats> {
        self.index.get(c).map(|&i| &self.arms[i].1)
    }

    /// Within-composition noise variance pooled over the pool, falling back to
    /// `prior` (weighted as two observations).
    pub(crate) fn noise_var(&self, prior: f64) -> f64 {
        let (mut ss, mut dof) = (0.0, 0.0);
        for (_, a) in self.arms.iter().filter(|(_, a)| a.n > 1.0) {
            ss += (a.sumsq - a.sum * a.sum / a.n).max(0.0);
            dof += a.n - 1.0;
        }
        (ss + 2.0 * prior) / (dof + 2.0)
    }

    /// How far observed means stray from the model beyond noise: the variance
    /// of the interaction effects the model misses (at least `floor`).
    pub(crate) fn misfit_var(&self, noise: f64, floor: f64, predict: impl Fn(&[usize]) -> f64) -> f64 {
        let (mut s, mut k) = (0.0, 0.0);
        for (c, a) in &self.arms {
            let r = a.sum / a.n - predict(c);
            s += r * r - noise / a.n;
            k += 1.0;
        }
        if k == 0.0 { floor } else { (s / k).max(floor) }
    }

    /// Belief about `c` given the model's prior `(mean, var)`.
    pub(crate) fn belief(&self, c: &[usize], prior: (f64, f64), noise: f64) -> Belief {
        let (pm, pv) = prior;
        match self.get(c) {
            None => Belief { mean: pm, var: pv },
            Some(a) => {
                let prec = 1.0 / pv + a.n / noise;
                Belief { mean: (pm / pv + a.sum / noise) / prec, var: 1.0 / prec }
            }
        }
    }

    /// Sampled compositions.
    pub(crate) fn compositions(&self) -> impl Iterator<Item = &Composition> {
        self.arms.iter().map(|(c, _)| c)
    }

    /// Thompson draw over `candidates`: the one with the lowest sampled cost.
    pub(crate) fn thompson<'a>(
        rng: &mut Rng,
        candidates: impl Iterator<Item = (&'a Composition, Belief)>,
    ) -> Option<&'a Composition> {
        candidates
            .map(|(c, b)| (c, b.mean + b.var.sqrt() * rng.normal()))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn belief_moves_from_prior_towards_observations() {
        let mut p = Pool::default();
        let c = vec![1, 2];
        let prior = (10.0, 1.0);
        assert_eq!(p.belief(&c, prior, 1.0).mean, 10.0);
        p.observe(&c, 14.0);
        let b1 = p.belief(&c, prior, 1.0);
        assert!((b1.mean - 12.0).abs() < 1e-12 && (b1.var - 0.5).abs() < 1e-12);
        for _ in 0..98 {
            p.observe(&c, 14.0);
        }
        assert!((p.belief(&c, prior, 1.0).mean - 14.0).abs() < 0.05);
    }
}
