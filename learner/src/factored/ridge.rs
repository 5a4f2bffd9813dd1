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
//! A decision may also describe its options by a few numbers (for a
//! placement: whether it is remote, how many replicas), shared weights `w[d]`
//! on them joining the one-hot effects: `θ[d, o] + w[d] · f[d, o]`. Their
//! one-hot effects are then held close to zero by the prior (one noise sd), so
//! the features explain what they can and an option never run is predicted
//! from its description: a third replica from the first two, a relocation to
//! agent 2 from one to agent 1.
//!
//! `p = 1 + Σ options + D + Σ features` is small (51 for the 700k web space), so a dense
//! Cholesky per window costs microseconds.

use crate::linalg::{cholesky, solve_lower, solve_upper_t};
use crate::rng::Rng;
use crate::space::{Composition, Radix};

/// Prior precision of the intercept (nearly flat).
const LAMBDA_INTERCEPT: f64 = 1e-4;
/// Prior precision of an option effect, in units of the noise variance.
const LAMBDA_OPTION: f64 = 0.01;
/// Prior precision of an option effect of a decision whose options carry
/// features, and of a feature weight: the effect is mostly the features'.
const LAMBDA_DESCRIBED: f64 = 1.0;
const LAMBDA_FEATURE: f64 = 0.01;

/// Numeric features of each option of each decision (`None`: one-hot only);
/// `features[d][o]` has the same length for every option of `d`.
pub type OptionFeatures = Vec<Option<Vec<Vec<f64>>>>;
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
    /// Per decision: index of its first feature weight, and its options' features.
    described: Vec<Option<(usize, Vec<Vec<f64>>)>>,
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
        Self::with_features(radix, &vec![None; radix.decisions()])
    }

    /// # Panics
    /// If `features` does not have one entry per decision and one row per
    /// option, all of one length.
    pub(crate) fn with_features(radix: &Radix, features: &OptionFeatures) -> Self {
        let radices = radix.radices().to_vec();
        assert_eq!(features.len(), radices.len(), "features for each decision");
        let mut offsets = Vec::with_capacity(radices.len());
        let mut p = 1;
        let mut lambda = vec![LAMBDA_INTERCEPT];
        for (&r, f) in radices.iter().zip(features) {
            offsets.push(p);
            p += r;
            lambda.extend(std::iter::repeat_n(if f.is_some() { LAMBDA_DESCRIBED } else { LAMBDA_OPTION }, r));
        }
        let levels = p;
        p += radices.len();
        lambda.extend(std::iter::repeat_n(LAMBDA_INTERCEPT, radices.len()));
        let mut described = Vec::with_capacity(radices.len());
        for (&r, f) in radices.iter().zip(features) {
            described.push(f.as_ref().map(|rows| {
                assert_eq!(rows.len(), r, "one feature row per option");
                let k = rows[0].len();
                assert!(rows.iter().all(|row| row.len() == k), "features of one length");
                let first = p;
                p += k;
                lambda.extend(std::iter::repeat_n(LAMBDA_FEATURE, k));
                (first, rows.clone())
            }));
        }
        let mut a = vec![0.0; p * p];
        for (i, l) in lambda.into_iter().enumerate() {
            a[i * p + i] = l;
        }
        let mut m = Ridge {
            offsets,
            radices,
            levels,
            described,
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

    /// The row of `c`: `(feature index, value)`.
    fn features(&self, c: &[usize]) -> Vec<(usize, f64)> {
        let mut x = vec![(0, 1.0)];
        for (d, &o) in c.iter().enumerate() {
            x.extend(self.option(d, o));
        }
        x
    }

    /// The features of option `o` of decision `d`: its one-hot, and its description.
    fn option(&self, d: usize, o: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let described = self.described[d]
            .iter()
            .flat_map(move |(first, rows)| rows[o].iter().enumerate().map(move |(j, &v)| (first + j, v)));
        std::iter::once((self.offsets[d] + o, 1.0)).chain(described)
    }

    /// Option `o` of decision `d`'s effect under parameters `theta`.
    fn effect(&self, theta: &[f64], d: usize, o: usize) -> f64 {
        self.option(d, o).map(|(i, v)| theta[i] * v).sum()
    }

    /// One window: its total cost and, with semi-bandit feedback, each
    /// decision's own part.
    pub(crate) fn observe(&mut self, c: &[usize], cost: f64, parts: Option<&[f64]>) {
        let center = *self.center.get_or_insert(cost);
        let x = self.features(c);
        self.add_row(&x, cost - center);
        self.rows_total += 1.0;
        if let Some(parts) = parts {
            for (d, (&o, &y)) in c.iter().zip(parts).enumerate() {
                let mut x: Vec<(usize, f64)> = self.option(d, o).collect();
                x.push((self.levels + d, 1.0));
                self.add_row(&x, y);
            }
        }
        self.refit();
    }

    fn add_row(&mut self, x: &[(usize, f64)], y: f64) {
        for &(i, xi) in x {
            self.b[i] += xi * y;
            for &(j, xj) in x {
                self.a[i * self.p + j] += xi * xj;
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
        let described: usize = self.described.iter().flatten().map(|(_, rows)| rows[0].len()).sum();
        let dof_model = 1.0 + self.radices.iter().map(|&r| r as f64 - 1.0).sum::<f64>() + levels + described as f64;
        let fit: f64 = self.theta.iter().zip(&self.b).map(|(t, b)| t * b).sum();
        let rss = (self.yy - fit).max(0.0);
        let dof = (self.n - dof_model).max(0.0);
        (rss + PRIOR_NOISE_DOF * prior) / (dof + PRIOR_NOISE_DOF)
    }

    /// Posterior mean cost of `c` and the variance of that mean.
    pub(crate) fn predict(&self, c: &[usize]) -> (f64, f64) {
        let x = self.features(c);
        let mean = self.center.unwrap_or(0.0) + x.iter().map(|&(i, v)| self.theta[i] * v).sum::<f64>();
        let mut v = vec![0.0; self.p];
        for (i, xi) in x {
            v[i] += xi;
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
        (0..self.radices.len())
            .map(|d| {
                (0..self.radices[d])
                    .min_by(|&x, &y| self.effect(theta, d, x).total_cmp(&self.effect(theta, d, y)))
                    .expect("radix > 0")
            })
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
    fn described_options_are_predicted_from_their_features() {
        // Decision 1's options are 0..4 replicas; cost falls by 2 per replica.
        let radix = Radix::new(vec![2, 5]);
        let features = vec![None, Some((0..5).map(|k| vec![k as f64]).collect())];
        let truth = |c: &[usize]| 20.0 + c[0] as f64 - 2.0 * c[1] as f64;
        let mut m = Ridge::with_features(&radix, &features);
        let mut plain = Ridge::new(&radix);
        let mut rng = Rng::new(3);
        for c in [[0, 0], [1, 0], [0, 1], [1, 2], [0, 2], [1, 1]] {
            let y = truth(&c) + 0.1 * rng.normal();
            m.observe(&c, y, None);
            plain.observe(&c, y, None);
        }
        // Four replicas were never run: only the described model knows they are best.
        assert_eq!(m.mean_argmin(), vec![0, 4]);
        assert_eq!(plain.mean_argmin(), vec![0, 2]);
        let (mean, _) = m.predict(&[0, 4]);
        assert!((mean - truth(&[0, 4])).abs() < 1.0, "extrapolated {mean}");
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
