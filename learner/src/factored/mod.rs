//! A learner for composition spaces too large to enumerate.
//!
//! Flat UCB1 keeps one arm per composition and must try each once; over the
//! paper's ~700,000 designs that alone takes 40 days of 5 s windows. The
//! factored learner keeps statistics per *decision* instead (which variant,
//! where it runs, how many replicas), so its state is the sum of the option
//! counts, not their product. It works in two layers, in the manner of naive
//! sampling (Ontañón 2017):
//!
//! * **local**: an additive model of cost over decisions (`ridge.rs`),
//!   explored by Thompson sampling: a Bayesian ridge regression over one-hot
//!   option features. With semi-bandit feedback (each slot timed separately)
//!   every window also adds one row per decision for its own share of the
//!   latency, so each decision's options are measured without the other
//!   decisions' effects in them. A draw is minimised decision by decision,
//!   so proposing a composition costs `O(Σ options)`.
//! * **global**: a Thompson bandit over the best few candidates among the
//!   compositions sampled so far, the unsampled one-decision neighbours of
//!   the incumbent, and the best guess. Each is believed at the prediction of
//!   a second-order model (`quadratic.rs`: main effects plus option pairs)
//!   until its own observations take over, so interactions between decisions
//!   are learnt where the learner spends its time, and a neighbour an
//!   interaction makes better gets tried.
//!
//! Each window explores locally with a probability that decays as
//! `k / (k + t)` towards a floor, and otherwise exploits globally. The
//! recommendation is the candidate with the lowest pessimistic belief
//! (mean plus one standard deviation).
//!
//! Costs per window (choose + record + recommend) are in
//! `bench/benches/learner.rs` (`policy/factored_*`).

mod pool;
mod quadratic;
mod ridge;

use crate::policy::{Observation, Policy};
use crate::rng::Rng;
use crate::space::{Composition, Radix};
use pool::{Belief, Pool};
use quadratic::Quadratic;
use ridge::Ridge;

/// Tuning of [`Factored`]; every field documents its default.
#[derive(Clone, Debug)]
pub struct FactoredConfig {
    /// Seed of the learner's own random stream. Default `0`.
    pub seed: u64,
    /// `k` in the local-exploration probability `k / (k + t)`. Default: the
    /// number of free parameters of the additive model, `1 + Σ (options - 1)`.
    pub explore_scale: Option<f64>,
    /// Floor of the local-exploration probability. Default `0.1`.
    pub min_explore: f64,
    /// How many candidates (lowest believed mean first) the global bandit
    /// plays among. Default `8`.
    pub global_arms: usize,
}

impl Default for FactoredConfig {
    fn default() -> Self {
        FactoredConfig { seed: 0, explore_scale: None, min_explore: 0.1, global_arms: 8 }
    }
}

/// The factored learner; arms are compositions (one option index per decision).
///
/// Uses semi-bandit feedback automatically when observations carry
/// per-decision parts.
///
/// # Examples
/// ```
/// use hatch_learner::factored::{Factored, FactoredConfig};
/// use hatch_learner::policy::{Observation, Policy};
/// use hatch_learner::space::Radix;
///
/// // Three decisions with 10 options each; option 7 is best everywhere.
/// let cost = |c: &[usize]| 5.0 + c.iter().map(|&o| (o as f64 - 7.0).abs()).sum::<f64>();
/// let mut p = Factored::new(Radix::new(vec![10, 10, 10]), FactoredConfig::default());
/// for _ in 0..150 {
///     let c = p.choose();
///     p.record(&c, &Observation::total(cost(&c)));
/// }
/// assert_eq!(p.recommend(), Some(vec![7, 7, 7]));
/// ```
#[derive(Clone, Debug)]
pub struct Factored {
    radix: Radix,
    ridge: Ridge,
    quad: Quadratic,
    semi: bool,
    pool: Pool,
    rng: Rng,
    t: f64,
    cfg: FactoredConfig,
}

impl Factored {
    /// A learner over `radix`.
    pub fn new(radix: Radix, cfg: FactoredConfig) -> Self {
        Factored {
            ridge: Ridge::new(&radix),
            quad: Quadratic::new(&radix),
            semi: false,
            pool: Pool::default(),
            rng: Rng::new(cfg.seed),
            t: 0.0,
            radix,
            cfg,
        }
    }

    /// The space this learner works on.
    pub fn radix(&self) -> &Radix {
        &self.radix
    }

