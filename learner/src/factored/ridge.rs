//! The additive model: Bayesian ridge regression of window cost on one-hot
//! option features, `cost ≈ c + θ_0 + Σ_d θ[d, option_d]`, with Thompson
//! draws from the posterior `N(θ̂, σ² A⁻¹)`.
//!
//! Regression is what lets one number per window credit every decision: the
//! other decisions' effects are regressed out instead of averaged in as noise.
//!
//! Semi-bandit feedback enters the same regression as extra rows: decision
//! `d`'s own part is `κ_d + θ[d, option_d]`, with a free level `κ_d` per
//! decision. Each part row measures one decision's effect without the other
//! nine decisions in it, so a window with parts carries `1 + D` measurements
//! instead of one.
//!
//! `p = 1 + Σ options + D` is small (51 for the 700k web space), so a dense
//! Cholesky per window costs microseconds.

use crate::linalg::{cholesky, solve_lower, solve_upper_t};
use crate::rng::Rng;
use crate::space::{Composition, Radix};

/// Prior precision of the intercept (nearly flat).
const LAMBDA_INTERCEPT: f64 = 1e-4;
/// Prior precision of an option effect, in units of the noise variance.
const LAMBDA_OPTION: f64 = 0.01;
/// Prior noise sd as a share of the first cost seen, and its weight in
/// pseudo-observations.
const PRIOR_NOISE_SHARE: f64 = 0.05;
const PRIOR_NOISE_DOF: f64 = 2.0;

#[derive(Clone, Debug)]
pub(crate) struct Ridge {
    offsets: Vec<usize>,
    radices: Vec<usize>,
    /// Feature index of the part level `κ_0`.
    levels: usize,
    p: usize,
    /// `A = Λ + Σ x xᵀ`, row-major `p × p`.
    a: Vec<f64>,
    /// `Σ x (y - center)`.
    b: Vec<f64>,
    yy: f64,
    /// Rows seen (totals and parts) and total rows alone.
    n: f64,
    rows_total: f64,
    center: Option<f64>,
    /// Cached Cholesky factor of `A` (lower, row-major) and `θ̂`.
    chol: Vec<f64>,
    theta: Vec<f64>,
}

impl Ridge {
    pub(crate) fn new(radix: &Radix) -> Self {
        let radices = radix.radices().to_vec();
        let mut offsets = Vec::with_capacity(radices.len());
        let mut p = 1;
        for &r in &radices {
            offsets.push(p);
            p += r;
        }
        let levels = p;
        p += radices.len();
        let mut a = vec![0.0; p * p];
        for i in 0..p {
            a[i * p + i] = if i == 0 || i >= levels { LAMBDA_INTERCEPT } else { LAMBDA_OPTION };
        }
        let mut m = Ridge {
            offsets,
            radices,
            levels,
            p,
            a,
            b: vec![0.0; p],
            yy: 0.0,
            n: 0.0,
            rows_total: 0.0,
            center: None,
            chol: vec![0.0; p * p],
            theta: vec![0.0; p],
        };
        m.refit();
        m
    }

