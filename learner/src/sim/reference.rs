//! What the convergence targets ask of the data, measured without a learner in the way.
//!
//! The reference is a least-squares fit that is *told* the space's true structure: one feature
//! per non-baseline option and one per interaction, so it only has to estimate their sizes. It
//! is fed `n` windows of a uniformly random design (the same noise as a policy sees) and
//! recommends the exact argmin of its fit, found by enumeration. No policy knows the structure,
//! so the share of runs in which this fit is within 5% of the optimum after `n` windows is a
//! yardstick for "within 5% in `n` windows" (a policy can still beat it by sampling near the
//! optimum rather than uniformly, but must also *stay* within 5% to the end of its run).
//!
//! With semi-bandit parts the fit is one regression per decision: its part against the features
//! it owns (its options and the interactions whose `when` list names it first).

use crate::linalg::{cholesky, solve_lower, solve_upper_t};
use crate::rng::Rng;
use crate::space::Composition;

use super::run::run_seed;
use super::spec::SimSpace;

/// Ridge added to the normal equations: keeps them solvable while there are fewer windows than
/// features, and is negligible (in ms²) once there are more.
const RIDGE: f64 = 1e-3;

/// How often the reference fit was within 5% after a number of windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferencePoint {
    /// Windows of data the fit had.
    pub windows: usize,
    /// Runs whose fitted argmin was within 5% of the optimum.
    pub within_5pct: usize,
    /// Runs in all.
    pub runs: usize,
}

/// One feature of the true structure, owned by the decision whose part carries it.
#[derive(Clone, Copy, Debug)]
enum Feature {
    /// Decision `.0` takes option `.1` (option 0 is the baseline).
    Option(usize, usize),
    /// Interaction `.0` of the space is active.
    Interaction(usize),
}

impl Feature {
    fn owner(self, space: &SimSpace) -> usize {
        match self {
            Feature::Option(d, _) => d,
            Feature::Interaction(i) => space.interactions[i].owner(),
        }
    }

    fn active(self, space: &SimSpace, c: &[usize]) -> bool {
        match self {
            Feature::Option(d, o) => c[d] == o,
            Feature::Interaction(i) => space.interactions[i].when.iter().all(|&(d, o)| c[d] == o),
        }
    }
}

fn features(space: &SimSpace) -> Vec<Feature> {
    let radices = space.radix().radices();
    let options = radices.iter().enumerate().flat_map(|(d, &r)| (1..r).map(move |o| Feature::Option(d, o)));
    options.chain((0..space.interactions.len()).map(Feature::Interaction)).collect()
}

/// Least squares of `y` on an intercept and `feats` over `rows`; returns the features' weights.
fn fit(space: &SimSpace, feats: &[Feature], rows: &[Composition], y: &[f64]) -> Vec<f64> {
    let p = feats.len() + 1;
    let (mut a, mut b) = (vec![0.0; p * p], vec![0.0; p]);
    let mut x = Vec::with_capacity(p);
    for (c, &t) in rows.iter().zip(y) {
        x.clear();
        x.push(1.0);
        x.extend(feats.iter().map(|f| f64::from(u8::from(f.active(space, c)))));
        for i in 0..p {
            b[i] += x[i] * t;
            for j in 0..p {
                a[i * p + j] += x[i] * x[j];
            }
        }
    }
    for i in 0..p {
        a[i * p + i] += RIDGE;
    }
    let mut l = vec![0.0; p * p];
    cholesky(&a, &mut l, p);
    solve_lower(&l, &mut b, p);
    solve_upper_t(&l, &mut b, p);
    b.split_off(1)
}

/// The composition with the lowest fitted cost, by enumeration.
fn argmin(space: &SimSpace, feats: &[Feature], weights: &[f64]) -> Composition {
    let mut c = vec![0; space.radix().decisions()];
    let mut best = (c.clone(), f64::INFINITY);
    loop {
        let v: f64 = feats.iter().zip(weights).filter(|(f, _)| f.active(space, &c)).map(|(_, w)| w).sum();
        if v < best.1 {
            best = (c.clone(), v);
        }
        if !space.radix().step(&mut c) {
            return best.0;
        }
    }
}

/// Runs the reference fit for `runs` seeds (derived from the space's seed like the policies'
/// runs) and reports, for each entry of `windows`, how many runs it had within 5% of `optimum`.
pub fn reference(space: &SimSpace, optimum: f64, semi: bool, windows: &[usize], runs: usize) -> Vec<ReferencePoint> {
    let feats = features(space);
    let decisions = space.radix().decisions();
    // Per decision, the indices of the features its part carries.
    let owned: Vec<Vec<usize>> =
        (0..decisions).map(|d| (0..feats.len()).filter(|&j| feats[j].owner(space) == d).collect()).collect();
    let owned_feats: Vec<Vec<Feature>> = owned.iter().map(|js| js.iter().map(|&j| feats[j]).collect()).collect();
    let most = windows.iter().copied().max().unwrap_or(0);
    let mut hits = vec![0; windows.len()];
    for run in 0..runs {
        let mut rng = Rng::new(run_seed(space.seed, run));
        let mut rows = Vec::with_capacity(most);
        let mut totals = Vec::with_capacity(most);
        let mut parts: Vec<Vec<f64>> = vec![Vec::with_capacity(most); decisions];
        let mut window_parts = Vec::new();
        for _ in 0..most {
            let c: Composition = space.radix().radices().iter().map(|&r| rng.below(r)).collect();
            totals.push(space.sample_total(&c, &mut rng));
            space.sample_parts(&c, &mut rng, &mut window_parts);
            parts.iter_mut().zip(&window_parts).for_each(|(p, &y)| p.push(y));
            rows.push(c);
        }
        for (hit, &n) in hits.iter_mut().zip(windows) {
            let weights = if semi {
                // Each decision's part fits its own features; together they cover every feature.
                let mut w = vec![0.0; feats.len()];
                for ((part, js), sub) in parts.iter().zip(&owned).zip(&owned_feats) {
                    for (&j, v) in js.iter().zip(fit(space, sub, &rows[..n], &part[..n])) {
                        w[j] = v;
                    }
                }
                w
            } else {
                fit(space, &feats, &rows[..n], &totals[..n])
            };
            let best = argmin(space, &feats, &weights);
            if space.true_cost(&best) <= optimum + 0.05 * optimum.abs() {
                *hit += 1;
            }
        }
    }
    windows.iter().zip(hits).map(|(&windows, within_5pct)| ReferencePoint { windows, within_5pct, runs }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> SimSpace {
        SimSpace::from_json(include_str!("../../spaces/medium.json")).unwrap()
    }

    #[test]
    fn the_fit_finds_the_optimum_given_enough_data_and_not_from_a_handful() {
        let s = space();
        let (_, opt) = s.optimum();
        for semi in [false, true] {
            let r = reference(&s, opt, semi, &[2, 400], 6);
            assert_eq!(r[0].windows, 2);
            assert!(r[0].within_5pct < 6, "two windows cannot pin 20 effects down: {r:?}");
            assert_eq!(r[1], ReferencePoint { windows: 400, within_5pct: 6, runs: 6 }, "semi={semi}");
        }
    }

    #[test]
    fn semi_regressions_cover_every_feature_once() {
        let s = space();
        let feats = features(&s);
        let owned: usize = (0..s.radix().decisions()).map(|d| feats.iter().filter(|f| f.owner(&s) == d).count()).sum();
        assert_eq!(owned, feats.len());
        let options: usize = s.radix().radices().iter().map(|r| r - 1).sum();
        assert_eq!(feats.len(), options + s.interactions.len());
    }
}