    /// Whether semi-bandit (per-decision) feedback has been seen.
    pub fn semi_bandit(&self) -> bool {
        self.semi
    }

    /// The additive model's prediction of a composition's cost: `(mean, variance)`.
    fn predict(&self, c: &[usize]) -> (f64, f64) {
        let (m, q) = self.quad.predict(c);
        (m, q * self.quad_noise())
    }

    fn quad_noise(&self) -> f64 {
        self.quad.noise_var(self.ridge.noise_var())
    }

    fn mean_argmin(&self) -> Composition {
        self.quad.minimise(self.quad.mean(), &self.ridge.mean_argmin())
    }

    fn explore_probability(&self) -> f64 {
        let k = self
            .cfg
            .explore_scale
            .unwrap_or_else(|| 1.0 + self.radix.radices().iter().map(|&x| x as f64 - 1.0).sum::<f64>());
        (k / (k + self.t)).max(self.cfg.min_explore)
    }

    /// Beliefs about every candidate of the global bandit: the sampled
    /// compositions, the model's current best guess and, when exploring
    /// globally, the unsampled neighbours of the incumbent.
    fn candidates(&self, with_neighbours: bool) -> Vec<(Composition, Belief)> {
        let noise = self.pool.noise_var(self.ridge.noise_var());
        let misfit = self.pool.misfit_var(noise, 0.01 * noise, |c| self.predict(c).0);
        let guess = self.mean_argmin();
        let mut out: Vec<(Composition, Belief)> = self
            .pool
            .compositions()
            .map(|c| {
                let (m, v) = self.predict(c);
                (c.clone(), self.pool.belief(c, (m, v + misfit), noise))
            })
            .collect();
        if self.pool.get(&guess).is_none() {
            let (m, v) = self.predict(&guess);
            let b = Belief { mean: m, var: v + misfit };
            out.push((guess, b));
        }
        if with_neighbours {
            // Unsampled one-decision changes of the incumbent: where an
            // interaction the model misses would hide, their prior spread
            // includes the observed misfit.
            let incumbent = out
                .iter()
                .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
                .map(|(c, _)| c.clone())
                .expect("at least the model's guess");
            for (d, &r) in self.radix.radices().iter().enumerate() {
                for o in 0..r {
                    if o == incumbent[d] {
                        continue;
                    }
                    let mut n = incumbent.clone();
                    n[d] = o;
                    if self.pool.get(&n).is_none() && !out.iter().any(|(c, _)| *c == n) {
                        let (m, v) = self.predict(&n);
                        out.push((n, Belief { mean: m, var: v + misfit }));
                    }
                }
            }
        }
        out
    }
}

impl Policy for Factored {
    type Arm = Composition;

    fn choose(&mut self) -> Composition {
        self.t += 1.0;
        let explore = self.pool.is_empty() || self.rng.next_f64() < self.explore_probability();
        if explore {
            // A draw of the additive model (which also carries any
            // semi-bandit evidence). Moving it by the second-order model, by
            // its mean or by a draw, explored too little or too wildly.
            return self.ridge.sample_argmin(&mut self.rng);
        }
        let mut cands = self.candidates(true);
        // Thompson sampling over hundreds of once-seen compositions would keep
        // exploring lucky draws; the global bandit plays among the best few.
        cands.sort_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
        cands.truncate(self.cfg.global_arms);
        Pool::thompson(&mut self.rng, cands.iter().map(|(c, b)| (c, *b))).expect("pool is not empty").clone()
    }

    fn record(&mut self, arm: &Composition, obs: &Observation<'_>) {
        if let Some(parts) = obs.parts {
            assert_eq!(parts.len(), arm.len(), "one part per decision");
            self.semi = true;
        }

        self.ridge.observe(arm, obs.cost, obs.parts);
        self.quad.observe(arm, obs.cost);
        self.pool.observe(arm, obs.cost);
    }

    fn recommend(&self) -> Option<Composition> {
        if self.pool.is_empty() {
            return None;
        }
        // Pessimistic: one standard deviation above the believed mean, so a
        // composition that looked good once does not beat a well-measured one.
        let score = |b: &Belief| b.mean + b.var.sqrt();
        self.candidates(false).into_iter().min_by(|a, b| score(&a.1).total_cmp(&score(&b.1))).map(|(c, _)| c)
    }
}