    fn features<'a>(&'a self, c: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
        std::iter::once(0).chain(c.iter().zip(&self.offsets).map(|(&o, &off)| off + o))
    }

    /// One window: its total cost and, with semi-bandit feedback, each
    /// decision's own part.
    pub(crate) fn observe(&mut self, c: &[usize], cost: f64, parts: Option<&[f64]>) {
        let center = *self.center.get_or_insert(cost);
        let idx: Vec<usize> = self.features(c).collect();
        self.add_row(&idx, cost - center);
        self.rows_total += 1.0;
        if let Some(parts) = parts {
            for (d, (&o, &y)) in c.iter().zip(parts).enumerate() {
                self.add_row(&[self.offsets[d] + o, self.levels + d], y);
            }
        }
        self.refit();
    }

    fn add_row(&mut self, idx: &[usize], y: f64) {
        for &i in idx {
            self.b[i] += y;
            for &j in idx {
                self.a[i * self.p + j] += 1.0;
            }
        }
        self.yy += y * y;
        self.n += 1.0;
    }

    fn refit(&mut self) {
        cholesky(&self.a, &mut self.chol, self.p);
        self.theta.copy_from_slice(&self.b);
        solve_lower(&self.chol, &mut self.theta, self.p);
        solve_upper_t(&self.chol, &mut self.theta, self.p);
    }

    /// Posterior noise variance.
    pub(crate) fn noise_var(&self) -> f64 {
        let center = self.center.unwrap_or(1.0);
        let prior = (PRIOR_NOISE_SHARE * center).powi(2).max(1e-12);
        // Identifiable parameters: 1 + Σ (options - 1), plus the part levels
        // once part rows arrived.
        let levels = if self.n > self.rows_total { self.radices.len() as f64 } else { 0.0 };
        let dof_model = 1.0 + self.radices.iter().map(|&r| r as f64 - 1.0).sum::<f64>() + levels;
        let fit: f64 = self.theta.iter().zip(&self.b).map(|(t, b)| t * b).sum();
        let rss = (self.yy - fit).max(0.0);
        let dof = (self.n - dof_model).max(0.0);
        (rss + PRIOR_NOISE_DOF * prior) / (dof + PRIOR_NOISE_DOF)
    }

    /// Posterior mean cost of `c` and the variance of that mean.
    #[cfg(test)]
    pub(crate) fn predict(&self, c: &[usize]) -> (f64, f64) {
        let mean = self.center.unwrap_or(0.0) + self.features(c).map(|i| self.theta[i]).sum::<f64>();
        let mut v = vec![0.0; self.p];
        for i in self.features(c) {
            v[i] = 1.0;
        }
        solve_lower(&self.chol, &mut v, self.p);
        let q: f64 = v.iter().map(|x| x * x).sum();
        (mean, q * self.noise_var())
    }

    /// Per-decision argmin of the posterior mean.
    pub(crate) fn mean_argmin(&self) -> Composition {
        self.argmin_of(&self.theta)
    }

    /// Per-decision argmin of one posterior draw (Thompson sampling).
    pub(crate) fn sample_argmin(&self, rng: &mut Rng) -> Composition {
        let sd = self.noise_var().sqrt();
        let mut z: Vec<f64> = (0..self.p).map(|_| rng.normal() * sd).collect();
        solve_upper_t(&self.chol, &mut z, self.p);
        let draw: Vec<f64> = self.theta.iter().zip(&z).map(|(t, e)| t + e).collect();
        self.argmin_of(&draw)
    }

    fn argmin_of(&self, theta: &[f64]) -> Composition {
        self.offsets
            .iter()
            .zip(&self.radices)
            .map(|(&off, &r)| (0..r).min_by(|&x, &y| theta[off + x].total_cmp(&theta[off + y])).expect("radix > 0"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_additive_effects_from_totals_only() {
        let radix = Radix::new(vec![3, 4, 2]);
        let effects = [vec![0.0, -2.0, 1.0], vec![3.0, 0.0, -1.5, 2.0], vec![0.0, 0.7]];
        let truth = |c: &[usize]| 20.0 + (0..3).map(|d| effects[d][c[d]]).sum::<f64>();
        let mut m = Ridge::new(&radix);
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let c: Vec<usize> = radix.radices().iter().map(|&r| rng.below(r)).collect();
            m.observe(&c, truth(&c) + 0.3 * rng.normal(), None);
        }
        assert_eq!(m.mean_argmin(), vec![1, 2, 0]);
        let (mean, var) = m.predict(&[1, 2, 0]);
        assert!((mean - truth(&[1, 2, 0])).abs() < 0.3, "mean {mean}");
        assert!(var < 0.05, "var {var}");
        let sd = m.noise_var().sqrt();
        assert!((sd - 0.3).abs() < 0.1, "noise sd {sd}");
    }

    #[test]
    fn parts_identify_effects_in_fewer_windows_than_totals() {
        let radix = Radix::new(vec![4, 4, 4, 4, 4, 4]);
        let effect = |d: usize, o: usize| ((d * 7 + o * 3) % 5) as f64 * 0.5;
        let mut err = [0.0; 2];
        for (k, semi) in [false, true].into_iter().enumerate() {
            for seed in 0..5 {
                let mut m = Ridge::new(&radix);
                let mut rng = Rng::new(seed);
                for _ in 0..12 {
                    let c: Vec<usize> = (0..6).map(|_| rng.below(4)).collect();
                    let parts: Vec<f64> = (0..6).map(|d| effect(d, c[d]) + rng.normal()).collect();
                    let total = 10.0 + (0..6).map(|d| effect(d, c[d])).sum::<f64>() + rng.normal();
                    m.observe(&c, total, semi.then_some(&parts[..]));
                }
                let best = m.mean_argmin();
                let cost = |c: &[usize]| (0..6).map(|d| effect(d, c[d])).sum::<f64>();
                let opt: Vec<usize> =
                    (0..6).map(|d| (0..4).min_by(|&a, &b| effect(d, a).total_cmp(&effect(d, b))).unwrap()).collect();
                err[k] += cost(&best) - cost(&opt);
            }
        }
        assert!(err[1] < err[0], "regret of the model's pick: totals {} vs parts {}", err[0], err[1]);
    }
}
